package listeners

import (
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
// engine Conn. Reads run on the connection's own goroutine; writes drain a
// bounded queue on a goroutine that exists only while there is something to
// write.
type wsConn struct {
	h    *HTTP
	ws   *websocket.Conn
	conn *resproto.Conn

	mu      sync.Mutex
	queue   []*resproto.Message
	writing bool
	closed  bool
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
	defer func() {
		h.mu.Lock()
		h.wsActive--
		h.mu.Unlock()
		h.wg.Done()
	}()

	// The engine connection exists before the upgrade, as in Resgate, so
	// that wsHeaderAuth can run on it; its transport has no socket until
	// the upgrade succeeds.
	c := &wsConn{h: h}
	hi := &resproto.HTTPInfo{Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr, URI: r.RequestURI}
	conn, err := h.e.NewConn(c, hi, true, resproto.WithConnLogger(h.log))
	if err != nil {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
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

	ws, err := h.upgrader.Upgrade(w, r, respHeader)
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
	defer h.cfg.Metrics.WSDisconnected(h.cfg.Name)
	h.mu.Lock()
	h.conns[c] = struct{}{}
	stopping = h.stopping
	h.mu.Unlock()
	if stopping {
		// Shutdown began during the upgrade and did not see this
		// connection: close it as it closed the others.
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	log := h.log.With("cid", conn.CID())
	log.Debug("connected", "remote", r.RemoteAddr)

	ws.SetReadLimit(h.cfg.MaxMessageSize)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has already sent close 1009 (message too big).
				log.Info("client message too large, closing", "limit", h.cfg.MaxMessageSize)
			}
			break
		}
		conn.HandleMessage(data)
	}
	c.shutdown()
	conn.Close()
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	log.Debug("disconnected")
}

// refusedLogEvery is the least time between two log lines about upgrades
// refused over MaxConnections: a client retrying in a loop must not flood
// the log.
const refusedLogEvery = 10 * time.Second

// refuseFull answers a WebSocket upgrade over MaxConnections with 503, and
// logs it (at most once per refusedLogEvery, with the count since).
func (h *HTTP) refuseFull(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.refused++
	n, logNow := h.refused, time.Since(h.lastRefusedLog) >= refusedLogEvery
	if logNow {
		h.refused, h.lastRefusedLog = 0, time.Now()
	}
	h.mu.Unlock()
	if logNow {
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
	// Before the upgrade there is no socket yet: attach starts the writer.
	start := !c.writing && c.ws != nil
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// Disconnect implements resproto.Transport.
func (c *wsConn) Disconnect(reason string) {
	c.closeWith(websocket.CloseGoingAway, reason)
}

func (c *wsConn) writeLoop() {
	for {
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		if len(q) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, m := range q {
			c.ws.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
			var err error
			if c.h.cfg.WSCompression {
				pm := m.Prepared(preparedText).(*websocket.PreparedMessage)
				if pm == nil {
					continue
				}
				err = c.ws.WritePreparedMessage(pm)
			} else {
				err = c.ws.WriteMessage(websocket.TextMessage, m.Data)
			}
			if err != nil {
				c.h.log.Debug("write failed, closing", "cid", c.conn.CID(), "error", err)
				c.mu.Lock()
				c.closed = true
				c.writing = false
				c.queue = nil
				c.mu.Unlock()
				c.ws.Close()
				return
			}
			c.h.cfg.Metrics.MessageDelivered(c.h.cfg.Name)
		}
	}
}

func preparedText(b []byte) any {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		return (*websocket.PreparedMessage)(nil)
	}
	return pm
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
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close()
	}
}
