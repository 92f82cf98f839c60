// Package ratelog decides when to log a problem that may repeat many times
// a second — a limit many clients hit, a service that does not answer —
// so that the log says it happened, and how often, without flooding.
package ratelog

import (
	"sync"
	"time"
)

// Every lets a line through at most once per Interval (every time if
// Interval is zero), in the manner of x/time/rate.Sometimes. Its zero
// value is ready to use, so it can be a field of what it serves. It is
// safe for concurrent use and must not be copied after first use.
type Every struct {
	Interval time.Duration

	mu   sync.Mutex
	last time.Time
	n    int
}

// Hit counts one occurrence. It reports whether to log it now and, if so,
// how many occurrences the line stands for: this one and those held back
// since the previous line.
func (e *Every) Hit() (count int, logNow bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if !e.last.IsZero() && time.Since(e.last) < e.Interval {
		return 0, false
	}
	count, e.n, e.last = e.n, 0, time.Now()
	return count, true
}
