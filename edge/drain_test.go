package edge

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestDrain: lame duck mode makes the server not ready at once and stops
// its client listeners from accepting, while the metrics listener goes on
// answering; WebSocket clients are closed with a going-away frame, spread
// over the window; Shutdown afterwards completes as usual.
func TestDrain(t *testing.T) {
	e := newEnv(t)
	pub := localAddr(t)
	cfg := e.config(listenerAt("pub", pub))
	s := e.start(cfg)
	if err := s.Ready(); err != nil {
		t.Fatalf("not ready before drain: %v", err)
	}
	const n = 4
	const window = 400 * time.Millisecond
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, "ws://"+pub+"/")
		clients[i].Subscribe()
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		s.Drain(context.Background(), window)
		close(done)
	}()
	// Not ready, and not accepting, at once.
	deadline := time.Now().Add(timeout)
	for s.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("still ready during drain")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Ready(); !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Ready during drain: %v", err)
	}
	for {
		c, err := net.DialTimeout("tcp", pub, timeout)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during drain")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var times []time.Duration
	for _, c := range clients {
		c.WantClosed()
		times = append(times, time.Since(start))
	}
	<-done
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if last := times[n-1]; last < window*(n-1)/n-50*time.Millisecond {
		t.Errorf("last client closed after %v: not spread over %v", last, window)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after Drain: %v", err)
	}
}
