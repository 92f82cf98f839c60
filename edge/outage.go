package edge

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/resproto"
	"github.com/resedge/resedge/schema"
)

// NATS outages (nats.outage). The connection to an external NATS server
// reconnects forever with backoff (nats.go sends its subscriptions again
// before it reports the reconnection); the engine is told when it is lost
// and when it is back, and does what the mode says (resproto.OutageMode).
// In exit mode the connection does not reconnect: losing it fails the
// server, and the process exits non-zero, as Resgate does.

// WithNATSReconnectWait sets the backoff between reconnect attempts to an
// external NATS server: the delay doubles from min up to max, with up to 20%
// jitter. Zero values keep the defaults (250ms up to 5s). Tests shorten
// it.
func WithNATSReconnectWait(min, max time.Duration) Option {
	return func(s *Server) { s.reconnectWait = [2]time.Duration{min, max} }
}

// natsOptions are the options of the connection to an external NATS server
// that depend on the server's settings.
func (s *Server) natsOptions() []nats.Option {
	if s.cfg.NATS.Outage == schema.OutageExit {
		return []nats.Option{nats.NoReconnect()}
	}
	lo, hi := s.reconnectWait[0], s.reconnectWait[1]
	if lo <= 0 && hi <= 0 {
		return nil
	}
	if lo <= 0 {
		lo = reconnectMinDelay
	}
	if hi <= 0 {
		hi = reconnectMaxDelay
	}
	return []nats.Option{nats.CustomReconnectDelay(backoff(lo, hi))}
}

// backoff returns the delay before reconnect attempt number attempts
// (from 1): lo doubled each attempt up to hi, plus up to 20% jitter so that
// many gateways do not reconnect in lockstep.
func backoff(lo, hi time.Duration) func(attempts int) time.Duration {
	return func(attempts int) time.Duration {
		d := lo
		for i := 1; i < attempts && d < hi; i++ {
			d *= 2
		}
		d = min(d, hi)
		return d + rand.N(d/5+1)
	}
}

// outageMode is the engine's mode for nats.outage. Exit mode closes the
// clients, as close does, in the moment before the process stops.
func outageMode(outage string) resproto.OutageMode {
	if outage == schema.OutageResync {
		return resproto.OutageResync
	}
	return resproto.OutageClose
}

// watchOutage tells eng when nc is lost and when it is back, or fails the
// server when nc is lost in exit mode. It chains nc's handlers, which keep
// logging.
func (s *Server) watchOutage(nc *nats.Conn, eng *resproto.Engine) {
	exit := s.cfg.NATS.Outage == schema.OutageExit
	// mu orders the handlers (called in turn by nats.go) with the check
	// below.
	var mu sync.Mutex
	prevDisc := nc.DisconnectErrHandler()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		if prevDisc != nil {
			prevDisc(c, err)
		}
		if exit {
			s.fail(errors.New("lost NATS connection (nats.outage is exit)"))
		}
		if !c.IsClosed() { // a close on shutdown is no outage
			s.metrics.NATSConnected(false)
		}
		mu.Lock()
		defer mu.Unlock()
		eng.NATSDisconnected()
	})
	// A slow consumer: NATS dropped messages to the gateway. Resgate stops;
	// so does exit mode. Otherwise the engine resynchronizes its cache.
	prevErr := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		if prevErr != nil {
			prevErr(c, sub, err)
		}
		if !errors.Is(err, nats.ErrSlowConsumer) {
			return
		}
		s.metrics.NATSSlowConsumer()
		if exit {
			s.fail(errors.New("NATS dropped messages to the gateway: slow consumer (nats.outage is exit)"))
			return
		}
		eng.NATSMessagesDropped()
	})
	prevRec := nc.ReconnectHandler()
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prevRec != nil {
			prevRec(c)
		}
		s.metrics.NATSConnected(true)
		mu.Lock()
		defer mu.Unlock()
		eng.NATSReconnected()
	})
	// Lost before the handlers were set: tell the engine now. If it is
	// back already, the reconnect handler may have run before this, so the
	// engine is told that too (both calls are idempotent).
	mu.Lock()
	defer mu.Unlock()
	s.metrics.NATSConnected(nc.IsConnected())
	if !nc.IsConnected() {
		if exit {
			s.fail(errors.New("lost NATS connection (nats.outage is exit)"))
		}
		eng.NATSDisconnected()
		if nc.IsConnected() {
			eng.NATSReconnected()
		}
	}
}
