package resproto

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/ratelog"
	"github.com/rs/xid"
)

// Engine is the RES protocol engine: it holds the resource cache, talks to
// services over NATS and serves client connections created by listeners.
// It knows nothing of HTTP, WebSocket or TLS; listeners drive it through
// Conn and Transport.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	mq    *mq
	cache *cache

	sysSub  *nats.Subscription
	connSub *nats.Subscription

	mu     sync.Mutex
	conns  map[string]*Conn
	closed bool
	// offline is set while the NATS connection is lost (outage.go).
	offline bool
	// resyncGen counts resyncs; a newer one stops an older one's retries.
	resyncGen atomic.Uint64
	// dropResync is the resync scheduled after NATS dropped messages,
	// nil when none is; lastDropResync is when the last one ran
	// (outage.go).
	dropResync     *time.Timer
	lastDropResync time.Time
	// headerAuthWarn rate-limits the warnings about header auth requests
	// that got no answer (http.go).
	headerAuthWarn ratelog.Every

	requests RequestCounts
	obs      Observer // nil: none
}

// RequestCounts counts client requests by type, for metrics.
type RequestCounts struct {
	Get, Subscribe, Unsubscribe, Call, Auth atomic.Int64
}

// New starts an engine on an established NATS connection. The connection
// stays the caller's: Close does not close it.
func New(nc *nats.Conn, cfg Config) (*Engine, error) {
	if nc == nil {
		return nil, errors.New("resproto: nil NATS connection")
	}
	cfg = cfg.withDefaults()
	m, err := newMQ(nc, cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:   cfg,
		log:   cfg.Logger,
		mq:    m,
		cache: newCache(m, cfg),
		conns: make(map[string]*Conn),
		obs:   cfg.Observer,

		headerAuthWarn: ratelog.Every{Interval: headerAuthWarnEvery},
	}
	if o := cfg.Observer; o != nil {
		e.cache.metrics = CacheMetrics{Resources: o.CacheResources, Subscriptions: o.CacheSubscriptions}
	}
	if e.sysSub, err = m.subscribe("system.*", e.handleSystemEvent); err != nil {
		m.close()
		return nil, err
	}
	if e.connSub, err = m.subscribe("conn.*.*", e.handleConnEvent); err != nil {
		m.close()
		return nil, err
	}
	return e, nil
}

// Requests returns the engine's client request counters.
func (e *Engine) Requests() *RequestCounts { return &e.requests }

// SetCacheMetrics sets callbacks for the cache gauges, in place of those of
// Config.Observer. Call before use.
func (e *Engine) SetCacheMetrics(m CacheMetrics) { e.cache.metrics = m }

func (e *Engine) countRequest(action string) {
	switch action {
	case "get":
		e.requests.Get.Add(1)
	case "subscribe":
		e.requests.Subscribe.Add(1)
	case "unsubscribe":
		e.requests.Unsubscribe.Add(1)
	case "call", "new":
		action = "call"
		e.requests.Call.Add(1)
	case "auth":
		e.requests.Auth.Add(1)
	default:
		return
	}
	if e.obs != nil {
		e.obs.ClientRequest(action)
	}
}

// countError reports an error sent to a client.
func (e *Engine) countError(err error) {
	if e.obs != nil {
		e.obs.ClientError(ToError(err).Code)
	}
}

// NewConn creates a connection for transport t. hi describes the HTTP
// request that opened it, for auth requests; it may be nil. WebSocket
// clients start at the legacy protocol 1.1.1 until they send a version
// request; legacy is false for connections that speak the latest version
// from the start (HTTP requests).
//
// Options may replace defaults, such as the logger.
func (e *Engine) NewConn(t Transport, hi *HTTPInfo, legacy bool, opts ...ConnOption) (*Conn, error) {
	c := &Conn{
		e:        e,
		cid:      xid.New().String(),
		t:        t,
		hi:       hi,
		subs:     make(map[string]*subscription),
		protocol: versionLatest,
	}
	if legacy {
		c.protocol = versionLegacyDefault
	}
	log := e.log
	for _, o := range opts {
		if o.log != nil {
			log = o.log
		}
		if o.resume != nil {
			c.resume = o.resume
		}
	}
	c.log = slog.New(&cidHandler{Handler: log.Handler(), cid: c.cid})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrServiceUnavailable
	}
	if e.offline && e.cfg.Outage == OutageClose {
		return nil, ErrNATSUnavailable
	}
	e.conns[c.cid] = c
	return c, nil
}

// ConnOption is an option of NewConn.
type ConnOption struct {
	log    *slog.Logger
	resume func(f func())
}

// WithConnLogger makes a connection log to l (with its connection ID
// added) instead of the engine's logger, so that the listener that made it
// can add attributes of its own, such as its name, to every line the
// connection logs.
func WithConnLogger(l *slog.Logger) ConnOption { return ConnOption{log: l} }

// WithResume hands the handling of a connection's NATS replies to resume
// instead of a goroutine started for each: for a connection made for one
// HTTP request, whose goroutine waits for the reply anyway and can run its
// handling itself, saving two goroutine hand-offs per request. resume must
// not block and must not run f on the calling goroutine; it must run f
// soon, on a goroutine of its own choosing (once the waiting goroutine has
// stopped waiting, on a new one). f takes the connection's queue itself.
func WithResume(resume func(f func())) ConnOption { return ConnOption{resume: resume} }

func (e *Engine) removeConn(c *Conn) {
	e.mu.Lock()
	delete(e.conns, c.cid)
	e.mu.Unlock()
}

// ConnCount returns the number of open connections.
func (e *Engine) ConnCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

func (e *Engine) handleConnEvent(subject string, data []byte) {
	// conn.<cid>.<event>
	rest := subject[len("conn."):]
	cid, event, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	e.mu.Lock()
	c := e.conns[cid]
	e.mu.Unlock()
	if c != nil {
		c.handleConnEvent(event, data)
	}
}

func (e *Engine) handleSystemEvent(subject string, data []byte) {
	switch subject {
	case "system.reset":
		var r struct {
			Resources []string `json:"resources"`
			Access    []string `json:"access"`
		}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &r); err != nil {
				e.log.Error("malformed system.reset event", "error", err)
				return
			}
		}
		e.reset(r.Resources, r.Access)
	case "system.tokenReset":
		var r struct {
			TIDs    []string `json:"tids"`
			Subject string   `json:"subject"`
		}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &r); err != nil {
				e.log.Error("malformed system.tokenReset event", "error", err)
				return
			}
		}
		// The subject is checked first: Resgate logs a missing subject even
		// when there are no token IDs (or no payload at all).
		if r.Subject == "" {
			e.log.Error("system.tokenReset event without subject")
			return
		}
		if len(r.TIDs) == 0 {
			return
		}
		tids := make(map[string]bool, len(r.TIDs))
		for _, t := range r.TIDs {
			tids[t] = true
		}
		e.mu.Lock()
		conns := make([]*Conn, 0, len(e.conns))
		for _, c := range e.conns {
			conns = append(conns, c)
		}
		e.mu.Unlock()
		for _, c := range conns {
			c.tokenReset(tids, r.Subject)
		}
	}
}

func validPatterns(ps []string) []Pattern {
	out := make([]Pattern, 0, len(ps))
	for _, p := range ps {
		if pt := Pattern(p); pt.IsValid() {
			out = append(out, pt)
		}
	}
	return out
}

func (e *Engine) reset(resources, access []string) {
	rp, ap := validPatterns(resources), validPatterns(access)
	if len(rp) == 0 && len(ap) == 0 {
		return
	}
	t := newThrottle(e.cfg.ResetThrottle)
	e.cache.mu.Lock()
	subs := make([]*eventSub, 0, len(e.cache.names))
	for _, es := range e.cache.names {
		subs = append(subs, es)
	}
	e.cache.mu.Unlock()
	for _, es := range subs {
		res, acc := matchAny(rp, es.name), matchAny(ap, es.name)
		if res || acc {
			es.reset(res, acc, t)
		}
		// Resgate rechecks access once per matching access pattern, so a
		// name that two patterns match gets a second access request per
		// subscriber (a second refetch is a no-op while the first runs).
		for n := countMatches(ap, es.name); n > 1; n-- {
			es.reset(false, true, t)
		}
	}
}

func countMatches(ps []Pattern, name string) int {
	n := 0
	for _, p := range ps {
		if p.Matches(name) {
			n++
		}
	}
	return n
}

func matchAny(ps []Pattern, name string) bool {
	for _, p := range ps {
		if p.Matches(name) {
			return true
		}
	}
	return false
}

// Close closes every connection and stops the engine. Pending requests fail
// with system.serviceUnavailable.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	if e.dropResync != nil {
		e.dropResync.Stop()
	}
	conns := make([]*Conn, 0, len(e.conns))
	for _, c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.t.Disconnect("server shutting down")
	}
	e.mq.close()
}
