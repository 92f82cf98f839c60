package listeners

import (
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// Keepalive defaults (HTTPConfig.PingInterval is zero, no ping, unless set).
const (
	// DefaultPongTimeout is the default of HTTPConfig.PongTimeout.
	DefaultPongTimeout = 30 * time.Second
)

// keepaliveCloseReason is the reason of the close frame sent to a client
// that did not answer a ping in time.
const keepaliveCloseReason = "keepalive timeout"

// startKeepalive pings the client every PingInterval and makes its read
// loop fail if no pong arrives within PongTimeout of a ping: a peer that
// vanished without closing its TCP connection (a dropped NAT entry, a
// powered-off device) is closed rather than kept, with its subscriptions,
// until a write to it fails. The timer owns no goroutine between pings.
// It must be called before the read loop starts; stopKeepaliveLocked ends
// it.
func (c *wsConn) startKeepalive(ws *websocket.Conn) {
	interval := c.h.cfg.PingInterval
	if interval <= 0 {
		return
	}
	timeout := c.h.cfg.PongTimeout
	// A ping with no pong due sets a read deadline; a pong clears it.
	// Pings sent while a pong is due leave the deadline as it is, so that
	// it expires timeout after the first unanswered ping. The deadline is
	// set before the ping is written, so the pong answering it always
	// comes after.
	ws.SetPongHandler(func(string) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.pongDue = false
		return ws.SetReadDeadline(time.Time{})
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.ping = time.AfterFunc(interval, func() {
		now := time.Now()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		armed := !c.pongDue
		if armed {
			c.pongDue = true
			ws.SetReadDeadline(now.Add(timeout))
		}
		c.mu.Unlock()
		// WriteControl may run beside the write loop's writes.
		err := ws.WriteControl(websocket.PingMessage, nil, now.Add(c.h.cfg.WriteTimeout))
		if err != nil && !isKeepaliveTimeout(err) {
			return // closed: the read loop has ended, or soon will
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		if err != nil && armed && c.pongDue {
			// The ping could not be written within WriteTimeout: the
			// connection is busy with a write to a client that reads
			// slowly, which WriteTimeout and the write queue deal with. No
			// pong can be due for a ping never sent: try again later.
			c.pongDue = false
			ws.SetReadDeadline(time.Time{})
		}
		c.ping.Reset(interval)
	})
}

// stopKeepaliveLocked stops the pings. Call with c.mu held.
func (c *wsConn) stopKeepaliveLocked() {
	if c.ping != nil {
		c.ping.Stop()
	}
}

// isKeepaliveTimeout reports whether an I/O error is a deadline running
// out: on a read, the deadline a ping set (the client did not answer with a
// pong in time); on a write, WriteTimeout.
func isKeepaliveTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
