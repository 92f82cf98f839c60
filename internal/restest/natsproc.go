package restest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/freeport"
)

// NATSProcess is a nats-server running as a child process, so that a test
// can kill it as an outage would (SIGKILL: no goodbye to its clients) and
// start it again on the same ports. The binary is built from the
// nats-server module this repository depends on (the same code as the
// embedded server), so no system package is needed.
type NATSProcess struct {
	t testing.TB
	// Name is the server name, Port its client port, MonitorPort its HTTP
	// monitoring port.
	Name        string
	Port        int
	MonitorPort int
	// ClusterPort is its route port, 0 outside a cluster; Routes the
	// route URLs of the other members.
	ClusterPort int
	Routes      []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *LogBuffer
}

var (
	natsBinOnce sync.Once
	natsBin     string
	natsBinErr  error
)

// NATSServerBinary returns the path of a nats-server binary built from the
// nats-server module in go.mod, building it the first time (into the
// temporary directory, named by version, so later runs reuse it).
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	natsBinOnce.Do(func() {
		const mod = "github.com/nats-io/nats-server/v2"
		version := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == mod {
					version = d.Version
				}
			}
		}
		path := filepath.Join(os.TempDir(), fmt.Sprintf("resedge-test-nats-server-%s-%s", version, runtime.Version()))
		if _, err := os.Stat(path); err == nil && version != "unknown" {
			natsBin = path
			return
		}
		_, file, _, _ := runtime.Caller(0)
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, mod)
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBinErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			natsBinErr = err
			return
		}
		natsBin = path
	})
	if natsBinErr != nil {
		t.Fatal(natsBinErr)
	}
	return natsBin
}

// StartNATSProcess starts a nats-server child process on a free loopback
// port and waits until it accepts clients. It is killed at the end of the
// test.
func StartNATSProcess(t testing.TB) *NATSProcess {
	t.Helper()
	p := &NATSProcess{t: t, Name: "n1", Port: FreePort(t), MonitorPort: FreePort(t)}
	p.Start()
	return p
}

// StartNATSCluster starts n nats-server child processes routed to each
// other in one cluster, and waits until every route is up.
func StartNATSCluster(t testing.TB, n int) []*NATSProcess {
	t.Helper()
	ps := make([]*NATSProcess, n)
	for i := range ps {
		ps[i] = &NATSProcess{t: t, Name: "n" + strconv.Itoa(i+1), Port: FreePort(t), MonitorPort: FreePort(t), ClusterPort: FreePort(t)}
	}
	// Each node is given the route URLs of the nodes started before it,
	// so every pair is dialled from one side only; a node that is killed
	// and restarted is dialled again by the later nodes, which retry an
	// explicit route for ever. When both sides dialled each other at the
	// same moment, nats-server's route pooling sometimes left a node, under
	// load, with a route to only one of its peers.
	for i, p := range ps {
		for _, o := range ps[:i] {
			p.Routes = append(p.Routes, "nats://127.0.0.1:"+strconv.Itoa(o.ClusterPort))
		}
		p.Start()
	}
	for _, p := range ps {
		p.WaitRoutes(n - 1)
	}
	return ps
}

// URL is the server's client URL.
func (p *NATSProcess) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(p.Port) }

// Start starts the server (again, after Kill) on its ports and waits until
// it accepts clients.
func (p *NATSProcess) Start() {
	p.t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-m", strconv.Itoa(p.MonitorPort), "-n", p.Name}
	if p.ClusterPort != 0 {
		args = append(args, "--cluster_name", "resedge-test", "--cluster", "nats://127.0.0.1:"+strconv.Itoa(p.ClusterPort))
		if len(p.Routes) > 0 {
			args = append(args, "--routes", strings.Join(p.Routes, ","))
		}
	}
	log := &LogBuffer{}
	cmd := exec.Command(NATSServerBinary(p.t), args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Wait returns this long after the server exits even if its output
	// pipe is still open somewhere, rather than hang the test's cleanup.
	cmd.WaitDelay = 5 * time.Second
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start nats-server %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	first := p.cmd == nil
	p.cmd, p.done, p.log = cmd, done, log
	p.mu.Unlock()
	if first {
		p.t.Cleanup(p.Kill)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			p.t.Fatalf("nats-server %s exited at start:\n%s", p.Name, log.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nats-server %s not accepting clients:\n%s", p.Name, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL and waits for it to exit. Killing a
// server that is not running does nothing.
func (p *NATSProcess) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Kill()
	<-done
}

// Log returns what the server has logged since it last started.
func (p *NATSProcess) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// WaitRoutes waits until the server has n routes.
func (p *NATSProcess) WaitRoutes(n int) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rz struct {
			NumRoutes int `json:"num_routes"`
			Routes    []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		var names map[string]bool
		err := p.monitor("routez", &rz)
		if err == nil {
			names = map[string]bool{}
			for _, r := range rz.Routes {
				names[r.RemoteName] = true
			}
			if len(names) >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nats-server %s: fewer than %d routes after 10s (routez: %v, routes to %v):\n%s", p.Name, n, err, names, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ClientCount returns the number of client connections named name.
func (p *NATSProcess) ClientCount(name string) int {
	var cz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := p.monitor("connz", &cz); err != nil {
		return 0
	}
	n := 0
	for _, c := range cz.Connections {
		if c.Name == name {
			n++
		}
	}
	return n
}

func (p *NATSProcess) monitor(endpoint string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(p.MonitorPort) + "/" + endpoint)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// FreeAddr returns "127.0.0.1:<port>" with a port from FreePort.
func FreeAddr(t testing.TB) string { return "127.0.0.1:" + strconv.Itoa(FreePort(t)) }

// FreePort returns a loopback TCP port that was free a moment ago, from
// below the kernel's ephemeral range (see internal/freeport).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
