package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// counters are the soak's totals, shared by every client.
type counters struct {
	requests, replies, events atomic.Int64
	subscribes, unsubscribes  atomic.Int64

	// Protocol errors.
	errorReplies     atomic.Int64 // an error where a result was expected
	seqGaps          atomic.Int64 // an event skipped one or more changes
	seqBackwards     atomic.Int64 // an event repeated or undid a change
	unexpectedEvents atomic.Int64 // an event for a resource not subscribed, or unknown
	unknownReplies   atomic.Int64 // a reply to no request pending
	malformed        atomic.Int64 // a message that does not parse
	unexpectedCloses atomic.Int64 // the gateway closed a connection
	// The errors below are not counted on a connection that closed
	// unexpectedly: they follow from the close, counted once above.
	timeouts        atomic.Int64 // a request without a reply in time
	finalMismatches atomic.Int64 // at the end, a subscription not at the service's value
	writeErrors     atomic.Int64 // a request that could not be sent

	// firstErrors keeps the first few error descriptions.
	mu          sync.Mutex
	firstErrors []string
}

// maxErrorNotes is how many error descriptions are kept for the report.
const maxErrorNotes = 20

// fail counts an error in c and keeps its description.
func (k *counters) fail(c *atomic.Int64, format string, args ...any) {
	c.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.firstErrors) < maxErrorNotes {
		k.firstErrors = append(k.firstErrors, fmt.Sprintf(format, args...))
	}
}

// protocolErrors is the total of every kind of protocol error.
func (k *counters) protocolErrors() int64 {
	var n int64
	for _, c := range []*atomic.Int64{&k.errorReplies, &k.seqGaps, &k.seqBackwards, &k.unexpectedEvents, &k.unknownReplies,
		&k.malformed, &k.unexpectedCloses, &k.timeouts, &k.finalMismatches, &k.writeErrors} {
		n += c.Load()
	}
	return n
}

// Request kinds.
const (
	reqVersion = iota
	reqSubscribe
	reqUnsubscribe
)

// pending is a request waiting for its reply.
type pending struct {
	kind int
	res  int // resource index
	sent time.Time
}

// subState is a client's subscription to one resource.
type subState struct {
	seq          int64 // last seq seen
	unsubscribed bool  // unsubscribe sent, reply not yet
}

// client is one soak WebSocket connection. Its reader goroutine handles
// everything the gateway sends; requests are written by whoever acts on
// the client, one at a time.
type client struct {
	id  int
	ws  *websocket.Conn
	k   *counters
	wmu sync.Mutex // serializes writes of requests

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]pending
	subs    map[int]*subState
	busy    bool // a subscribe or unsubscribe is pending
	closing bool
	done    chan struct{} // closed when the reader ends
	// ready is signalled on each reply, for the setup phase.
	ready chan struct{}
}

// dialer opens the soak's connections: small buffers, since thousands are
// open at once.
func newDialer() *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 512}
}

// dialClient connects client id to the gateway and starts its reader.
func dialClient(d *websocket.Dialer, url string, id int, k *counters) (*client, error) {
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c := &client{id: id, ws: ws, k: k, pending: map[uint64]pending{}, subs: map[int]*subState{},
		done: make(chan struct{}), ready: make(chan struct{}, 8)}
	go c.read()
	return c, nil
}

// send writes a request of the given kind on resource res.
func (c *client) send(kind, res int) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return errors.New("closing")
	}
	c.nextID++
	id := c.nextID
	var msg string
	switch kind {
	case reqVersion:
		msg = `{"id":` + strconv.FormatUint(id, 10) + `,"method":"version","params":{"protocol":"1.2.3"}}`
	case reqSubscribe:
		msg = `{"id":` + strconv.FormatUint(id, 10) + `,"method":"subscribe.` + rid(res) + `"}`
		c.busy = true
	case reqUnsubscribe:
		msg = `{"id":` + strconv.FormatUint(id, 10) + `,"method":"unsubscribe.` + rid(res) + `"}`
		c.subs[res].unsubscribed = true
		c.busy = true
	}
	c.pending[id] = pending{kind: kind, res: res, sent: time.Now()}
	c.mu.Unlock()
	c.k.requests.Add(1)
	c.wmu.Lock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg))
	c.wmu.Unlock()
	if err != nil && !c.ended() {
		c.k.fail(&c.k.writeErrors, "client %d: write: %v", c.id, err)
	}
	return err
}

// ended reports whether the connection has ended (its reader returned).
func (c *client) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// message is anything the gateway sends.
type message struct {
	ID     *uint64         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// seqModel is a soak resource as it travels.
type seqModel struct {
	Seq *int64 `json:"seq"`
}

// read handles the gateway's messages until the connection ends.
func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if !closing {
				c.k.fail(&c.k.unexpectedCloses, "client %d: connection ended: %v", c.id, err)
			}
			return
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			c.k.fail(&c.k.malformed, "client %d: %v: %s", c.id, err, data)
			continue
		}
		if m.ID != nil {
			c.reply(*m.ID, &m, data)
		} else {
			c.event(&m, data)
		}
	}
}

// reply handles the reply to request id.
func (c *client) reply(id uint64, m *message, data []byte) {
	c.k.replies.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[id]
	if !ok {
		c.k.fail(&c.k.unknownReplies, "client %d: reply to no pending request: %s", c.id, data)
		return
	}
	delete(c.pending, id)
	select {
	case c.ready <- struct{}{}:
	default:
	}
	if m.Error != nil {
		c.k.fail(&c.k.errorReplies, "client %d: error reply to %s: %s", c.id, kindName(p.kind, p.res), data)
		if p.kind != reqVersion {
			c.busy = false
		}
		if p.kind == reqUnsubscribe {
			c.subs[p.res].unsubscribed = false
		}
		return
	}
	switch p.kind {
	case reqSubscribe:
		c.busy = false
		c.k.subscribes.Add(1)
		var r struct {
			Models map[string]seqModel `json:"models"`
		}
		if err := json.Unmarshal(m.Result, &r); err != nil {
			c.k.fail(&c.k.malformed, "client %d: subscribe result: %v: %s", c.id, err, data)
			return
		}
		mod, ok := r.Models[rid(p.res)]
		if !ok || mod.Seq == nil {
			c.k.fail(&c.k.malformed, "client %d: subscribe result without %s: %s", c.id, rid(p.res), data)
			return
		}
		c.subs[p.res] = &subState{seq: *mod.Seq}
	case reqUnsubscribe:
		c.busy = false
		c.k.unsubscribes.Add(1)
		delete(c.subs, p.res)
	}
}

// event checks a change event against the client's subscription.
func (c *client) event(m *message, data []byte) {
	c.k.events.Add(1)
	const suffix = ".change"
	if len(m.Event) <= len(suffix) || m.Event[len(m.Event)-len(suffix):] != suffix {
		c.k.fail(&c.k.unexpectedEvents, "client %d: unexpected event %s", c.id, data)
		return
	}
	res := ridIndex(m.Event[:len(m.Event)-len(suffix)])
	var d struct {
		Values seqModel `json:"values"`
	}
	if err := json.Unmarshal(m.Data, &d); err != nil || d.Values.Seq == nil {
		c.k.fail(&c.k.malformed, "client %d: event data: %s", c.id, data)
		return
	}
	seq := *d.Values.Seq
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.subs[res]
	if !ok {
		c.k.fail(&c.k.unexpectedEvents, "client %d: event for %s, not subscribed: %s", c.id, rid(res), data)
		return
	}
	switch {
	case seq == s.seq+1:
	case seq > s.seq+1:
		c.k.fail(&c.k.seqGaps, "client %d: %s went from %d to %d", c.id, rid(res), s.seq, seq)
	default:
		c.k.fail(&c.k.seqBackwards, "client %d: %s went from %d to %d", c.id, rid(res), s.seq, seq)
	}
	s.seq = seq
}

// expire counts the client's requests older than d as timed out, once.
func (c *client) expire(d time.Duration) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended() {
		// Counted once, as an unexpected close: its requests cannot be
		// answered.
		clear(c.pending)
		return
	}
	for id, p := range c.pending {
		if now.Sub(p.sent) > d {
			delete(c.pending, id)
			c.k.fail(&c.k.timeouts, "client %d: no reply to %s within %v", c.id, kindName(p.kind, p.res), d)
		}
	}
}

// close closes the connection as expected.
func (c *client) close() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

func kindName(kind, res int) string {
	switch kind {
	case reqSubscribe:
		return "subscribe." + rid(res)
	case reqUnsubscribe:
		return "unsubscribe." + rid(res)
	}
	return "version"
}
