package resproto

import (
	"sync"
	"testing"
	"time"
)

// TestEventSubEnqueueDoesNotWait: queuing on a resource name returns while a
// queued function runs (an event's fan-out, say), and the queue runs its
// functions in order, one at a time.
func TestEventSubEnqueueDoesNotWait(t *testing.T) {
	var e eventSub
	block := make(chan struct{})
	started := make(chan struct{})
	var order []int
	e.enqueue(func() {
		close(started)
		<-block
		order = append(order, 1)
	})
	<-started
	queued := make(chan struct{})
	go func() {
		e.enqueue(func() { order = append(order, 2) })
		e.enqueue(func() { order = append(order, 3) })
		close(queued)
	}()
	select {
	case <-queued:
	case <-time.After(5 * time.Second):
		close(block)
		t.Fatal("enqueue waited for the running function")
	}
	close(block)
	done := make(chan struct{})
	e.enqueue(func() { close(done) })
	<-done
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Errorf("ran in order %v, want [1 2 3]", order)
	}
}

// TestEventSubRunNow: on an idle resource queue runNow runs f on the
// caller's goroutine, with the name's lock held, before it returns; while a
// queued function runs, or while a query request holds the queue back, it
// runs nothing and returns false; what f queues runs after f, in order.
func TestEventSubRunNow(t *testing.T) {
	var e eventSub
	var order []int
	ran := e.runNow(func() {
		if e.mu.TryLock() {
			t.Error("f ran without the name's lock held")
		}
		order = append(order, 1)
		e.enqueue(func() { order = append(order, 3) })
		order = append(order, 2)
	})
	if !ran || len(order) != 2 {
		t.Fatalf("idle queue: runNow = %v, ran %v before returning", ran, order)
	}
	done := make(chan struct{})
	e.enqueue(func() { close(done) })
	<-done
	e.mu.Lock()
	if len(order) != 3 || order[2] != 3 {
		t.Errorf("ran in order %v, want [1 2 3]", order)
	}
	e.mu.Unlock()

	// Busy: a queued function is running.
	block := make(chan struct{})
	started := make(chan struct{})
	e.enqueue(func() {
		close(started)
		<-block
	})
	<-started
	if e.runNow(func() { t.Error("ran while the queue was busy") }) {
		t.Error("runNow = true while the queue was busy")
	}
	close(block)
	done = make(chan struct{})
	e.enqueue(func() { close(done) })
	<-done

	// Held back: a query request is out, with nothing queued yet, then
	// with a function waiting behind it.
	e.lockQueue()
	if e.runNow(func() { t.Error("ran while a query request was out") }) {
		t.Error("runNow = true while a query request was out")
	}
	waited := make(chan struct{})
	e.enqueue(func() { close(waited) })
	if e.runNow(func() { t.Error("ran ahead of a function held back") }) {
		t.Error("runNow = true with a function held back")
	}
	e.enqueueUnlock(func() {})
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("the held-back function never ran")
	}
}

// recordTransport records what a connection sends and how often it is
// flushed.
type recordTransport struct {
	mu      sync.Mutex
	sent    []string
	flushes int
}

func (t *recordTransport) Send(m *Message) {
	t.mu.Lock()
	t.sent = append(t.sent, string(m.Data))
	t.mu.Unlock()
}
func (t *recordTransport) Disconnect(string) {}
func (t *recordTransport) Flush() {
	t.mu.Lock()
	t.flushes++
	t.mu.Unlock()
}

func (t *recordTransport) state() ([]string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.sent...), t.flushes
}

// TestConnRunNow: on an idle connection runNow runs f before it returns and
// flushes; on a busy one it runs nothing and returns false; what f queues
// runs after f, on a queue goroutine; a disposed connection runs nothing.
func TestConnRunNow(t *testing.T) {
	tr := &recordTransport{}
	c := &Conn{t: tr}
	send := func(s string) func() { return func() { c.t.Send(NewEventMessage([]byte(s))) } }

	if !c.runNow(send("a")) {
		t.Fatal("runNow refused an idle connection")
	}
	if sent, flushes := tr.state(); len(sent) != 1 || sent[0] != "a" || flushes != 1 {
		t.Fatalf("after runNow: sent %q, %d flushes; want [a], 1", sent, flushes)
	}

	block := make(chan struct{})
	started := make(chan struct{})
	c.enqueue(func() { close(started); <-block })
	<-started
	if c.runNow(send("b")) {
		t.Error("runNow ran beside a running queue")
	}
	close(block)
	waitIdle(t, c)
	if sent, _ := tr.state(); len(sent) != 1 {
		t.Fatalf("sent %q after a refused runNow", sent)
	}

	if !c.runNow(func() {
		send("c")()
		c.enqueue(send("d"))
		if sent, _ := tr.state(); len(sent) != 2 {
			t.Errorf("what f queued ran inside f: sent %q", sent)
		}
	}) {
		t.Fatal("runNow refused an idle connection")
	}
	waitIdle(t, c)
	if sent, _ := tr.state(); len(sent) != 3 || sent[1] != "c" || sent[2] != "d" {
		t.Errorf("sent %q, want [a c d]", sent)
	}

	c.mu.Lock()
	c.disposing = true
	c.mu.Unlock()
	if c.runNow(send("e")) {
		t.Error("runNow ran on a disposed connection")
	}
}

// waitIdle waits until c's queue has run out.
func waitIdle(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		idle := !c.running && len(c.queue) == 0
		c.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection's queue never ran out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPlainDelivery lists which events may be delivered on the cache's
// goroutine: those that only send a message.
func TestPlainDelivery(t *testing.T) {
	ref := Value{Type: ValueReference, RID: "test.other"}
	str := Value{Type: ValuePrimitive, Raw: []byte(`"x"`)}
	for _, tt := range []struct {
		name  string
		ev    *resourceEvent
		plain bool
	}{
		{"change of values", &resourceEvent{Event: "change", Changed: FieldsOf(map[string]Value{"a": str}), OldValues: FieldsOf(map[string]Value{"a": str})}, true},
		{"change to a reference", &resourceEvent{Event: "change", Changed: FieldsOf(map[string]Value{"a": ref})}, false},
		{"change from a reference", &resourceEvent{Event: "change", Changed: FieldsOf(map[string]Value{"a": str}), OldValues: FieldsOf(map[string]Value{"a": ref})}, false},
		{"change beside an unchanged reference", &resourceEvent{Event: "change", Changed: FieldsOf(map[string]Value{"a": str}), OldValues: FieldsOf(map[string]Value{"a": str, "b": ref})}, true},
		{"change to a soft reference", &resourceEvent{Event: "change", Changed: FieldsOf(map[string]Value{"a": {Type: ValueSoftReference, RID: "test.other"}})}, true},
		{"add of a value", &resourceEvent{Event: "add", Value: str}, true},
		{"add of a reference", &resourceEvent{Event: "add", Value: ref}, false},
		{"remove of a value", &resourceEvent{Event: "remove", Value: str}, true},
		{"remove of a reference", &resourceEvent{Event: "remove", Value: ref}, false},
		{"delete", &resourceEvent{Event: "delete"}, false},
		{"reaccess", &resourceEvent{Event: "reaccess"}, false},
		{"custom", &resourceEvent{Event: "foo"}, true},
	} {
		if got := tt.ev.plainDelivery(); got != tt.plain {
			t.Errorf("%s: plain %v, want %v", tt.name, got, tt.plain)
		}
	}
}

// setSub is a subscriber that only has an identity.
type setSub struct{ n int }

func (*setSub) loaded(*resource, error) {}
func (*setSub) event(*resourceEvent)    {}
func (*setSub) reaccess(*throttle)      {}
func (*setSub) query() string           { return "" }

// TestSubscriberSet runs sequences of adds and removes against a map, the
// set's model, checking length, membership and what all yields after
// every step, through the inline one and the map and back.
func TestSubscriberSet(t *testing.T) {
	subs := []*setSub{{1}, {2}, {3}}
	type op struct {
		add  bool
		i    int
		want bool // remove: reported as there
	}
	for _, tt := range []struct {
		name string
		ops  []op
	}{
		{"empty remove", []op{{false, 0, false}}},
		{"one", []op{{true, 0, false}, {false, 0, true}, {false, 0, false}}},
		{"same twice", []op{{true, 0, false}, {true, 0, false}, {false, 0, true}, {false, 0, false}}},
		{"remove another", []op{{true, 0, false}, {false, 1, false}}},
		{"second makes a map", []op{{true, 0, false}, {true, 1, false}, {false, 0, true}, {false, 0, false}, {false, 1, true}, {true, 2, false}}},
		{"three, all removed, one again", []op{{true, 0, false}, {true, 1, false}, {true, 2, false}, {true, 1, false}, {false, 2, true}, {false, 0, true}, {false, 1, true}, {true, 0, false}}},
		{"one removed then another", []op{{true, 0, false}, {false, 0, true}, {true, 1, false}, {true, 2, false}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ss subscriberSet
			model := map[subscriber]bool{}
			for step, o := range tt.ops {
				s := subs[o.i]
				if o.add {
					ss.add(s)
					model[s] = true
				} else {
					if got := ss.remove(s); got != o.want {
						t.Fatalf("step %d: remove(%d) = %v, want %v", step, s.n, got, o.want)
					}
					delete(model, s)
				}
				if ss.len() != len(model) {
					t.Fatalf("step %d: len %d, want %d", step, ss.len(), len(model))
				}
				seen := map[subscriber]int{}
				for s := range ss.all() {
					seen[s]++
				}
				if len(seen) != len(model) {
					t.Fatalf("step %d: all yields %d subscribers, want %d", step, len(seen), len(model))
				}
				for s, n := range seen {
					if !model[s] || n != 1 {
						t.Fatalf("step %d: all yields %d %d times", step, s.(*setSub).n, n)
					}
				}
			}
		})
	}
}
