package resproto

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// TestWithResume: on a connection made WithResume, the handling of the
// NATS replies of HTTP requests is handed to the resume function — none
// of it runs before the test runs what it was handed — and the request's
// callback runs inside what resume was handed, on the goroutine that runs
// it (the cached GET and the call). An uncached GET's callback runs where
// the last of its two replies is handled: inside the resumed access reply
// if the get reply, which goes through the cache's queue, came first,
// else on that queue. Every request still ends with the service's answer.
func TestWithResume(t *testing.T) {
	e, _ := startBenchEngine(t)
	holder := &benchTransport{replies: make(chan struct{}, 1)}
	hc, err := e.NewConn(holder, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	benchRequestReply(t, hc, holder, 1, "subscribe."+benchModelResource)

	type result struct {
		body     string
		inResume bool
	}
	// httpGet makes a test's run function: an HTTP GET of rid, its
	// result the model's name.
	httpGet := func(rid string) func(c *Conn, done func(string, error)) {
		return func(c *Conn, done func(string, error)) {
			c.HTTPGet(rid, func(r Resource, _ *Meta, err error) {
				if err != nil {
					done("", err)
					return
				}
				done(modelName(r), nil)
			})
		}
	}
	tests := []struct {
		name string
		// run starts the request; done must be called once with its
		// result.
		run  func(c *Conn, done func(body string, err error))
		want string
		// cbInResumed is where the callback must run: inside a resumed
		// function (true), or either.
		cbInResumed bool
	}{
		{"cached GET", httpGet(benchModelResource), `"bench"`, true},
		{"uncached GET", httpGet("bench.other"), `"bench"`, false},
		{"call", func(c *Conn, done func(string, error)) {
			c.HTTPCall(benchModelResource, "ping", json.RawMessage(`{}`), func(result json.RawMessage, _ string, _ *Meta, err error) {
				done(string(result), err)
			})
		}, `{"pong":true}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resumed := make(chan func(), 8)
			c, err := e.NewConn(&benchTransport{replies: make(chan struct{}, 1)}, nil, false, WithResume(func(f func()) { resumed <- f }))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Dispose()
			var inResume atomic.Bool
			results := make(chan result, 1)
			tc.run(c, func(body string, err error) {
				if err != nil {
					body = "error: " + err.Error()
				}
				results <- result{body, inResume.Load()}
			})
			n := 0
			timeout := time.After(10 * time.Second)
			for {
				select {
				case f := <-resumed:
					n++
					inResume.Store(true)
					f()
					inResume.Store(false)
					continue
				case r := <-results:
					if n == 0 {
						t.Fatalf("callback ran (%q) before anything was resumed", r.body)
					}
					if r.body != tc.want {
						t.Errorf("got %s, want %s", r.body, tc.want)
					}
					if tc.cbInResumed && !r.inResume {
						t.Errorf("callback outside the resumed functions, want inside")
					}
				case <-timeout:
					t.Fatalf("no result; %d functions resumed", n)
				}
				break
			}
		})
	}
}

// modelName is the raw JSON of a model resource's name property.
func modelName(r Resource) string {
	v, _ := r.ModelValues().Get("name")
	return string(v.Raw)
}
