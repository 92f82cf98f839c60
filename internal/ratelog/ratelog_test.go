package ratelog

import (
	"sync"
	"testing"
	"time"
)

// TestEvery: the first hit is logged, hits within the interval are held
// back and counted in the next line, which comes once the interval has
// passed.
func TestEvery(t *testing.T) {
	e := &Every{Interval: 50 * time.Millisecond}
	if n, ok := e.Hit(); !ok || n != 1 {
		t.Fatalf("first hit: (%d, %v), want (1, true)", n, ok)
	}
	for range 3 {
		if _, ok := e.Hit(); ok {
			t.Fatal("a hit within the interval was let through")
		}
	}
	time.Sleep(60 * time.Millisecond)
	if n, ok := e.Hit(); !ok || n != 4 {
		t.Fatalf("after the interval: (%d, %v), want (4, true): three held back and this one", n, ok)
	}
}

// TestEveryConcurrent: under concurrent hits every occurrence is counted
// exactly once across the lines let through.
func TestEveryConcurrent(t *testing.T) {
	e := &Every{Interval: time.Millisecond}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if n, ok := e.Hit(); ok {
					mu.Lock()
					total += n
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Millisecond)
	n, _ := e.Hit() // the rest, and this one
	if total+n != 8001 {
		t.Fatalf("%d occurrences counted, want 8001", total+n)
	}
}
