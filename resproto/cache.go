package resproto

import (
	"encoding/json"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The cache holds one entry per resource (name plus normalized query)
// that some connection subscribes to, shared by all of them: one get
// request loads it, and the service's events update it once before they are
// passed to the subscribers.
//
// All work for one resource name runs in order on that name's queue
// (eventSub.enqueue): get replies, events, resets, and the replies to access,
// call and auth requests on the name, so that a client sees the events a
// service sent before its reply before the reply itself.

// subscriber is a connection's subscription as the cache sees it. Its
// methods are called from the cache's queues and must not block.
type subscriber interface {
	// loaded reports the outcome of loading the resource.
	loaded(r *resource, err error)
	// event passes on an event that was applied to the resource.
	event(ev *resourceEvent)
	// reaccess asks the subscriber to check its access again.
	reaccess(t *throttle)
	query() string
}

type resourceState byte

const (
	rsNew resourceState = iota
	rsError
	rsRequested
	rsCollection
	rsModel
)

// resourceEvent is an event on a cached resource, after the cache applied
// it. Version is the resource's version before the event; a subscription
// that holds another version skips it.
type resourceEvent struct {
	Version uint
	Event   string
	Payload json.RawMessage
	Update  bool

	Idx       int
	Value     Value
	Changed   Fields
	OldValues Fields

	// plain is set on an event whose delivery to a subscription only sends
	// it (plainDelivery), so that it may be delivered on the cache's
	// goroutine (subscription.event).
	plain bool

	// msgs caches the encoded client message per client RID, so an event
	// fanned out to many clients is encoded once for each distinct payload.
	mu   sync.Mutex
	msgs map[string]*Message
}

// plainDelivery reports whether delivering ev to a subscription does no more
// than send it to the client: no reference to subscribe to or let go of,
// and no deletion, any of which goes through the cache's queues.
func (ev *resourceEvent) plainDelivery() bool {
	switch ev.Event {
	case "change":
		for _, f := range ev.Changed {
			if f.Value.Type == ValueReference {
				return false
			}
			if ov, ok := ev.OldValues.Get(f.Key); ok && ov.Type == ValueReference {
				return false
			}
		}
		return true
	case "add", "remove":
		return ev.Value.Type != ValueReference
	case "delete", "reaccess":
		return false
	}
	return true
}

// message returns the client event message for clientRID with data,
// encoding it only the first time for a given key.
func (ev *resourceEvent) message(key string, build func() *Message) *Message {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if m := ev.msgs[key]; m != nil {
		return m
	}
	m := build()
	if ev.msgs == nil {
		ev.msgs = make(map[string]*Message, 1)
	}
	ev.msgs[key] = m
	return m
}

// resource is one cache entry.
type resource struct {
	e         *eventSub
	q         string
	state     resourceState
	subs      subscriberSet
	resetting bool
	links     []string
	version   uint

	model      *Model
	collection *Collection
	err        error
}

// subscriberSet is a resource's subscribers. Most cached resources have
// one (each of a subscribe storm's, a client's own), and a map costs about
// 200 bytes even for one entry, so the first is held inline and a map made
// only for a second.
type subscriberSet struct {
	one  subscriber
	many map[subscriber]struct{}
}

// add adds s, if not there already.
func (ss *subscriberSet) add(s subscriber) {
	switch {
	case ss.many != nil:
		ss.many[s] = struct{}{}
	case ss.one == nil:
		ss.one = s
	case ss.one != s:
		ss.many = map[subscriber]struct{}{ss.one: {}, s: {}}
		ss.one = nil
	}
}

// remove removes s and reports whether it was there.
func (ss *subscriberSet) remove(s subscriber) bool {
	if ss.many != nil {
		if _, ok := ss.many[s]; !ok {
			return false
		}
		delete(ss.many, s)
		return true
	}
	if ss.one != s {
		return false
	}
	ss.one = nil
	return true
}

// len returns the number of subscribers.
func (ss *subscriberSet) len() int {
	if ss.many != nil {
		return len(ss.many)
	}
	if ss.one != nil {
		return 1
	}
	return 0
}

// all yields every subscriber, in no particular order. As with a map, one
// added or removed while it runs may or may not be yielded.
func (ss subscriberSet) all() iter.Seq[subscriber] {
	return func(yield func(subscriber) bool) {
		if ss.many == nil {
			if ss.one != nil {
				yield(ss.one)
			}
			return
		}
		for s := range ss.many {
			if !yield(s) {
				return
			}
		}
	}
}

// snapshot returns the resource's current data and version.
func (r *resource) snapshot() (typ resourceState, m *Model, c *Collection, version uint) {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	return r.state, r.model, r.collection, r.version
}

// unsubscribe removes a subscriber. Called by connections.
func (r *resource) unsubscribe(s subscriber) {
	r.e.enqueue(func() { r.removeSubscriber(s) })
}

// removeSubscriber removes s, on r's queue.
func (r *resource) removeSubscriber(s subscriber) {
	if !r.subs.remove(s) {
		return
	}
	if r.q != "" && r.subs.len() == 0 {
		r.unregister()
	}
	r.e.c.removeCount(r.e, 1)
}

// release is a subscriber a resource is to let go of.
type release struct {
	r *resource
	s subscriber
}

// releaseAll unsubscribes each subscriber from its resource, as
// resource.unsubscribe does, but runs the work of a resource whose queue is
// idle on the caller's goroutine. A connection disposed of lets go of all
// its subscriptions at once, and when many go (a load balancer dropping a
// group of clients holding thousands of resources each) starting a
// goroutine for each resource's queue made as many goroutines at once, each
// with a new stack. The caller must hold no resource's lock: it runs
// queued work of any resource.
func releaseAll(rs []release) {
	for _, rl := range rs {
		r, s := rl.r, rl.s
		f := func() { r.removeSubscriber(s) }
		if !r.e.runNow(f) {
			r.e.enqueue(f)
		}
	}
}

// eventSub is everything cached for one resource name: its NATS event
// subscription, the resource without a query, and its query resources.
type eventSub struct {
	name string
	c    *cache
	sub  *nats.Subscription

	// Guarded by c.mu.
	count int
	evict *time.Timer

	mu      sync.Mutex // guards base, queries, links and every resource of the name
	base    *resource
	queries map[string]*resource
	links   map[string]*resource

	// The queue has a lock of its own, so that queuing (the NATS
	// dispatcher does, for every event) never waits for a queued function
	// to finish, such as an event's fan-out to thousands of connections.
	qmu     sync.Mutex // guards all below
	queue   []func()
	unlocks []func() // the replies of the query requests in flight
	locked  int32    // query requests in flight; queue waits while > 0
	running bool     // shares a word with locked: 144 bytes, not 152
}

// enqueue runs f after everything queued before it on this name, with e.mu
// held.
func (e *eventSub) enqueue(f func()) {
	e.qmu.Lock()
	e.queue = append(e.queue, f)
	start := !e.running
	e.running = true
	e.qmu.Unlock()
	if start {
		go e.run()
	}
}

// runNow runs f as the queue would, with e.mu held, but on the caller's
// goroutine, if the queue is idle: not running, and not locked for a query
// request (lockQueue), which would hold f back. It returns false, running
// nothing, otherwise. What is queued while f runs is left to a queue
// goroutine.
func (e *eventSub) runNow(f func()) bool {
	e.qmu.Lock()
	if e.running || e.locked > 0 || len(e.queue) > 0 {
		e.qmu.Unlock()
		return false
	}
	e.running = true
	e.qmu.Unlock()
	e.mu.Lock()
	f()
	e.mu.Unlock()
	e.qmu.Lock()
	if len(e.unlocks) > 0 || (e.locked == 0 && len(e.queue) > 0) {
		e.qmu.Unlock()
		go e.run()
		return true
	}
	e.running = false
	e.qmu.Unlock()
	return true
}

// enqueueUnlock runs f, the handling of one query reply, even while the
// queue is locked for query requests, and counts the lock down.
func (e *eventSub) enqueueUnlock(f func()) {
	e.qmu.Lock()
	e.unlocks = append(e.unlocks, f)
	start := !e.running
	e.running = true
	e.qmu.Unlock()
	if start {
		go e.run()
	}
}

// lockQueue holds back the queued functions, but for those queued with
// enqueueUnlock, until as many of those have run.
func (e *eventSub) lockQueue() {
	e.qmu.Lock()
	e.locked++
	e.qmu.Unlock()
}

func (e *eventSub) run() {
	for {
		e.qmu.Lock()
		var f func()
		switch {
		case len(e.unlocks) > 0:
			f = e.unlocks[0]
			e.unlocks[0] = nil
			e.unlocks = e.unlocks[1:]
			e.locked--
		case e.locked > 0 || len(e.queue) == 0:
			e.running = false
			e.qmu.Unlock()
			return
		default:
			f = e.queue[0]
			e.queue[0] = nil
			e.queue = e.queue[1:]
		}
		e.qmu.Unlock()
		e.mu.Lock()
		f()
		e.mu.Unlock()
	}
}

func (e *eventSub) getResource(q string) *resource {
	if q == "" {
		if e.base == nil {
			e.base = &resource{e: e}
		}
		return e.base
	}
	if r := e.queries[q]; r != nil {
		return r
	}
	if r := e.links[q]; r != nil {
		return r
	}
	if e.queries == nil {
		e.queries = make(map[string]*resource)
	}
	r := &resource{e: e, q: q}
	e.queries[q] = r
	return r
}

func (e *eventSub) addSubscriber(s subscriber, t *throttle) {
	r := e.getResource(s.query())
	switch r.state {
	case rsNew:
		r.subs.add(s)
		r.state = rsRequested
		subject := "get." + e.name
		payload := encodeGetRequest(r.q)
		t.add(func() {
			e.c.mq.request(subject, payload, func(data []byte, err error) {
				e.enqueue(func() { r.handleGetResponse(data, err) })
				t.done()
			})
		})
	case rsRequested:
		r.subs.add(s)
	case rsError:
		e.c.removeCount(e, 1)
		s.loaded(nil, r.err)
	default:
		r.subs.add(s)
		s.loaded(r, nil)
	}
}

func (r *resource) unregister() {
	e := r.e
	if r.q == "" {
		if e.base == r {
			e.base = nil
		}
	} else if e.queries[r.q] == r {
		delete(e.queries, r.q)
	}
	for _, q := range r.links {
		if q == "" {
			if e.base == r {
				e.base = nil
			}
		} else {
			delete(e.links, q)
		}
	}
	r.links = nil
}

func (r *resource) handleGetResponse(data []byte, err error) {
	e := r.e
	if r.state > rsRequested {
		// Loaded meanwhile, subscribers and all, by the response to a raw
		// query that the service normalized to this one (see below). Unlike
		// Resgate, which loads those subscribers a second time and so
		// leaves them queueing events for good, this reply is not needed.
		return
	}
	var res *getResult
	if err == nil {
		res, err = decodeGetResponse(data)
	}
	if err != nil {
		r.state = rsError
		r.err = err
		subs := r.subs
		r.subs = subscriberSet{}
		r.unregister()
		e.c.removeCount(e, subs.len())
		for s := range subs.all() {
			s.loaded(nil, err)
		}
		return
	}

	nr := r
	if res.Query != r.q {
		// The service normalized the query: the entry for the normalized
		// query serves this one too.
		nr = e.getResource(res.Query)
		if r.q == "" {
			e.base = nr
		} else {
			if e.links == nil {
				e.links = make(map[string]*resource)
			}
			e.links[r.q] = nr
			delete(e.queries, r.q)
		}
		nr.links = append(nr.links, r.q)
		for s := range r.subs.all() {
			nr.subs.add(s)
		}
	}
	load := r.subs
	if nr.state <= rsRequested {
		nr.version = 0
		if res.Model != nil {
			nr.model = newLoadedModel(res.Model)
			nr.state = rsModel
		} else {
			nr.collection = newLoadedCollection(res.Collection)
			nr.state = rsCollection
		}
		// Those waiting for the normalized query's own get request, if one
		// is in flight, are served now too.
		load = nr.subs
	}
	for s := range load.all() {
		s.loaded(nr, nil)
	}
}

// handleEvent applies an event and passes it to the subscribers.
func (r *resource) handleEvent(ev *resourceEvent) {
	if r.state <= rsRequested && ev.Event != "reaccess" {
		return
	}
	ev.Version = r.version
	switch ev.Event {
	case "change":
		if r.resetting || !r.applyChange(ev) {
			return
		}
	case "add":
		if r.resetting || !r.applyAdd(ev) {
			return
		}
	case "remove":
		if r.resetting || !r.applyRemove(ev) {
			return
		}
	case "delete":
		if !r.resetting {
			r.applyDelete(ev)
		}
		return
	case "reaccess":
		for s := range r.subs.all() {
			s.reaccess(nil)
		}
		return
	}
	ev.plain = ev.plainDelivery()
	for s := range r.subs.all() {
		s.event(ev)
	}
}

func (r *resource) logEventError(ev *resourceEvent, msg string, err error) {
	l := r.e.c.log
	if err != nil {
		l.Error(msg, "resource", r.e.name, "event", ev.Event, "error", err)
	} else {
		l.Error(msg, "resource", r.e.name, "event", ev.Event)
	}
}

func (r *resource) applyChange(ev *resourceEvent) bool {
	if r.state != rsModel {
		r.logEventError(ev, "change event on a collection", nil)
		return false
	}
	var props map[string]Value
	if isLegacyChangeEvent(ev.Payload) {
		r.e.c.deprecated(r.e.name, "v1.0 change event without a values object")
		if err := json.Unmarshal(ev.Payload, &props); err != nil {
			r.logEventError(ev, "invalid change event", err)
			return false
		}
	} else {
		var ce struct {
			Values map[string]Value `json:"values"`
		}
		if err := json.Unmarshal(ev.Payload, &ce); err != nil {
			r.logEventError(ev, "invalid change event", err)
			return false
		}
		props = ce.Values
	}
	old := r.model.Values
	// Drop what changes nothing: deleting a property the model does not
	// have, setting one to the value it has.
	for k, v := range props {
		ov, ok := old.Get(k)
		if (v.Type == ValueDelete && !ok) || (v.Type != ValueDelete && ok && ov.Equal(v)) {
			delete(props, k)
		}
	}
	if len(props) == 0 {
		return false
	}
	changed := FieldsOf(props)
	ev.Changed = changed
	ev.OldValues = old
	ev.Update = true
	r.model = &Model{Values: mergeFields(old, changed)}
	r.version++
	return true
}

func (r *resource) applyAdd(ev *resourceEvent) bool {
	if r.state != rsCollection {
		r.logEventError(ev, "add event on a model", nil)
		return false
	}
	var p struct {
		Idx   int   `json:"idx"`
		Value Value `json:"value"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		r.logEventError(ev, "invalid add event", err)
		return false
	}
	if !p.Value.IsProper() {
		r.logEventError(ev, "invalid add event", errInvalidValue)
		return false
	}
	old := r.collection.Values
	if p.Idx < 0 || p.Idx > len(old) {
		r.logEventError(ev, "add event index out of bounds", nil)
		return false
	}
	col := make([]Value, len(old)+1)
	copy(col, old[:p.Idx])
	col[p.Idx] = p.Value
	copy(col[p.Idx+1:], old[p.Idx:])
	r.collection = &Collection{Values: col}
	r.version++
	ev.Idx, ev.Value, ev.Update = p.Idx, p.Value, true
	return true
}

func (r *resource) applyRemove(ev *resourceEvent) bool {
	if r.state != rsCollection {
		r.logEventError(ev, "remove event on a model", nil)
		return false
	}
	var p struct {
		Idx int `json:"idx"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		r.logEventError(ev, "invalid remove event", err)
		return false
	}
	old := r.collection.Values
	if p.Idx < 0 || p.Idx >= len(old) {
		r.logEventError(ev, "remove event index out of bounds", nil)
		return false
	}
	ev.Value = old[p.Idx]
	col := make([]Value, len(old)-1)
	copy(col, old[:p.Idx])
	copy(col[p.Idx:], old[p.Idx+1:])
	r.collection = &Collection{Values: col}
	r.version++
	ev.Idx, ev.Update = p.Idx, true
	return true
}

func (r *resource) applyDelete(ev *resourceEvent) {
	subs := r.subs
	r.subs = subscriberSet{}
	r.unregister()
	r.e.c.removeCount(r.e, subs.len())
	for s := range subs.all() {
		s.event(ev)
	}
}

// handleReset fetches the resource again and turns the differences into
// events.
func (r *resource) handleReset(t *throttle) {
	// As in Resgate, a resource still waiting for its first get is fetched
	// again too; the reply is diffed against what that get brings.
	if r.resetting || r.state == rsError {
		return
	}
	r.refetch(t, r.handleResetResponse)
}

// refetch sends r's get request again, through throttle t, and hands the
// reply to then on r's queue; r.resetting is set meanwhile. Call on r's
// queue.
func (r *resource) refetch(t *throttle, then func(data []byte, err error)) {
	r.resetting = true
	subject := "get." + r.e.name
	payload := encodeGetRequest(r.q)
	t.add(func() {
		r.e.c.mq.request(subject, payload, func(data []byte, err error) {
			r.e.enqueue(func() {
				r.resetting = false
				then(data, err)
			})
			t.done()
		})
	})
}

func (r *resource) handleResetResponse(data []byte, err error) {
	var res *getResult
	if err == nil {
		res, err = decodeGetResponse(data)
		if err == nil && ((r.state == rsModel && res.Model == nil) || (r.state == rsCollection && res.Collection == nil)) {
			r.e.c.log.Error("reset: mismatching resource type", "resource", r.e.name)
			return
		}
	}
	if err != nil {
		if IsCode(err, CodeNotFound) {
			r.handleEvent(&resourceEvent{Event: "delete"})
		} else {
			r.e.c.log.Error("reset: get failed", "resource", r.e.name, "error", err)
		}
		return
	}
	r.applySnapshot(res.Model, res.Collection)
}

// applySnapshot diffs a fresh copy of the resource against the cached one
// and applies the difference as ordinary events.
func (r *resource) applySnapshot(model Fields, collection []Value) {
	switch r.state {
	case rsModel:
		if model == nil {
			return
		}
		props := make(map[string]Value)
		for _, f := range model {
			if ov, ok := r.model.Values.Get(f.Key); !ok || !ov.Equal(f.Value) {
				props[f.Key] = f.Value
			}
		}
		for _, f := range r.model.Values {
			if _, ok := model.Get(f.Key); !ok {
				props[f.Key] = deleteValue
			}
		}
		if len(props) == 0 {
			return
		}
		payload, _ := json.Marshal(struct {
			Values map[string]Value `json:"values"`
		}{props})
		r.handleEvent(&resourceEvent{Event: "change", Payload: payload})
	case rsCollection:
		if collection == nil {
			return
		}
		for _, ev := range diffCollection(r.collection.Values, collection) {
			r.handleEvent(ev)
		}
	}
}

// diffCollection returns remove and add events that turn a into b, using a
// longest common subsequence so that unchanged items stay.
func diffCollection(a, b []Value) []*resourceEvent {
	s := 0
	for s < len(a) && s < len(b) && a[s].Equal(b[s]) {
		s++
	}
	ea, eb := len(a), len(b)
	for ea > s && eb > s && a[ea-1].Equal(b[eb-1]) {
		ea--
		eb--
	}
	aa, bb := a[s:ea], b[s:eb]
	m, n := len(aa), len(bb)
	if m == 0 && n == 0 {
		return nil
	}
	var removes, adds []int
	if (m+1)*(n+1) > maxDiffCells {
		// Too many items changed to keep an m×n table (Resgate's would
		// be gigabytes for two different collections of 20,000 items):
		// replace the changed middle, all removed and all added.
		removes = make([]int, m)
		for k := range removes {
			removes[k] = k
		}
		adds = make([]int, n)
		for k := range adds {
			adds[k] = k
		}
	} else {
		removes, adds = lcsEdits(aa, bb)
	}
	events := make([]*resourceEvent, 0, len(removes)+len(adds))
	// Remove from the end so earlier indexes stay valid, then add in
	// ascending order of final position.
	for k := len(removes) - 1; k >= 0; k-- {
		p, _ := json.Marshal(struct {
			Idx int `json:"idx"`
		}{s + removes[k]})
		events = append(events, &resourceEvent{Event: "remove", Payload: p})
	}
	for _, j := range adds {
		p, _ := json.Marshal(struct {
			Idx   int   `json:"idx"`
			Value Value `json:"value"`
		}{s + j, bb[j]})
		events = append(events, &resourceEvent{Event: "add", Payload: p})
	}
	return events
}

// maxDiffCells bounds the LCS table diffCollection builds (4 bytes a
// cell): 16M cells, 64 MiB, two changed runs of 4,000 items each.
const maxDiffCells = 1 << 24

// lcsEdits returns the indexes of aa to remove and of bb to add, both
// ascending, that keep a longest common subsequence of aa and bb.
func lcsEdits(aa, bb []Value) (removes, adds []int) {
	m, n := len(aa), len(bb)
	// c[i][j] = LCS length of aa[:i] and bb[:j].
	w := n + 1
	c := make([]int32, (m+1)*w)
	for i := 1; i <= m; i++ {
		for j := 1; j <= n; j++ {
			if aa[i-1].Equal(bb[j-1]) {
				c[i*w+j] = c[(i-1)*w+j-1] + 1
			} else if c[i*w+j-1] >= c[(i-1)*w+j] {
				c[i*w+j] = c[i*w+j-1]
			} else {
				c[i*w+j] = c[(i-1)*w+j]
			}
		}
	}
	// Walk back from the end, preferring an add over a remove on ties, so
	// that the items kept, and so the events, are the ones Resgate picks.
	i, j := m, n
	for i > 0 || j > 0 {
		switch {
		case i > 0 && j > 0 && aa[i-1].Equal(bb[j-1]):
			i--
			j--
		case j > 0 && (i == 0 || c[i*w+j-1] >= c[(i-1)*w+j]):
			j--
			adds = append(adds, j)
		default:
			i--
			removes = append(removes, i)
		}
	}
	slices.Reverse(removes)
	slices.Reverse(adds)
	return removes, adds
}

// cache is the shared resource cache.
type cache struct {
	mq  *mq
	log *slog.Logger
	cfg Config

	mu    sync.Mutex
	names map[string]*eventSub

	depMu   sync.Mutex
	depSeen map[string]bool

	metrics CacheMetrics
}

// CacheMetrics receives the cache's gauges. Nil fields are ignored.
type CacheMetrics struct {
	Resources     func(delta int)
	Subscriptions func(delta int)
}

func newCache(m *mq, cfg Config) *cache {
	return &cache{mq: m, log: cfg.Logger, cfg: cfg, names: make(map[string]*eventSub)}
}

// subscribe adds s as a subscriber of the resource name?query and loads it
// if needed. s.loaded is called once with the outcome.
func (c *cache) subscribe(s subscriber, name string, t *throttle) {
	e, err := c.acquire(name, 1)
	if err != nil {
		s.loaded(nil, err)
		return
	}
	e.enqueue(func() { e.addSubscriber(s, t) })
}

// acquire returns the eventSub of name, creating it and its NATS event
// subscription if needed, and adds n to its subscriber count.
func (c *cache) acquire(name string, n int) (*eventSub, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.names[name]
	if e == nil {
		e = &eventSub{name: name, c: c}
		sub, err := c.mq.subscribe("event."+name+".*", func(subject string, data []byte) {
			e.handleEvent(subject, data)
		})
		if err != nil {
			return nil, err
		}
		e.sub = sub
		c.names[name] = e
		if c.metrics.Resources != nil {
			c.metrics.Resources(1)
		}
	}
	if e.evict != nil {
		e.evict.Stop()
		e.evict = nil
	}
	e.count += n
	if c.metrics.Subscriptions != nil {
		c.metrics.Subscriptions(n)
	}
	return e, nil
}

// removeCount drops n subscribers of e. An eventSub without subscribers is
// evicted after the unsubscribe delay unless someone subscribes again.
func (c *cache) removeCount(e *eventSub, n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.count -= n
	if c.metrics.Subscriptions != nil {
		c.metrics.Subscriptions(-n)
	}
	if e.count > 0 {
		return
	}
	if c.cfg.UnsubscribeDelay < 0 {
		c.evictLocked(e)
		return
	}
	if e.evict == nil {
		e.evict = time.AfterFunc(c.cfg.UnsubscribeDelay, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if e.count == 0 && e.evict != nil {
				c.evictLocked(e)
			}
		})
	}
}

func (c *cache) evictLocked(e *eventSub) {
	e.evict = nil
	if c.names[e.name] != e {
		return
	}
	delete(c.names, e.name)
	c.mq.unsubscribe(e.sub)
	if c.metrics.Resources != nil {
		c.metrics.Resources(-1)
	}
}

// lookup returns the eventSub of name if it is cached.
func (c *cache) lookup(name string) *eventSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[name]
}

// loadedSnapshot returns the current data of name?q if the cache holds it
// loaded, as a subscriber would find it, without subscribing to it.
func (c *cache) loadedSnapshot(name, q string) (typ resourceState, m *Model, coll *Collection, ok bool) {
	e := c.lookup(name)
	if e == nil {
		return 0, nil, nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.loadedResource(q)
	if r == nil {
		return 0, nil, nil, false
	}
	return r.state, r.model, r.collection, true
}

// isLoaded reports whether the cache holds name?q loaded.
func (c *cache) isLoaded(name, q string) bool {
	_, _, _, ok := c.loadedSnapshot(name, q)
	return ok
}

// loadedResource returns the loaded resource of query q, or nil; with e.mu
// held. It looks where getResource does, without adding an entry.
func (e *eventSub) loadedResource(q string) *resource {
	r := e.base
	if q != "" {
		if r = e.queries[q]; r == nil {
			r = e.links[q]
		}
	}
	if r == nil || (r.state != rsModel && r.state != rsCollection) {
		return nil
	}
	return r
}

// request sends a request about resource name and delivers the reply
// through the name's queue when the name is cached, so it follows any event
// on the name that NATS delivered before it.
func (c *cache) request(name, subject string, payload []byte, cb replyFunc) {
	c.mq.request(subject, payload, func(data []byte, err error) {
		if e := c.lookup(name); e != nil {
			e.enqueue(func() { cb(data, err) })
			return
		}
		cb(data, err)
	})
}

func (c *cache) deprecated(name, feature string) {
	svc, _ := SplitRID(name)
	if i := indexByte(svc, '.'); i >= 0 {
		svc = svc[:i]
	}
	key := svc + "\x00" + feature
	c.depMu.Lock()
	if c.depSeen == nil {
		c.depSeen = make(map[string]bool)
	}
	seen := c.depSeen[key]
	c.depSeen[key] = true
	c.depMu.Unlock()
	if !seen {
		c.log.Error("deprecated: "+feature, "service", svc)
	}
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// handleEvent receives event.<name>.<event> from NATS.
func (e *eventSub) handleEvent(subject string, data []byte) {
	event := subject[len(e.name)+7:]
	e.enqueue(func() {
		if event == "query" {
			e.handleQueryEvent(data)
			return
		}
		if e.base == nil || e.base.q != "" {
			return
		}
		var payload json.RawMessage
		if len(data) > 0 {
			if !validJSON(data) {
				e.c.log.Error("malformed event payload", "subject", subject)
				return
			}
			payload = data
		}
		e.base.handleEvent(&resourceEvent{Event: event, Payload: payload})
	})
}

// handleQueryEvent asks the service, for every loaded query resource of the
// name, what the query event means for it. Other events on the name wait
// until every answer is handled.
func (e *eventSub) handleQueryEvent(data []byte) {
	if len(e.queries) == 0 {
		return
	}
	var qe struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(data, &qe); err != nil {
		e.c.log.Error("malformed query event", "resource", e.name, "error", err)
		return
	}
	if qe.Subject == "" {
		e.c.log.Error("query event without subject", "resource", e.name)
		return
	}
	for q, r := range e.queries {
		if r.state <= rsRequested {
			continue
		}
		r := r
		e.lockQueue()
		payload, _ := json.Marshal(struct {
			Query string `json:"query"`
		}{q})
		e.c.mq.request(qe.Subject, payload, func(data []byte, err error) {
			e.enqueueUnlock(func() {
				if err != nil {
					// A request that got no reply (timeout, no responders)
					// is ignored, as in Resgate, which logs nothing; the
					// query resource may have missed a change, which the
					// operator should hear of.
					e.c.log.Warn("query request got no reply; the query resource may be stale until its next query event or a reset", "resource", e.name, "query", r.q, "error", err)
					return
				}
				res, err := decodeQueryEventResponse(data)
				if err != nil {
					if IsCode(err, CodeNotFound) {
						r.handleEvent(&resourceEvent{Event: "delete"})
					} else {
						e.c.log.Error("invalid query response", "resource", e.name, "query", r.q, "error", err)
					}
					return
				}
				switch {
				case res.Events != nil:
					for _, ev := range res.Events {
						r.handleEvent(&resourceEvent{Event: ev.Event, Payload: ev.Data})
					}
				case res.Model != nil:
					if r.state != rsModel {
						e.c.log.Error("query response: model for a collection", "resource", e.name, "query", r.q)
						return
					}
					r.applySnapshot(res.Model, nil)
				case res.Collection != nil:
					if r.state != rsCollection {
						e.c.log.Error("query response: collection for a model", "resource", e.name, "query", r.q)
						return
					}
					r.applySnapshot(nil, res.Collection)
				}
			})
		})
	}
}

// reset handles system.reset for this name: refetch (resources) and/or
// recheck access (access) of every resource of the name.
func (e *eventSub) reset(resources, access bool, t *throttle) {
	e.enqueue(func() {
		all := make([]*resource, 0, 1+len(e.queries))
		if e.base != nil && e.base.q == "" {
			all = append(all, e.base)
		}
		for _, r := range e.queries {
			all = append(all, r)
		}
		for _, r := range all {
			if resources {
				r.handleReset(t)
			}
			if access {
				for s := range r.subs.all() {
					s.reaccess(t)
				}
			}
		}
	})
}
