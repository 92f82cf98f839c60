package resproto

import "time"

// NATS outages. The engine does not watch its NATS connection itself: its
// owner, which sets the connection's handlers, calls NATSDisconnected when
// the connection is lost and NATSReconnected when it is back (nats.go
// reconnects on its own, and sends the subscriptions it had again before it
// reports the reconnection). What the engine does in between is
// Config.Outage.

// OutageMode is what the engine does while its NATS connection is lost.
type OutageMode int

const (
	// OutageClose, the default, is what the RES protocol recommends: every
	// client is disconnected (a WebSocket gets a going-away close frame), so
	// that it reconnects to another gateway; new connections are refused
	// with ErrNATSUnavailable and requests in flight fail with it. When NATS
	// is back, the cache is emptied (every cached resource and its event
	// subscription dropped, since events were missed) and connections are
	// accepted again.
	OutageClose OutageMode = iota
	// OutageResync keeps clients connected. Requests in flight, and every
	// request made during the outage, fail at once with
	// ErrNATSUnavailable. When NATS is back, every cached resource is fetched
	// again and every subscriber's access checked again, as a system.reset
	// of every resource would: clients get the differences as ordinary
	// events and end with what a new subscriber would get.
	OutageResync
)

// String returns the mode's configuration name: "close" or "resync".
func (m OutageMode) String() string {
	switch m {
	case OutageClose:
		return "close"
	case OutageResync:
		return "resync"
	}
	return "unknown"
}

// ErrNATSUnavailable is the error of a request made while the NATS
// connection is lost: system.serviceUnavailable (an HTTP API request gets
// 503), with a message saying why. Resgate has no such state, as it exits
// when it loses NATS; the code is the one it uses while shutting down.
var ErrNATSUnavailable = &Error{Code: CodeServiceUnavailable, Message: "Service unavailable: no connection to the messaging system"}

// NATSDisconnected tells the engine that its NATS connection is lost.
// Requests in flight fail with ErrNATSUnavailable, and so do new ones until
// NATSReconnected. In OutageClose mode every connection is disconnected
// and NewConn refuses new ones. Calls while already disconnected do
// nothing.
func (e *Engine) NATSDisconnected() {
	e.mu.Lock()
	if e.closed || e.offline {
		e.mu.Unlock()
		return
	}
	e.offline = true
	e.resyncGen.Add(1) // a resync under way stops retrying
	var conns []*Conn
	if e.cfg.Outage == OutageClose {
		conns = make([]*Conn, 0, len(e.conns))
		for _, c := range e.conns {
			conns = append(conns, c)
		}
	}
	e.mu.Unlock()

	n := e.mq.setOffline(true)
	switch e.cfg.Outage {
	case OutageClose:
		e.log.Warn("NATS connection lost: closing every client until it is back", "clients", len(conns), "failedRequests", n)
		for _, c := range conns {
			c.t.Disconnect("NATS connection lost")
		}
		e.cache.clear()
	default:
		e.log.Warn("NATS connection lost: keeping clients; requests fail until it is back", "failedRequests", n)
	}
}

// NATSReconnected tells the engine that its NATS connection is back. In
// OutageClose mode the cache is emptied and connections are accepted
// again; in OutageResync mode every cached resource is fetched again and
// every subscriber's access checked again. Calls while connected do
// nothing.
func (e *Engine) NATSReconnected() {
	e.mu.Lock()
	if e.closed || !e.offline {
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()

	switch e.cfg.Outage {
	case OutageClose:
		// Emptied again: connections closing during the outage may have
		// subscribed meanwhile.
		e.cache.clear()
		e.mq.setOffline(false)
		e.setOffline(false)
		e.log.Info("NATS connection back: cache emptied, accepting clients again")
	default:
		e.mq.setOffline(false)
		e.setOffline(false)
		n := e.resync()
		e.log.Info("NATS connection back: resynchronizing cached resources", "resources", n)
	}
}

// Online reports whether the engine is serving: not closed, and its NATS
// connection not lost (between NATSDisconnected and NATSReconnected).
func (e *Engine) Online() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.closed && !e.offline
}

func (e *Engine) setOffline(v bool) {
	e.mu.Lock()
	e.offline = v
	e.mu.Unlock()
}

// After NATS dropped messages, the resync waits for the burst to pass:
// dropSettle after the first drop, and no sooner than dropResyncEvery
// after the previous one, so that a gateway kept busy beyond its buffer
// does not add a resync per drop to its load.
const (
	dropSettle      = 250 * time.Millisecond
	dropResyncEvery = time.Second
)

// NATSMessagesDropped tells the engine that NATS dropped messages on their
// way to it: its inbound buffer (Config.BufferSize) was full, which nats.go
// reports as nats.ErrSlowConsumer. A dropped reply ends as a timeout, but a
// dropped event would leave a cached resource stale for good, so the
// engine resynchronizes every cached resource as OutageResync does when
// NATS is back: fetched again, access checked again, the differences sent
// to clients as ordinary events. One resync covers a burst of drops
// (nats.go reports one per subscription). Resgate stops on a slow
// consumer instead.
func (e *Engine) NATSMessagesDropped() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.dropResync != nil {
		return
	}
	wait := max(dropSettle, time.Until(e.lastDropResync.Add(dropResyncEvery)))
	e.dropResync = time.AfterFunc(wait, e.resyncDropped)
}

// resyncDropped is the resync NATSMessagesDropped scheduled.
func (e *Engine) resyncDropped() {
	e.mu.Lock()
	e.dropResync = nil
	e.lastDropResync = time.Now()
	skip := e.closed || e.offline // an outage's own recovery takes over
	e.mu.Unlock()
	if skip {
		return
	}
	n := e.resync()
	e.log.Warn("NATS dropped messages to the gateway (slow consumer: the inbound buffer was full); resynchronizing cached resources", "resources", n, "bufferSize", e.cfg.BufferSize)
}

// Resync retries: a service may come back after the gateway (or its NATS
// server be the one that was lost), so a refetch that gets no reply is
// tried again, resyncAttempts times in all, the wait doubling from
// resyncRetryMin up to resyncRetryMax.
const (
	resyncAttempts = 8
	resyncRetryMin = 100 * time.Millisecond
	resyncRetryMax = 2 * time.Second
)

// errNoResponders is system.notFound as NATS reports it: nobody listens on
// the subject. Clients see ErrNotFound, as from Resgate; a resync tells it
// from a service's own notFound, which deletes the resource.
var errNoResponders = &Error{Code: CodeNotFound, Message: ErrNotFound.Message}

// resync fetches every cached resource again and, once its data is fresh,
// checks its subscribers' access again: a system.reset of everything,
// except that a refetch that gets no reply (no responders, a timeout, NATS
// lost again) is retried rather than taken for a deletion, and until it
// succeeds the resource is kept as it is, subscribers included. It
// returns the number of resource names.
func (e *Engine) resync() int {
	gen := e.resyncGen.Add(1)
	t := newThrottle(e.cfg.ResetThrottle)
	e.cache.mu.Lock()
	subs := make([]*eventSub, 0, len(e.cache.names))
	for _, es := range e.cache.names {
		subs = append(subs, es)
	}
	e.cache.mu.Unlock()
	for _, es := range subs {
		es.enqueue(func() {
			if es.base != nil && es.base.q == "" {
				es.base.resync(e, gen, t, 1)
			}
			for _, r := range es.queries {
				r.resync(e, gen, t, 1)
			}
		})
	}
	return len(subs)
}

// resync is attempt number attempt to fetch r again for resync gen. Call
// on r's queue.
func (r *resource) resync(e *Engine, gen uint64, t *throttle, attempt int) {
	// A resource loading for a new subscriber gets fresh data anyway.
	if r.resetting || (r.state != rsModel && r.state != rsCollection) {
		return
	}
	r.refetch(t, func(data []byte, err error) { r.resynced(e, gen, t, attempt, data, err) })
}

// resynced handles the reply to a resync refetch.
func (r *resource) resynced(e *Engine, gen uint64, t *throttle, attempt int, data []byte, err error) {
	if e.resyncGen.Load() != gen {
		return // NATS was lost again: the next resync takes over
	}
	if err == errNoResponders || IsCode(err, CodeTimeout) || IsCode(err, CodeServiceUnavailable) {
		if attempt >= resyncAttempts {
			r.e.c.log.Warn("resync: no reply from the service; keeping the cached resource until an event or reset", "resource", r.e.name, "query", r.q, "error", err)
			return
		}
		wait := resyncRetryMin << (attempt - 1)
		wait = min(wait, resyncRetryMax)
		r.e.c.log.Debug("resync: no reply from the service; trying again", "resource", r.e.name, "query", r.q, "attempt", attempt, "wait", wait, "error", err)
		time.AfterFunc(wait, func() {
			r.e.enqueue(func() {
				if e.resyncGen.Load() == gen && r.isCached() {
					r.resync(e, gen, t, attempt+1)
				}
			})
		})
		return
	}
	r.handleResetResponse(data, err)
	for s := range r.subs.all() {
		s.reaccess(t)
	}
}

// isCached reports whether r is still an entry of its name. Call on r's
// queue.
func (r *resource) isCached() bool {
	if r.q == "" {
		return r.e.base == r
	}
	return r.e.queries[r.q] == r
}

// setOffline makes requests fail at once with ErrNATSUnavailable (off) or
// go to NATS again. Going offline fails the requests in flight, whose
// replies would be lost; it returns how many.
func (m *mq) setOffline(off bool) int {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0
	}
	m.offline = off
	var pending map[uint64]*pendingRequest
	if off && len(m.pending) > 0 {
		// Their deadlines stay queued, to be skipped when reached.
		pending = m.pending
		m.pending = make(map[uint64]*pendingRequest)
	}
	m.mu.Unlock()
	for _, pr := range pending {
		m.finish(pr, nil, ErrNATSUnavailable)
	}
	return len(pending)
}

// clear drops every cached resource and its NATS event subscription. The
// subscriptions of connections still holding them are left to go with
// their connections: their counts go to entries no longer in the cache,
// which are never evicted twice (evictLocked checks). A new subscription
// loads the resource again.
func (c *cache) clear() {
	c.mu.Lock()
	names := c.names
	c.names = make(map[string]*eventSub)
	for _, e := range names {
		if e.evict != nil {
			e.evict.Stop()
			e.evict = nil
		}
		c.mq.unsubscribe(e.sub)
		if c.metrics.Resources != nil {
			c.metrics.Resources(-1)
		}
	}
	c.mu.Unlock()
}
