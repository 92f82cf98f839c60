package listeners

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/ratelog"
)

// limitLogEvery is the least time between two log lines about one kind of
// limit hit by many clients (connections cut off for slow headers): a
// flood must not flood the log too.
const limitLogEvery = 10 * time.Second

// connWatch follows the TCP connections of a listener, so that one closed
// while its client was still sending a request's headers, past
// ReadHeaderTimeout (a slowloris client, or a stalled one), is logged:
// net/http closes it silently.
type connWatch struct {
	mu    sync.Mutex
	conns map[net.Conn]*connTrack
	// cutLog rate-limits the log lines about connections cut off.
	cutLog ratelog.Every
}

// connTrack is what connWatch knows of one connection.
type connTrack struct {
	// reading is set while a request is being read (from the accept, or
	// from the first byte of a kept-alive connection's next request)
	// until its handler runs; since is when that began.
	reading bool
	since   time.Time
	// served is set by the handler of the request being read.
	served atomic.Bool
}

// connTrackKey is the context key of a request's connTrack.
type connTrackKey struct{}

// trackConn is the listener's http.Server ConnContext hook.
func (h *HTTP) trackConn(ctx context.Context, c net.Conn) context.Context {
	t := &connTrack{reading: true, since: time.Now()}
	w := &h.watch
	w.mu.Lock()
	if w.conns == nil {
		w.conns = make(map[net.Conn]*connTrack)
	}
	w.conns[c] = t
	w.mu.Unlock()
	return context.WithValue(ctx, connTrackKey{}, t)
}

// markServed records that the request's headers were read in time.
func markServed(r *http.Request) {
	if t, ok := r.Context().Value(connTrackKey{}).(*connTrack); ok {
		t.served.Store(true)
	}
}

// watchConn is the listener's http.Server ConnState hook.
func (h *HTTP) watchConn(c net.Conn, state http.ConnState) {
	w := &h.watch
	w.mu.Lock()
	t := w.conns[c]
	if t == nil {
		w.mu.Unlock()
		return
	}
	switch state {
	case http.StateActive:
		if !t.reading {
			t.reading, t.since = true, time.Now()
			t.served.Store(false)
		}
	case http.StateIdle:
		t.reading = false
	case http.StateHijacked:
		delete(w.conns, c)
	case http.StateClosed:
		delete(w.conns, c)
		// net/http closes a connection whose headers are late a moment
		// after the deadline; one closed before is the client's doing.
		if !t.reading || t.served.Load() || time.Since(t.since) < h.cfg.ReadHeaderTimeout {
			break
		}
		w.mu.Unlock()
		if n, logNow := w.cutLog.Hit(); logNow {
			h.log.Warn("HTTP connection closed: request headers not received in time", "readHeaderTimeout", h.cfg.ReadHeaderTimeout, "remote", c.RemoteAddr().String(), "closed", n)
		}
		return
	}
	w.mu.Unlock()
}

// readBody reads an HTTP API request's body: at most MaxBodySize bytes,
// within ReadTimeout. A body too large gives status 413, one too slow 408
// (both logged), another read error 400.
func (h *HTTP) readBody(w http.ResponseWriter, r *http.Request) (body []byte, status int, err error) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(h.cfg.ReadTimeout)) == nil
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodySize))
	if err == nil {
		if deadline {
			// The deadline holds for this body only: a long wait for the
			// services comes after it.
			rc.SetReadDeadline(time.Time{})
		}
		return body, 0, nil
	}
	// On an error the deadline stays: net/http, answering, reads what is
	// left of the body, and must not wait for a client that sends nothing.
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		h.log.Info("HTTP request body too large", "maxBodySize", h.cfg.MaxBodySize, "method", r.Method, "remote", r.RemoteAddr)
		return nil, http.StatusRequestEntityTooLarge, err
	case errors.As(err, &ne) && ne.Timeout():
		h.log.Info("HTTP request body not received in time", "readTimeout", h.cfg.ReadTimeout, "method", r.Method, "remote", r.RemoteAddr)
		return nil, http.StatusRequestTimeout, err
	}
	return nil, http.StatusBadRequest, err
}

// Drain closes the listener's WebSocket clients with a going-away close
// frame (1001), one after another, spread evenly over window, so that the
// reconnects they cause arrive spread out too; new upgrades are refused
// (503) from the start. It returns when the last client found has been
// sent its close frame, or soon after ctx ends (the rest are then closed at
// once). HTTP API requests go on: call Shutdown after Drain to stop the
// listener.
func (h *HTTP) Drain(ctx context.Context, window time.Duration) {
	h.mu.Lock()
	h.stopping = true
	conns := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	n := len(conns)
	if n == 0 {
		return
	}
	h.log.Info("Closing WebSocket clients gradually", "clients", n, "window", window)
	closeOne := func(c *wsConn) {
		// Off this goroutine: a stalled client may hold its close frame up
		// to a second, which must not hold up the schedule.
		go c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i, c := range conns {
		if d := time.Until(start.Add(window * time.Duration(i) / time.Duration(n))); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				for _, c := range conns[i:] {
					closeOne(c)
				}
				return
			}
		}
		closeOne(c)
	}
}
