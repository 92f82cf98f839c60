package listeners

import (
	"testing"
	"time"
)

// TestAPICallResume: while the request's goroutine waits, resume queues
// the work and wakes it, running nothing itself; once the goroutine has
// stopped waiting (takeWork with leaving set), resume runs what it is
// handed on a goroutine of its own, so reply handling is never lost.
func TestAPICallResume(t *testing.T) {
	a := &apiCall{wake: make(chan struct{}, 1)}
	var order []int
	a.resume(func() { order = append(order, 1) })
	a.resume(func() { order = append(order, 2) })
	if len(order) != 0 {
		t.Fatalf("resume ran work while the request waits: %v", order)
	}
	select {
	case <-a.wake:
	default:
		t.Fatal("resume did not wake the waiting goroutine")
	}
	for _, f := range a.takeWork(false) {
		f()
	}
	if len(order) != 2 || order[0] != 1 || order[1] != 2 {
		t.Fatalf("work ran as %v, want [1 2]", order)
	}
	if w := a.takeWork(false); len(w) != 0 {
		t.Fatalf("work taken twice: %d functions left", len(w))
	}

	a.resume(func() { order = append(order, 3) })
	for _, f := range a.takeWork(true) {
		f()
	}
	if len(order) != 3 || order[2] != 3 {
		t.Fatalf("work pending when leaving: ran as %v, want [1 2 3]", order)
	}
	ran := make(chan struct{})
	a.resume(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("work resumed after the request stopped waiting never ran")
	}
	if w := a.takeWork(false); len(w) != 0 {
		t.Fatalf("work resumed after leaving was queued: %d functions", len(w))
	}
}
