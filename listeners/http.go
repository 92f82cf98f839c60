// Package listeners serves clients over HTTP: WebSocket connections, and the
// HTTP API, each listener at its own paths with its own rules, all on one
// resproto engine.
package listeners

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/resproto"
)

// HTTPConfig configures one HTTP listener.
type HTTPConfig struct {
	// Name identifies the listener in logs and metrics.
	Name string
	// WSPath is the exact path WebSocket clients connect to. Default "/".
	WSPath string
	// APIPath is the path prefix of the HTTP API. Default "/api/".
	APIPath string
	// AllowOrigin lists the origins allowed to connect; nil allows any.
	AllowOrigin []string
	// WSCompression negotiates permessage-deflate with clients that offer it.
	WSCompression bool
	// MaxMessageSize is the largest message a WebSocket client may send, in
	// bytes. Zero means 4 MiB.
	MaxMessageSize int64
	// WriteTimeout bounds one write to a WebSocket client. Zero means 10s.
	WriteTimeout time.Duration
	// Logger receives the listener's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// HTTP is an HTTP listener serving WebSocket clients (and, in time, the
// HTTP API) on one engine.
type HTTP struct {
	e        *resproto.Engine
	cfg      HTTPConfig
	log      *slog.Logger
	srv      *http.Server
	upgrader websocket.Upgrader

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	stopping bool
	wg       sync.WaitGroup
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &HTTP{
		e:     e,
		cfg:   cfg,
		log:   cfg.Logger.With("listener", cfg.Name),
		conns: make(map[*wsConn]struct{}),
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   1024,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.WSCompression,
		CheckOrigin: func(r *http.Request) bool {
			return originAllowed(cfg.AllowOrigin, r.Header.Get("Origin"))
		},
	}
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
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

var notFoundBody = []byte(`{"code":"system.notFound","message":"Not found"}`)

// ServeHTTP routes a request: the WebSocket path, the API prefix, or 404.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.RequestURI == "*" {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.URL.Path == h.cfg.WSPath {
		h.serveWS(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write(notFoundBody)
}

// Shutdown stops accepting connections, closes every WebSocket connection
// with a going-away close frame, and waits for in-flight HTTP requests until
// ctx ends.
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
