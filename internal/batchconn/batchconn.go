// Package batchconn coalesces the writes made to a network connection, for
// the gateway's connection to NATS.
//
// nats.go writes its buffered protocol from a flusher goroutine that every
// publish wakes, and holds the connection's lock through the write system
// call. With requests published from many goroutines, most publishes got a
// write(2) of their own (0.5 per call round trip in resbench's call
// scenario) — on loopback that call also runs the receiving side's TCP
// stack — and the lock held through it stalled the publishers behind it.
//
// A Conn takes those writes over: Write copies the bytes into a pending
// buffer and returns, and one goroutine per connection hands the buffer to
// the socket once the goroutines that were ready to run have had their turn
// (it yields to the scheduler first), so the publishes they make meanwhile
// leave in the same system call. Nothing waits on a timer: when the
// process is otherwise idle the bytes go out at once. The stream written is
// byte for byte the one written to it, in order.
//
// What a socket guarantees a writer still holds: the pending bytes are
// bounded (a Write waits for room, as for a full socket buffer), each
// socket write is bounded by the Conn's write timeout (a deadline set by
// the caller would bound a write that now happens later, so write
// deadlines are not passed on), a failed socket write is reported by the
// next Write, and one that timed out closes the connection (the reader then
// sees it fail too, as it does by itself after a reset or broken pipe),
// and Close hands what is pending to the socket first, for at most a
// second.
package batchconn

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"time"
)

// DefaultMaxPending bounds the bytes a Conn holds that are not yet handed
// to the socket: nats.go's own buffer is 32 KiB, so this holds several of
// its flushes.
const DefaultMaxPending = 256 << 10

// closeFlushTimeout bounds how long Close waits to hand what is pending to
// a socket that does not take it (a peer that stopped reading).
const closeFlushTimeout = time.Second

// Conn is a net.Conn whose writes are coalesced by a writer goroutine of
// its own. Reads and addresses are the wrapped connection's.
type Conn struct {
	net.Conn

	maxPending int

	mu      sync.Mutex
	room    sync.Cond     // broadcast when pending is taken, or err is set
	pending []byte        // written by Write, not yet handed to the socket
	spare   []byte        // the buffer written out last, for reuse
	err     error         // the first socket write error, or net.ErrClosed
	closing bool          // Close was called
	timeout time.Duration // bound on each socket write; 0: none

	wake chan struct{} // capacity 1: pending has bytes, or closing
	done chan struct{} // closed when the writer goroutine has ended
}

// New wraps c and starts its writer goroutine, which ends on Close or on
// the first failed socket write. Each socket write may take at most
// timeout (0: no bound); maxPending ≤ 0 means DefaultMaxPending.
func New(c net.Conn, timeout time.Duration, maxPending int) *Conn {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	bc := &Conn{
		Conn:       c,
		maxPending: maxPending,
		timeout:    timeout,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	bc.room.L = &bc.mu
	go bc.writer()
	return bc
}

// Write queues p to be written and returns len(p), or the error of an
// earlier socket write: like a socket, a Conn reports a failure on a later
// call. It waits while the pending bytes are at the bound.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.pending) >= c.maxPending {
		c.room.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	c.kick()
	return len(p), nil
}

// kick wakes the writer goroutine unless a wake is already due.
func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writer hands the pending bytes to the socket until Close or a failed
// write.
func (c *Conn) writer() {
	defer close(c.done)
	for range c.wake {
		// Let the goroutines that are ready to run (requests about to be
		// published) go first, so that their bytes join this write.
		runtime.Gosched()
		c.mu.Lock()
		for c.err == nil && len(c.pending) > 0 {
			// Swap the buffers: Write appends to the spare one while b is
			// written.
			b := c.pending
			c.pending, c.spare = c.spare[:0], nil
			if c.timeout > 0 && !c.closing {
				// Under mu, so that Close's shorter deadline, set under
				// mu too, is never overwritten.
				c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
			}
			c.room.Broadcast()
			c.mu.Unlock()
			_, err := c.Conn.Write(b)
			c.mu.Lock()
			c.spare = b[:0]
			if err != nil && c.err == nil {
				c.err = err
				c.room.Broadcast()
			}
		}
		stop := c.err != nil || c.closing
		c.mu.Unlock()
		if stop {
			break
		}
	}
	c.mu.Lock()
	timedOut := isTimeout(c.err)
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.room.Broadcast()
	c.mu.Unlock()
	if timedOut {
		// The peer stopped reading, and the stream it gets is truncated:
		// end the connection, so that its reader learns of the failure
		// too. (Close, if called, then has nothing left to close.) Any
		// other failure (a reset, a broken pipe) has ended the connection
		// in the kernel already: the reader still gets what the peer sent
		// before it, then the error — a TLS alert saying why the server
		// refused the handshake, say, which closing here would lose.
		c.Conn.Close()
	}
}

// isTimeout reports whether err is a write deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// SetWriteDeadline does nothing: the writes it would bound happen later,
// on the writer goroutine, each bounded by the Conn's timeout instead.
func (c *Conn) SetWriteDeadline(t time.Time) error { return nil }

// SetDeadline sets the read deadline of the socket; writes are bounded by
// the Conn's timeout (see SetWriteDeadline).
func (c *Conn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// Close hands what is pending to the socket, waiting at most
// closeFlushTimeout, and closes it.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closing = true
	// Bound the write under way and the last one.
	c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	c.mu.Unlock()
	c.kick()
	<-c.done
	c.mu.Lock()
	closed := isTimeout(c.err) // the writer closed the socket
	c.mu.Unlock()
	if closed {
		return nil
	}
	return c.Conn.Close()
}

// Dialer dials TCP connections wrapped in a Conn. It satisfies nats.go's
// CustomDialer, which nats.go then runs TLS over when the server asks.
type Dialer struct {
	net.Dialer
	// WriteTimeout bounds each socket write; 0 means no bound. (nats.go
	// bounds its flushes by its FlusherTimeout option, one minute unless
	// set; a flush to a Conn does not wait for the socket.)
	WriteTimeout time.Duration
	// MaxPending is each Conn's bound on pending bytes; 0 means
	// DefaultMaxPending.
	MaxPending int
}

// Dial dials address on network and wraps the connection.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext dials address on network and wraps the connection.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return New(c, d.WriteTimeout, d.MaxPending), nil
}
