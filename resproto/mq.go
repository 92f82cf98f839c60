package resproto

import (
	"container/heap"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// maxControlLine is the NATS protocol's limit on a PUB or SUB line. A request
// whose subject and reply inbox would exceed it is refused with
// system.subjectTooLong before it reaches NATS, which would otherwise close
// the connection.
const maxControlLine = 4096

// pubOverhead is the room the rest of a PUB line takes: "PUB ", two spaces,
// the payload size and CRLF.
const pubOverhead = 16

// replyFunc receives the reply to a NATS request, or the error that ended it
// (system.timeout, system.notFound for no responders).
type replyFunc func(data []byte, err error)

// pendingRequest is a request waiting for its reply.
type pendingRequest struct {
	subject  string
	cb       replyFunc
	sent     int64 // mq.now() when it was sent
	deadline int64 // mq.now() from which it has timed out
}

// expiry is a request's deadline in one of mq's timeout queues.
type expiry struct {
	id uint64
	at int64 // mq.now()
}

// expiryHeap is a min-heap of deadlines (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// timeoutSlack is how late a request may time out so that one timer run
// ends every request whose deadline falls within it: under load the timer
// then runs at most every timeoutSlack, not once per request.
const timeoutSlack = 5 * time.Millisecond

// mq is the engine's NATS client. All inbound messages, replies and events
// alike, pass through one channel and one dispatcher goroutine, so that the
// order NATS delivers them in (for instance a token event published before
// an auth reply) is the order the engine sees them in. Requests share one
// wildcard reply subscription instead of one inbox subscription each.
//
// Request timeouts cost no timer each. Every request has the same timeout,
// so the order requests are sent in is the order of their deadlines: each
// gets an entry at the end of the expiries queue, and one timer runs for
// the queue's head. A reply leaves its entry in place, to be skipped when
// reached (entries are small and hold no pointer, and the queue is
// compacted when mostly such). A pre-response's deadline, which may come
// before or after the first, goes to a heap, later.
type mq struct {
	nc      *nats.Conn
	log     *slog.Logger
	trace   bool
	timeout time.Duration
	obs     Observer // nil: none
	epoch   time.Time

	ch       chan *nats.Msg
	inbox    string // "_INBOX.<nuid>." prefix of every reply subject
	replySub *nats.Subscription

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]*pendingRequest
	expiries []expiry // from expHead, in the order sent
	expHead  int
	later    expiryHeap
	timer    *time.Timer // runs sweep
	timerAt  int64       // when timer fires; 0 if stopped
	handlers map[*nats.Subscription]func(subject string, data []byte)
	closed   bool
	offline  bool // NATS connection lost: requests fail at once
	quit     chan struct{}
	done     chan struct{}
}

func newMQ(nc *nats.Conn, cfg Config) (*mq, error) {
	m := &mq{
		nc:       nc,
		log:      cfg.Logger,
		trace:    cfg.Trace,
		timeout:  cfg.RequestTimeout,
		obs:      cfg.Observer,
		epoch:    time.Now(),
		ch:       make(chan *nats.Msg, cfg.BufferSize),
		inbox:    "_INBOX." + nuid.Next() + ".",
		pending:  make(map[uint64]*pendingRequest),
		handlers: make(map[*nats.Subscription]func(string, []byte)),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.timer = time.AfterFunc(time.Hour, m.sweep)
	m.timer.Stop()
	sub, err := nc.ChanSubscribe(m.inbox+"*", m.ch)
	if err != nil {
		return nil, err
	}
	m.replySub = sub
	go m.dispatch()
	return m, nil
}

// now is the time on the monotonic clock, in nanoseconds from m.epoch.
func (m *mq) now() int64 { return int64(time.Since(m.epoch)) }

// subscribe routes messages on subject to h, called on the dispatcher
// goroutine: h must not block.
func (m *mq) subscribe(subject string, h func(subject string, data []byte)) (*nats.Subscription, error) {
	if len(subject)+pubOverhead > maxControlLine {
		return nil, ErrSubjectTooLong
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("engine closed")
	}
	sub, err := m.nc.ChanSubscribe(subject, m.ch)
	if err != nil {
		return nil, err
	}
	m.handlers[sub] = h
	if m.trace {
		m.log.Debug("S=> " + subject)
	}
	return sub, nil
}

func (m *mq) unsubscribe(sub *nats.Subscription) {
	m.mu.Lock()
	delete(m.handlers, sub)
	m.mu.Unlock()
	if m.trace {
		m.log.Debug("U=> " + sub.Subject)
	}
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		m.log.Error("unsubscribe failed", "subject", sub.Subject, "error", err)
	}
}

// request publishes data to subject and calls cb exactly once with the
// reply or an error. cb never runs on the caller's goroutine (it runs on the
// dispatcher, the timeout timer or a goroutine of its own) and must not
// block.
func (m *mq) request(subject string, data []byte, cb replyFunc) {
	m.mu.Lock()
	now := m.now()
	pr := &pendingRequest{subject: subject, cb: cb, sent: now, deadline: now + int64(m.timeout)}
	var fail error
	switch {
	case m.closed:
		fail = ErrServiceUnavailable
	case m.offline:
		fail = ErrNATSUnavailable
	}
	m.nextID++
	id := m.nextID
	var buf [80]byte
	reply := string(strconv.AppendUint(append(buf[:0], m.inbox...), id, 36))
	if fail == nil && len(subject)+len(reply)+pubOverhead > maxControlLine {
		fail = ErrSubjectTooLong
	}
	if fail != nil {
		m.mu.Unlock()
		go m.finish(pr, nil, fail)
		return
	}
	m.pending[id] = pr
	m.addExpiry(expiry{id: id, at: pr.deadline})
	m.mu.Unlock()

	if m.trace {
		m.log.Debug("<== ("+traceID(id)+") "+subject+": "+redactTrace(data, strings.HasPrefix(subject, "auth.")), "subject", subject)
	}
	if err := m.nc.PublishRequest(subject, reply, data); err != nil {
		m.mu.Lock()
		_, ok := m.pending[id]
		delete(m.pending, id)
		m.mu.Unlock()
		if ok {
			// Asynchronously, as every other outcome: the caller may hold a
			// queue lock that cb needs.
			if errors.Is(err, nats.ErrReconnectBufExceeded) {
				// Disconnected, and the engine not told yet (outage.go).
				m.log.Debug("publish failed: NATS connection lost", "subject", subject)
				go m.finish(pr, nil, ErrNATSUnavailable)
				return
			}
			m.log.Error("publish failed", "subject", subject, "error", err)
			go m.finish(pr, nil, ErrServiceUnavailable)
		}
	}
}

// traceID is a request's ID as in its reply subject and trace lines.
func traceID(id uint64) string { return strconv.FormatUint(id, 36) }

// finish ends a request that has left m.pending.
func (m *mq) finish(pr *pendingRequest, data []byte, err error) {
	if m.obs != nil {
		kind, _, _ := strings.Cut(pr.subject, ".")
		m.obs.NATSRequest(kind, time.Duration(m.now()-pr.sent), err)
	}
	pr.cb(data, err)
}

// addExpiry queues a request's first deadline, with m.mu held.
func (m *mq) addExpiry(e expiry) {
	if n := len(m.expiries) - m.expHead; n >= 4096 && n > 4*len(m.pending) {
		// Mostly requests answered since: keep those still waiting
		// for this deadline.
		kept := m.expiries[:0]
		for _, x := range m.expiries[m.expHead:] {
			if pr := m.pending[x.id]; pr != nil && pr.deadline == x.at {
				kept = append(kept, x)
			}
		}
		clear(m.expiries[len(kept):])
		m.expiries, m.expHead = kept, 0
	} else if m.expHead >= 1024 && 2*m.expHead >= len(m.expiries) {
		n := copy(m.expiries, m.expiries[m.expHead:])
		m.expiries, m.expHead = m.expiries[:n], 0
	}
	m.expiries = append(m.expiries, e)
	m.arm(e.at)
}

// arm makes the timer fire at at, unless it fires before, with m.mu held.
func (m *mq) arm(at int64) {
	if m.timerAt != 0 && m.timerAt <= at {
		return
	}
	m.timerAt = at
	m.timer.Reset(time.Duration(at - m.now()))
}

// sweep, run by the timer, ends the requests whose deadline has passed and
// sets the timer for the next deadline.
func (m *mq) sweep() {
	m.mu.Lock()
	now := m.now()
	m.timerAt = 0
	var expired []*pendingRequest
	var ids []uint64
	take := func(e expiry) {
		if pr := m.pending[e.id]; pr != nil && pr.deadline <= now {
			delete(m.pending, e.id)
			expired = append(expired, pr)
			if m.trace {
				ids = append(ids, e.id)
			}
		}
	}
	for m.expHead < len(m.expiries) && m.expiries[m.expHead].at <= now {
		take(m.expiries[m.expHead])
		m.expHead++
	}
	if m.expHead == len(m.expiries) {
		m.expiries, m.expHead = m.expiries[:0], 0
	}
	for len(m.later) > 0 && m.later[0].at <= now {
		take(heap.Pop(&m.later).(expiry))
	}
	next := int64(-1)
	if m.expHead < len(m.expiries) {
		next = m.expiries[m.expHead].at
	}
	if len(m.later) > 0 && (next < 0 || m.later[0].at < next) {
		next = m.later[0].at
	}
	if next >= 0 && !m.closed {
		m.arm(max(next, now+int64(timeoutSlack)))
	}
	m.mu.Unlock()
	for i, pr := range expired {
		if m.trace {
			m.log.Debug("x=> (" + traceID(ids[i]) + ") Request timeout")
		}
		m.finish(pr, nil, ErrTimeout)
	}
}

func (m *mq) dispatch() {
	defer close(m.done)
	for {
		var msg *nats.Msg
		select {
		case msg = <-m.ch:
		case <-m.quit:
			return
		}
		if msg.Sub == m.replySub {
			m.handleReply(msg)
			continue
		}
		m.mu.Lock()
		h := m.handlers[msg.Sub]
		m.mu.Unlock()
		if h == nil {
			continue
		}
		if m.trace {
			m.log.Debug("=>> " + msg.Subject + ": " + redactTrace(msg.Data, false))
		}
		if m.obs != nil {
			m.obs.NATSEvent(eventKind(msg.Subject))
		}
		h(msg.Subject, msg.Data)
	}
}

func (m *mq) handleReply(msg *nats.Msg) {
	sid := strings.TrimPrefix(msg.Subject, m.inbox)
	id, err := strconv.ParseUint(sid, 36, 64)
	if err != nil {
		return
	}
	m.mu.Lock()
	pr, ok := m.pending[id]
	if !ok {
		m.mu.Unlock()
		return
	}
	// A reply starting with a letter is a pre-response: a struct-tag like
	// timeout:"15000" that sets the request's deadline anew, from now.
	if len(msg.Data) > 0 && (msg.Data[0]|32) >= 'a' && (msg.Data[0]|32) <= 'z' {
		if v, ok := reflect.StructTag(msg.Data).Lookup("timeout"); ok {
			if ms, err := strconv.Atoi(v); err == nil {
				pr.deadline = m.now() + int64(ms)*int64(time.Millisecond)
				heap.Push(&m.later, expiry{id: id, at: pr.deadline})
				m.arm(pr.deadline)
			}
		}
		m.mu.Unlock()
		if m.trace {
			m.log.Debug("==> (" + sid + ") pre-response: " + string(msg.Data))
		}
		return
	}
	delete(m.pending, id)
	m.mu.Unlock()

	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		if m.trace {
			m.log.Debug("x=> (" + sid + ") No responders")
		}
		m.finish(pr, nil, errNoResponders)
		return
	}
	if m.trace {
		m.log.Debug("==> (" + sid + "): " + redactTrace(msg.Data, false))
	}
	m.finish(pr, msg.Data, nil)
}

// close unsubscribes everything and fails pending requests. The NATS
// connection itself belongs to the caller.
func (m *mq) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	subs := make([]*nats.Subscription, 0, len(m.handlers)+1)
	subs = append(subs, m.replySub)
	for s := range m.handlers {
		subs = append(subs, s)
	}
	m.handlers = map[*nats.Subscription]func(string, []byte){}
	pending := m.pending
	m.pending = map[uint64]*pendingRequest{}
	m.expiries, m.expHead, m.later = nil, 0, nil
	m.timer.Stop()
	m.timerAt = 0
	m.mu.Unlock()

	for _, s := range subs {
		s.Unsubscribe()
	}
	for _, pr := range pending {
		m.finish(pr, nil, ErrServiceUnavailable)
	}
	close(m.quit)
	<-m.done
}

// eventKind is the Observer.NATSEvent kind of an event subject.
func eventKind(subject string) string {
	switch {
	case strings.HasPrefix(subject, "event."):
		return "resource"
	case strings.HasPrefix(subject, "system."):
		return "system"
	case strings.HasPrefix(subject, "conn."):
		return "conn"
	}
	return "other"
}
