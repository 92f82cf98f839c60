package resproto

import (
	"log/slog"
	"time"
)

// Protocol is the RES protocol version the engine implements. It is what a
// client receives in reply to a version request.
const Protocol = "1.2.3"

// Defaults used where a Config field is left at its zero value.
const (
	DefaultRequestTimeout    = 3000 * time.Millisecond
	DefaultUnsubscribeDelay  = 5 * time.Second
	DefaultSubscriptionLimit = 256
	DefaultBufferSize        = 8192
)

// Config holds the engine settings. The zero value of every field means the
// documented default, so Config{} is a working configuration.
type Config struct {
	// RequestTimeout is how long a NATS request waits for its response
	// before it fails with system.timeout. A service may extend it with a
	// pre-response.
	RequestTimeout time.Duration

	// ResetThrottle caps the concurrent get and access requests sent in
	// response to one system.reset event. Zero or less means no limit.
	ResetThrottle int

	// ReferenceThrottle caps the concurrent get requests sent while
	// following the references of one new subscription. Zero or less means
	// no limit.
	ReferenceThrottle int

	// UnsubscribeDelay is how long an unused cache entry, and its NATS event
	// subscription, is kept after its last subscriber leaves. A negative
	// value evicts at once.
	UnsubscribeDelay time.Duration

	// SubscriptionLimit caps the direct subscriptions one connection may
	// hold on one resource (Resgate's fixed 256).
	SubscriptionLimit int

	// ResourceLimit caps the distinct resources one connection may
	// subscribe to directly, so that a client cannot make the gateway cache
	// (and subscribe on NATS to) resources without end; resources it holds
	// through references do not count, as services choose those. Zero
	// means no limit, as in Resgate.
	ResourceLimit int

	// BufferSize is the capacity of the channel carrying inbound NATS
	// messages to the engine's dispatcher.
	BufferSize int

	// Logger receives the engine's log records. Nil means slog.Default().
	Logger *slog.Logger

	// ReplyMalformed answers a client message that is not valid JSON, or has
	// no id, with a system.invalidRequest error whose id is null. Resgate
	// drops such messages silently, which stays the default.
	ReplyMalformed bool

	// Trace logs every client and NATS message at debug level with a
	// direction marker, as Resgate's -V does.
	Trace bool

	// Observer, when not nil, receives the engine's events for metrics.
	Observer Observer

	// Outage is what the engine does while its NATS connection is lost
	// (see Engine.NATSDisconnected). The zero value is OutageClose.
	Outage OutageMode
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.UnsubscribeDelay == 0 {
		c.UnsubscribeDelay = DefaultUnsubscribeDelay
	}
	if c.SubscriptionLimit <= 0 {
		c.SubscriptionLimit = DefaultSubscriptionLimit
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
