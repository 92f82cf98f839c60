package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// splitCommand splits a command line template into words the way a shell
// would for simple cases: blanks separate words, single quotes keep
// everything literal, double quotes keep blanks, and a backslash escapes
// the next character outside single quotes.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if escaped {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// expandCommand splits a template and substitutes {nats}, {port} and
// {addr} in every word.
func expandCommand(template, natsURL string, port int) ([]string, error) {
	words, err := splitCommand(template)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{nats}", natsURL, "{port}", strconv.Itoa(port), "{addr}", loopback)
	for i, w := range words {
		words[i] = r.Replace(w)
	}
	return words, nil
}

// loopback is the address every server binds and every client dials.
const loopback = "127.0.0.1"

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// Write appends p, dropping the oldest bytes beyond the limit.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// child is a process resbench started: NATS or a gateway.
type child struct {
	name string
	cmd  *exec.Cmd
	logs *tailBuffer
	done chan struct{}
	err  error // the Wait error, set before done is closed
}

// children are the processes still running, killed on an interrupt.
var children struct {
	mu  sync.Mutex
	set map[*child]struct{}
}

// startChild starts args as a process in its own process group, with its
// output kept in a tail buffer (and also copied to the returned reader's
// line channel when lines is not nil).
func startChild(name string, args []string, lines chan<- string) (*child, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, logs: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	var out *os.File
	if lines != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.Stdout = w
		cmd.Stderr = c.logs
		out = w
		go func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				c.logs.Write(append(sc.Bytes(), '\n'))
				select {
				case lines <- sc.Text():
				default:
				}
			}
			r.Close()
		}()
	} else {
		cmd.Stdout = c.logs
		cmd.Stderr = c.logs
	}
	if err := cmd.Start(); err != nil {
		if out != nil {
			out.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if out != nil {
		out.Close()
	}
	children.mu.Lock()
	if children.set == nil {
		children.set = map[*child]struct{}{}
	}
	children.set[c] = struct{}{}
	children.mu.Unlock()
	go func() {
		c.err = cmd.Wait()
		children.mu.Lock()
		delete(children.set, c)
		children.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id.
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

// stop interrupts the child's process group and kills it if it has not
// exited after grace.
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

// killChildren kills every child still running (on an interrupt).
func killChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	for c := range children.set {
		syscall.Kill(-c.pid(), syscall.SIGKILL)
	}
}

// raiseFileLimit raises the soft limit on open files to the hard limit.
// Setting it explicitly (rather than relying on the Go runtime's own raise)
// also makes the child processes inherit the raised limit.
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
