// Package lifecycle tests the resedge binary as an operator and systemd
// run it: a multi-listener config file, reloads on SIGHUP, graceful stops
// on SIGTERM, sd_notify messages, socket activation, and the unit files
// under systemd-analyze. Each test starts the real binary as a child
// process against a real NATS server and plays the service itself.
package lifecycle

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// timeout bounds every wait.
const timeout = 10 * time.Second

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the built binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds resedge from this checkout, once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "resedge-lifecycle-")
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binPath = filepath.Join(dir, "resedge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/resedge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build resedge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// env is a NATS server and a service on it: every test.* resource is a
// model {"n":1} anyone may get.
type env struct {
	t   *testing.T
	ns  *natsserver.Server
	svc *nats.Conn
	dir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := restest.RunNATS(t)
	svc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	for subject, reply := range map[string]string{
		"get.test.>":    `{"result":{"model":{"n":1}}}`,
		"access.test.>": `{"result":{"get":true}}`,
	} {
		reply := []byte(reply)
		if _, err := svc.Subscribe(subject, func(m *nats.Msg) { m.Respond(reply) }); err != nil {
			t.Fatal(err)
		}
	}
	svc.Flush()
	return &env{t: t, ns: ns, svc: svc, dir: t.TempDir()}
}

// event publishes a change of test.model to n.
func (e *env) event(n int) {
	e.t.Helper()
	if err := e.svc.Publish("event.test.model.change", []byte(`{"values":{"n":`+strconv.Itoa(n)+`}}`)); err != nil {
		e.t.Fatal(err)
	}
	e.svc.Flush()
}

// writeConfig writes a YAML config on the env's NATS server with the
// given listeners section (indented by two spaces) and returns its path.
func (e *env) writeConfig(name, listeners string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	content := "nats:\n  urls: [" + e.ns.ClientURL() + "]\nlisteners:\n" + listeners
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// listener is a listeners entry of a YAML config.
func listener(name, addr string) string {
	return fmt.Sprintf("  %s:\n    address: %q\n", name, addr)
}

// proc is a running resedge.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
	code int
}

// start runs resedge with args (cmd may be adjusted by setup first) and
// waits until it logs "Server ready".
func start(t *testing.T, args []string, setup ...func(*exec.Cmd)) *proc {
	t.Helper()
	p := launch(t, args, setup...)
	p.waitLog("Server ready", 1)
	return p
}

// launch runs resedge with args without waiting for it to be ready.
func launch(t *testing.T, args []string, setup ...func(*exec.Cmd)) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	for _, f := range setup {
		f(cmd)
	}
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("resedge log:\n%s", p.Logs())
		}
	})
	return p
}

// Logs returns what resedge logged so far.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitLog waits until the log contains s n times.
func (p *proc) waitLog(s string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(p.Logs(), s) < n {
		select {
		case <-p.done:
			p.t.Fatalf("resedge exited (code %d) before logging %q", p.code, s)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("resedge did not log %q", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// reload sends SIGHUP, waits for the reload to end, and returns whether
// it succeeded.
func (p *proc) reload() bool {
	p.t.Helper()
	counts := func() (ok, failed int) {
		logs := p.Logs()
		return strings.Count(logs, `msg="Configuration reloaded"`), strings.Count(logs, `msg="Reload failed`)
	}
	ok0, failed0 := counts()
	p.signal(syscall.SIGHUP)
	deadline := time.Now().Add(timeout)
	for {
		ok, failed := counts()
		if ok+failed > ok0+failed0 {
			return ok > ok0
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the reload did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatal("resedge did not exit")
	}
	return -1
}

// client is a WebSocket client (restest.WSClient).
type client = restest.WSClient

func dial(t *testing.T, url string) *client { return restest.DialWS(t, url) }

// refused checks that nothing accepts connections on addr.
func refused(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepts connections, want refused", addr)
	}
}

// lastLine returns the last log line containing s.
func lastLine(logs, s string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}
