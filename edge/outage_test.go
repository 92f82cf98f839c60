package edge

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
	"github.com/resedge/resedge/schema"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		lo, hi  time.Duration
		attempt int
		want    time.Duration // before jitter
	}{
		{250 * time.Millisecond, 5 * time.Second, 1, 250 * time.Millisecond},
		{250 * time.Millisecond, 5 * time.Second, 2, 500 * time.Millisecond},
		{250 * time.Millisecond, 5 * time.Second, 5, 4 * time.Second},
		{250 * time.Millisecond, 5 * time.Second, 6, 5 * time.Second},
		{250 * time.Millisecond, 5 * time.Second, 1000, 5 * time.Second},
		{20 * time.Millisecond, 100 * time.Millisecond, 3, 80 * time.Millisecond},
		{20 * time.Millisecond, 100 * time.Millisecond, 4, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		d := backoff(tt.lo, tt.hi)(tt.attempt)
		if d < tt.want || d > tt.want+tt.want/5 {
			t.Errorf("backoff(%s, %s)(%d) = %s, want %s plus up to 20%%", tt.lo, tt.hi, tt.attempt, d, tt.want)
		}
	}
}

func TestOutageModeOf(t *testing.T) {
	for in, want := range map[string]resproto.OutageMode{
		"": resproto.OutageClose, schema.OutageClose: resproto.OutageClose,
		schema.OutageResync: resproto.OutageResync, schema.OutageExit: resproto.OutageClose,
	} {
		if got := outageMode(in); got != want {
			t.Errorf("outageMode(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestOutageReady: /readyz and Ready follow the NATS connection and the
// engine through an outage in each mode; in exit mode the server fails,
// and does not reconnect.
func TestOutageReady(t *testing.T) {
	for _, mode := range []string{schema.OutageClose, schema.OutageResync, schema.OutageExit} {
		t.Run(mode, func(t *testing.T) {
			ns := restest.StartNATSProcess(t)
			cfg := schema.Default()
			cfg.NATS.URLs = []string{ns.URL()}
			cfg.NATS.Outage = mode
			m := metricsListener(t)
			cfg.Listeners = map[string]*schema.Listener{"pub": listenerAt("pub", localAddr(t)), m.Name: m}
			log, logs := newTestLogger()
			s := New(cfg, log, WithNATSReconnectWait(10*time.Millisecond, 50*time.Millisecond))
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.Shutdown(t.Context())
				if t.Failed() {
					t.Logf("log:\n%s", logs.String())
				}
			})
			readyz := func() int {
				resp, err := http.Get("http://" + s.Listeners()[m.Name] + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if err := s.Ready(); err != nil || readyz() != 200 {
				t.Fatalf("not ready before the outage: %v", err)
			}

			ns.Kill()
			if mode == schema.OutageExit {
				select {
				case err := <-s.Failed():
					if !strings.Contains(err.Error(), "lost NATS connection") {
						t.Fatalf("failed with %v", err)
					}
				case <-time.After(timeout):
					t.Fatal("server did not fail")
				}
				if !s.nc.IsClosed() {
					t.Error("the NATS connection reconnects in exit mode")
				}
				return
			}
			logs.waitFor(t, "NATS connection lost")
			if s.Ready() == nil || readyz() != http.StatusServiceUnavailable {
				t.Fatal("ready during the outage")
			}
			if s.engine.Online() {
				t.Fatal("engine online during the outage")
			}
			ns.Start()
			logs.waitFor(t, "NATS connection back")
			if err := s.Ready(); err != nil || readyz() != 200 {
				t.Fatalf("not ready after the outage: %v", err)
			}
			select {
			case err := <-s.Failed():
				t.Fatalf("server failed: %v", err)
			default:
			}
		})
	}
}

// TestNoReconnectBuffer: while reconnecting, a publish fails at once
// rather than waiting in a buffer to reach a service long after its client
// got an error.
func TestNoReconnectBuffer(t *testing.T) {
	ns := restest.StartNATSProcess(t)
	log, _ := newTestLogger()
	nc, _, err := connectNATS(schema.NATS{URLs: []string{ns.URL()}}, 0, false, log, nats.CustomReconnectDelay(func(int) time.Duration { return time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ns.Kill()
	deadline := time.Now().Add(timeout)
	for nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected")
		}
		time.Sleep(time.Millisecond)
	}
	if err := nc.Publish("get.test.model", nil); err != nats.ErrReconnectBufExceeded {
		t.Fatalf("publish while reconnecting: %v, want %v", err, nats.ErrReconnectBufExceeded)
	}
}
