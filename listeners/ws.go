package listeners

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/resproto"
)

// maxQueued is how many messages may wait for a WebSocket client before it
// is closed as a slow consumer. A client whose messages are dropped would
// hold state that differs from the service's, so it is closed instead and
// resyncs when it reconnects.
const maxQueued = 4096

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
	if !stopping {
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if stopping {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.wg.Done()

	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("websocket upgrade failed", "error", err, "remote", r.RemoteAddr)
		return
	}
	c := &wsConn{h: h, ws: ws}
	hi := &resproto.HTTPInfo{Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr, URI: r.RequestURI}
	conn, err := h.e.NewConn(c, hi, true)
	if err != nil {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	c.conn = conn
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
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

// Send implements resproto.Transport.
func (c *wsConn) Send(m *resproto.Message) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= maxQueued {
		c.mu.Unlock()
		c.h.log.Warn("closing slow consumer: write queue full", "cid", c.conn.CID(), "queued", maxQueued)
		// Close off the caller's goroutine: the close frame may itself wait
		// for the stalled client.
		go c.closeWith(websocket.ClosePolicyViolation, "write queue full")
		return
	}
	c.queue = append(c.queue, m)
	start := !c.writing
	c.writing = true
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
	c.mu.Unlock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.ws.Close()
}

func (c *wsConn) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.mu.Unlock()
	c.ws.Close()
}
