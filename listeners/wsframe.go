package listeners

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/resproto"
)

// This file is the write path of uncompressed WebSocket connections.
// Profiles of fan-out showed about 60% of the gateway's CPU in one write(2)
// per message per socket, and more in gorilla's per-message work (a buffer
// from the pool, a copy, a write deadline each). Here every message is
// framed once, however many connections it goes to (wsPrepared), and the
// write loop writes all the frames queued for a connection in one system
// call (writev), with a write deadline re-armed only when it has run down.
//
// Gorilla still writes the control frames (pings, pongs, close) itself;
// they go through wsNetConn, which shares one write lock with the write
// loop, so frames never interleave and, as when gorilla writes the data
// itself, no data frame follows a close frame.

// wsPrepared is how a message is written to WebSocket clients, built once
// per message (resproto.Message.Prepared) and shared by every connection it
// goes to.
type wsPrepared struct {
	m *resproto.Message

	frameOnce sync.Once
	frame     []byte // the uncompressed text frame: header and payload

	pmOnce sync.Once
	pm     *websocket.PreparedMessage // for connections that may compress
}

// prepareWS is the resproto.Message.Prepared builder of WebSocket
// listeners.
func prepareWS(m *resproto.Message) any { return &wsPrepared{m: m} }

// wsPreparedOf returns m's wsPrepared.
func wsPreparedOf(m *resproto.Message) *wsPrepared {
	return m.Prepared(prepareWS).(*wsPrepared)
}

// textFrame returns the frame of an uncompressed text message, as gorilla
// writes it from a server (final, unmasked, one frame). The header goes in
// front of the message's data without copying it when the engine left room
// there (resproto.Message.Frame).
func (p *wsPrepared) textFrame() []byte {
	p.frameOnce.Do(func() {
		n := len(p.m.Data)
		var hdr [10]byte
		k := 2
		switch {
		case n < 126:
			hdr[1] = byte(n)
		case n < 65536:
			hdr[1] = 126
			hdr[2], hdr[3] = byte(n>>8), byte(n)
			k = 4
		default:
			hdr[1] = 127
			for i := 0; i < 8; i++ {
				hdr[9-i] = byte(uint64(n) >> (8 * i))
			}
			k = 10
		}
		hdr[0] = 0x80 | websocket.TextMessage
		p.frame = p.m.Frame(hdr[:k])
	})
	return p.frame
}

// prepared returns the message as a gorilla PreparedMessage, nil if it
// cannot be made.
func (p *wsPrepared) prepared() *websocket.PreparedMessage {
	p.pmOnce.Do(func() {
		p.pm, _ = websocket.NewPreparedMessage(websocket.TextMessage, p.m.Data)
	})
	return p.pm
}

// closeFrameByte is the first byte of a close frame (final, opcode 8).
const closeFrameByte = 0x80 | websocket.CloseMessage

// wsNetConn is the network connection of an uncompressed WebSocket as
// gorilla sees it: reads pass through; gorilla's writes (the upgrade
// response, then control frames only) take the write lock shared with the
// write loop, waiting for it no longer than the deadline gorilla set.
type wsNetConn struct {
	net.Conn

	// lock is the write lock: held by whoever writes to Conn.
	lock chan struct{}
	// Guarded by lock:
	closeSent bool      // a close frame was written: no more frames
	deadline  time.Time // the write deadline set on Conn

	// fd is the socket's file descriptor, for non-blocking writes made
	// straight to it; -1 if it has none (TLS, a pipe). Writing through
	// syscall.RawConn instead cost an escaping closure (3 allocations) and
	// the net poller's locks and deadline checks on every write, none of
	// which a non-blocking write needs. fdMu makes sure the descriptor
	// is never written after Close, which may hand its number to another
	// socket: a write holds it, and Close takes it to set fdClosed.
	fd       int
	fdMu     sync.Mutex
	fdClosed bool

	// gorillaDeadline is the write deadline gorilla asked for, applied to
	// its next write. Gorilla sets it and writes under its own lock.
	gorillaDeadline time.Time
}

func newWSNetConn(c net.Conn) *wsNetConn {
	nc := &wsNetConn{Conn: c, lock: make(chan struct{}, 1), fd: -1}
	// A connection wrapped to read a PROXY protocol header
	// (proxyproto.Conn) writes straight through to the one it wraps, so
	// frames may go to that one's socket directly.
	sock := c
	if w, ok := c.(interface{ Raw() net.Conn }); ok {
		sock = w.Raw()
	}
	// Only the net package's sockets, which it makes non-blocking. Every
	// close of this one goes through nc.Close.
	var sc syscall.Conn
	switch s := sock.(type) {
	case *net.TCPConn:
		sc = s
	case *net.UnixConn:
		sc = s
	}
	if sc != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { nc.fd = int(fd) })
		}
	}
	return nc
}

// Close closes the connection; no frame is written to its descriptor
// after.
func (c *wsNetConn) Close() error {
	c.fdMu.Lock()
	c.fdClosed = true
	c.fdMu.Unlock()
	return c.Conn.Close()
}

// tryAcquire takes the write lock if it is free.
func (c *wsNetConn) tryAcquire() bool {
	select {
	case c.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

// errWouldBlock is a write that would have blocked.
var errWouldBlock = errors.New("write would block")

// writeNonBlocking makes one non-blocking write of b to the socket's
// descriptor (c.fd >= 0), with the write lock held. It returns
// errWouldBlock if the socket took nothing (its buffer is full), else how
// much it took.
func (c *wsNetConn) writeNonBlocking(b []byte) (int, error) {
	c.fdMu.Lock()
	if c.fdClosed {
		c.fdMu.Unlock()
		return 0, net.ErrClosed
	}
	var n int
	var err error
	for {
		n, err = syscall.Write(c.fd, b)
		if err != syscall.EINTR {
			break
		}
	}
	c.fdMu.Unlock()
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	}
	return n, nil
}

// writeRest writes b, the rest of a partial non-blocking write, within
// timeout, with the write lock held.
func (c *wsNetConn) writeRest(b []byte, timeout time.Duration) error {
	if err := c.armDeadline(timeout); err != nil {
		return err
	}
	_, err := c.Conn.Write(b)
	return err
}

// armDeadline sets a write deadline timeout from now, unless the one set
// leaves at least 7/8 of it, so that a busy connection does not re-arm its
// deadline timer for every write. Call with the write lock held.
func (c *wsNetConn) armDeadline(timeout time.Duration) error {
	now := time.Now()
	if c.deadline.Sub(now) >= timeout-timeout/8 {
		return nil
	}
	c.deadline = now.Add(timeout)
	return c.Conn.SetWriteDeadline(c.deadline)
}

// maxCopiedFrames is the most bytes of frames framesOf copies into one
// buffer for a non-blocking write; more are written with writev.
const maxCopiedFrames = 64 << 10

// framesOf returns the frames of msgs in one buffer, or false if there are
// too many bytes to copy. For one message it is the shared frame itself;
// for more, the frames are copied into dst's array when it is large enough
// (the event line keeps one, so that coalescing events costs no
// allocation per write), else into a new one.
func framesOf(dst []byte, msgs []*resproto.Message) ([]byte, bool) {
	if len(msgs) == 1 {
		return wsPreparedOf(msgs[0]).textFrame(), true
	}
	size := 0
	for _, m := range msgs {
		size += len(wsPreparedOf(m).textFrame())
	}
	if size > maxCopiedFrames {
		return nil, false
	}
	buf := dst[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	for _, m := range msgs {
		buf = append(buf, wsPreparedOf(m).textFrame()...)
	}
	return buf, true
}

// errWriteLockTimeout is returned to gorilla when the write loop held the
// connection until gorilla's deadline. Like gorilla's own write timeout, it
// is a temporary net.Error: gorilla's ping handler ignores it.
var errWriteLockTimeout net.Error = writeLockTimeout{}

type writeLockTimeout struct{}

func (writeLockTimeout) Error() string   { return "websocket: write timeout" }
func (writeLockTimeout) Timeout() bool   { return true }
func (writeLockTimeout) Temporary() bool { return true }

// acquire takes the write lock, waiting until deadline at most (zero: no
// limit).
func (c *wsNetConn) acquire(deadline time.Time) bool {
	select {
	case c.lock <- struct{}{}:
		return true
	default:
	}
	if deadline.IsZero() {
		c.lock <- struct{}{}
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case c.lock <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (c *wsNetConn) release() { <-c.lock }

// SetWriteDeadline records the deadline of gorilla's next write.
func (c *wsNetConn) SetWriteDeadline(t time.Time) error {
	c.gorillaDeadline = t
	return nil
}

// SetDeadline sets the read deadline, and records the write deadline as
// SetWriteDeadline does.
func (c *wsNetConn) SetDeadline(t time.Time) error {
	c.gorillaDeadline = t
	return c.Conn.SetReadDeadline(t)
}

// Write writes one of gorilla's writes: the upgrade response or one
// control frame.
//
// A ping or pong that cannot take the lock before its deadline is dropped
// and reported written: gorilla makes any write error final, whereas when
// gorilla wrote the data itself, a control frame that timed out waiting for
// a data write was only that frame lost (its ping handler ignores the
// timeout). A close frame gets the error: the connection is closed next.
func (c *wsNetConn) Write(b []byte) (int, error) {
	if !c.acquire(c.gorillaDeadline) {
		if len(b) > 0 && (b[0] == 0x80|websocket.PingMessage || b[0] == 0x80|websocket.PongMessage) {
			return len(b), nil
		}
		return 0, errWriteLockTimeout
	}
	defer c.release()
	if c.closeSent {
		return 0, websocket.ErrCloseSent
	}
	if len(b) > 0 && b[0] == closeFrameByte {
		c.closeSent = true
	}
	if !c.deadline.Equal(c.gorillaDeadline) {
		c.deadline = c.gorillaDeadline
		c.Conn.SetWriteDeadline(c.deadline)
	}
	return c.Conn.Write(b)
}

// writeFrames writes the frames of msgs in one write (writev for several),
// within timeout.
func (c *wsNetConn) writeFrames(msgs []*resproto.Message, timeout time.Duration) error {
	c.lock <- struct{}{}
	defer c.release()
	if c.closeSent {
		return websocket.ErrCloseSent
	}
	if err := c.armDeadline(timeout); err != nil {
		return err
	}
	if len(msgs) == 1 {
		_, err := c.Conn.Write(wsPreparedOf(msgs[0]).textFrame())
		return err
	}
	bufs := make(net.Buffers, len(msgs))
	for i, m := range msgs {
		bufs[i] = wsPreparedOf(m).textFrame()
	}
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// hijackWrap hands gorilla's Upgrade a wsNetConn in place of the hijacked
// connection.
type hijackWrap struct {
	http.ResponseWriter
	nc *wsNetConn
}

// Hijack implements http.Hijacker.
func (w *hijackWrap) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("listeners: response cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return c, rw, err
	}
	w.nc = newWSNetConn(c)
	return w.nc, rw, nil
}
