// Package conformance runs the same scripted scenarios against Resgate v1.8.0
// and resedge, each as a real process on a real NATS server, and requires
// identical transcripts: every message each client receives and every
// request each service receives.
package conformance

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
)

// resgateVersion is the Resgate release resedge must match.
const resgateVersion = "v1.8.0"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds resedge from this checkout and installs Resgate from the
// Go module proxy, once per test binary.
func binaries(t *testing.T) (resgate, resedge string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "resedge-conformance-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "resedge"), "./cmd/resedge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build resedge: %v\n%s", err, out)
			return
		}
		// A scratch module pins Resgate at its exact version; "go install
		// pkg@version" would also ask the proxy for the version list, which
		// is refused here.
		mod := filepath.Join(binDir, "resgate-mod")
		if buildErr = os.MkdirAll(mod, 0o755); buildErr != nil {
			return
		}
		for _, args := range [][]string{
			{"mod", "init", "resgate-build"},
			{"get", "github.com/resgateio/resgate@" + resgateVersion},
			{"build", "-o", filepath.Join(binDir, "resgate"), "github.com/resgateio/resgate"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = mod
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go %v (Resgate %s): %v\n%s", args, resgateVersion, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "resgate"), filepath.Join(binDir, "resedge")
}

// gateway is a running gateway process.
type gateway struct {
	name string
	addr string
	cmd  *exec.Cmd
	logs *strings.Builder
	mu   sync.Mutex
}

// startGateway runs bin against natsURL with extra flags and waits until it
// accepts connections.
func startGateway(t *testing.T, name, bin, natsURL string, flags ...string) *gateway {
	t.Helper()
	port := restest.FreePort(t)
	args := append([]string{"--nats", natsURL, "--addr", "127.0.0.1", "--port", strconv.Itoa(port)}, flags...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	g := &gateway{name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, logs: &strings.Builder{}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.logs.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", g.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return g
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not start listening on %s; logs:\n%s", name, g.addr, g.Logs())
	return nil
}

// Logs returns what the gateway logged so far.
func (g *gateway) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}
