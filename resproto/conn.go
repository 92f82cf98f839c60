package resproto

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Protocol versions as numbers (major*1e6 + minor*1e3 + patch) at which the
// client encoding changed.
const (
	versionLegacyDefault    = 1001001 // a client that never sent version
	versionResourceResponse = 1002000 // call/auth resource responses
	versionSoftRefs         = 1002001 // soft references and data values
	versionLatest           = 1002003
)

// cidPlaceholder in a client RID stands for the connection's own ID.
const cidPlaceholder = "{cid}"

// Transport is the client side of a connection, implemented by a listener
// (a WebSocket, or an HTTP request). Its methods must not block.
type Transport interface {
	// Send queues msg to be written to the client.
	Send(msg *Message)
	// Disconnect closes the connection; reason is for logs and close frames.
	Disconnect(reason string)
}

// Flusher is implemented by a Transport that may hold messages back from
// Send until Flush, so that the messages one turn of a connection's queue
// sends are written together (one system call for a reply and the events
// queued with it). The engine calls Flush, which must not block either,
// after each turn of the queue and after any Send it makes outside one.
type Flusher interface {
	Flush()
}

// Conn is one client session on the engine. Everything a connection does,
// its requests, the cache's callbacks and its events, runs in order on its
// own queue, so its state needs no other locking. The queue runs on a
// goroutine started on demand: an idle connection costs no goroutine here.
type Conn struct {
	e   *Engine
	cid string
	t   Transport
	hi  *HTTPInfo
	log *slog.Logger

	mu        sync.Mutex
	queue     []func()
	running   bool
	disposing bool

	// Owned by the queue.
	subs     map[string]*subscription
	token    json.RawMessage
	tid      string
	protocol int
	// limitLogged is set once the subscription limit has been logged at
	// info level: later hits are logged at debug, so that a client
	// retrying in a loop does not flood the log.
	limitLogged bool
	// directResources counts the subscriptions the client holds directly
	// (direct > 0), for Config.ResourceLimit.
	directResources int
	// released, while the connection is disposed of, collects the
	// subscriptions its resources are to let go of (releaseResource).
	released *[]release

	// allow, when set, limits the resources clients may request on this
	// connection (a listener's resource patterns).
	allow func(name string) bool
	// resume, when set (WithResume), takes the handling of NATS replies
	// to a goroutine that waits for them (reply).
	resume func(f func())
}

// SetAllow limits the resources a client may request on this connection:
// a subscribe, get, call, auth or new request whose resource name (with
// {cid} expanded) allow refuses gets system.accessDenied without reaching a
// service. References followed from an allowed resource are not checked.
// Call it before the connection handles any message.
func (c *Conn) SetAllow(allow func(name string) bool) { c.allow = allow }

func (c *Conn) allowed(rid string) bool {
	if c.allow == nil {
		return true
	}
	name, _ := SplitRID(c.expandCID(rid))
	return c.allow(name)
}

// reply runs f, the handling of a NATS reply, on the connection's queue:
// through the connection's resume function when it has one, so that the
// goroutine waiting for the reply runs it (on the queue, with do) instead
// of a queue goroutine started for it; else enqueued.
func (c *Conn) reply(f func()) {
	if c.resume != nil {
		c.resume(func() { c.do(f) })
		return
	}
	c.enqueue(f)
}

// CID returns the connection ID services see for this connection.
func (c *Conn) CID() string { return c.cid }

// enqueue runs f on the connection's queue. It returns false if the
// connection is being disposed.
func (c *Conn) enqueue(f func()) bool {
	c.mu.Lock()
	if c.disposing {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, f)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
	return true
}

// runNow runs f as the connection's queue would, but on the caller's
// goroutine, if the queue is idle; it returns false, running nothing, if the
// queue has work (f must then be queued behind it) or the connection is
// being disposed. f must not block, nor wait for anything that waits for the
// caller. Whatever is queued while f runs is left to a queue goroutine.
func (c *Conn) runNow(f func()) bool {
	c.mu.Lock()
	if c.running || c.disposing {
		c.mu.Unlock()
		return false
	}
	c.running = true
	c.mu.Unlock()
	f()
	if fl, ok := c.t.(Flusher); ok {
		fl.Flush()
	}
	c.mu.Lock()
	if len(c.queue) > 0 {
		c.mu.Unlock()
		go c.run()
		return true
	}
	c.running = false
	c.mu.Unlock()
	return true
}

func (c *Conn) run() {
	fl, _ := c.t.(Flusher)
	c.mu.Lock()
	for len(c.queue) > 0 {
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for i, f := range q {
			f()
			q[i] = nil
		}
		if fl != nil {
			fl.Flush()
		}
		c.mu.Lock()
		if c.queue == nil && cap(q) <= 64 {
			c.queue = q[:0]
		}
	}
	c.running = false
	c.mu.Unlock()
}

func (c *Conn) send(m *Message) {
	if c.e.cfg.Trace {
		c.log.Debug("<-- " + redactTrace(m.Data, false))
	}
	c.t.Send(m)
}

func (c *Conn) expandCID(rid string) string {
	if strings.Contains(rid, cidPlaceholder) {
		return strings.ReplaceAll(rid, cidPlaceholder, c.cid)
	}
	return rid
}

type clientRequest struct {
	ID     *uint64         `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// HandleMessage handles one message from the client. It may be called from
// the transport's read loop; the work runs on the connection's queue.
func (c *Conn) HandleMessage(data []byte) {
	if c.e.cfg.Trace {
		c.log.Debug("--> " + redactTrace(data, false))
	}
	var r clientRequest
	if err := decodeClientRequest(data, &r); err != nil || r.ID == nil {
		c.log.Debug("malformed client message", "error", err)
		if c.e.cfg.ReplyMalformed {
			c.e.countError(ErrInvalidRequest)
			c.send(errorMessage(r.ID, ErrInvalidRequest))
			if fl, ok := c.t.(Flusher); ok {
				fl.Flush()
			}
		}
		return
	}
	c.enqueue(func() { c.handleRequest(&r) })
}

func isNull(p json.RawMessage) bool {
	return len(p) == 0 || bytes.Equal(p, []byte("null"))
}

func (c *Conn) handleRequest(r *clientRequest) {
	id := *r.ID
	reply := func(result any, err error) {
		if err != nil {
			c.e.countError(err)
			c.send(errorMessage(r.ID, err))
		} else {
			c.send(replyMessage(id, result))
		}
	}
	action, rid, ok := strings.Cut(r.Method, ".")
	if !ok {
		if r.Method != "version" {
			reply(nil, ErrInvalidRequest)
			return
		}
		var vr struct {
			Protocol string `json:"protocol"`
		}
		if !isNull(r.Params) && json.Unmarshal(r.Params, &vr) != nil {
			reply(nil, ErrInvalidParams)
			return
		}
		if err := c.setVersion(vr.Protocol); err != nil {
			reply(nil, err)
			return
		}
		reply(struct {
			Protocol string `json:"protocol"`
		}{Protocol}, nil)
		return
	}
	var method string
	if action == "call" || action == "auth" {
		i := strings.LastIndexByte(rid, '.')
		if i < 0 {
			reply(nil, ErrInvalidRequest)
			return
		}
		method, rid = rid[i+1:], rid[:i]
		if !IsValidRIDPart(method) {
			reply(nil, ErrInvalidRequest)
			return
		}
	}
	if !IsValidRID(rid) {
		reply(nil, ErrInvalidRequest)
		return
	}
	c.e.countRequest(action)
	if action != "unsubscribe" && !c.allowed(rid) {
		reply(nil, ErrAccessDenied)
		return
	}
	switch action {
	case "subscribe":
		c.subscribeResource(rid, reply)
	case "get":
		c.getResource(rid, reply)
	case "unsubscribe":
		count := 1
		if !isNull(r.Params) {
			var ur struct {
				Count *int `json:"count"`
			}
			if json.Unmarshal(r.Params, &ur) != nil {
				reply(nil, ErrInvalidParams)
				return
			}
			if ur.Count != nil {
				if *ur.Count <= 0 {
					reply(nil, ErrInvalidParams)
					return
				}
				count = *ur.Count
			}
		}
		if !c.unsubscribeRID(rid, count) {
			reply(nil, ErrNoSubscription)
			return
		}
		reply(nil, nil)
	case "call":
		c.callResource(rid, method, r.Params, reply)
	case "auth":
		c.authResource(rid, method, r.Params, reply)
	case "new":
		c.newResource(rid, r.Params, reply)
	default:
		reply(nil, ErrInvalidRequest)
	}
}

func (c *Conn) setVersion(protocol string) error {
	if protocol == "" {
		return nil
	}
	parts := strings.Split(protocol, ".")
	if len(parts) != 3 {
		return ErrInvalidParams
	}
	v := 0
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		// Negative parts are not refused, as in Resgate: "1.-1.0" is
		// below 1.0.0 and so unsupported.
		if err != nil || n >= 1000 {
			return ErrInvalidParams
		}
		v = v*1000 + n
	}
	if v < 1000000 || v >= 2000000 {
		return ErrUnsupportedProtocol
	}
	c.protocol = v
	return nil
}

// subscribe returns the connection's subscription to rid, creating and
// loading it if needed, and counts one more direct or indirect hold on it.
func (c *Conn) subscribe(rid string, direct bool, t *throttle) (*subscription, error) {
	if c.disposing {
		return nil, ErrDisposedSubscription
	}
	if s, ok := c.subs[rid]; ok {
		return s, c.addCount(s, direct)
	}
	if direct && c.resourceLimitReached() {
		return nil, ErrSubscriptionLimitExceeded
	}
	if t == nil {
		t = newThrottle(c.e.cfg.ReferenceThrottle)
	}
	s := newSubscription(c, rid, t)
	c.addCount(s, direct)
	c.subs[rid] = s
	c.e.cache.subscribe(s, s.name, t)
	return s, nil
}

func (c *Conn) addCount(s *subscription, direct bool) error {
	if direct {
		if s.direct >= c.e.cfg.SubscriptionLimit {
			c.logLimit("subscription limit exceeded", "rid", s.rid, "count", s.direct, "subscriptionsPerResource", c.e.cfg.SubscriptionLimit)
			return ErrSubscriptionLimitExceeded
		}
		if s.direct == 0 {
			if c.resourceLimitReached() {
				return ErrSubscriptionLimitExceeded
			}
			c.directResources++
		}
		s.direct++
	} else {
		s.indirect++
	}
	return nil
}

// resourceLimitReached reports, and logs, that the connection subscribes
// directly to as many resources as Config.ResourceLimit allows.
func (c *Conn) resourceLimitReached() bool {
	max := c.e.cfg.ResourceLimit
	if max <= 0 || c.directResources < max {
		return false
	}
	c.logLimit("resource limit exceeded: too many resources subscribed", "resources", c.directResources, "subscriptionsPerConnection", max)
	return true
}

// logLimit logs a limit the client hit: at info level the first time on
// the connection, at debug after, so that a client retrying in a loop does
// not flood the log.
func (c *Conn) logLimit(msg string, args ...any) {
	level := slog.LevelDebug
	if !c.limitLogged {
		c.limitLogged, level = true, slog.LevelInfo
	}
	c.log.Log(context.Background(), level, msg, args...)
}

func (c *Conn) unsubscribe(s *subscription, direct, sent bool, count int, tryDelete bool) {
	if c.disposing {
		return
	}
	if s.direct+s.indirect+s.indirectsent == 0 {
		return
	}
	if direct {
		s.direct -= count
		if s.direct == 0 && count > 0 {
			c.directResources--
		}
	} else {
		s.indirect -= count
		if sent {
			s.indirectsent -= count
		}
	}
	if tryDelete {
		c.tryDelete(s)
	}
}

func (c *Conn) unsubscribeRID(rid string, count int) bool {
	if c.disposing {
		return false
	}
	s, ok := c.subs[rid]
	if !ok || s.direct < count {
		return false
	}
	c.unsubscribe(s, true, false, count, true)
	return true
}

// subscribeResource answers a subscribe request: the resource set, and a
// direct subscription that stays.
func (c *Conn) subscribeResource(rid string, reply func(any, error)) {
	c.loadResource(rid, true, reply)
}

// getResource answers a get request: the resource set, with no
// subscription left behind.
func (c *Conn) getResource(rid string, reply func(any, error)) {
	c.loadResource(rid, false, reply)
}

func (c *Conn) loadResource(rid string, keep bool, reply func(any, error)) {
	s, err := c.subscribe(rid, true, nil)
	if err != nil {
		reply(nil, err)
		return
	}
	s.canGet(func(err *Error) {
		if err != nil {
			reply(nil, err)
			c.unsubscribe(s, true, false, 1, true)
			return
		}
		s.onReady(func() {
			if err := s.error(); err != nil {
				reply(nil, err)
				// A failed get keeps its failed subscription, as in Resgate:
				// a later request for the RID on this connection gets the
				// same error without asking the service again.
				if keep {
					c.unsubscribe(s, true, false, 1, true)
				}
				return
			}
			reply(s.resources(false), nil)
			s.release()
			if !keep {
				c.unsubscribe(s, true, false, 1, true)
			}
		})
	})
}

// requestAccess sends an access request for name?q with the connection's
// token. cb may run on any goroutine.
func (c *Conn) requestAccess(name, q string, isHTTP bool, cb func(*Access)) {
	payload := encodeRequest(nil, c.token, q, c.cid, isHTTP)
	c.e.cache.request(name, "access."+name, payload, accessReply(cb))
}

// accessReply makes the reply function of an access request, which hands
// cb the access response or the error the request ended in.
func accessReply(cb func(*Access)) replyFunc {
	return func(data []byte, err error) {
		if err != nil {
			cb(&Access{Err: ToError(err)})
			return
		}
		cb(decodeAccessResponse(data))
	}
}

type callReply func(res *callResult, err error)

func (c *Conn) sendCall(name, q, method string, params json.RawMessage, isHTTP bool, cb callReply) {
	payload := encodeRequest(rawOrNull(params), c.token, q, c.cid, isHTTP)
	c.requestCallLike(name, "call."+name+"."+method, payload, method == "new", cb)
}

// sendAuth sends an auth request. params nil leaves params out of the
// payload (header authentication); a client's missing params are sent as
// null, as Resgate does.
func (c *Conn) sendAuth(name, q, method string, params any, isHTTP bool, cb callReply) {
	payload := encodeAuthRequest(params, c.token, q, c.cid, isHTTP, c.hi)
	c.requestCallLike(name, "auth."+name+"."+method, payload, false, cb)
}

func (c *Conn) requestCallLike(name, subject string, payload []byte, isNew bool, cb callReply) {
	c.e.cache.request(name, subject, payload, func(data []byte, err error) {
		var res *callResult
		if err == nil {
			res, err = decodeCallResponse(data)
			if err == nil && isNew && res.RID == "" {
				// A v1.1 service answers new with {"result":{"rid":…}}.
				var rid string
				// An invalid RID in such a result is logged as deprecated
				// too, as Resgate does.
				if rid, err = legacyNewRID(res.Result); rid != "" || err != nil {
					c.e.cache.deprecated(name, "v1.1 new call result; respond with a resource instead")
					res.RID, res.Result = rid, nil
				}
			}
		}
		c.reply(func() { cb(res, err) })
	})
}

func (c *Conn) callResource(rid, method string, params json.RawMessage, reply func(any, error)) {
	c.call(rid, method, params, func(res *callResult, err error) {
		c.handleCallAuthResult(res, err, reply)
	})
}

func (c *Conn) call(rid, method string, params json.RawMessage, cb callReply) {
	s, ok := c.subs[rid]
	if !ok {
		// A subscription object only to ask for access; not kept.
		s = newSubscription(c, rid, nil)
	}
	s.canCall(method, func(err *Error) {
		if err != nil {
			cb(nil, err)
			return
		}
		c.sendCall(s.name, s.q, method, params, false, cb)
	})
}

func (c *Conn) authResource(rid, method string, params json.RawMessage, reply func(any, error)) {
	name, q := SplitRID(c.expandCID(rid))
	c.sendAuth(name, q, method, rawOrNull(params), false, func(res *callResult, err error) {
		c.handleCallAuthResult(res, err, reply)
	})
}

var errNonResourceNew = internalError("non-resource response on new request")

func (c *Conn) newResource(rid string, params json.RawMessage, reply func(any, error)) {
	c.call(rid, "new", params, func(res *callResult, err error) {
		if err != nil {
			reply(nil, err)
			return
		}
		if res.RID == "" {
			reply(nil, errNonResourceNew)
			return
		}
		c.resourceResult(res.RID, reply)
	})
}

func (c *Conn) handleCallAuthResult(res *callResult, err error, reply func(any, error)) {
	if err != nil {
		reply(nil, err)
		return
	}
	if c.protocol < versionResourceResponse {
		if res.RID != "" {
			reply(resourceResult{RID: res.RID}, nil)
		} else {
			reply(res.Result, nil)
		}
		return
	}
	if res.RID == "" {
		reply(payloadResult{Payload: res.Result}, nil)
		return
	}
	c.resourceResult(res.RID, reply)
}

// resourceResult answers a call, auth or new whose response is a resource:
// the client is subscribed to it and gets it in the reply.
func (c *Conn) resourceResult(rid string, reply func(any, error)) {
	s, err := c.subscribe(rid, true, nil)
	if err != nil {
		reply(nil, err)
		return
	}
	s.canGet(func(err *Error) {
		if err != nil {
			reply(resourceResult{RID: s.rid, resourceSet: &resourceSet{Errors: map[string]*Error{s.rid: err}}}, nil)
			c.unsubscribe(s, true, false, 1, true)
			return
		}
		s.onReady(func() {
			reply(resourceResult{RID: s.rid, resourceSet: s.resources(false)}, nil)
			s.release()
		})
	})
}

// handleConnEvent handles conn.<cid>.<event>.
func (c *Conn) handleConnEvent(event string, data []byte) {
	c.enqueue(func() {
		if event != "token" {
			return
		}
		var te struct {
			Token json.RawMessage `json:"token"`
			TID   string          `json:"tid"`
		}
		if err := json.Unmarshal(data, &te); err != nil {
			c.log.Error("malformed token event", "error", err)
			return
		}
		// A missing token leaves the connection without one (nil), as in
		// Resgate: the next token event then triggers no reaccess. An
		// explicit null is a token (the raw "null").
		c.setToken(te.Token, te.TID)
	})
}

func (c *Conn) setToken(token json.RawMessage, tid string) {
	c.tid = tid
	if c.token == nil {
		c.token = token
		return
	}
	c.token = token
	for _, s := range c.subs {
		s.doReaccess(nil)
	}
}

// SetToken sets the connection's token as a token event would, for use by
// listeners (header authentication) before the connection is in use.
func (c *Conn) SetToken(token json.RawMessage, tid string) {
	c.enqueue(func() { c.setToken(token, tid) })
}

// tokenReset sends an auth request to subject if the connection's token ID
// is one of tids.
func (c *Conn) tokenReset(tids map[string]bool, subject string) {
	c.enqueue(func() {
		if c.tid == "" || !tids[c.tid] {
			return
		}
		payload := encodeAuthRequest(nil, c.token, "", c.cid, false, c.hi)
		c.e.mq.request(subject, payload, func(_ []byte, err error) {
			if IsCode(err, CodeTimeout) {
				c.log.Error("token reset auth request timed out", "subject", subject)
			}
		})
	})
}

// Close disposes the connection: its subscriptions are released and no
// more messages are sent to it. The transport calls it once it is closed.
func (c *Conn) Close() { c.enqueue(c.dispose) }

// dispose lets go of every subscription and removes c from the engine; on
// c's queue.
func (c *Conn) dispose() {
	c.mu.Lock()
	c.disposing = true
	c.mu.Unlock()
	var released []release
	c.released = &released
	for _, s := range c.subs {
		s.dispose()
	}
	c.released = nil
	c.subs = nil
	c.e.removeConn(c)
	if len(released) > 0 {
		go releaseAll(released)
	}
}

// releaseResource lets r know that s no longer subscribes to it: at once
// (through r's queue), or, while the connection is disposed of, together
// with the rest of its subscriptions once it is (see releaseAll).
func (c *Conn) releaseResource(r *resource, s *subscription) {
	if c.released != nil {
		*c.released = append(*c.released, release{r, s})
		return
	}
	r.unsubscribe(s)
}

// tryDelete releases s and whatever only s kept reachable, once s has no
// direct subscription. Resources still reachable from a direct
// subscription stay; those no longer reachable through a resource the
// client was sent are marked unsent, so they are sent again if referenced.
func (c *Conn) tryDelete(s *subscription) {
	if s.direct > 0 {
		return
	}
	type node struct {
		sub          *subscription
		indirect     int
		indirectsent int
		mark         byte
	}
	const (
		markNone byte = iota
		markDelete
		markKeep
		markUnsend
	)
	nodes := map[string]*node{s.rid: {sub: s, indirect: s.indirect, indirectsent: s.indirectsent}}
	sentDiff := 0
	if s.isSent() {
		sentDiff = 1
	}
	// Count down the holds that s's own references give.
	var count func(sub *subscription)
	count = func(sub *subscription) {
		for _, ref := range sub.refs {
			r := ref.sub
			if r.direct > 0 {
				continue
			}
			if n, ok := nodes[r.rid]; ok {
				n.indirect--
				n.indirectsent -= sentDiff
				continue
			}
			nodes[r.rid] = &node{sub: r, indirect: r.indirect - 1, indirectsent: r.indirectsent - sentDiff}
			count(r)
		}
	}
	count(s)
	root := nodes[s.rid]
	if root.indirect > 0 && !(s.isSent() && root.indirectsent == 0) {
		return
	}
	// Mark what goes and what stays.
	var mark func(sub *subscription, keep bool)
	mark = func(sub *subscription, keep bool) {
		if sub.direct > 0 {
			return
		}
		n := nodes[sub.rid]
		if n.mark >= markKeep {
			return
		}
		if n.indirect > 0 || keep {
			if s.isSent() && n.indirectsent == 0 {
				n.mark = markUnsend
			} else {
				n.mark = markKeep
			}
			keep = true
		} else {
			if n.mark != markNone {
				return
			}
			n.mark = markDelete
		}
		for _, ref := range sub.refs {
			mark(ref.sub, keep)
		}
	}
	mark(s, false)
	for rid, n := range nodes {
		switch n.mark {
		case markDelete:
			n.sub.dispose()
			delete(c.subs, rid)
		case markUnsend:
			n.sub.unsend()
		}
	}
}
