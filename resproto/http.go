package resproto

import (
	"encoding/json"
	"time"
)

// This file is the engine side of requests that arrive over plain HTTP (the
// HTTP API) and of header authentication: each runs on a Conn, usually a
// temporary one made for the request, and reports back with the service's
// meta object so the listener can apply its status and headers.

// Resource is a loaded resource and, through Ref, the resources it
// references, as HTTP encoders walk it. It is valid only inside the
// callback it is passed to.
type Resource interface {
	// RID is the resource ID as the client asked for it.
	RID() string
	// Err is the error that loading the resource ended in, if any.
	Err() error
	// IsCollection reports whether the resource is a collection.
	IsCollection() bool
	// ModelValues returns a model's values, sorted by key.
	ModelValues() Fields
	// CollectionValues returns a collection's values.
	CollectionValues() []Value
	// Ref returns the referenced resource rid; nil for a soft reference or
	// an unknown rid.
	Ref(rid string) Resource
}

func (s *subscription) RID() string               { return s.rid }
func (s *subscription) Err() error                { return s.error() }
func (s *subscription) IsCollection() bool        { return s.typ == rsCollection }
func (s *subscription) ModelValues() Fields       { return s.model.Values }
func (s *subscription) CollectionValues() []Value { return s.coll.Values }

// Ref implements Resource.
func (s *subscription) Ref(rid string) Resource {
	if r := s.refs[rid]; r != nil {
		return r.sub
	}
	return nil
}

// IsDirectResponse reports whether the meta object holds a status the
// gateway answers with directly (300–599).
func (m *Meta) IsDirectResponse() bool {
	return m != nil && m.Status != nil && *m.Status >= 300 && *m.Status < 600
}

// IsValidStatus reports whether a meta status, if any, is one a gateway
// honours (300–599).
func (m *Meta) IsValidStatus() bool {
	return m == nil || m.Status == nil || (*m.Status >= 300 && *m.Status < 600)
}

// Merge merges o into m, o's status and headers taking precedence except
// that Set-Cookie values add up; either may be nil.
func (m *Meta) Merge(o *Meta) *Meta {
	if m == nil {
		return o
	}
	if o == nil {
		return m
	}
	if o.Status != nil {
		m.Status = o.Status
	}
	if m.Header == nil {
		m.Header = o.Header
	} else {
		MergeHeader(m.Header, o.Header)
	}
	return m
}

// protectedHeaders are headers a service's meta object may not set.
var protectedHeaders = map[string]bool{
	"Sec-Websocket-Extensions":         true,
	"Sec-Websocket-Protocol":           true,
	"Access-Control-Allow-Credentials": true,
	"Access-Control-Allow-Origin":      true,
	"Content-Type":                     true,
}

// MergeHeader merges header b into a: values replace a's, except
// Set-Cookie whose values are appended, and protected headers are skipped.
func MergeHeader(a, b map[string][]string) {
	for k, v := range b {
		if protectedHeaders[k] {
			continue
		}
		if k == "Set-Cookie" {
			a[k] = append(a[k], v...)
		} else {
			a[k] = v
		}
	}
}

// Dispose releases a connection at once, without going through the
// transport: for temporary connections made for one HTTP request. It does
// the work on the caller's goroutine when the connection's queue is idle.
func (c *Conn) Dispose() { c.do(c.dispose) }

// HTTPGet loads rid for an HTTP GET: an access request (with isHttp) and a
// get request in parallel. cb runs on the connection's queue with the
// resource, the access response's meta object, or an error. The resource
// is valid only until cb returns.
//
// A resource the cache holds loaded (a WebSocket client subscribes to it,
// say) needs the access request only, as with Resgate; it is then read
// straight from the cache, it and what it references, without the
// subscription an uncached resource is loaded through: for a cached GET,
// subscribing and letting go again was most of the engine's work, and its
// trips through the cache's queue most of the goroutine switches.
func (c *Conn) HTTPGet(rid string, cb func(r Resource, meta *Meta, err error)) {
	c.do(func() {
		if !c.allowed(rid) {
			cb(nil, nil, ErrAccessDenied)
			return
		}
		name, q := SplitRID(c.expandCID(rid))
		if !c.e.cache.isLoaded(name, q) {
			c.httpGetUncached(rid, cb)
			return
		}
		// The access reply is handled without a trip through the
		// resource's queue: cachedResource reads the cache under its own
		// locks, and an HTTP GET has no order to keep with the resource's
		// events.
		payload := encodeRequest(nil, c.token, q, c.cid, true)
		c.e.cache.mq.request("access."+name, payload, accessReply(func(a *Access) {
			c.reply(func() {
				if err := httpAccessError(a); err != nil || a.Meta.IsDirectResponse() {
					cb(nil, a.Meta, err)
					return
				}
				if r := c.cachedResource(rid); r != nil {
					cb(r, a.Meta, nil)
					return
				}
				// Evicted (or reset) while access was asked: load it as
				// an uncached resource, with the access already granted.
				s, err := c.subscribe(rid, true, nil)
				if err != nil {
					cb(nil, a.Meta, err)
					return
				}
				c.httpGetReady(s, a, cb)
			})
		}))
	})
}

// httpAccessError is the error an HTTP GET ends in after access response a:
// its error if it has a direct response (a meta status), else a refusal of
// get.
func httpAccessError(a *Access) error {
	if a.Meta.IsDirectResponse() {
		if a.Err != nil {
			return a.Err
		}
		return nil
	}
	if err := a.CanGet(); err != nil {
		return err
	}
	return nil
}

// httpGetUncached is HTTPGet of a resource the cache does not hold loaded:
// the get request goes out with the access request, through a subscription
// that is let go of once cb returns.
func (c *Conn) httpGetUncached(rid string, cb func(r Resource, meta *Meta, err error)) {
	s, err := c.subscribe(rid, true, nil)
	if err != nil {
		cb(nil, nil, err)
		return
	}
	c.requestAccess(s.name, s.q, true, func(a *Access) {
		c.reply(func() {
			if err := httpAccessError(a); err != nil || a.Meta.IsDirectResponse() {
				cb(nil, a.Meta, err)
				c.unsubscribe(s, true, false, 1, true)
				return
			}
			c.httpGetReady(s, a, cb)
		})
	})
}

// httpGetReady calls cb with s once it and what it references have loaded,
// then lets go of s.
func (c *Conn) httpGetReady(s *subscription, a *Access, cb func(r Resource, meta *Meta, err error)) {
	s.onReady(func() {
		if err := s.error(); err != nil {
			cb(nil, a.Meta, err)
			return
		}
		cb(s, a.Meta, nil)
		s.release()
		c.unsubscribe(s, true, false, 1, true)
	})
}

// do runs f on the connection's queue: on the caller's goroutine when the
// queue is idle (no goroutine started for it), else behind what is queued.
func (c *Conn) do(f func()) {
	if !c.runNow(f) {
		c.enqueue(f)
	}
}

// cachedResource returns rid as the cache holds it now, with everything it
// references, as a Resource; nil if rid or a resource it references is not
// cached and loaded. The cache's models and collections are never changed
// in place (an event makes new ones), so the snapshots stay as they are
// while an encoder walks them.
func (c *Conn) cachedResource(rid string) Resource {
	var seen map[string]*cacheSnapshot
	var walk func(rid string) *cacheSnapshot
	walk = func(rid string) *cacheSnapshot {
		if r := seen[rid]; r != nil {
			return r
		}
		name, q := SplitRID(c.expandCID(rid))
		typ, m, coll, ok := c.e.cache.loadedSnapshot(name, q)
		if !ok {
			return nil
		}
		r := &cacheSnapshot{rid: rid, typ: typ, model: m, coll: coll}
		if seen != nil {
			seen[rid] = r
		}
		follow := func(v Value) bool {
			if v.Type != ValueReference {
				return true
			}
			if seen == nil {
				// The first reference, met reading the requested resource:
				// from here on every resource read is remembered, so that
				// one referenced twice, or in a cycle, is read once.
				seen = map[string]*cacheSnapshot{r.rid: r}
			}
			ref := walk(v.RID)
			if ref == nil {
				return false
			}
			if r.refs == nil {
				r.refs = make(map[string]*cacheSnapshot)
			}
			r.refs[v.RID] = ref
			return true
		}
		if typ == rsModel {
			for _, f := range m.Values {
				if !follow(f.Value) {
					return nil
				}
			}
		} else {
			for _, v := range coll.Values {
				if !follow(v) {
					return nil
				}
			}
		}
		return r
	}
	if r := walk(rid); r != nil {
		return r
	}
	return nil
}

// cacheSnapshot is a cached resource as an HTTP GET reads it
// (Conn.cachedResource).
type cacheSnapshot struct {
	rid   string
	typ   resourceState
	model *Model
	coll  *Collection
	refs  map[string]*cacheSnapshot
}

func (r *cacheSnapshot) RID() string               { return r.rid }
func (r *cacheSnapshot) Err() error                { return nil }
func (r *cacheSnapshot) IsCollection() bool        { return r.typ == rsCollection }
func (r *cacheSnapshot) ModelValues() Fields       { return r.model.Values }
func (r *cacheSnapshot) CollectionValues() []Value { return r.coll.Values }

// Ref implements Resource.
func (r *cacheSnapshot) Ref(rid string) Resource {
	if ref := r.refs[rid]; ref != nil {
		return ref
	}
	return nil
}

// HTTPCall calls method on rid for an HTTP request: an access request
// (with isHttp), then the call. cb runs on the connection's queue with the
// result, or the RID of a resource response, and the merged meta objects of
// the access and call responses.
func (c *Conn) HTTPCall(rid, method string, params json.RawMessage, cb func(result json.RawMessage, resRID string, meta *Meta, err error)) {
	c.do(func() {
		if !c.allowed(rid) {
			cb(nil, "", nil, ErrAccessDenied)
			return
		}
		name, q := SplitRID(c.expandCID(rid))
		c.requestAccess(name, q, true, func(a *Access) {
			c.reply(func() {
				if a.Meta.IsDirectResponse() {
					var err error
					if a.Err != nil {
						err = a.Err
					}
					cb(nil, "", a.Meta, err)
					return
				}
				if err := a.CanCall(method); err != nil {
					cb(nil, "", a.Meta, err)
					return
				}
				c.sendCall(name, q, method, params, true, func(res *callResult, err error) {
					var meta *Meta
					if res != nil {
						meta = res.Meta
					}
					meta = a.Meta.Merge(meta)
					if err != nil {
						cb(nil, "", meta, err)
					} else {
						cb(res.Result, res.RID, meta, nil)
					}
				})
			})
		})
	})
}

// headerAuthWarnEvery is the least time between two warnings about header
// auth requests that got no answer: with its service down, every HTTP
// request and WebSocket upgrade would log one.
const headerAuthWarnEvery = 10 * time.Second

// logHeaderAuthError logs a header auth request's error, which the request
// then goes on without (as Resgate does, silently). No answer — no
// service listening, a timeout, NATS away — is a fault to warn of, at most
// once every headerAuthWarnEvery with the count since; an error the
// service answered (say, no valid cookie) is the service's decision, at
// debug level.
func (c *Conn) logHeaderAuthError(method string, err error) {
	if !(err == errNoResponders || IsCode(err, CodeTimeout) || IsCode(err, CodeServiceUnavailable)) {
		c.log.Debug("header auth returned an error; going on without its result", "method", method, "error", err)
		return
	}
	if n, now := c.e.headerAuthWarn.Hit(); now {
		c.log.Warn("header auth request got no answer; requests go on without its result", "method", method, "error", err, "failures", n)
	}
}

// HTTPAuth sends an auth request with isHttp set, as header authentication
// does before an HTTP request or a WebSocket upgrade. A token the service
// sets with a token event before replying is on the connection when cb
// runs (on the connection's queue).
func (c *Conn) HTTPAuth(rid, method string, cb func(resRID string, meta *Meta, err error)) {
	c.do(func() {
		name, q := SplitRID(c.expandCID(rid))
		c.sendAuth(name, q, method, nil, true, func(res *callResult, err error) {
			var meta *Meta
			var resRID string
			if res != nil {
				meta, resRID = res.Meta, res.RID
			}
			if err != nil {
				c.logHeaderAuthError(name+"."+method, err)
			}
			cb(resRID, meta, err)
		})
	})
}
