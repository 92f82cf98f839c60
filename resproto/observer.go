package resproto

import "time"

// Observer receives the engine's events for metrics. The engine calls it
// from many goroutines, often under its own locks: methods must be safe for
// concurrent use, fast, and must not call back into the engine. A nil
// Observer (Config.Observer) is a no-op.
//
// The engine knows nothing of how the events are counted; package metrics
// turns them into Prometheus series.
type Observer interface {
	// ClientRequest is a valid client request, by action: "get",
	// "subscribe", "unsubscribe", "call" or "auth" ("new" counts as
	// "call", "version" is not counted), as Resgate counts them.
	ClientRequest(action string)
	// ClientError is an error sent to a client in reply to a request, by
	// RES error code.
	ClientError(code string)
	// NATSRequest is a request to a service that ended, by kind
	// ("access", "get", "call" or "auth": the subject's first token),
	// with the time it took and the error that ended it (nil for a reply;
	// ErrTimeout when it timed out).
	NATSRequest(kind string, d time.Duration, err error)
	// NATSEvent is a message received on an event subscription, by kind:
	// "resource" (event.*), "system" (system.*) or "conn" (conn.*).
	NATSEvent(kind string)
	// CacheResources and CacheSubscriptions move the cache gauges: the
	// resources held in the cache and the subscriptions on them. Resgate
	// also counts, for a moment, entries it makes for access, call and
	// auth requests; resedge makes none (such replies only look the cache
	// up), so its gauges settle on the same values.
	CacheResources(delta int)
	CacheSubscriptions(delta int)
}
