package resproto

// A subscription is one connection's hold on one resource ID, direct (the
// client subscribed to it) or indirect (a resource it holds references it).
// All of its state is owned by its connection's queue.

type subState byte

const (
	subDisposed subState = iota
	subLoading
	subLoaded
	subReady
	subToSend
	subSent
	subDeleted
)

const (
	queueLoading uint8 = 1 << iota
	queueReaccess
)

type reference struct {
	sub   *subscription
	count int
}

// readyWait waits for a subscription and its whole reference tree to load.
type readyWait struct {
	// The resources waited for: the first alone in root, a map made only
	// for a second (most subscriptions reference nothing).
	root    string
	seen    map[string]bool
	loading int
	cb      func()
}

// mark records that rid is waited for.
func (w *readyWait) mark(rid string) {
	switch {
	case w.seen != nil:
		w.seen[rid] = true
	case w.root == "":
		w.root = rid
	default:
		w.seen = map[string]bool{w.root: true, rid: true}
	}
}

// marked reports whether rid is waited for.
func (w *readyWait) marked(rid string) bool {
	return (rid == w.root && rid != "") || w.seen[rid]
}

type subscription struct {
	c    *Conn
	rid  string // as the client wrote it
	name string // with {cid} expanded
	q    string

	waits    []*readyWait
	rs       *resource
	model    *Model
	coll     *Collection
	version  uint
	refs     map[string]*reference
	err      error
	throttle *throttle

	eventQueue []*resourceEvent

	access    *Access
	accessCbs []func(*Access)

	direct       int
	indirect     int
	indirectsent int

	// The one-byte fields together, so that they share a word: a
	// subscription is made for every resource a client subscribes to.
	state        subState
	typ          resourceState
	queueFlag    uint8
	accessCalled bool
	reaccessDue  bool
}

func newSubscription(c *Conn, rid string, t *throttle) *subscription {
	name, q := SplitRID(c.expandCID(rid))
	return &subscription{c: c, rid: rid, name: name, q: q, state: subLoading, queueFlag: queueLoading, throttle: t}
}

func (s *subscription) query() string { return s.q }

func (s *subscription) isReady() bool { return s.state >= subReady }
func (s *subscription) isSent() bool  { return s.state == subSent }

func (s *subscription) error() error {
	if s.state == subDisposed {
		return ErrDisposedSubscription
	}
	return s.err
}

// loaded implements subscriber.
func (s *subscription) loaded(r *resource, err error) {
	if !s.c.enqueue(func() { s.onLoaded(r, err) }) && err == nil {
		// The connection is gone. loaded runs on the queue of r's name,
		// which holds that queue's lock, and r.unsubscribe queues there
		// too: do it from outside, or the queue deadlocks and r is never
		// released.
		go r.unsubscribe(s)
	}
}

func (s *subscription) onLoaded(r *resource, err error) {
	if err != nil {
		s.err = err
		s.doneLoading()
		return
	}
	if s.state == subDisposed {
		r.unsubscribe(s)
		return
	}
	s.rs = r
	s.state = subLoaded
	typ, m, coll, version := r.snapshot()
	s.typ = typ
	s.queueEvents(queueLoading)
	var refErr error
	addRef := func(v Value) bool {
		if v.Type == ValueReference {
			_, refErr = s.addReference(v.RID)
		}
		return refErr == nil
	}
	switch typ {
	case rsModel:
		s.model, s.version = m, version
		for _, f := range m.Values {
			if !addRef(f.Value) {
				break
			}
		}
	case rsCollection:
		s.coll, s.version = coll, version
		for _, v := range coll.Values {
			if !addRef(v) {
				break
			}
		}
	default:
		s.err = internalError("unknown resource type")
		s.doneLoading()
		return
	}
	if refErr != nil {
		for _, ref := range s.refs {
			s.c.unsubscribe(ref.sub, false, false, 1, true)
		}
		s.refs = nil
		s.model, s.coll = nil, nil
		s.err = refErr
		s.doneLoading()
		return
	}
	waits := s.waits
	s.waits = nil
	for _, w := range waits {
		s.collectRefs(w)
	}
}

// onReady calls cb once s and every resource it references have loaded.
func (s *subscription) onReady(cb func()) {
	if s.isReady() {
		cb()
		return
	}
	s.waitLoaded(&readyWait{cb: cb})
}

func (s *subscription) waitLoaded(w *readyWait) {
	w.mark(s.rid)
	w.loading++
	if s.state >= subLoaded {
		s.collectRefs(w)
	} else {
		s.waits = append(s.waits, w)
	}
}

func (s *subscription) collectRefs(w *readyWait) {
	for rid, ref := range s.refs {
		if ref.sub.isReady() || w.marked(rid) {
			continue
		}
		ref.sub.waitLoaded(w)
	}
	w.loading--
	if w.loading == 0 {
		w.cb()
	}
}

func (s *subscription) doneLoading() {
	s.state = subReady
	waits := s.waits
	s.waits = nil
	s.throttle = nil
	for _, w := range waits {
		w.loading--
		if w.loading == 0 {
			w.cb()
		}
	}
}

// populate adds s and, recursively, the resources it references that the
// client has not been sent yet to r.
func (s *subscription) populate(r *resourceSet, indirect bool) {
	if indirect {
		s.indirectsent++
	}
	if s.state == subSent || s.state == subToSend {
		return
	}
	if err := s.error(); err != nil {
		if r.Errors == nil {
			r.Errors = make(map[string]*Error)
		}
		r.Errors[s.rid] = ToError(err)
		return
	}
	legacy := s.c.protocol < versionSoftRefs
	switch s.typ {
	case rsCollection:
		if legacy {
			r.Collections = append(r.Collections, ridJSON{s.rid, s.coll.legacy()})
		} else {
			b, _ := s.coll.MarshalJSON()
			r.Collections = append(r.Collections, ridJSON{s.rid, b})
		}
	case rsModel:
		if legacy {
			r.Models = append(r.Models, ridJSON{s.rid, s.model.legacy()})
		} else {
			b, _ := s.model.MarshalJSON()
			r.Models = append(r.Models, ridJSON{s.rid, b})
		}
	}
	s.state = subToSend
	for _, ref := range s.refs {
		ref.sub.populate(r, true)
	}
}

func (s *subscription) resources(indirect bool) *resourceSet {
	r := &resourceSet{}
	s.populate(r, indirect)
	return r
}

// release marks everything populated as sent and lets queued events go.
func (s *subscription) release() {
	if s.state == subDisposed || s.state == subSent || s.err != nil {
		return
	}
	s.state = subSent
	for _, ref := range s.refs {
		ref.sub.release()
	}
	s.unqueueEvents(queueLoading)
}

func (s *subscription) queueEvents(reason uint8) { s.queueFlag |= reason }

func (s *subscription) unqueueEvents(reason uint8) {
	s.queueFlag &^= reason
	if s.queueFlag != 0 {
		return
	}
	if s.reaccessDue {
		s.handleReaccess(nil)
		if s.queueFlag != 0 {
			return
		}
	}
	q := s.eventQueue
	s.eventQueue = nil
	for i, ev := range q {
		s.processEvent(ev)
		if s.queueFlag != 0 {
			s.eventQueue = append(q[i+1:], s.eventQueue...)
			return
		}
	}
}

func (s *subscription) addReference(rid string) (*subscription, error) {
	if ref := s.refs[rid]; ref != nil {
		ref.count++
		return ref.sub, nil
	}
	sub, err := s.c.subscribe(rid, false, s.throttle)
	if err != nil {
		return nil, err
	}
	if s.refs == nil {
		s.refs = make(map[string]*reference)
	}
	s.refs[rid] = &reference{sub: sub, count: 1}
	return sub, nil
}

func (s *subscription) removeReference(rid string) {
	ref := s.refs[rid]
	if ref == nil {
		return
	}
	ref.count--
	if ref.count == 0 {
		s.c.unsubscribe(ref.sub, false, s.isSent(), 1, true)
		delete(s.refs, rid)
	}
}

// event implements subscriber. A plain event (resourceEvent.plain) for a
// connection with nothing queued is delivered at once, on the caller's
// goroutine, rather than on a goroutine started for it: for an event fanned
// out to thousands of connections, that start is a good part of the cost.
func (s *subscription) event(ev *resourceEvent) {
	if ev.plain && s.c.runNow(func() { s.deliver(ev) }) {
		return
	}
	s.c.enqueue(func() { s.deliver(ev) })
}

// deliver passes an event to the client, or holds it while the
// subscription waits for something (queueFlag). Called on the connection's
// queue.
func (s *subscription) deliver(ev *resourceEvent) {
	if s.rs == nil {
		return
	}
	if s.queueFlag != 0 {
		s.eventQueue = append(s.eventQueue, ev)
		return
	}
	s.processEvent(ev)
}

// reaccess implements subscriber.
func (s *subscription) reaccess(t *throttle) {
	s.c.enqueue(func() { s.doReaccess(t) })
}

func (s *subscription) doReaccess(t *throttle) {
	if s.state == subDisposed {
		return
	}
	if s.queueFlag != 0 {
		s.reaccessDue = true
		return
	}
	s.handleReaccess(t)
}

func (s *subscription) processEvent(ev *resourceEvent) {
	if s.version != ev.Version {
		return
	}
	if ev.Update {
		s.version++
	}
	switch s.typ {
	case rsCollection:
		s.processCollectionEvent(ev)
	case rsModel:
		s.processModelEvent(ev)
	}
}

// send delivers an event whose data is the same for every client with the
// same client RID and encoding, encoding it once for all of them.
func (s *subscription) sendShared(ev *resourceEvent, data func(legacy bool) any) {
	legacy := s.c.protocol < versionSoftRefs
	key := s.rid
	if legacy {
		key += "\x00L"
	}
	s.c.send(ev.message(key, func() *Message { return eventMessage(s.rid, ev.Event, data(legacy)) }))
}

func (s *subscription) sendPayload(ev *resourceEvent) {
	s.sendShared(ev, func(bool) any { return ev.Payload })
}

func (s *subscription) processCollectionEvent(ev *resourceEvent) {
	switch ev.Event {
	case "add":
		v := ev.Value
		if v.Type != ValueReference {
			s.sendShared(ev, func(legacy bool) any {
				if legacy {
					return addEventData{Idx: ev.Idx, Value: v.legacyRaw()}
				}
				return addEventData{Idx: ev.Idx, Value: v.Raw}
			})
			return
		}
		sub, err := s.addReference(v.RID)
		if err != nil {
			s.c.log.Error("subscribing to a referenced resource failed", "rid", s.rid, "ref", v.RID, "error", err)
			return
		}
		if sub.isSent() {
			sub.indirectsent++
			s.sendShared(ev, func(bool) any { return addEventData{Idx: ev.Idx, Value: v.Raw} })
			return
		}
		s.queueEvents(queueLoading)
		sub.onReady(func() {
			if s.state == subDisposed {
				return
			}
			r := sub.resources(true)
			s.c.send(eventMessage(s.rid, ev.Event, addEventData{Idx: ev.Idx, Value: v.Raw, resourceSet: r}))
			sub.release()
			s.unqueueEvents(queueLoading)
		})
	case "remove":
		if ev.Value.Type == ValueReference {
			s.removeReference(ev.Value.RID)
		}
		s.sendPayload(ev)
	case "delete":
		s.deleted(ev)
	default:
		s.sendPayload(ev)
	}
}

func (s *subscription) deleted(ev *resourceEvent) {
	s.state = subDeleted
	s.sendPayload(ev)
	s.unsubscribeDirect(ErrDeleted)
}

func (s *subscription) processModelEvent(ev *resourceEvent) {
	switch ev.Event {
	case "change":
		if hasReference(ev.Changed) {
			s.processReferenceChange(ev)
			return
		}
		s.removeOldReferences(ev)
		s.sendShared(ev, func(legacy bool) any {
			return changeEventData{Values: encodeFields(ev.Changed, legacy)}
		})
	case "delete":
		s.deleted(ev)
	default:
		s.sendPayload(ev)
	}
}

// hasReference reports whether any of fields is a reference.
func hasReference(fields []Field) bool {
	for _, f := range fields {
		if f.Value.Type == ValueReference {
			return true
		}
	}
	return false
}

// removeOldReferences lets go of the resources that the values a change
// event replaced referred to.
func (s *subscription) removeOldReferences(ev *resourceEvent) {
	for _, f := range ev.Changed {
		if ov, ok := ev.OldValues.Get(f.Key); ok && ov.Type == ValueReference {
			s.removeReference(ov.RID)
		}
	}
}

// processReferenceChange sends a change event that sets references: the
// referenced resources are subscribed to first, and if any has not been
// sent to the client yet, the event waits until they are loaded and goes
// with them. It is apart from processModelEvent because the closures
// waiting for the references move its variables to the heap, which the
// common change, with no reference, need not pay for on every connection.
func (s *subscription) processReferenceChange(ev *resourceEvent) {
	var subs []*subscription
	unsent := false
	for _, f := range ev.Changed {
		v := f.Value
		if v.Type != ValueReference {
			continue
		}
		sub, err := s.addReference(v.RID)
		if err != nil {
			s.c.log.Error("subscribing to a referenced resource failed", "rid", s.rid, "ref", v.RID, "error", err)
			return
		}
		unsent = unsent || !sub.isSent()
		subs = append(subs, sub)
	}
	s.removeOldReferences(ev)
	if !unsent {
		for _, sub := range subs {
			sub.indirectsent++
		}
		s.sendShared(ev, func(legacy bool) any {
			return changeEventData{Values: encodeFields(ev.Changed, legacy)}
		})
		return
	}
	s.queueEvents(queueLoading)
	count := len(subs)
	for _, sub := range subs {
		sub.onReady(func() {
			if s.state == subDisposed {
				return
			}
			count--
			if count > 0 {
				return
			}
			r := &resourceSet{}
			for _, sub := range subs {
				sub.populate(r, true)
			}
			legacy := s.c.protocol < versionSoftRefs
			s.c.send(eventMessage(s.rid, ev.Event, changeEventData{Values: encodeFields(ev.Changed, legacy), resourceSet: r}))
			for _, sub := range subs {
				sub.release()
			}
			s.unqueueEvents(queueLoading)
		})
	}
}

func (s *subscription) handleReaccess(t *throttle) {
	s.access = nil
	s.reaccessDue = false
	if s.direct == 0 {
		return
	}
	s.queueEvents(queueReaccess)
	s.loadAccess(func(a *Access) {
		if err := a.CanGet(); err != nil {
			s.unsubscribeDirect(err)
		}
		s.unqueueEvents(queueReaccess)
	}, t)
}

func (s *subscription) unsubscribeDirect(reason *Error) {
	if s.direct > 0 {
		s.c.unsubscribe(s, true, false, s.direct, true)
		s.c.send(eventMessage(s.rid, "unsubscribe", unsubscribeEventData{Reason: reason}))
	}
}

func (s *subscription) dispose() {
	if s.state == subDisposed {
		return
	}
	prev := s.state
	s.state = subDisposed
	s.waits = nil
	s.eventQueue = nil
	s.throttle = nil
	if s.rs != nil {
		// As in Resgate, a disposed subscription's references keep their
		// sent counts: tryDelete has already decided, from its own counts,
		// which of them stay sent and unsent the others. Counting down here
		// as well could take a count below zero when the reference was
		// unsent first, and make a resource held by a sent parent look
		// unsent later.
		for _, ref := range s.refs {
			s.c.unsubscribe(ref.sub, false, false, 1, false)
		}
		s.refs = nil
		if prev != subDeleted {
			s.c.releaseResource(s.rs, s)
		}
		s.rs = nil
	}
}

func (s *subscription) unsend() {
	s.state = subReady
	s.indirectsent = 0
	for _, ref := range s.refs {
		if ref.sub.state == subSent && ref.sub.indirectsent > 0 {
			ref.sub.indirectsent--
		}
	}
}

// loadAccess calls cb with the connection's access to the resource, asking
// the service once however many wait for it.
func (s *subscription) loadAccess(cb func(*Access), t *throttle) {
	if s.access != nil {
		cb(s.access)
		return
	}
	s.accessCbs = append(s.accessCbs, cb)
	if s.accessCalled {
		return
	}
	s.accessCalled = true
	t.add(func() {
		s.c.requestAccess(s.name, s.q, false, func(a *Access) {
			s.c.enqueue(func() {
				if s.state == subDisposed {
					return
				}
				cbs := s.accessCbs
				s.accessCbs = nil
				s.accessCalled = false
				if a.Err == nil || a.Err.Code == CodeAccessDenied {
					s.access = a
				}
				for _, cb := range cbs {
					cb(a)
				}
			})
			t.done()
		})
	})
}

func (s *subscription) canGet(cb func(*Error)) {
	s.loadAccess(func(a *Access) { cb(a.CanGet()) }, nil)
}

func (s *subscription) canCall(method string, cb func(*Error)) {
	s.loadAccess(func(a *Access) { cb(a.CanCall(method)) }, nil)
}
