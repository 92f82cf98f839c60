package listeners

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/resproto"
)

// DefaultWriteQueue is the default of HTTPConfig.WriteQueue: how many
// messages may wait for a WebSocket client before it is closed as a slow
// consumer. A client whose messages are dropped would hold state that
// differs from the service's, so it is closed instead and resyncs when it
// reconnects.
const DefaultWriteQueue = 4096

// wsConn is a WebSocket client connection: the resproto Transport of one
// engine Conn. Reads run on the connection's own goroutine. What the engine
// sends is queued, bounded, and written when the engine's turn ends
// (Flush): at once, in one system call, if the socket takes it without
// blocking, else by a write loop on a goroutine that exists only while
// there is something to write.
type wsConn struct {
	h    *HTTP
	ws   *websocket.Conn
	conn *resproto.Conn
	// nc, for an uncompressed connection, is its network connection with
	// the write lock (wsframe.go): the write loop writes frames to it
	// directly. Nil when gorilla writes the messages.
	nc *wsNetConn
	// line is the event line this connection's events wait in, for a
	// connection whose frames are written to nc; nil otherwise.
	line *eventLine

	mu      sync.Mutex
	queue   []*resproto.Message
	writing bool
	closed  bool
	// ping is the keepalive timer (keepalive.go); nil without pings.
	ping *time.Timer
	// pongDue is set from a ping until the client's pong.
	pongDue bool
}

func (h *HTTP) serveWS(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	stopping := h.stopping
	full := !stopping && h.cfg.MaxConnections > 0 && h.wsActive >= h.cfg.MaxConnections
	if !stopping && !full {
		h.wg.Add(1)
		h.wsActive++
	}
	h.mu.Unlock()
	if stopping {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if full {
		h.refuseFull(w, r)
		return
	}
	// Once the connection is upgraded, readLoop owns this count.
	handedOff := false
	defer func() {
		if !handedOff {
			h.doneWS()
		}
	}()

	// The engine connection exists before the upgrade, as in Resgate, so
	// that wsHeaderAuth can run on it; its transport has no socket until
	// the upgrade succeeds.
	c := &wsConn{h: h}
	hi := &resproto.HTTPInfo{Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr, URI: r.RequestURI}
	conn, err := h.e.NewConn(c, hi, true, resproto.WithConnLogger(h.log))
	if err != nil {
		// Shutting down, or NATS lost (nats.outage close).
		http.Error(w, resproto.ToError(err).Message, http.StatusServiceUnavailable)
		return
	}
	c.conn = conn
	h.limitResources(conn)

	var respHeader http.Header
	// wsHeaderAuth is not called for an origin the upgrade would refuse.
	if h.cfg.WSHeaderAuth != nil && h.upgrader.CheckOrigin(r) {
		res, ok := h.wsHeaderAuth(r, conn)
		if !ok {
			conn.Dispose()
			return
		}
		if res.meta.IsDirectResponse() {
			conn.Dispose()
			h.statusResponse(*res.meta.Status, res.meta.Header, ridToPath(res.rid, h.cfg.APIPath), res.err).write(w, h.enc)
			return
		}
		if res.meta != nil && res.meta.Header != nil {
			respHeader = make(http.Header, len(res.meta.Header))
			resproto.MergeHeader(respHeader, res.meta.Header)
		}
	}

	uw := w
	var hw *hijackWrap
	if !h.cfg.WSCompression {
		hw = &hijackWrap{ResponseWriter: w}
		uw = hw
	}
	ws, err := h.upgrader.Upgrade(uw, r, respHeader)
	if hw != nil && err == nil {
		c.nc = hw.nc
		if c.nc.fd >= 0 {
			c.line = &h.lines[h.nextLine.Add(1)%uint32(len(h.lines))]
		}
	}
	if err != nil {
		conn.Dispose()
		h.log.Debug("websocket upgrade failed", "cid", conn.CID(), "error", err, "remote", r.RemoteAddr)
		return
	}
	c.attach(ws)
	if sw, ok := w.(*statusWriter); ok {
		// The upgrade is answered: count it now, not when the connection
		// ends.
		sw.count(h.cfg.Metrics, h.cfg.Name, r.Method)
	}
	h.cfg.Metrics.WSConnected(h.cfg.Name)
	h.mu.Lock()
	h.conns[c] = struct{}{}
	stopping = h.stopping
	h.mu.Unlock()
	if stopping {
		// Shutdown began during the upgrade and did not see this
		// connection: close it as it closed the others.
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	h.log.Debug("connected", "cid", conn.CID(), "remote", r.RemoteAddr)
	handedOff = true
	go h.readLoop(c, ws)
}

// doneWS counts a WebSocket request out (see MaxConnections and Shutdown).
func (h *HTTP) doneWS() {
	h.mu.Lock()
	h.wsActive--
	h.mu.Unlock()
	h.wg.Done()
}

// readLoop reads an upgraded client's messages until the connection ends,
// then releases it. It runs on a goroutine of its own so that serveWS
// returns once the connection is upgraded: net/http's connection
// goroutine, whose stack is deep, and the 4 KiB read and write buffers
// net/http keeps referenced until its handler returns are then freed for
// the life of the WebSocket. An idle client costs a shallow goroutine and
// gorilla's own small read buffer.
func (h *HTTP) readLoop(c *wsConn, ws *websocket.Conn) {
	defer h.doneWS()
	defer h.cfg.Metrics.WSDisconnected(h.cfg.Name)
	conn := c.conn
	ws.SetReadLimit(h.cfg.MaxMessageSize)
	c.startKeepalive(ws)
	for {
		buf, err := readMessage(ws)
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has already sent close 1009 (message too big).
				h.log.Info("client message too large, closing", "cid", conn.CID(), "limit", h.cfg.MaxMessageSize)
			case isKeepaliveTimeout(err):
				h.log.Info("client did not answer a ping, closing as dead", "cid", conn.CID(), "pongTimeout", h.cfg.PongTimeout)
				c.closeWith(websocket.CloseGoingAway, keepaliveCloseReason)
			}
			break
		}
		conn.HandleMessage(buf.Bytes()) // does not keep the bytes
		putReadBuffer(buf)
	}
	c.shutdown()
	conn.Close()
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.log.Debug("disconnected", "cid", conn.CID())
}

// readBuffers holds the buffers client messages are read into, shared by
// every connection: gorilla's ReadMessage allocates a new buffer per
// message (8% of what the gateway allocated in a subscribe storm, and GC
// work with it), while an idle connection should hold none.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledReadBuffer is the largest buffer put back in readBuffers: a
// rare big message should not keep its memory.
const maxPooledReadBuffer = 64 << 10

// readMessage reads the next client message into a buffer from
// readBuffers; the caller puts it back with putReadBuffer once done with
// its bytes. Its errors are ReadMessage's.
func readMessage(ws *websocket.Conn) (*bytes.Buffer, error) {
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	buf := readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		putReadBuffer(buf)
		return nil, err
	}
	return buf, nil
}

// putReadBuffer returns buf to readBuffers.
func putReadBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledReadBuffer {
		readBuffers.Put(buf)
	}
}

// refusedLogEvery is the least time between two log lines about upgrades
// refused over MaxConnections: a client retrying in a loop must not flood
// the log.
const refusedLogEvery = 10 * time.Second

// refuseFull answers a WebSocket upgrade over MaxConnections with 503, and
// logs it (at most once per refusedLogEvery, with the count since).
func (h *HTTP) refuseFull(w http.ResponseWriter, r *http.Request) {
	if n, logNow := h.refusedLog.Hit(); logNow {
		h.log.Warn("WebSocket connection refused: connection limit reached", "maxConnections", h.cfg.MaxConnections, "remote", r.RemoteAddr, "refused", n)
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "too many connections", http.StatusServiceUnavailable)
}

// authResult is the outcome of a wsHeaderAuth request.
type authResult struct {
	rid  string // the RID of a resource response
	meta *resproto.Meta
	err  error
}

// wsHeaderAuth calls the WSHeaderAuth method on conn and waits for the
// result. It returns false if the client went away. A wait longer than
// RequestWait counts as an auth error: ignored, the upgrade goes on.
func (h *HTTP) wsHeaderAuth(r *http.Request, conn *resproto.Conn) (authResult, bool) {
	done := make(chan authResult, 1)
	a := h.cfg.WSHeaderAuth
	conn.HTTPAuth(a.RID, a.Method, func(rid string, meta *resproto.Meta, err error) {
		if !meta.IsValidStatus() {
			h.log.Error("Invalid WebSocket meta status", "status", *meta.Status)
			meta.Status = nil
		}
		done <- authResult{rid: rid, meta: meta, err: err}
	})
	timer := time.NewTimer(h.cfg.RequestWait)
	defer timer.Stop()
	select {
	case res := <-done:
		return res, true
	case <-r.Context().Done():
		return authResult{}, false
	case <-timer.C:
		h.log.Warn("wsHeaderAuth took too long, upgrading without its result", "remote", r.RemoteAddr, "wait", h.cfg.RequestWait)
		return authResult{err: resproto.ErrTimeout}, true
	}
}

// attach gives the connection its socket once upgraded, and starts writing
// anything queued before.
func (c *wsConn) attach(ws *websocket.Conn) {
	c.mu.Lock()
	c.ws = ws
	closed := c.closed
	start := len(c.queue) > 0 && !c.writing && !closed
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if closed {
		// Disconnected before the upgrade: the read loop ends at once.
		ws.Close()
		return
	}
	if start {
		go c.writeLoop()
	}
}

// Send implements resproto.Transport.
func (c *wsConn) Send(m *resproto.Message) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.h.cfg.WriteQueue {
		// Closed from here on, so that later messages are dropped rather
		// than written after a gap, and the overflow is logged once.
		c.closed = true
		c.queue = nil
		ws := c.ws
		c.mu.Unlock()
		c.h.log.Warn("closing slow consumer: write queue full", "cid", c.conn.CID(), "queued", c.h.cfg.WriteQueue)
		c.h.cfg.Metrics.SlowConsumer(c.h.cfg.Name)
		if ws != nil { // else attach closes it
			// Close off the caller's goroutine: the close frame may itself
			// wait for the stalled client.
			go func() {
				ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "write queue full"), time.Now().Add(time.Second))
				ws.Close()
			}()
		}
		return
	}
	c.queue = append(c.queue, m)
	// Flush writes the queue once the engine's turn is over. A long turn
	// (a burst of events) starts the writer meanwhile. Before the upgrade
	// there is no socket yet: attach starts the writer.
	start := !c.writing && c.ws != nil && len(c.queue) >= flushEarly
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// flushEarly is how many messages Send holds back for Flush at most before
// it starts the writer itself.
const flushEarly = 64

// Flush implements resproto.Flusher: it writes what Send queued, from the
// caller's goroutine when the socket takes it all at once without blocking
// (writeNow), else on the write loop's goroutine.
func (c *wsConn) Flush() {
	c.mu.Lock()
	start := !c.writing && !c.closed && c.ws != nil && len(c.queue) > 0
	if start {
		c.writing = true
	}
	// Events alone wait in the listener's event line (eventline.go), where
	// they are written with those that arrive meanwhile.
	line := start && c.line != nil && onlyEvents(c.queue)
	c.mu.Unlock()
	switch {
	case line:
		c.line.push(c)
	case start && (c.nc == nil || !c.writeNow(nil)):
		go c.writeLoop()
	}
}

// onlyEvents reports whether q holds no reply to a request.
func onlyEvents(q []*resproto.Message) bool {
	for _, m := range q {
		if !m.Event() {
			return false
		}
	}
	return true
}

// writeNow writes the queue with one non-blocking system call, with
// c.writing set. It returns false, with the queue as it was, if the write
// loop must write it: the socket's buffer is full, or the write lock is
// taken (gorilla is writing a control frame). The rest of a partial write
// is left to the write loop, which then holds the write lock.
func (c *wsConn) writeNow(scratch *[]byte) bool {
	nc := c.nc
	if nc.fd < 0 || !nc.tryAcquire() {
		return false
	}
	c.mu.Lock()
	q := c.queue
	c.queue = nil
	c.mu.Unlock()
	var dst []byte
	if scratch != nil {
		dst = *scratch
	}
	buf, ok := framesOf(dst, q)
	copied := ok && len(q) > 1
	if copied && scratch != nil && cap(buf) > cap(dst) {
		*scratch = buf[:0]
	}
	var n int
	var err error
	switch {
	case !ok:
		err = errWouldBlock // too much to copy: writev in the write loop
	case nc.closeSent:
		err = websocket.ErrCloseSent
	default:
		n, err = nc.writeNonBlocking(buf)
	}
	switch {
	case err == nil && n == len(buf):
		nc.release()
		c.h.delivered(len(q))
		c.mu.Lock()
		done := len(c.queue) == 0
		if done {
			c.writing = false
			c.recycle(q)
		}
		c.mu.Unlock()
		return done
	case err == nil:
		// Part of a frame is out: nothing else may be written before its
		// rest. The write loop writes it, holding the lock.
		c.h.delivered(len(q))
		rest := buf[n:]
		if copied && scratch != nil {
			rest = bytes.Clone(rest) // the scratch is the caller's again
		}
		go c.finishWrite(rest)
		return true
	case err == errWouldBlock:
		nc.release()
		c.mu.Lock()
		c.queue = append(q, c.queue...)
		c.mu.Unlock()
		return false
	}
	nc.release()
	c.writeFailed(err)
	return true
}

// finishWrite writes the rest of a partial write, holding the write lock,
// then goes on as the write loop.
func (c *wsConn) finishWrite(rest []byte) {
	err := c.nc.writeRest(rest, c.h.cfg.WriteTimeout)
	c.nc.release()
	if err != nil {
		c.writeFailed(err)
		return
	}
	c.writeLoop()
}

// recycle keeps q's array, cleared, as the next queue if it is small and
// nothing was queued meanwhile. Call with c.mu held.
func (c *wsConn) recycle(q []*resproto.Message) {
	if c.queue == nil && cap(q) <= flushEarly {
		clear(q)
		c.queue = q[:0]
	}
}

// Disconnect implements resproto.Transport.
func (c *wsConn) Disconnect(reason string) {
	c.closeWith(websocket.CloseGoingAway, reason)
}

func (c *wsConn) writeLoop() {
	var prev []*resproto.Message
	for {
		c.mu.Lock()
		c.recycle(prev)
		q := c.queue
		c.queue = nil
		if len(q) == 0 || c.closed {
			if len(q) == 0 {
				c.queue = q // keeps a recycled array
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		prev = q
		if c.nc != nil {
			// Everything queued, in one write.
			if err := c.nc.writeFrames(q, c.h.cfg.WriteTimeout); err != nil {
				c.writeFailed(err)
				return
			}
			c.h.delivered(len(q))
			continue
		}
		for _, m := range q {
			c.ws.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
			pm := wsPreparedOf(m).prepared()
			if pm == nil {
				continue
			}
			if err := c.ws.WritePreparedMessage(pm); err != nil {
				c.writeFailed(err)
				return
			}
			c.h.delivered(1)
		}
	}
}

// writeFailed closes the connection after a failed write.
func (c *wsConn) writeFailed(err error) {
	if isKeepaliveTimeout(err) {
		// The writeTimeout limit: the client stopped reading.
		c.h.log.Info("client write timed out, closing", "cid", c.conn.CID(), "writeTimeout", c.h.cfg.WriteTimeout)
	} else {
		c.h.log.Debug("write failed, closing", "cid", c.conn.CID(), "error", err)
	}
	c.mu.Lock()
	c.closed = true
	c.writing = false
	c.queue = nil
	c.mu.Unlock()
	c.ws.Close()
}

// closeWith sends a close frame and closes the socket; the read loop then
// ends and disposes the engine connection.
func (c *wsConn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		// Not upgraded yet: attach closes the socket.
		return
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	ws.Close()
}

func (c *wsConn) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.stopKeepaliveLocked()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close()
	}
}
