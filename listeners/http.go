// Package listeners serves clients over HTTP: WebSocket connections, and the
// HTTP API, each listener at its own paths with its own rules, all on one
// resproto engine.
package listeners

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/ratelog"
	"github.com/resedge/resedge/metrics"
	"github.com/resedge/resedge/resproto"
)

// HTTPConfig configures one HTTP listener.
type HTTPConfig struct {
	// Name identifies the listener in logs and metrics.
	Name string
	// WSPath is the exact path WebSocket clients connect to. Default "/".
	WSPath string
	// WSPaths, when not empty, are the exact paths WebSocket clients
	// connect to, in place of WSPath: one listener can serve clients that
	// use different paths (an old and a new one, say).
	WSPaths []string
	// NoWebSocket serves no WebSocket at all (WSPath and WSPaths are
	// ignored): an HTTP API only listener.
	NoWebSocket bool
	// APIPath is the path prefix of the HTTP API. Default "/api/".
	APIPath string
	// NoAPI serves no HTTP API (APIPath is ignored): a WebSocket only
	// listener. Its paths are then answered 404 like any other.
	NoAPI bool
	// MaxConnections caps the WebSocket connections open at once
	// (counting upgrades in progress). An upgrade request over the cap is
	// answered 503 and logged, so that a load balancer or the client's
	// reconnect logic tries elsewhere. HTTP API requests are not counted.
	// Zero is no limit.
	MaxConnections int
	// AllowOrigin lists the origins allowed to connect; nil allows any.
	AllowOrigin []string
	// WSCompression negotiates permessage-deflate with clients that offer it.
	WSCompression bool
	// MaxMessageSize is the largest message a WebSocket client may send, in
	// bytes. Zero means 4 MiB.
	MaxMessageSize int64
	// WriteTimeout bounds one write to a WebSocket client. Zero means 10s.
	WriteTimeout time.Duration
	// WriteQueue is how many messages may wait to be written to one
	// WebSocket client. A client that lets more pile up (it does not read
	// fast enough) is closed as a slow consumer, with close code 1008, and
	// resyncs when it reconnects; its messages are never dropped, which
	// would leave it with state that differs from the service's. Zero means
	// 4096.
	WriteQueue int
	// Logger receives the listener's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when not nil, counts the listener's connections, requests
	// and messages.
	Metrics *metrics.Metrics

	// APIEncoding is how the HTTP API encodes resources: "json" (the
	// default: references as objects with an href and the resource) or
	// "jsonflat" (references replaced by the resource). Case-insensitive.
	APIEncoding string
	// PutMethod, DeleteMethod and PatchMethod are the call methods HTTP
	// PUT, DELETE and PATCH requests on a resource path are mapped to.
	// Empty leaves the HTTP method unmapped: it is answered with 405.
	PutMethod, DeleteMethod, PatchMethod string
	// HeaderAuth, when set, is the auth method called before each HTTP API
	// request, with the request's headers, host, remote address and URI.
	// A token it sets applies to that request; its meta status and headers
	// apply to the response. Its errors are ignored.
	HeaderAuth *AuthMethod
	// WSHeaderAuth, when set, is the auth method called before a
	// WebSocket upgrade (if the origin is allowed). A token it sets stays
	// on the connection; a meta status of 300-599 refuses the upgrade with
	// that status, and meta headers are added to the upgrade response.
	WSHeaderAuth *AuthMethod
	// Resources, when not empty, lists the resource name patterns (as in
	// system.reset: '*' one part, a final '>' the rest) that clients of this
	// listener may request; any other resource is denied with
	// system.accessDenied before a service is asked. Two tenants can so
	// share one engine through two listeners.
	Resources []string
	// MaxBodySize is the largest HTTP API request body accepted, in bytes;
	// a larger one is answered with 413. Zero means 1 MiB (the default NATS
	// payload limit). Resgate has no limit.
	MaxBodySize int64
	// RequestWait bounds how long an HTTP API request (or a WebSocket
	// upgrade waiting for wsHeaderAuth) waits for the services, covering
	// all its NATS requests together; an HTTP request still waiting then is
	// answered with system.timeout. Zero means one minute. Resgate waits
	// without a bound.
	RequestWait time.Duration
	// Challenges, when set, answers the ACME HTTP-01 challenge requests
	// it knows before any other routing.
	Challenges ChallengeSolver

	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (an HTTP API request or a WebSocket upgrade); a
	// slower one is disconnected, so that slowloris clients cannot hold
	// connections open. Zero means 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds how long a client may take to send an HTTP API
	// request's body; a slower one is answered with 408. Zero means 30s.
	ReadTimeout time.Duration
	// IdleTimeout is how long an idle keep-alive HTTP connection is kept
	// open. Zero means 2 minutes.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the size of a request's headers; larger ones are
	// answered with 431. Zero means 1 MiB.
	MaxHeaderBytes int
	// PingInterval is how often a WebSocket client is sent a ping. Zero
	// sends none, as Resgate.
	PingInterval time.Duration
	// PongTimeout is how long a WebSocket client may take to answer a ping
	// with a pong; then it is closed as dead, with close code 1001. Zero
	// means DefaultPongTimeout.
	PongTimeout time.Duration
}

// AuthMethod is a resource method used for header authentication.
type AuthMethod struct {
	// RID is the resource ID, for example "auth.session".
	RID string
	// Method is the auth method name, for example "header".
	Method string
}

// HTTP is an HTTP listener serving WebSocket clients and the HTTP API on
// one engine.
type HTTP struct {
	e        *resproto.Engine
	cfg      HTTPConfig
	log      *slog.Logger
	srv      *http.Server
	upgrader websocket.Upgrader
	enc      apiEncoder
	// allowMethods lists the HTTP methods the API accepts, for
	// Access-Control-Allow-Methods and Allow.
	allowMethods string

	// wsPaths are the WebSocket paths; empty with NoWebSocket.
	wsPaths []string

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	wsActive int // WebSocket requests in serveWS, for MaxConnections
	stopping bool
	wg       sync.WaitGroup
	// refusedLog rate-limits the log lines about upgrades refused over
	// MaxConnections (refusedLogEvery).
	refusedLog ratelog.Every
	// delivered counts messages written to WebSocket clients (metrics).
	delivered func(n int)
	// lines are the event lines of the listener's WebSocket connections
	// (eventline.go), assigned in turn.
	lines    []eventLine
	nextLine atomic.Uint32

	patterns []resproto.Pattern

	// watch follows connections until their first request, to log those
	// cut off by ReadHeaderTimeout (limits.go).
	watch connWatch
}

// limitResources applies the listener's resource patterns to a new
// connection.
func (h *HTTP) limitResources(c *resproto.Conn) {
	if len(h.patterns) == 0 {
		return
	}
	c.SetAllow(func(name string) bool {
		for _, p := range h.patterns {
			if p.Matches(name) {
				return true
			}
		}
		return false
	})
}

// NewHTTP creates an HTTP listener for engine e.
func NewHTTP(e *resproto.Engine, cfg HTTPConfig) (*HTTP, error) {
	if e == nil {
		return nil, errors.New("listeners: nil engine")
	}
	if cfg.WSPath == "" {
		cfg.WSPath = "/"
	}
	if cfg.APIPath == "" {
		cfg.APIPath = "/api/"
	}
	if !strings.HasSuffix(cfg.APIPath, "/") {
		cfg.APIPath += "/"
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 4 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.WriteQueue <= 0 {
		cfg.WriteQueue = DefaultWriteQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = 1 << 20
	}
	if cfg.RequestWait <= 0 {
		cfg.RequestWait = time.Minute
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 1 << 20
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = DefaultPongTimeout
	}
	if cfg.APIEncoding == "" {
		cfg.APIEncoding = "json"
	}
	enc, err := newAPIEncoder(cfg.APIEncoding, cfg.APIPath)
	if err != nil {
		return nil, err
	}
	allowMethods := "GET, HEAD, OPTIONS, POST"
	for _, m := range []struct{ http, call string }{{"PUT", cfg.PutMethod}, {"DELETE", cfg.DeleteMethod}, {"PATCH", cfg.PatchMethod}} {
		if m.call == "" {
			continue
		}
		if !resproto.IsValidRIDPart(m.call) {
			return nil, fmt.Errorf("listeners: invalid call method %q for HTTP %s", m.call, m.http)
		}
		allowMethods += ", " + m.http
	}
	for _, a := range []*AuthMethod{cfg.HeaderAuth, cfg.WSHeaderAuth} {
		if a != nil && (!resproto.IsValidRID(a.RID) || strings.IndexByte(a.RID, '?') >= 0 || !resproto.IsValidRIDPart(a.Method)) {
			return nil, fmt.Errorf("listeners: invalid auth method %q", a.RID+"."+a.Method)
		}
	}
	var wsPaths []string
	switch {
	case cfg.NoWebSocket:
	case len(cfg.WSPaths) > 0:
		wsPaths = append(wsPaths, cfg.WSPaths...)
	default:
		wsPaths = []string{cfg.WSPath}
	}
	for _, p := range wsPaths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("listeners: invalid WebSocket path %q: must start with \"/\"", p)
		}
	}
	if cfg.MaxConnections < 0 {
		return nil, fmt.Errorf("listeners: negative MaxConnections %d", cfg.MaxConnections)
	}
	patterns := make([]resproto.Pattern, 0, len(cfg.Resources))
	for _, p := range cfg.Resources {
		pt := resproto.Pattern(p)
		if !pt.IsValid() {
			return nil, fmt.Errorf("listeners: invalid resource pattern %q", p)
		}
		patterns = append(patterns, pt)
	}
	h := &HTTP{
		e:            e,
		wsPaths:      wsPaths,
		patterns:     patterns,
		cfg:          cfg,
		log:          cfg.Logger.With("listener", cfg.Name),
		conns:        make(map[*wsConn]struct{}),
		refusedLog:   ratelog.Every{Interval: refusedLogEvery},
		delivered:    cfg.Metrics.DeliveredCounter(cfg.Name),
		enc:          enc,
		allowMethods: allowMethods,
		lines:        eventLines(),
	}
	h.watch.cutLog.Interval = limitLogEvery
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   1024,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.WSCompression,
		CheckOrigin: func(r *http.Request) bool {
			return originAllowed(cfg.AllowOrigin, r.Header["Origin"])
		},
	}
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         h.watchConn,
		ConnContext:       h.trackConn,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	return h, nil
}

// Serve accepts connections on l until Shutdown. It returns nil after a
// Shutdown.
func (h *HTTP) Serve(l net.Listener) error {
	err := h.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHTTP routes a request, as Resgate does: the exact WebSocket path
// first, then the API prefix, else 404 system.notFound.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	markServed(r)
	if h.cfg.Metrics != nil {
		sw := &statusWriter{ResponseWriter: w}
		defer sw.count(h.cfg.Metrics, h.cfg.Name, r.Method)
		w = sw
	}
	if h.cfg.Challenges != nil && h.cfg.Challenges.HandleHTTPChallenge(w, r) {
		return
	}
	if r.RequestURI == "*" {
		if r.ProtoAtLeast(1, 1) {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch {
	case h.isWSPath(r.URL.Path):
		h.serveWS(w, r)
	case !h.cfg.NoAPI && strings.HasPrefix(r.URL.Path, h.cfg.APIPath):
		h.serveAPI(w, r)
	default:
		h.writeNotFound(w)
	}
}

// isWSPath reports whether path is one of the WebSocket paths.
func (h *HTTP) isWSPath(path string) bool {
	for _, p := range h.wsPaths {
		if path == p {
			return true
		}
	}
	return false
}

// Shutdown stops accepting connections, closes every WebSocket connection
// with a going-away close frame, and waits for in-flight HTTP requests until
// ctx ends; then it closes the connections still open, so that it returns
// soon after ctx ends (with ctx's error).
func (h *HTTP) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.stopping = true
	conns := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	err := h.srv.Shutdown(ctx)
	if err != nil {
		// In-flight requests did not finish in time: cut them off.
		h.srv.Close()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// statusWriter records the status of a response, for metrics. A hijacked
// connection (a WebSocket upgrade) counts as 101 when it is hijacked, not
// when the connection ends.
type statusWriter struct {
	http.ResponseWriter
	status  int
	counted bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack implements http.Hijacker, for WebSocket upgrades.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("listeners: response cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) count(m *metrics.Metrics, listener, method string) {
	if w.counted {
		return
	}
	w.counted = true
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	m.HTTPRequest(listener, method, status)
}
