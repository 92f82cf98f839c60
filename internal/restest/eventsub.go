package restest

import (
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// HasEventSubscription reports whether the gateway's NATS connection holds
// a subscription on event.<name>.*, as seen by the NATS server: that is,
// whether the resource name is in the gateway's cache.
func (s *Session) HasEventSubscription(name string) bool {
	s.t.Helper()
	if err := s.NC.Flush(); err != nil {
		s.t.Fatalf("flush gateway connection: %v", err)
	}
	cid, err := s.NC.GetClientID()
	if err != nil {
		s.t.Fatalf("gateway client id: %v", err)
	}
	subject := "event." + name + ".*"
	sz, err := s.NATS.Subsz(&natsserver.SubszOptions{Subscriptions: true, Limit: 1 << 20, Test: "event." + name + ".x"})
	if err != nil {
		s.t.Fatalf("subsz: %v", err)
	}
	for _, d := range sz.Subs {
		if d.Subject == subject && d.Cid == cid {
			return true
		}
	}
	return false
}

// AssertEventSubscription checks, now, whether the gateway subscribes to
// event.<name>.*.
func (s *Session) AssertEventSubscription(name string, want bool) {
	s.t.Helper()
	if got := s.HasEventSubscription(name); got != want {
		if want {
			s.t.Fatalf("expected the gateway to subscribe to event.%s.*, it does not", name)
		}
		s.t.Fatalf("expected the gateway not to subscribe to event.%s.*, it does", name)
	}
}

// WaitEventSubscription waits until whether the gateway subscribes to
// event.<name>.* is want, failing the test after Timeout.
func (s *Session) WaitEventSubscription(name string, want bool) {
	s.t.Helper()
	deadline := time.Now().Add(Timeout)
	for s.HasEventSubscription(name) != want {
		if time.Now().After(deadline) {
			if want {
				s.t.Fatalf("expected the gateway to subscribe to event.%s.*, it does not", name)
			}
			s.t.Fatalf("expected the gateway to unsubscribe event.%s.*, it still subscribes", name)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// WaitConnCount waits until the engine has n open connections, for
// instance until it has disposed a client that closed its socket.
func (s *Session) WaitConnCount(n int) {
	s.t.Helper()
	deadline := time.Now().Add(Timeout)
	for s.Engine.ConnCount() != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("expected %d open connections, got %d", n, s.Engine.ConnCount())
		}
		time.Sleep(time.Millisecond)
	}
}
