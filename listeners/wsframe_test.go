package listeners

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/resproto"
)

// captureConn is a net.Conn that records what is written to it.
type captureConn struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *captureConn) Read([]byte) (int, error) { return 0, io.EOF }
func (c *captureConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// take returns what was written since the last take.
func (c *captureConn) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := append([]byte(nil), c.buf.Bytes()...)
	c.buf.Reset()
	return b
}

// hijackRecorder is an http.ResponseWriter whose Hijack returns conn.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackRecorder) Header() http.Header { return http.Header{} }
func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// upgradeCapture upgrades a fake request with the listeners' upgrader
// settings, over a captureConn (wrapped in a wsNetConn if wrap), and
// discards the handshake response.
func upgradeCapture(t *testing.T, wrap bool) (*websocket.Conn, *captureConn, *wsNetConn) {
	t.Helper()
	cc := &captureConn{}
	var w http.ResponseWriter = &hijackRecorder{conn: cc}
	var hw *hijackWrap
	if wrap {
		hw = &hijackWrap{ResponseWriter: w}
		w = hw
	}
	ws := upgradeOver(t, w)
	if !bytes.HasPrefix(cc.take(), []byte("HTTP/1.1 101 ")) {
		t.Fatal("no handshake response")
	}
	var nc *wsNetConn
	if hw != nil {
		nc = hw.nc
	}
	return ws, cc, nc
}

// upgradeOver upgrades a WebSocket request made up for the test through w,
// with the listeners' upgrader settings.
func upgradeOver(t *testing.T, w http.ResponseWriter) *websocket.Conn {
	t.Helper()
	r, _ := http.NewRequest("GET", "http://example.com/", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestTextFrameIsGorillas checks that the frames the write loop writes are
// byte for byte those gorilla's WriteMessage writes, at every length
// encoding.
func TestTextFrameIsGorillas(t *testing.T) {
	ws, cc, _ := upgradeCapture(t, false)
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 1100, 65535, 65536, 70000} {
		data := bytes.Repeat([]byte{'x'}, n)
		if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
			t.Fatal(err)
		}
		want := cc.take()
		got := wsPreparedOf(resproto.NewMessage(data)).textFrame()
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: frame % x…, gorilla's % x…", n, got[:min(len(got), 12)], want[:min(len(want), 12)])
		}
	}
}

// TestWriteFramesBatch checks that several messages go out as their frames,
// in order, in one write.
func TestWriteFramesBatch(t *testing.T) {
	_, cc, nc := upgradeCapture(t, true)
	msgs := []*resproto.Message{resproto.NewMessage([]byte(`{"a":1}`)), resproto.NewMessage(bytes.Repeat([]byte{'y'}, 300))}
	if err := nc.writeFrames(msgs, time.Second); err != nil {
		t.Fatal(err)
	}
	want := append(wsPreparedOf(msgs[0]).textFrame(), wsPreparedOf(msgs[1]).textFrame()...)
	if got := cc.take(); !bytes.Equal(got, want) {
		t.Errorf("wrote % x, want % x", got, want)
	}
	buf, ok := framesOf(nil, msgs)
	if !ok || !bytes.Equal(buf, want) {
		t.Errorf("framesOf: % x %v, want % x", buf, ok, want)
	}
	// With room in dst, the frames go there; without, into a new array.
	for _, dst := range [][]byte{make([]byte, 3, len(want)+10), make([]byte, 0, 4)} {
		buf, ok := framesOf(dst, msgs)
		inDst := cap(dst) >= len(want)
		if !ok || !bytes.Equal(buf, want) || (&buf[0] == &dst[:1][0]) != inDst {
			t.Errorf("framesOf(dst cap %d): % x %v, in dst %v, want % x in dst %v", cap(dst), buf, ok, &buf[0] == &dst[:1][0], want, inDst)
		}
	}
}

// TestNoDataAfterClose checks that once gorilla has written a close frame,
// no data frame follows, as when gorilla writes the data itself.
func TestNoDataAfterClose(t *testing.T) {
	ws, cc, nc := upgradeCapture(t, true)
	if err := ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := cc.take(); !bytes.Equal(got, []byte{0x89, 1, 'p'}) {
		t.Errorf("ping: % x", got)
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	cc.take()
	err := nc.writeFrames([]*resproto.Message{resproto.NewMessage([]byte(`{}`))}, time.Second)
	if !errors.Is(err, websocket.ErrCloseSent) {
		t.Errorf("write after close: %v, want ErrCloseSent", err)
	}
	if got := cc.take(); len(got) != 0 {
		t.Errorf("wrote % x after the close frame", got)
	}
}

// TestControlWaitsForWriteLock checks that a control frame waits for the
// write loop's lock, no longer than its deadline: then a ping is dropped
// (gorilla's connection stays usable) and a close frame fails.
func TestControlWaitsForWriteLock(t *testing.T) {
	ws, cc, nc := upgradeCapture(t, true)
	nc.lock <- struct{}{} // the write loop is writing
	start := time.Now()
	if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(50*time.Millisecond)); err != nil {
		t.Errorf("ping while locked: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("ping gave up after %v", d)
	}
	err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(20*time.Millisecond))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("close while locked: %v, want a timeout", err)
	}
	if got := cc.take(); len(got) != 0 {
		t.Errorf("wrote % x while locked", got)
	}
	<-nc.lock
	if err := nc.writeFrames([]*resproto.Message{resproto.NewMessage([]byte(`{}`))}, time.Second); err != nil {
		t.Errorf("data after a failed close frame: %v", err)
	}
}

// rawWrapper is a connection wrapper like proxyproto.Conn: it exposes the
// connection it wraps through Raw.
type rawWrapper struct{ net.Conn }

func (w rawWrapper) Raw() net.Conn { return w.Conn }

// TestWSNetConnRaw: the direct write path (a socket's raw descriptor) is
// found on a TCP connection and through a wrapper that exposes it, as
// with the PROXY protocol; another kind of connection has none and is
// written through gorilla.
func TestWSNetConnRaw(t *testing.T) {
	c, _ := tcpPair(t, nil)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, tt := range []struct {
		name string
		conn net.Conn
		raw  bool
	}{
		{"TCP", c, true},
		{"TCP behind a PROXY protocol wrapper", rawWrapper{c}, true},
		{"pipe", a, false},
	} {
		if got := newWSNetConn(tt.conn).fd >= 0; got != tt.raw {
			t.Errorf("%s: raw write path %v, want %v", tt.name, got, tt.raw)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection made on ln, or
// on a listener of its own if ln is nil.
func tcpPair(t testing.TB, ln net.Listener) (server, client net.Conn) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestNoDescriptorWriteAfterClose checks that the direct descriptor write
// fails once the connection is closed, rather than write to a descriptor
// number the system may have given to another socket.
func TestNoDescriptorWriteAfterClose(t *testing.T) {
	server, client := tcpPair(t, nil)
	nc := newWSNetConn(server)
	if nc.fd < 0 {
		t.Fatal("no descriptor for a TCP connection")
	}
	if n, err := nc.writeNonBlocking([]byte("ab")); n != 2 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, 2)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "ab" {
		t.Fatalf("read %q, %v", got, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc.Close()
	// The system hands out the lowest free number: the next connection
	// likely gets the one just closed.
	a, b := tcpPair(t, ln)
	if n, err := nc.writeNonBlocking([]byte("cd")); err == nil || n != 0 {
		t.Fatalf("write after close: %d, %v", n, err)
	}
	for _, c := range []net.Conn{a, b} {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := c.Read(got); n != 0 {
			t.Fatalf("a write after close reached another socket: %q", got[:n])
		}
	}
}

// BenchmarkWriteNonBlocking is the write of one small frame to a socket,
// as a fan-out makes for every subscriber of an event.
func BenchmarkWriteNonBlocking(b *testing.B) {
	server, client := tcpPair(b, nil)
	go io.Copy(io.Discard, client)
	nc := newWSNetConn(server)
	frame := wsPreparedOf(resproto.NewMessage([]byte(`{"event":"example.model.change","data":{"values":{"n":1}}}`))).textFrame()
	b.ReportAllocs()
	for b.Loop() {
		nc.lock <- struct{}{}
		_, err := nc.writeNonBlocking(frame)
		nc.release()
		if err == errWouldBlock {
			time.Sleep(time.Microsecond)
		} else if err != nil {
			b.Fatal(err)
		}
	}
}
