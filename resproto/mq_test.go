package resproto

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startTestNATS starts an embedded NATS server on a free loopback port for
// the test and returns its URL.
func startTestNATS(tb testing.TB) string {
	tb.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// startMQ starts an embedded NATS server, a service answering requests on
// svc.answer with their own data (and leaving svc.silent unanswered), and
// an mq with the given request timeout.
func startMQ(t *testing.T, timeout time.Duration) *mq {
	t.Helper()
	url := startTestNATS(t)
	svc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.Subscribe("svc.answer", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe("svc.silent", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	svc.Flush()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMQ(nc, Config{
		RequestTimeout: timeout,
		BufferSize:     DefaultBufferSize,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close(); nc.Close() })
	return m
}

// outcome is how a request ended.
type outcome struct {
	data    string
	err     error
	elapsed time.Duration
}

// TestMQTimeouts sends requests that are answered among requests that are
// not: every answered one gets its reply, every other one
// system.timeout, not before the timeout and not long after; the queue of
// deadlines does not keep the answered ones, and the timer stops once
// nothing waits.
func TestMQTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	m := startMQ(t, timeout)
	const answered, silent = 20000, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]outcome{}
	send := func(subject, data string) {
		wg.Add(1)
		start := time.Now()
		m.request(subject, []byte(data), func(reply []byte, err error) {
			mu.Lock()
			got[data] = outcome{string(reply), err, time.Since(start)}
			mu.Unlock()
			wg.Done()
		})
	}
	for i := range answered {
		if i%(answered/silent) == 0 {
			send("svc.silent", `"s`+strconv.Itoa(i)+`"`)
		}
		// JSON strings: a reply starting with a letter would be a
		// pre-response.
		send("svc.answer", `"a`+strconv.Itoa(i)+`"`)
		if i%1000 == 999 {
			// Let the replies catch up, as a bounded number in flight.
			for {
				m.mu.Lock()
				n := len(m.pending)
				m.mu.Unlock()
				if n <= silent {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	m.mu.Lock()
	queued := len(m.expiries) - m.expHead
	m.mu.Unlock()
	// Compaction keeps the deadlines of requests still waiting and lets at
	// most 4,096 others pile up.
	if queued > 4096+silent {
		t.Errorf("%d deadlines queued for %d requests sent, most answered", queued, answered+silent)
	}
	wg.Wait()
	if len(got) != answered+silent {
		t.Fatalf("%d requests ended, want %d", len(got), answered+silent)
	}
	for data, o := range got {
		if data[1] == 'a' {
			if o.err != nil || o.data != data {
				t.Fatalf("request %s: reply %q, %v", data, o.data, o.err)
			}
			continue
		}
		if !errors.Is(o.err, ErrTimeout) {
			t.Fatalf("request %s: %q, %v, want a timeout", data, o.data, o.err)
		}
		if o.elapsed < timeout || o.elapsed > timeout+time.Second {
			t.Errorf("request %s timed out after %v, want %v (and at most 1 s late)", data, o.elapsed, timeout)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		idle := m.timerAt == 0 && len(m.pending) == 0 && len(m.expiries) == 0 && len(m.later) == 0
		m.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timeout timer still runs with no request waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMQTimeoutOrder: with deadlines set by pre-responses out of the order
// the requests were sent in, each request times out at its own deadline.
func TestMQTimeoutOrder(t *testing.T) {
	m := startMQ(t, time.Second)
	type result struct {
		name    string
		elapsed time.Duration
	}
	res := make(chan result, 3)
	start := time.Now()
	ids := map[string]uint64{}
	for _, name := range []string{"first", "second", "third"} {
		m.mu.Lock()
		ids[name] = m.nextID + 1
		m.mu.Unlock()
		m.request("svc.silent", nil, func(_ []byte, err error) {
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("%s: %v, want a timeout", name, err)
			}
			res <- result{name, time.Since(start)}
		})
	}
	// Pre-responses as the dispatcher gets them: the first request moved
	// to 1.6 s, the third brought forward to 200 ms; the second keeps 1 s.
	preResponse := func(name, tag string) {
		m.handleReply(&nats.Msg{Subject: m.inbox + traceID(ids[name]), Data: []byte(tag), Sub: m.replySub})
	}
	preResponse("first", `timeout:"1600"`)
	preResponse("third", `timeout:"200"`)
	for i, want := range []struct {
		name     string
		min, max time.Duration
	}{
		{"third", 200 * time.Millisecond, 900 * time.Millisecond},
		{"second", time.Second, 1500 * time.Millisecond},
		{"first", 1600 * time.Millisecond, 2500 * time.Millisecond},
	} {
		select {
		case r := <-res:
			if r.name != want.name || r.elapsed < want.min || r.elapsed > want.max {
				t.Errorf("timeout %d: %s after %v, want %s within [%v, %v]", i+1, r.name, r.elapsed, want.name, want.min, want.max)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timeout %d (%s) never came", i+1, want.name)
		}
	}
}
