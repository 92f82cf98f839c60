package resproto

import (
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

type pendingRequest struct {
	subject string
	cb      replyFunc
	timer   *time.Timer
}

// mq is the engine's NATS client. All inbound messages, replies and events
// alike, pass through one channel and one dispatcher goroutine, so that the
// order NATS delivers them in (for instance a token event published before
// an auth reply) is the order the engine sees them in. Requests share one
// wildcard reply subscription instead of one inbox subscription each.
type mq struct {
	nc      *nats.Conn
	log     *slog.Logger
	trace   bool
	timeout time.Duration
	obs     Observer // nil: none

	ch       chan *nats.Msg
	inbox    string // "_INBOX.<nuid>." prefix of every reply subject
	replySub *nats.Subscription

	mu       sync.Mutex
	nextID   uint64
	pending  map[string]*pendingRequest
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
		ch:       make(chan *nats.Msg, cfg.BufferSize),
		inbox:    "_INBOX." + nuid.Next() + ".",
		pending:  make(map[string]*pendingRequest),
		handlers: make(map[*nats.Subscription]func(string, []byte)),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	sub, err := nc.ChanSubscribe(m.inbox+"*", m.ch)
	if err != nil {
		return nil, err
	}
	m.replySub = sub
	go m.dispatch()
	return m, nil
}

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
// dispatcher, a timer or a goroutine of its own) and must not block.
func (m *mq) request(subject string, data []byte, cb replyFunc) {
	if m.obs != nil {
		start, inner := time.Now(), cb
		kind, _, _ := strings.Cut(subject, ".")
		cb = func(data []byte, err error) {
			m.obs.NATSRequest(kind, time.Since(start), err)
			inner(data, err)
		}
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		go cb(nil, ErrServiceUnavailable)
		return
	}
	if m.offline {
		m.mu.Unlock()
		go cb(nil, ErrNATSUnavailable)
		return
	}
	m.nextID++
	id := strconv.FormatUint(m.nextID, 36)
	reply := m.inbox + id
	if len(subject)+len(reply)+pubOverhead > maxControlLine {
		m.mu.Unlock()
		go cb(nil, ErrSubjectTooLong)
		return
	}
	pr := &pendingRequest{subject: subject, cb: cb}
	m.pending[id] = pr
	pr.timer = time.AfterFunc(m.timeout, func() { m.expire(id) })
	m.mu.Unlock()

	if m.trace {
		m.log.Debug("<== ("+id+") "+subject+": "+redactTrace(data, strings.HasPrefix(subject, "auth.")), "subject", subject)
	}
	if err := m.nc.PublishRequest(subject, reply, data); err != nil {
		m.mu.Lock()
		_, ok := m.pending[id]
		delete(m.pending, id)
		m.mu.Unlock()
		if ok {
			pr.timer.Stop()
			// Asynchronously, as every other outcome: the caller may hold a
			// queue lock that cb needs.
			if errors.Is(err, nats.ErrReconnectBufExceeded) {
				// Disconnected, and the engine not told yet (outage.go).
				m.log.Debug("publish failed: NATS connection lost", "subject", subject)
				go cb(nil, ErrNATSUnavailable)
				return
			}
			m.log.Error("publish failed", "subject", subject, "error", err)
			go cb(nil, ErrServiceUnavailable)
		}
	}
}

func (m *mq) expire(id string) {
	m.mu.Lock()
	pr, ok := m.pending[id]
	delete(m.pending, id)
	m.mu.Unlock()
	if ok {
		if m.trace {
			m.log.Debug("x=> (" + id + ") Request timeout")
		}
		pr.cb(nil, ErrTimeout)
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
	id := strings.TrimPrefix(msg.Subject, m.inbox)
	m.mu.Lock()
	pr, ok := m.pending[id]
	if !ok {
		m.mu.Unlock()
		return
	}
	// A reply starting with a letter is a pre-response: a struct-tag like
	// timeout:"15000" that extends the request's deadline.
	if len(msg.Data) > 0 && (msg.Data[0]|32) >= 'a' && (msg.Data[0]|32) <= 'z' {
		if v, ok := reflect.StructTag(msg.Data).Lookup("timeout"); ok {
			if ms, err := strconv.Atoi(v); err == nil && pr.timer.Stop() {
				pr.timer = time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { m.expire(id) })
			}
		}
		m.mu.Unlock()
		if m.trace {
			m.log.Debug("==> (" + id + ") pre-response: " + string(msg.Data))
		}
		return
	}
	delete(m.pending, id)
	pr.timer.Stop()
	m.mu.Unlock()

	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		if m.trace {
			m.log.Debug("x=> (" + id + ") No responders")
		}
		pr.cb(nil, errNoResponders)
		return
	}
	if m.trace {
		m.log.Debug("==> (" + id + "): " + redactTrace(msg.Data, false))
	}
	pr.cb(msg.Data, nil)
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
	m.pending = map[string]*pendingRequest{}
	m.mu.Unlock()

	for _, s := range subs {
		s.Unsubscribe()
	}
	for _, pr := range pending {
		pr.timer.Stop()
		pr.cb(nil, ErrServiceUnavailable)
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
