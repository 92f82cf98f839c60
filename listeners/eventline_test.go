package listeners

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resedge/resedge/resproto"
)

// lineHarness is a listener with one event line, stopped, and WebSocket
// connections on real loopback sockets whose frames go through it.
type lineHarness struct {
	h *HTTP

	mu     sync.Mutex
	writes []int // messages per write, from h.delivered
}

func newLineHarness(t *testing.T) *lineHarness {
	lh := &lineHarness{}
	lh.h = &HTTP{
		cfg:   HTTPConfig{WriteQueue: 100, WriteTimeout: time.Second},
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		lines: make([]eventLine, 1),
		delivered: func(n int) {
			lh.mu.Lock()
			lh.writes = append(lh.writes, n)
			lh.mu.Unlock()
		},
	}
	return lh
}

// conn upgrades a loopback TCP connection as serveWS does and returns its
// wsConn and the client's end, past the handshake response.
func (lh *lineHarness) conn(t *testing.T) (*wsConn, *bufio.Reader) {
	t.Helper()
	server, client := tcpPair(t, nil)
	return lh.connOver(t, server, client)
}

// connOver is conn over the given pair of connected sockets.
func (lh *lineHarness) connOver(t *testing.T, server, client net.Conn) (*wsConn, *bufio.Reader) {
	t.Helper()
	hw := &hijackWrap{ResponseWriter: &hijackRecorder{conn: server}}
	ws := upgradeOver(t, hw)
	if hw.nc.fd < 0 {
		t.Fatal("no descriptor for a TCP connection")
	}
	c := &wsConn{h: lh.h, nc: hw.nc, line: &lh.h.lines[0]}
	c.attach(ws)
	br := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("handshake response: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	return c, br
}

// takeWrites returns the messages per write since the last call.
func (lh *lineHarness) takeWrites() []int {
	lh.mu.Lock()
	defer lh.mu.Unlock()
	w := lh.writes
	lh.writes = nil
	return w
}

// hold marks the line as running without a goroutine, as if it were busy
// writing others; release runs it on the test's goroutine.
func (lh *lineHarness) hold()    { lh.h.lines[0].running = true }
func (lh *lineHarness) release() { lh.h.lines[0].run() }

// eventMsg and replyMsg are an event and a reply as the engine sends them.
func eventMsg(t *testing.T, n int) *resproto.Message {
	m := resproto.NewEventMessage([]byte(`{"event":"test.model.change","data":{"values":{"n":` + strconv.Itoa(n) + `}}}`))
	if !m.Event() {
		t.Fatal("an event message is not an event")
	}
	return m
}

func replyMsg(t *testing.T, id int) *resproto.Message {
	m := resproto.NewMessage([]byte(`{"result":null,"id":` + strconv.Itoa(id) + `}`))
	if m.Event() {
		t.Fatal("a reply message is an event")
	}
	return m
}

// readFrames reads the next n text frames' payloads from a client.
func readFrames(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var got []string
	for range n {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("frame %d of %d: %v", len(got)+1, n, err)
		}
		if hdr[0] != 0x81 || hdr[1] > 125 {
			t.Fatalf("unexpected frame header % x", hdr)
		}
		p := make([]byte, hdr[1])
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	return got
}

func datas(msgs ...*resproto.Message) []string {
	var s []string
	for _, m := range msgs {
		s = append(s, string(m.Data))
	}
	return s
}

// TestEventLineCoalesces: events that reach a connection while it waits in
// the line go out with those before them, in one write, in order.
func TestEventLineCoalesces(t *testing.T) {
	lh := newLineHarness(t)
	c, br := lh.conn(t)
	lh.hold()
	e1, e2, e3 := eventMsg(t, 1), eventMsg(t, 2), eventMsg(t, 3)
	c.Send(e1)
	c.Flush()
	c.Send(e2)
	c.Send(e3)
	c.Flush()
	if w := lh.takeWrites(); len(w) != 0 {
		t.Fatalf("written before the line reached the connection: %v", w)
	}
	lh.release()
	if got, want := readFrames(t, br, 3), datas(e1, e2, e3); !slices.Equal(got, want) {
		t.Errorf("client got %q, want %q", got, want)
	}
	if w := lh.takeWrites(); len(w) != 1 || w[0] != 3 {
		t.Errorf("messages per write %v, want [3]", w)
	}
}

// TestEventLineReplies: a reply to a connection with nothing in the line is
// written at once, even while the line is busy; a reply to a connection
// whose events wait in the line goes out after them, in the same write.
func TestEventLineReplies(t *testing.T) {
	lh := newLineHarness(t)
	a, abr := lh.conn(t)
	b, bbr := lh.conn(t)
	lh.hold()

	e1 := eventMsg(t, 1)
	a.Send(e1)
	a.Flush()

	rb := replyMsg(t, 1)
	b.Send(rb)
	b.Flush()
	if got := readFrames(t, bbr, 1); got[0] != string(rb.Data) {
		t.Errorf("b got %q, want its reply", got)
	}
	// An event sent in the same turn as a reply goes with the reply.
	e2 := eventMsg(t, 2)
	b.Send(e2)
	rb2 := replyMsg(t, 2)
	b.Send(rb2)
	b.Flush()
	if got, want := readFrames(t, bbr, 2), datas(e2, rb2); !slices.Equal(got, want) {
		t.Errorf("b got %q, want %q", got, want)
	}
	if w := lh.takeWrites(); !slices.Equal(w, []int{1, 2}) {
		t.Errorf("b's messages per write %v, want [1 2]", w)
	}

	ra := replyMsg(t, 3)
	a.Send(ra)
	a.Flush()
	if w := lh.takeWrites(); len(w) != 0 {
		t.Fatalf("a's reply overtook its event waiting in the line: writes %v", w)
	}
	lh.release()
	if got, want := readFrames(t, abr, 2), datas(e1, ra); !slices.Equal(got, want) {
		t.Errorf("a got %q, want %q", got, want)
	}
}

// TestEventLineIdle: an event on an idle line is written at once, and the
// line's goroutine ends when the line is empty.
func TestEventLineIdle(t *testing.T) {
	lh := newLineHarness(t)
	c, br := lh.conn(t)
	for i := range 3 {
		e := eventMsg(t, i)
		c.Send(e)
		c.Flush()
		if got := readFrames(t, br, 1); got[0] != string(e.Data) {
			t.Fatalf("got %q, want %q", got, e.Data)
		}
		l := &lh.h.lines[0]
		deadline := time.Now().Add(5 * time.Second)
		for {
			l.mu.Lock()
			running, waiting := l.running, len(l.conns)-l.head
			l.mu.Unlock()
			if !running && waiting == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("line still running (%d waiting) after its only connection was written", waiting)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestEventLineOrder: the line hands out connections first in, first out,
// and a line that never empties does not grow past what waits in it.
func TestEventLineOrder(t *testing.T) {
	var l eventLine
	l.running = true
	conns := make([]*wsConn, 5000)
	for i := range conns {
		conns[i] = &wsConn{}
	}
	next := 0
	for i, c := range conns {
		l.conns = append(l.conns, c)
		if i%2 == 1 { // one out for every two in, then drain
			if got := l.next(); got != conns[next] {
				t.Fatalf("next %d: got another connection", next)
			}
			next++
		}
	}
	if waiting := len(l.conns) - l.head; waiting != len(conns)-next {
		t.Fatalf("%d waiting, want %d", waiting, len(conns)-next)
	}
	if len(l.conns) > 2*(len(conns)-next)+1024 {
		t.Errorf("line array %d long for %d waiting", len(l.conns), len(conns)-next)
	}
	for ; next < len(conns); next++ {
		if got := l.next(); got != conns[next] {
			t.Fatalf("next %d: got another connection", next)
		}
	}
	if got := l.next(); got != nil || l.running {
		t.Errorf("empty line: next %v, running %v", got, l.running)
	}
}

// smallBufferPair returns connected loopback sockets whose buffers hold a
// few kilobytes in all, so that a larger write is cut short.
func smallBufferPair(t *testing.T) (server, client net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	if client, err = d.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	if err := server.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return server, client
}

// TestEventLinePartialWrite: when the socket takes only part of a
// connection's coalesced events, the rest goes out after it intact, though
// the line goes on to copy the next connection's events into the same
// scratch buffer.
func TestEventLinePartialWrite(t *testing.T) {
	lh := newLineHarness(t)
	server, client := smallBufferPair(t)
	c1, br1 := lh.connOver(t, server, client)
	c2, br2 := lh.conn(t)
	const n = 900 // about 60 KB of frames: more than c1's socket holds
	lh.h.cfg.WriteQueue = n
	var m1, m2 []*resproto.Message
	lh.hold()
	for i := range n {
		m1 = append(m1, eventMsg(t, 100000+i))
		c1.Send(m1[i])
		m2 = append(m2, eventMsg(t, 200000+i))
		c2.Send(m2[i])
		if i == 0 { // in line from here on, collecting the rest
			c1.Flush()
			c2.Flush()
		}
	}
	lh.release() // c1's write is partial; c2's then fills the scratch
	w := lh.takeWrites()
	if len(w) != 2 || w[0] != n || w[1] != n {
		t.Fatalf("messages per write %v, want [%d %d]", w, n, n)
	}
	if len(lh.h.lines[0].scratch) != 0 || cap(lh.h.lines[0].scratch) < 50000 {
		t.Errorf("line scratch len %d cap %d: the frames were not copied there", len(lh.h.lines[0].scratch), cap(lh.h.lines[0].scratch))
	}
	if got, want := readFrames(t, br2, n), datas(m2...); !slices.Equal(got, want) {
		t.Errorf("second client: got other frames")
	}
	if got, want := readFrames(t, br1, n), datas(m1...); !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("first client: frame %d is %q, want %q", i, got[i], want[i])
			}
		}
	}
}
