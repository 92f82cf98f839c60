package edge

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/acmetest"
	"github.com/resedge/resedge/schema"
)

// TestReload: listeners are compared by name; unchanged ones keep their
// clients subscribed, removed and changed ones close theirs, added ones
// serve; a reload that fails changes nothing.
func TestReload(t *testing.T) {
	type addrs map[string]string // listener name → address
	// ab is listeners a and b.
	ab := func(e *env, a addrs) *schema.Config {
		return e.config(listenerAt("a", a["a"]), listenerAt("b", a["b"]))
	}
	tests := []struct {
		name string
		// before and after build the configurations; a is a set of free
		// addresses to use.
		before, after func(e *env, a addrs) *schema.Config
		// open lists the listeners of before whose client must still be
		// open and subscribed; the others' must be closed.
		open []string
		// serving lists listeners of after that must accept clients (at
		// their first WebSocket path).
		serving []string
		// refused lists addresses (keys of a) that must refuse
		// connections after the reload.
		refused []string
		wantErr string
	}{
		{
			name:    "unchanged listeners keep their clients",
			before:  ab,
			after:   ab,
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
		},
		{
			name:   "one removed, one added, one unchanged",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				return e.config(listenerAt("a", a["a"]), listenerAt("c", a["c"]))
			},
			open:    []string{"a"},
			serving: []string{"a", "c"},
			refused: []string{"b"},
		},
		{
			name:   "a changed listener restarts on its port",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				b := listenerAt("b", a["b"])
				b.WSPaths = []string{"/v2"}
				return e.config(listenerAt("a", a["a"]), b)
			},
			open:    []string{"a"},
			serving: []string{"a", "b"},
		},
		{
			name:   "a renamed listener takes over the port",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				return e.config(listenerAt("a", a["a"]), listenerAt("renamed", a["b"]))
			},
			open:    []string{"a"},
			serving: []string{"a", "renamed"},
		},
		{
			name:   "log level changes live",
			before: func(e *env, a addrs) *schema.Config { return e.config(listenerAt("a", a["a"])) },
			after: func(e *env, a addrs) *schema.Config {
				c := e.config(listenerAt("a", a["a"]))
				c.Log.Level = "debug"
				return c
			},
			open:    []string{"a"},
			serving: []string{"a"},
		},
		{
			name:   "NATS settings need a restart",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				c := e.config(listenerAt("a", a["a"]))
				c.NATS.URLs = []string{"nats://127.0.0.1:1"}
				c.Engine.ResetThrottle = 3
				c.Engine.Limits.WriteQueue = 10
				return c
			},
			wantErr: "nats.urls, engine.resetThrottle, engine.limits.writeQueue cannot change while running; restart resedge to apply them (nothing was changed)",
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
		},
		{
			name:   "an invalid configuration",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				return e.config(listenerAt("a", a["a"]), listenerAt("c", "nowhere"))
			},
			wantErr: `listeners.c.address: invalid address "nowhere"`,
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
		},
		{
			name:   "a port in use",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				return e.config(listenerAt("a", a["a"]), listenerAt("c", a["taken"]))
			},
			wantErr: `listener "c": listen tcp ` + "%taken%" + `: bind: address already in use`,
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
		},
		{
			name:   "ACME CA roots that cannot be read",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				b := listenerAt("b", a["b"])
				b.TLS = &schema.TLSRef{Inline: &schema.TLS{ACME: &schema.ACME{Domains: []string{"x.example.com"}, AltTLSALPNPort: 8443,
					CARoots: []string{"/nonexistent/ca.pem"}, Storage: acmetest.StorageDir(e.t)}}}
				return e.config(listenerAt("a", a["a"]), b)
			},
			wantErr: `listener "b": CA root file /nonexistent/ca.pem does not exist`,
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
		},
		{
			name:   "a missing certificate",
			before: ab,
			after: func(e *env, a addrs) *schema.Config {
				b := listenerAt("b", a["b"])
				b.TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}}
				return e.config(listenerAt("a", a["a"]), listenerAt("c", a["c"]), b)
			},
			wantErr: `listener "b": certificate file /nonexistent/c.pem does not exist`,
			open:    []string{"a", "b"},
			serving: []string{"a", "b"},
			refused: []string{"c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			a := addrs{"a": localAddr(t), "b": localAddr(t), "c": localAddr(t), "taken": taken.Addr().String()}
			before := tt.before(e, a)
			s := e.start(before)

			clients := map[string]*client{}
			for name, l := range before.Listeners {
				c := dial(t, "ws://"+l.Address+l.WSPaths[0])
				c.Subscribe()
				clients[name] = c
			}

			after := tt.after(e, a)
			err = s.Reload(after)
			want := strings.ReplaceAll(tt.wantErr, "%taken%", a["taken"])
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Reload: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("Reload error = %v, want %q", err, want)
			}

			e.event(2)
			for name, c := range clients {
				if contains(tt.open, name) {
					c.WantEvent(2)
				} else {
					c.WantClosed()
				}
			}
			cfg := after
			if tt.wantErr != "" {
				cfg = before
			}
			for i, name := range tt.serving {
				l := cfg.Listeners[name]
				c := dial(t, "ws://"+l.Address+l.WSPaths[0])
				c.Subscribe()
				e.event(10 + i) // a new value: an event that changes nothing is not sent
				c.WantEvent(10 + i)
			}
			for _, k := range tt.refused {
				if c, err := net.DialTimeout("tcp", a[k], time.Second); err == nil {
					c.Close()
					t.Errorf("%s (%s) accepts connections, want refused", k, a[k])
				}
			}
			if got := len(s.Listeners()); got != len(cfg.Listeners) {
				t.Errorf("%d listeners running, want %d", got, len(cfg.Listeners))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestReloadRenewsCertificate: a reload reads the certificate files of
// unchanged TLS listeners again and serves the new certificate, while
// their clients stay connected.
func TestReloadRenewsCertificate(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, keyFile, serial1 := writeCert(t, dir)
	l := listenerAt("secure", localAddr(t))
	l.TLS = &schema.TLSRef{Name: "main"}
	cfg := e.config(l)
	cfg.TLS = map[string]*schema.TLS{"main": {CertFile: certFile, KeyFile: keyFile}}
	s := e.start(cfg)

	serialNow := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", l.Address, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serialNow(); got != serial1.String() {
		t.Fatalf("serial = %s, want %s", got, serial1)
	}
	d := websocketDialerTLS()
	ws, _, err := d.Dial("wss://"+l.Address+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	_, _, serial2 := writeCert(t, dir)
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := serialNow(); got != serial2.String() {
		t.Fatalf("serial after reload = %s, want %s", got, serial2)
	}
	// The client connected before is still there.
	if err := ws.WriteJSON(map[string]any{"id": 1, "method": "version", "params": map[string]string{"protocol": "1.2.3"}}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(timeout))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"protocol":"1.2.3"`) {
		t.Fatalf("old client: %s, %v", msg, err)
	}

	// A certificate that cannot be read fails the reload, and the old one
	// is still served.
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	if err := s.Reload(cfg); err == nil || !strings.Contains(err.Error(), `listener "secure": certificate file `+certFile+` holds no PEM certificate`) {
		t.Fatalf("Reload with a broken certificate: %v", err)
	}
	if got := serialNow(); got != serial2.String() {
		t.Fatalf("serial after failed reload = %s, want %s", got, serial2)
	}
}

// TestListenerKinds: metrics listeners answer /healthz; redirect listeners
// send clients to the HTTPS listener's port.
func TestListenerKinds(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	// A port of its own for "secure", to see it in redirects.
	secure := listenerAt("secure", localAddr(t))
	_, securePort, _ := net.SplitHostPort(secure.Address)
	secure.TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: certFile, KeyFile: keyFile}}
	cfg := e.config(
		secure,
		&schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "127.0.0.1:0"},
		&schema.Listener{Name: "to443", Kind: schema.KindRedirect, Address: "127.0.0.1:0"},
		&schema.Listener{Name: "tosecure", Kind: schema.KindRedirect, Address: "127.0.0.1:0", RedirectTo: "secure", MaxConnections: 2},
	)
	s := e.start(cfg)
	addr := s.Listeners()

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: timeout}
	tests := []struct {
		listener, method, target, host string
		status                         int
		location, body                 string
	}{
		{listener: "metrics", method: "GET", target: "/healthz", status: 200, body: "ok"},
		{listener: "metrics", method: "GET", target: "/metrics", status: 200},
		{listener: "metrics", method: "GET", target: "/readyz", status: 200, body: "ok"},
		{listener: "metrics", method: "GET", target: "/nope", status: 404},
		{listener: "metrics", method: "POST", target: "/healthz", status: 405},
		{listener: "to443", method: "GET", target: "/a/b?c=d", host: "example.com", status: 301, location: "https://example.com/a/b?c=d"},
		{listener: "to443", method: "GET", target: "/", host: "example.com:8080", status: 301, location: "https://example.com/"},
		{listener: "to443", method: "POST", target: "/api/x/set", host: "example.com", status: 308, location: "https://example.com/api/x/set"},
		{listener: "to443", method: "GET", target: "/", host: "[::1]:80", status: 301, location: "https://[::1]/"},
		{listener: "tosecure", method: "HEAD", target: "/x", host: "example.com", status: 301, location: "https://example.com:" + securePort + "/x"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+addr[tt.listener]+tt.target, nil)
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", tt.listener, tt.method, tt.target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location || (tt.body != "" && string(body) != tt.body) {
			t.Errorf("%s %s %s (Host %s): %d %q %q, want %d %q %q", tt.listener, tt.method, tt.target, tt.host,
				resp.StatusCode, resp.Header.Get("Location"), body, tt.status, tt.location, tt.body)
		}
	}
}

// TestStart: Start opens every listener or fails naming the one at fault,
// leaving nothing open.
func TestStart(t *testing.T) {
	e := newEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	acme := listenerAt("auto", localAddr(t))
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	acme.TLS = &schema.TLSRef{Inline: &schema.TLS{ACME: &schema.ACME{Domains: []string{"x.example.com"}, Storage: filepath.Join(notDir, "certmagic")}}}
	tests := []struct {
		name    string
		ls      []*schema.Listener
		wantErr string
	}{
		{"port in use", []*schema.Listener{listenerAt("free", localAddr(t)), listenerAt("busy", taken.Addr().String())},
			`listener "busy": listen tcp ` + taken.Addr().String() + `: bind: address already in use`},
		{"ACME storage that cannot be created", []*schema.Listener{acme}, `listener "auto": ACME storage directory ` + notDir + `/certmagic cannot be created: mkdir ` + notDir + `: not a directory`},
		{"no systemd socket", []*schema.Listener{listenerAt("sd", "systemd:public")},
			`listener "sd": no socket named "public" was passed by systemd (it passed none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config(tt.ls...)
			s := New(cfg, testLogger(t))
			err := s.Start()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %v, want %q", err, tt.wantErr)
			}
			// What opened was closed again: the addresses are free.
			for _, l := range tt.ls {
				if l.Address == taken.Addr().String() || strings.HasPrefix(l.Address, "systemd:") {
					continue
				}
				ln, err := net.Listen("tcp", l.Address)
				if err != nil {
					t.Errorf("%s still bound after a failed start: %v", l.Address, err)
					continue
				}
				ln.Close()
			}
		})
	}
}

// TestSocketActivation: a "systemd:<name>" listener serves the inherited
// socket of that name, and can serve it again after a reload removed it.
func TestSocketActivation(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // f holds the socket, as systemd's descriptor would
	// The name systemd gives it, on a descriptor of its own: an os.File
	// made on f's descriptor number would close that number a second time
	// when the garbage collector finalizes it, by then perhaps another
	// test's socket (seen as a WebSocket protocol error, close 1002,
	// and a nats-server pipe left open, in other tests of this package).
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	named := os.NewFile(uintptr(fd), "public")
	defer named.Close()
	url := "ws://" + ln.Addr().String() + "/"

	with := e.config(listenerAt("pub", "systemd:public"), listenerAt("other", "127.0.0.1:0"))
	without := e.config(listenerAt("other", "127.0.0.1:0"))
	s := New(with, testLogger(t), WithSockets([]*os.File{named}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c := dial(t, url)
	c.Subscribe()

	if err := s.Reload(without); err != nil {
		t.Fatal(err)
	}
	c.WantClosed()
	if err := s.Reload(with); err != nil {
		t.Fatal(err)
	}
	c = dial(t, url)
	c.Subscribe()
	e.event(5)
	c.WantEvent(5)
}

// TestShutdown: clients get a going-away close frame, and HTTP requests in
// flight finish if they can within the drain time, or are cut off.
func TestShutdown(t *testing.T) {
	for _, tt := range []struct {
		name      string
		delay     time.Duration // before the service answers the request in flight
		drain     time.Duration
		completes bool
	}{
		{name: "request drained", delay: 200 * time.Millisecond, drain: timeout, completes: true},
		{name: "request cut off", delay: 2 * time.Second, drain: 300 * time.Millisecond, completes: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			reached := make(chan struct{}, 1)
			if _, err := e.svc.Subscribe("get.slow.>", func(m *nats.Msg) {
				select {
				case reached <- struct{}{}:
				default:
				}
				time.Sleep(tt.delay)
				m.Respond([]byte(`{"result":{"model":{"slow":true}}}`))
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Subscribe("access.slow.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":{"get":true}}`)) }); err != nil {
				t.Fatal(err)
			}
			e.svc.Flush()
			l := listenerAt("a", localAddr(t))
			s := New(e.config(l), testLogger(t))
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			c := dial(t, "ws://"+l.Address+"/")
			c.Subscribe()

			type result struct {
				status int
				body   string
				err    error
			}
			res := make(chan result, 1)
			go func() {
				resp, err := http.Get("http://" + l.Address + "/api/slow/model")
				if err != nil {
					res <- result{err: err}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				res <- result{status: resp.StatusCode, body: string(b)}
			}()
			select { // the request reaches the service
			case <-reached:
			case <-time.After(timeout):
				t.Fatal("the HTTP request never reached the service")
			}

			ctx, cancel := context.WithTimeout(context.Background(), tt.drain)
			defer cancel()
			start := time.Now()
			err := s.Shutdown(ctx)
			c.WantClosed()
			r := <-res
			if tt.completes {
				if err != nil || r.status != 200 || r.body != `{"slow":true}` {
					t.Fatalf("Shutdown = %v; request: %d %q %v", err, r.status, r.body, r.err)
				}
			} else {
				if err == nil || r.err == nil {
					t.Fatalf("Shutdown = %v; request: %d %q %v; want both cut off", err, r.status, r.body, r.err)
				}
				if d := time.Since(start); d > tt.drain+time.Second {
					t.Fatalf("Shutdown took %s with a drain time of %s", d, tt.drain)
				}
			}
			if c, err := net.DialTimeout("tcp", l.Address, time.Second); err == nil {
				c.Close()
				t.Error("listener still accepts after Shutdown")
			}
		})
	}
}

// TestRestartKeys: which settings a reload refuses to change.
func TestRestartKeys(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *schema.Config)
		want   []string
	}{
		{"nothing", func(c *schema.Config) {}, nil},
		{"empty and nil lists are equal", func(c *schema.Config) { c.NATS.URLs, c.NATS.RootCAs = nil, nil }, nil},
		{"listeners, TLS, log level", func(c *schema.Config) {
			c.Listeners["x"] = listenerAt("x", ":1")
			c.TLS = map[string]*schema.TLS{"t": {CertFile: "c", KeyFile: "k"}}
			c.Log.Level = "warn"
		}, nil},
		{"nats", func(c *schema.Config) { c.NATS.Creds, c.NATS.RequestTimeout = "x.creds", 1 }, []string{"nats.creds", "nats.requestTimeout"}},
		{"engine", func(c *schema.Config) { c.Engine.ReplyMalformed, c.Engine.Limits.WriteTimeout = true, 1 }, []string{"engine.replyMalformed", "engine.limits.writeTimeout"}},
		{"log format and trace", func(c *schema.Config) { c.Log.Format, c.Log.Trace = "json", true }, []string{"log.format", "log.trace"}},
	}
	for _, tt := range tests {
		a, b := schema.Default(), schema.Default()
		tt.change(b)
		if got := restartKeys(a, b); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: restartKeys = %v, want %v", tt.name, got, tt.want)
		}
	}
}
