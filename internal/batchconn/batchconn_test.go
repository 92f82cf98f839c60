package batchconn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// gateConn is a net.Conn whose Write records its bytes and then waits for
// the test to open the gate, so that a test holds the writer goroutine
// inside a socket write.
type gateConn struct {
	net.Conn // nil: only Write, Close and SetWriteDeadline are used

	entered chan string   // each Write's bytes, as it starts
	gate    chan struct{} // one receive per Write let through
	err     error         // returned by every Write
	closed  chan struct{}
	once    sync.Once
}

func newGateConn() *gateConn {
	return &gateConn{entered: make(chan string, 100), gate: make(chan struct{}, 100), closed: make(chan struct{})}
}

func (g *gateConn) Write(p []byte) (int, error) {
	g.entered <- string(p)
	<-g.gate
	if g.err != nil {
		return 0, g.err
	}
	return len(p), nil
}

func (g *gateConn) Close() error                       { g.once.Do(func() { close(g.closed) }); return nil }
func (g *gateConn) SetWriteDeadline(t time.Time) error { return nil }
func (g *gateConn) SetReadDeadline(t time.Time) error  { return nil }

// next returns the bytes of the next socket write, failing after 5 s.
func (g *gateConn) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-g.entered:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no socket write")
		return ""
	}
}

// writeAll writes each of ps to c, failing the test on an error.
func writeAll(t *testing.T, c net.Conn, ps ...string) {
	t.Helper()
	for _, p := range ps {
		if n, err := c.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
}

// TestCoalesce: what is written while the socket write is under way
// leaves in the next socket write, all of it, in order.
func TestCoalesce(t *testing.T) {
	g := newGateConn()
	c := New(g, 0, 0)
	writeAll(t, c, "PUB a 1\r\nx\r\n")
	if got := g.next(t); got != "PUB a 1\r\nx\r\n" {
		t.Fatalf("first socket write %q", got)
	}
	// The writer is inside that write: these wait for the next one.
	writeAll(t, c, "PUB b 1\r\ny\r\n", "PUB c 1\r\nz\r\n", "PING\r\n")
	g.gate <- struct{}{}
	if got, want := g.next(t), "PUB b 1\r\ny\r\nPUB c 1\r\nz\r\nPING\r\n"; got != want {
		t.Fatalf("second socket write %q, want %q", got, want)
	}
	g.gate <- struct{}{}
	g.gate <- struct{}{} // for a write Close might (wrongly) make
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-g.entered:
		t.Fatalf("socket write %q after everything was written", s)
	default:
	}
}

// TestBoundedPending: a Write beyond the pending bound waits until the
// writer takes the pending bytes.
func TestBoundedPending(t *testing.T) {
	g := newGateConn()
	c := New(g, 0, 8)
	writeAll(t, c, "a")
	g.next(t)
	writeAll(t, c, "bcdefghi") // 8 pending: at the bound
	returned := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("j"))
		returned <- err
	}()
	select {
	case err := <-returned:
		t.Fatalf("Write returned (%v) with the pending bytes at the bound", err)
	case <-time.After(100 * time.Millisecond):
	}
	g.gate <- struct{}{}
	if got := g.next(t); got != "bcdefghi" {
		t.Fatalf("second socket write %q", got)
	}
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	g.gate <- struct{}{}
	if got := g.next(t); got != "j" {
		t.Fatalf("third socket write %q", got)
	}
	g.gate <- struct{}{}
	c.Close()
}

// TestWriteError: a failed socket write releases a Write waiting for room
// with the error and fails every later Write. A write that timed out (a
// peer that stopped reading) closes the socket, so that its reader learns
// of it; any other failure leaves the socket to its reader, which the
// kernel fails by itself after what the peer sent before (TestReadAfterReset),
// until Close.
func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		writerClose bool
	}{
		{"broken pipe", errors.New("broken pipe"), false},
		{"timeout", &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateConn()
			g.err = tc.err
			c := New(g, 0, 4)
			writeAll(t, c, "a")
			g.next(t)
			writeAll(t, c, "bcde")
			blocked := make(chan error, 1)
			go func() {
				_, err := c.Write([]byte("f"))
				blocked <- err
			}()
			g.gate <- struct{}{}
			select {
			case err := <-blocked:
				if err != g.err {
					t.Fatalf("blocked Write: %v, want %v", err, g.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a Write waiting for room was not released by the failure")
			}
			if _, err := c.Write([]byte("g")); err != g.err {
				t.Fatalf("Write after the failure: %v, want %v", err, g.err)
			}
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the writer goroutine did not end after a failed write")
			}
			select {
			case <-g.closed:
				if !tc.writerClose {
					t.Fatal("socket closed by the writer")
				}
			default:
				if tc.writerClose {
					t.Fatal("socket not closed after a timed out write")
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-g.closed:
			default:
				t.Fatal("socket not closed by Close")
			}
			if _, err := c.Write([]byte("h")); err == nil {
				t.Fatal("Write after Close succeeded")
			}
		})
	}
}

// TestReadAfterReset: when the peer sends something and resets the
// connection, a Write fails, and a Read still returns what the peer sent
// before its error — as a TLS client reads the alert a server sends before
// closing on a certificate it refuses.
func TestReadAfterReset(t *testing.T) {
	c, peer := tcpPair(t, 0)
	if _, err := peer.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	peer.(*net.TCPConn).SetLinger(0) // close with a reset
	peer.Close()
	var err error
	for i := 0; i < 500 && err == nil; i++ {
		_, err = c.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("Writes to a reset connection kept succeeding")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 10)
	n, err := c.Read(b)
	if string(b[:n]) != "bye" {
		t.Fatalf("Read after the failed write: %q, %v; want what the peer sent", b[:n], err)
	}
	if _, err = c.Read(b); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second Read: %v, want the reset", err)
	}
}

// tcpPair returns a Conn over a loopback TCP connection and the peer's end.
func tcpPair(t *testing.T, timeout time.Duration) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		p, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- p
	}()
	d := &Dialer{WriteTimeout: timeout}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	// Small socket buffers, so that a peer that reads nothing stalls the
	// writer after little data.
	c.(*Conn).Conn.(*net.TCPConn).SetWriteBuffer(32 << 10)
	peer.(*net.TCPConn).SetReadBuffer(32 << 10)
	return c.(*Conn), peer
}

// TestStream: goroutines writing at once over a real socket: the peer
// reads every write whole and each writer's in order.
func TestStream(t *testing.T) {
	c, peer := tcpPair(t, 0)
	const writers, lines = 8, 20000
	got := make(chan map[int]int, 1)
	go func() {
		seen := map[int]int{}
		r := bufio.NewReader(peer)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			f := strings.Fields(line)
			w, err1 := strconv.Atoi(f[0])
			n, err2 := strconv.Atoi(f[len(f)-1])
			if len(f) != 2 || err1 != nil || err2 != nil || seen[w] != n {
				t.Errorf("line %q after %d lines of writer %d", line, seen[w], w)
				break
			}
			seen[w] = n + 1
		}
		got <- seen
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex // one Write at a time, as under nats.go's lock
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for n := range lines {
				buf = fmt.Appendf(buf[:0], "%d %d\n", w, n)
				mu.Lock()
				_, err := c.Write(buf)
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	seen := <-got
	for w := range writers {
		if seen[w] != lines {
			t.Errorf("writer %d: %d of %d lines read", w, seen[w], lines)
		}
	}
}

// TestCloseWritesPending: Close hands what is pending to the socket
// before closing it.
func TestCloseWritesPending(t *testing.T) {
	c, peer := tcpPair(t, 0)
	want := bytes.Repeat([]byte("0123456789"), 50000)
	done := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		done <- b
	}()
	for i := 0; i < len(want); i += 1000 {
		writeAll(t, c, string(want[i:i+1000]))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !bytes.Equal(got, want) {
		t.Fatalf("peer read %d bytes, want the %d written", len(got), len(want))
	}
}

// TestStalledPeer: with a peer that reads nothing, a socket write ends
// with a timeout after the Conn's timeout; Write then reports it rather
// than waiting for room for ever. Close of such a Conn returns too.
func TestStalledPeer(t *testing.T) {
	c, _ := tcpPair(t, 300*time.Millisecond)
	chunk := make([]byte, 64<<10)
	start := time.Now()
	var err error
	for time.Since(start) < 30*time.Second {
		if _, err = c.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a stalled peer: %v after %v, want a deadline error", err, time.Since(start))
	}
	// The socket is closed, so that a reader waiting on it learns of the
	// failure rather than waiting for a peer that will not answer.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after the timed out write: %v, want the socket closed", err)
	}

	// With no write timeout, Close must still return. Write until the
	// writer is stuck in a socket write: pending bytes pile up and stay
	// (the loopback socket buffers take a few MiB first). Never write to
	// the bound, where Write would wait.
	c2, _ := tcpPair(t, 0)
	stuck := false
	for i := 0; i < 2000 && !stuck; i++ {
		if n := c2.pendingLen(); n > DefaultMaxPending/2 {
			time.Sleep(200 * time.Millisecond)
			stuck = c2.pendingLen() == n
			continue
		}
		if _, err := c2.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if !stuck {
		t.Fatal("the writer never got stuck")
	}
	closed := make(chan error, 1)
	t0 := time.Now()
	go func() { closed <- c2.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
		t.Logf("Close returned after %v", time.Since(t0))
	case <-time.After(closeFlushTimeout + 5*time.Second):
		t.Fatal("Close waited on a stalled peer")
	}
}

// TestNATS: nats.go over a Dialer against a real NATS server: requests
// from many goroutines all get their own replies, and a flush round trip
// (PING/PONG through the pending buffer) completes.
func TestNATS(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	defer srv.Shutdown()
	svc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.Subscribe("echo.*", func(m *nats.Msg) { m.Respond(append([]byte(m.Subject+" "), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	svc.Flush()

	nc, err := nats.Connect(srv.ClientURL(), nats.SetCustomDialer(&Dialer{WriteTimeout: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				subj := fmt.Sprintf("echo.%d", g)
				data := strconv.Itoa(i)
				m, err := nc.Request(subj, []byte(data), 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if got, want := string(m.Data), subj+" "+data; got != want {
					t.Errorf("reply %q, want %q", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// pendingLen is the number of bytes waiting for the writer.
func (c *Conn) pendingLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
