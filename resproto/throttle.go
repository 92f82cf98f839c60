package resproto

import "sync"

// throttle caps how many requests of one burst (a system.reset, or the
// reference tree of one new subscription) are in flight at once. Work beyond
// the cap waits in FIFO order. A nil *throttle runs everything at once.
type throttle struct {
	mu      sync.Mutex
	limit   int
	running int
	queue   []func()
}

func newThrottle(limit int) *throttle {
	if limit <= 0 {
		return nil
	}
	return &throttle{limit: limit}
}

// add runs f now if a slot is free, otherwise when one is. Each f must lead
// to exactly one call to done.
func (t *throttle) add(f func()) {
	if t == nil {
		f()
		return
	}
	t.mu.Lock()
	if t.running < t.limit {
		t.running++
		t.mu.Unlock()
		f()
		return
	}
	t.queue = append(t.queue, f)
	t.mu.Unlock()
}

// done frees the slot of a finished f, starting the next waiting one. Unlike
// Resgate's, it never goes negative: a surplus call is ignored.
func (t *throttle) done() {
	if t == nil {
		return
	}
	t.mu.Lock()
	if len(t.queue) > 0 {
		f := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		t.mu.Unlock()
		// Run outside the lock and off the caller's goroutine: the caller may
		// be the NATS dispatcher, and f may send a request.
		go f()
		return
	}
	if t.running > 0 {
		t.running--
	}
	t.mu.Unlock()
}
