package lifecycle

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// TestReload: SIGHUP with one listener removed, one added and one
// unchanged: the unchanged listener's clients keep receiving events, the
// removed one's are closed and its port refuses connections, the added one
// serves.
func TestReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, c := restest.FreeAddr(t), restest.FreeAddr(t), restest.FreeAddr(t)
	cfg := e.writeConfig("resedge.yaml", listener("a", a)+listener("b", b))
	p := start(t, []string{"--config", cfg})

	ca, cb := dial(t, "ws://"+a+"/"), dial(t, "ws://"+b+"/")
	ca.Subscribe()
	cb.Subscribe()
	e.event(2)
	ca.WantEvent(2)
	cb.WantEvent(2)

	e.writeConfig("resedge.yaml", listener("a", a)+listener("c", c))
	if !p.reload() {
		t.Fatal("reload failed")
	}
	cb.WantClosed()
	refused(t, b)
	e.event(3)
	ca.WantEvent(3)
	cc := dial(t, "ws://"+c+"/")
	cc.Subscribe()
	e.event(4)
	ca.WantEvent(4)
	cc.WantEvent(4)
	if strings.Contains(p.Logs(), `listener=a reason=`) {
		t.Error("the unchanged listener was stopped")
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	ca.WantClosed()
	cc.WantClosed()
}

// TestReloadRefused: a reload with an invalid configuration, or one that
// changes what needs a restart, leaves everything running and logs why.
func TestReloadRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := restest.FreeAddr(t), restest.FreeAddr(t)
	cfg := e.writeConfig("resedge.yaml", listener("a", a)+listener("b", b))
	p := start(t, []string{"--config", cfg})
	ca, cb := dial(t, "ws://"+a+"/"), dial(t, "ws://"+b+"/")
	ca.Subscribe()
	cb.Subscribe()

	tests := []struct {
		name, content, log string
	}{
		{
			name:    "unknown key and bad address",
			content: "nats:\n  urls: [" + e.ns.ClientURL() + "]\nlisteners:\n" + listener("a", a) + "    wsPath: /x\n" + listener("c", "nowhere"),
			log:     `resedge.yaml:6: listeners.a.wsPath: unknown key (did you mean \"wsPaths\"?)\n` + cfg + `:8: listeners.c.address: invalid address \"nowhere\"`,
		},
		{
			name:    "YAML syntax",
			content: "listeners: [\n",
			log:     "resedge.yaml:",
		},
		{
			name:    "NATS URL changed",
			content: "nats:\n  urls: [nats://127.0.0.1:1]\nlisteners:\n" + listener("a", a),
			log:     `nats.urls cannot change while running; restart resedge to apply it (nothing was changed)`,
		},
	}
	for i, tt := range tests {
		if err := os.WriteFile(cfg, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if p.reload() {
			t.Fatalf("%s: reload succeeded", tt.name)
		}
		if line := lastLine(p.Logs(), "Reload failed"); !strings.Contains(line, tt.log) {
			t.Errorf("%s: log line %s\nwant it to contain %s", tt.name, line, tt.log)
		}
		e.event(10 + i)
		ca.WantEvent(10 + i)
		cb.WantEvent(10 + i)
	}
	dial(t, "ws://"+b+"/").Subscribe()

	// A valid configuration again applies.
	e.writeConfig("resedge.yaml", listener("a", a))
	if !p.reload() {
		t.Fatal("valid reload failed")
	}
	cb.WantClosed()
	e.event(20)
	ca.WantEvent(20)
}

// TestStop: on SIGTERM, clients get a going-away close frame, an HTTP
// request in flight gets its response, and the process exits 0.
func TestStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reached := make(chan struct{}, 1)
	if _, err := e.svc.Subscribe("get.slow.>", func(m *nats.Msg) {
		reached <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		m.Respond([]byte(`{"result":{"model":{"slow":true}}}`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Subscribe("access.slow.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":{"get":true}}`)) }); err != nil {
		t.Fatal(err)
	}
	e.svc.Flush()
	a := restest.FreeAddr(t)
	// Resgate's flags, as before the config file existed.
	p := start(t, []string{"--nats", e.ns.ClientURL(), "-i", "127.0.0.1", "-p", a[strings.LastIndexByte(a, ':')+1:]})
	c := dial(t, "ws://"+a+"/")
	c.Subscribe()

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + a + "/api/slow/model")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	select { // the request is in flight
	case <-reached:
	case <-time.After(restest.Timeout):
		t.Fatal("the HTTP request never reached the service")
	}
	p.signal(syscall.SIGTERM)
	c.WantClosed()
	if r := <-res; r.err != nil || r.status != 200 || r.body != `{"slow":true}` {
		t.Fatalf("request in flight: %d %q %v", r.status, r.body, r.err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	p.waitLog(`msg="Server stopped"`, 1)
}

// TestStartFailure: a listener that cannot start stops resedge at once,
// with exit code 1 and a message naming it.
func TestStartFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name, listeners, want string
	}{
		{"port in use", listener("free", restest.FreeAddr(t)) + listener("busy", taken.Addr().String()),
			`listener \"busy\": listen tcp ` + taken.Addr().String() + `: bind: address already in use`},
		{"ACME CA roots missing", listener("auto", "127.0.0.1:8443") + "    tls:\n      acme:\n        domains: [x.example.com]\n        altTLSALPNPort: 9443\n        caRoots: [/nonexistent/ca.pem]\n",
			`listener \"auto\": CA root file /nonexistent/ca.pem does not exist`},
		{"no systemd socket", listener("sd", "systemd:public"), `listener \"sd\": no socket named \"public\" was passed by systemd`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.writeConfig(strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.listeners)
			p := launch(t, []string{"run", "--config", cfg})
			if code := p.wait(); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			if !strings.Contains(p.Logs(), tt.want) {
				t.Fatalf("log lacks %s:\n%s", tt.want, p.Logs())
			}
		})
	}
}

// TestNotify: resedge tells systemd READY=1 when serving, RELOADING=1 with
// MONOTONIC_USEC then READY=1 around a reload, WATCHDOG=1 while healthy,
// and STOPPING=1 when stopping.
func TestNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	// next returns the next message other than a watchdog ping, and counts
	// the pings.
	pings := 0
	next := func() string {
		t.Helper()
		for {
			select {
			case m := <-msgs:
				if m == "WATCHDOG=1" {
					pings++
					continue
				}
				return m
			case <-time.After(timeout):
				t.Fatal("no notification")
			}
		}
	}

	a := restest.FreeAddr(t)
	cfg := e.writeConfig("resedge.yaml", listener("a", a))
	p := start(t, []string{"--config", cfg}, func(c *exec.Cmd) {
		c.Env = append(c.Env, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=100000")
	})
	if m := next(); m != "READY=1\nSTATUS=Serving 1 listener" {
		t.Fatalf("first notification %q, want READY=1", m)
	}

	e.writeConfig("resedge.yaml", listener("a", a)+listener("b", restest.FreeAddr(t)))
	p.signal(syscall.SIGHUP)
	if m := next(); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`).MatchString(m) {
		t.Fatalf("notification %q, want RELOADING=1 and MONOTONIC_USEC", m)
	}
	if m := next(); m != "READY=1\nSTATUS=Serving 2 listeners" {
		t.Fatalf("notification %q, want READY=1 after the reload", m)
	}

	// A failed reload ends with READY=1 too, and says why.
	os.WriteFile(cfg, []byte("listeners: {a: {address: nowhere}}\n"), 0o600)
	p.signal(syscall.SIGHUP)
	if m := next(); !strings.HasPrefix(m, "RELOADING=1\n") {
		t.Fatalf("notification %q, want RELOADING=1", m)
	}
	if m := next(); !strings.HasPrefix(m, "READY=1\nSTATUS=Reload failed, running the previous configuration: ") || !strings.Contains(m, `invalid address "nowhere"`) {
		t.Fatalf("notification %q, want READY=1 with the reason of the failure", m)
	}

	time.Sleep(250 * time.Millisecond) // a few watchdog intervals
	p.signal(syscall.SIGTERM)
	if m := next(); m != "STOPPING=1" {
		t.Fatalf("notification %q, want STOPPING=1", m)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if pings < 2 {
		t.Errorf("%d watchdog pings, want some every 50ms", pings)
	}
}

// TestSocketActivation: a listener with the address systemd:<name> serves
// the socket passed as LISTEN_FDS with that LISTEN_FDNAMES name.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()
	ln.Close() // the child's copy of f is the only listening socket now

	cfg := e.writeConfig("resedge.yaml", listener("public", "systemd:public")+listener("other", restest.FreeAddr(t)))
	// LISTEN_PID must be the pid of resedge itself: a shell sets it to
	// its own pid, then becomes resedge.
	args := append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, binary(t)}, "--config", cfg)
	cmd := func(c *exec.Cmd) {
		c.Path, c.Args = "/bin/sh", append([]string{"sh"}, args...)
		c.ExtraFiles = []*os.File{f} // descriptor 3
		c.Env = append(c.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=public")
	}
	p := start(t, nil, cmd)
	f.Close()

	c := dial(t, "ws://"+addr+"/")
	c.Subscribe()
	e.event(2)
	c.WantEvent(2)
	if strings.Contains(p.Logs(), "not used by any listener") {
		t.Error("the inherited socket was reported unused")
	}
}
