package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// loopback is the address every server ressoak starts binds.
const loopback = "127.0.0.1"

// natsReadyLine is what "ressoak nats-server" prints once it accepts
// connections.
const natsReadyLine = "nats-server ready"

// runNATSServer is the "nats-server" mode: a NATS server on loopback, run
// by ressoak as a child process so that its memory and CPU are neither the
// gateway's nor the load generator's.
func runNATSServer(args []string, stdout, stderr io.Writer) int {
	port := 4222
	if len(args) == 2 && args[0] == "-port" {
		p, err := strconv.Atoi(args[1])
		if err != nil {
			fmt.Fprintln(stderr, "nats-server: bad port:", args[1])
			return 2
		}
		port = p
	}
	s, err := server.NewServer(&server.Options{
		Host: loopback, Port: port, NoLog: true, NoSigs: true,
		// A soak measures the gateway, not NATS's slow-consumer policy.
		MaxPending: 512 << 20, WriteDeadline: 30 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(stderr, "nats-server:", err)
		return 1
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(stderr, "nats-server: not ready after 10s")
		return 1
	}
	fmt.Fprintln(stdout, natsReadyLine)
	stop := make(chan os.Signal, 1)
	signalNotify(stop)
	<-stop
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

// child is a process ressoak started.
type child struct {
	name    string
	cmd     *exec.Cmd
	mu      sync.Mutex
	tail    []string // last lines of its output
	warn    int      // lines logged at level WARN
	errs    int      // lines logged at level ERROR
	notable map[string]int
	done    chan struct{}
}

// maxTail is how many output lines of a child are kept.
const maxTail = 40

// startChild starts args in its own process group, killed if ressoak dies.
// ready, when not empty, is a line the child prints once it is ready:
// startChild waits for it (up to a minute).
func startChild(ctx context.Context, name string, args []string, ready string) (*child, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	w.Close()
	seen := make(chan struct{})
	// notableRE matches what a gateway logs when it closes, refuses or
	// cuts off a client (limits being hit); msgRE extracts the message of
	// a text log line.
	notableRE := regexp.MustCompile(`(?i)clos|refus|limit|timed out|too large|not received`)
	msgRE := regexp.MustCompile(`msg=("(?:[^"\\]|\\.)*"|\S+)`)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > maxTail {
				c.tail = c.tail[1:]
			}
			warn, errs := strings.Contains(line, "level=WARN"), strings.Contains(line, "level=ERROR")
			if warn {
				c.warn++
			}
			if errs {
				c.errs++
			}
			if m := msgRE.FindStringSubmatch(line); m != nil && (warn || errs || notableRE.MatchString(m[1])) {
				if c.notable == nil {
					c.notable = map[string]int{}
				}
				if len(c.notable) < 100 {
					c.notable[strings.Trim(m[1], `"`)]++
				}
			}
			c.mu.Unlock()
			if ready != "" && strings.Contains(line, ready) {
				once.Do(func() { close(seen) })
			}
		}
		r.Close()
	}()
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	if ready == "" {
		return c, nil
	}
	select {
	case <-seen:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited before it was ready:\n%s", name, c.output())
	case <-ctx.Done():
		c.stop(time.Second)
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		c.stop(time.Second)
		return nil, fmt.Errorf("%s not ready after a minute:\n%s", name, c.output())
	}
}

// output returns the last lines the child printed.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// logCounts returns how many WARN and ERROR lines the child logged, and the
// notable lines by message.
func (c *child) logCounts() (warn, errs int, notable map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.warn, c.errs, maps.Clone(c.notable)
}

// pid is the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends the child's process group SIGINT, and SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	syscall.Kill(-c.pid(), syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(grace):
		syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
	}
}

// findResedge returns the resedge binary: path if given, else resedge next
// to this executable, else on PATH.
func findResedge(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "resedge")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("resedge")
	if err != nil {
		return "", errors.New("no resedge binary next to ressoak or on PATH: build one (go build -o DIR/ ./cmd/resedge ./cmd/ressoak) or pass -resedge")
	}
	return p, nil
}

// waitReady polls url until it answers 200, for up to a minute.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after a minute (%v)", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// raiseFileLimit raises the soft limit on open files to the hard limit, so
// that ressoak can hold its connections and the gateway it starts (which
// inherits the limit) can accept them. It returns the new limit.
func raiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}
