package listeners

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Basic is a listener that serves no RES clients: a metrics listener or an
// HTTP to HTTPS redirect listener. It has the HTTP listener's Serve and
// Shutdown.
type Basic struct {
	srv *http.Server
	max int
	tls *tls.Config
}

// MetricsConfig configures a metrics listener.
type MetricsConfig struct {
	// Name identifies the listener in logs.
	Name string
	// MaxConnections caps the connections open at once; more wait to be
	// accepted. Zero is no limit.
	MaxConnections int
	// TLS, when set, makes the listener serve HTTPS. (It is applied
	// inside the connection limit, which counts TCP connections.)
	TLS *tls.Config
	// Logger receives the listener's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics serves GET /metrics; nil answers it 404.
	Metrics http.Handler
	// Ready reports whether the server is ready to serve clients, for GET
	// /readyz: nil when it is, else why not. A nil Ready is always ready.
	Ready func() error
}

// NewMetrics creates a metrics listener. It serves:
//
//   - GET /healthz: 200 "ok" while the process runs (liveness);
//   - GET /readyz: 200 "ok" while cfg.Ready reports ready, else 503 with
//     the reason (readiness: take the instance out of a load balancer);
//   - GET /metrics: cfg.Metrics (Prometheus/OpenMetrics).
//
// Every other path is 404.
func NewMetrics(cfg MetricsConfig) *Basic {
	mux := http.NewServeMux()
	text := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		text(w, http.StatusOK, "ok")
	})
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	b := newBasic(cfg.Name, cfg.MaxConnections, cfg.Logger, mux)
	b.tls = cfg.TLS
	return b
}

// RedirectConfig configures an HTTP to HTTPS redirect listener.
type RedirectConfig struct {
	// Name identifies the listener in logs.
	Name string
	// HTTPSPort is the port of the HTTPS listener redirected to. 443 (and
	// zero) leave the port out of the URL.
	HTTPSPort int
	// MaxConnections caps the connections open at once; more wait to be
	// accepted. Zero is no limit.
	MaxConnections int
	// Logger receives the listener's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Challenges, when set, answers ACME HTTP-01 challenge requests
	// before they are redirected.
	Challenges ChallengeSolver
}

// ChallengeSolver answers ACME HTTP-01 challenges (tlsmgr.Manager does).
type ChallengeSolver interface {
	// HandleHTTPChallenge answers r and returns true if r is an ACME
	// HTTP-01 challenge request it knows; otherwise it returns false and
	// writes nothing.
	HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool
}

// NewRedirect creates a listener that answers every request with a
// permanent redirect to the same host and path over HTTPS: 301 for GET and
// HEAD, 308 for other methods (which keeps the method and body). The host
// is the request's, without its port; cfg.HTTPSPort is added unless it is
// 443. A request without a Host gets 400. ACME HTTP-01 challenges that
// cfg.Challenges knows are answered instead.
func NewRedirect(cfg RedirectConfig) *Basic {
	port := ""
	if cfg.HTTPSPort != 0 && cfg.HTTPSPort != 443 {
		port = strconv.Itoa(cfg.HTTPSPort)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Challenges != nil && cfg.Challenges.HandleHTTPChallenge(w, r) {
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "/\\@?# ") {
			http.Error(w, "missing or invalid Host header", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6 literal
		}
		if port != "" {
			host += ":" + port
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
	return newBasic(cfg.Name, cfg.MaxConnections, cfg.Logger, h)
}

func newBasic(name string, max int, log *slog.Logger, h http.Handler) *Basic {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("listener", name)
	return &Basic{
		max: max,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
}

// Serve accepts connections on l until Shutdown. It returns nil after a
// Shutdown.
func (b *Basic) Serve(l net.Listener) error {
	if b.max > 0 {
		l = &limitListener{Listener: l, sem: make(chan struct{}, b.max), done: make(chan struct{})}
	}
	if b.tls != nil {
		l = tls.NewListener(l, b.tls)
	}
	err := b.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for requests in flight
// until ctx ends, then closes the connections left.
func (b *Basic) Shutdown(ctx context.Context) error {
	err := b.srv.Shutdown(ctx)
	if err != nil {
		b.srv.Close()
	}
	return err
}

// limitListener accepts at most cap(sem) connections open at once; Accept
// waits while there are that many (as golang.org/x/net/netutil's
// LimitListener).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
