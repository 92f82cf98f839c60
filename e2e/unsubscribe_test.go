package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// fxSubscribeData subscribes c to rid, answering its get request with a
// model or collection of data instead of a fixture; data must reference
// nothing that is not loaded already.
func fxSubscribeData(t *testing.T, s *restest.Session, c *restest.Client, rid string, data string) {
	t.Helper()
	r := fxModel(data)
	if data[0] == '[' {
		r = fxCollection(data)
	}
	creq := c.Request("subscribe."+rid, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
	fxRespond(reqs.BySubject(t, "get."+rid), r)
	want := `{"models":{"` + rid + `":` + data + `}}`
	if r.coll {
		want = `{"collections":{"` + rid + `":` + data + `}}`
	}
	creq.GetResponse().AssertResult(json.RawMessage(want))
}

func TestUnsubscribe_Resource(t *testing.T) {
	for _, rid := range []string{"test.model", "test.collection"} {
		t.Run(rid, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, rid, false).AssertResult(fxSet(rid))
			creq := c.Request("unsubscribe."+rid, nil)
			// Success without a result: {"id":n} and nothing else.
			if raw := creq.GetResponse().AssertNoResult().Raw; raw != fmt.Sprintf(`{"id":%d}`, creq.ID) {
				t.Fatalf("expected {\"id\":%d}, got %s", creq.ID, raw)
			}
			fxAssertNoEvent(s, c, rid)
		})
	}
}

func TestUnsubscribe_WithoutSubscription_ReturnsNoSubscription(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrNoSubscription)
	s.AssertNoRequest()
}

// A resource held only through a reference has no direct subscription to
// remove: unsubscribing it fails and changes nothing.
func TestUnsubscribe_IndirectOnly_ReturnsNoSubscription(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model")
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrNoSubscription)
	fxAssertEvent(s, c, "test.model")
	fxAssertEvent(s, c, "test.model.parent")
}

// A second unsubscribe of a single subscription fails.
func TestUnsubscribe_Twice_ReturnsNoSubscription(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model", false)
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrNoSubscription)
}

func TestUnsubscribe_LinkedResource(t *testing.T) {
	for _, l := range []struct{ parent, child string }{
		{"test.model.parent", "test.model"},
		{"test.collection.parent", "test.collection"},
	} {
		t.Run(l.parent, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, l.parent, false, l.child).AssertResult(fxSet(l.parent, l.child))
			c.Request("unsubscribe."+l.parent, nil).GetResponse().AssertNoResult()
			s.Event(l.child, "custom", json.RawMessage(fxCustomEvent))
			s.Event(l.parent, "custom", json.RawMessage(fxCustomEvent))
			c.AssertNoMsg()
		})
	}
}

// A resource referenced by two subscribed parents stays subscribed when
// one of them is unsubscribed.
func TestUnsubscribe_OverlappingLinkedResource(t *testing.T) {
	for _, l := range []struct{ parent, second, child string }{
		{"test.model.parent", "test.model.secondparent", "test.model"},
		{"test.collection.parent", "test.collection.secondparent", "test.collection"},
	} {
		t.Run(l.parent, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, l.parent, false, l.child).AssertResult(fxSet(l.parent, l.child))
			fxSubscribe(t, s, c, l.second, false).AssertResult(fxSet(l.second))
			c.Request("unsubscribe."+l.parent, nil).GetResponse().AssertNoResult()
			fxAssertNoEvent(s, c, l.parent)
			fxAssertEvent(s, c, l.second)
			fxAssertEvent(s, c, l.child)

			c.Request("unsubscribe."+l.second, nil).GetResponse().AssertNoResult()
			s.Event(l.second, "custom", json.RawMessage(fxCustomEvent))
			s.Event(l.child, "custom", json.RawMessage(fxCustomEvent))
			c.AssertNoMsg()
		})
	}
}

// A resource subscribed both directly and through a reference stays after
// the direct subscription goes, and goes with the last reference.
func TestUnsubscribe_DirectAndIndirect(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
	fxSubscribe(t, s, c, "test.model.parent", false).AssertResult(fxSet("test.model.parent"))
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
	fxAssertEvent(s, c, "test.model")
	s.AssertEventSubscription("test.model", true)

	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	s.Event("test.model", "custom", json.RawMessage(fxCustomEvent))
	s.Event("test.model.parent", "custom", json.RawMessage(fxCustomEvent))
	c.AssertNoMsg()
	s.WaitEventSubscription("test.model", false)
	s.WaitEventSubscription("test.model.parent", false)
}

// A resource response to a call adds a direct subscription that needs its
// own unsubscribe; once all are gone, a new resource response sends the
// resource again.
func TestUnsubscribe_FollowedByResourceResponse_IncludesResource(t *testing.T) {
	for _, useCount := range []bool{true, false} {
		t.Run(fmt.Sprint("count ", useCount), func(t *testing.T) {
			s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Minute }))
			c := s.Connect()
			c.Version("1.2.3")
			fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))

			creq := c.Request("call.test.getModel", nil)
			s.GetRequest().AssertSubject("access.test").RespondSuccess(map[string]any{"get": true, "call": "*"})
			s.GetRequest().AssertSubject("call.test.getModel").RespondResource("test.model")
			creq.GetResponse().AssertResult(map[string]any{"rid": "test.model"})

			if useCount {
				c.Request("unsubscribe.test.model", map[string]any{"count": 2}).GetResponse().AssertNoResult()
			} else {
				c.Request("unsubscribe.test.model", json.RawMessage(`{}`)).GetResponse().AssertNoResult()
				fxAssertEvent(s, c, "test.model")
				c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
			}
			fxAssertNoEvent(s, c, "test.model")

			creq = c.Request("call.test.getModel", nil)
			s.GetRequest().AssertSubject("access.test").RespondSuccess(map[string]any{"get": true, "call": "*"})
			s.GetRequest().AssertSubject("call.test.getModel").RespondResource("test.model")
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(json.RawMessage(`{"rid":"test.model","models":{"test.model":` + fxData("test.model") + `}}`))
			s.AssertNoRequest() // still cached
		})
	}
}

func TestUnsubscribe_WithCount(t *testing.T) {
	tbl := []struct {
		subscribes int
		count      any
		events     bool // still subscribed after
	}{
		{1, 1, false},
		{2, 1, true},
		{2, 2, false},
		{3, 2, true},
		{3, nil, true}, // {"count":null} is the default 1
	}
	for _, l := range tbl {
		t.Run(fmt.Sprintf("%d-%v", l.subscribes, l.count), func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, "test.model", false)
			for i := 1; i < l.subscribes; i++ {
				c.Request("subscribe.test.model", nil).GetResponse().AssertResult(json.RawMessage(`{}`))
			}
			c.Request("unsubscribe.test.model", map[string]any{"count": l.count}).GetResponse().AssertNoResult()
			if l.events {
				fxAssertEvent(s, c, "test.model")
			} else {
				fxAssertNoEvent(s, c, "test.model")
			}
		})
	}
}

func TestUnsubscribe_WithInvalidParams_DoesNotUnsubscribe(t *testing.T) {
	tbl := []struct {
		params string
		code   string
	}{
		{`[]`, resproto.CodeInvalidParams},
		{`"foo"`, resproto.CodeInvalidParams},
		{`{"count":"foo"}`, resproto.CodeInvalidParams},
		{`{"count":true}`, resproto.CodeInvalidParams},
		{`{"count":1.5}`, resproto.CodeInvalidParams},
		{`{"count":0}`, resproto.CodeInvalidParams},
		{`{"count":-1}`, resproto.CodeInvalidParams},
		{`{"count":2}`, resproto.CodeNoSubscription},
	}
	for _, l := range tbl {
		t.Run(l.params, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, "test.model", false)
			c.Request("unsubscribe.test.model", json.RawMessage(l.params)).GetResponse().AssertError(l.code)
			fxAssertEvent(s, c, "test.model")
		})
	}
}

// With no eviction delay, the last unsubscribe drops the resource and
// everything only it referenced from the cache at once, cycles included.
func TestUnsubscribe_ReleasesCache(t *testing.T) {
	tbl := []struct {
		rid  string
		refs []string
	}{
		{"test.model", nil},
		{"test.collection", nil},
		{"test.model.parent", []string{"test.model"}},
		{"test.collection.grandparent", []string{"test.collection.parent", "test.collection"}},
		{"test.model.brokenchild", []string{"test.err.notFound"}},
		{"test.m.a", nil},
		{"test.m.b", []string{"test.m.c"}},
		{"test.m.d", []string{"test.m.e", "test.m.f"}},
		{"test.c.g", []string{"test.c.e", "test.c.f", "test.c.d"}},
	}
	for _, l := range tbl {
		t.Run(l.rid, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			fxSubscribe(t, s, c, l.rid, false, l.refs...).AssertResult(fxSet(append([]string{l.rid}, l.refs...)...))
			all := append([]string{l.rid}, l.refs...)
			for _, rid := range all {
				if rid != "test.err.notFound" {
					s.AssertEventSubscription(rid, true)
				}
			}
			c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertNoResult()
			for _, rid := range all {
				s.WaitEventSubscription(rid, false)
			}
			// A new subscription starts over with get requests.
			fxSubscribe(t, s, c, l.rid, false, l.refs...).AssertResult(fxSet(all...))
		})
	}
}

// A cycle that is still reachable from another direct subscription stays;
// it goes with that subscription.
func TestUnsubscribe_CycleReachableFromOtherSubscription(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.m.d", false, "test.m.e", "test.m.f").AssertResult(fxSet("test.m.d", "test.m.e", "test.m.f"))
	fxSubscribe(t, s, c, "test.m.h", false).AssertResult(fxSet("test.m.h"))

	c.Request("unsubscribe.test.m.d", nil).GetResponse().AssertNoResult()
	for _, rid := range []string{"test.m.d", "test.m.e", "test.m.f", "test.m.h"} {
		fxAssertEvent(s, c, rid)
	}
	// Subscribing again needs no request: the subscription and its access
	// are kept. As in Resgate, the sent-count bookkeeping of the cycle
	// counts d and f (whose only sent holds came through d) as unsent, so
	// they are sent again; e, still held by h, is not.
	c.Request("subscribe.test.m.d", nil).GetResponse().AssertResult(fxSet("test.m.d", "test.m.f"))
	s.AssertNoRequest()
	c.Request("unsubscribe.test.m.d", nil).GetResponse().AssertNoResult()

	c.Request("unsubscribe.test.m.h", nil).GetResponse().AssertNoResult()
	for _, rid := range []string{"test.m.d", "test.m.e", "test.m.f", "test.m.h"} {
		s.WaitEventSubscription(rid, false)
	}
	for _, rid := range []string{"test.m.d", "test.m.e", "test.m.f", "test.m.h"} {
		s.Event(rid, "custom", json.RawMessage(fxCustomEvent))
	}
	c.AssertNoMsg()
}

// After an unsubscribe, a new subscription to the same resource sends it
// again, even when it is served from the cache.
func TestUnsubscribe_ResubscribeSendsResourcesAgain(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Minute }))
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.grandparent", false, "test.model.parent", "test.model").
		AssertResult(fxSet("test.model.grandparent", "test.model.parent", "test.model"))
	c.Request("unsubscribe.test.model.grandparent", nil).GetResponse().AssertNoResult()
	fxSubscribe(t, s, c, "test.model.grandparent", true).
		AssertResult(fxSet("test.model.grandparent", "test.model.parent", "test.model"))
	s.AssertNoRequest()
}

// A resource kept by another direct subscription stays sent: subscribing
// again to the unsubscribed parent only sends the parent.
func TestUnsubscribe_KeptChildStaysSent(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Minute }))
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.grandparent", false, "test.model.parent", "test.model")
	c.Request("subscribe.test.model.parent", nil)
	s.GetRequest().AssertSubject("access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	c.GetMsg()
	c.Request("unsubscribe.test.model.grandparent", nil).GetResponse().AssertNoResult()
	fxAssertNoEvent(s, c, "test.model.grandparent")
	fxAssertEvent(s, c, "test.model")
	fxSubscribe(t, s, c, "test.model.grandparent", true).AssertResult(fxSet("test.model.grandparent"))
}

// With an eviction delay, the cache keeps an unused resource, and its
// NATS subscription, until the delay has passed; a subscriber within the
// delay is served from the cache and keeps it.
func TestUnsubscribe_WithUnsubscribeDelay(t *testing.T) {
	// Long enough that a loaded machine resubscribes well within it.
	const delay = 600 * time.Millisecond
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = delay }))
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model")
	base := s.NC.NumSubscriptions()

	start := time.Now()
	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	// Served from the cache within the delay.
	fxSubscribe(t, s, c, "test.model.parent", true).AssertResult(fxSet("test.model.parent", "test.model"))
	if d := time.Since(start); d > delay {
		t.Fatalf("resubscribing took %v, longer than the %v delay: the cache hit above proves nothing", d, delay)
	}
	time.Sleep(delay + 50*time.Millisecond)
	s.AssertEventSubscription("test.model.parent", true)
	s.AssertEventSubscription("test.model", true)
	fxAssertEvent(s, c, "test.model")

	start = time.Now()
	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	fxAssertNoEvent(s, c, "test.model")
	if time.Since(start) < delay {
		s.AssertEventSubscription("test.model.parent", true)
		s.AssertEventSubscription("test.model", true)
	}
	s.WaitEventSubscription("test.model.parent", false)
	s.WaitEventSubscription("test.model", false)
	if elapsed := time.Since(start); elapsed < delay {
		t.Fatalf("evicted after %v, before the %v delay", elapsed, delay)
	}
	if n := s.NC.NumSubscriptions(); n != base-2 {
		t.Fatalf("expected %d NATS subscriptions after eviction, got %d", base-2, n)
	}
	// Evicted: a new subscriber makes new get requests.
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
}

// Closing the connection releases all its subscriptions.
func TestUnsubscribe_ConnectionClose_ReleasesCache(t *testing.T) {
	s := restest.Start(t)
	c1 := s.Connect()
	c2 := s.Connect()
	fxSubscribe(t, s, c1, "test.model.grandparent", false, "test.model.parent", "test.model")
	fxSubscribe(t, s, c2, "test.model", true).AssertResult(fxSet("test.model"))
	c1.Close()
	s.WaitEventSubscription("test.model.grandparent", false)
	s.WaitEventSubscription("test.model.parent", false)
	s.AssertEventSubscription("test.model", true)
	fxAssertEvent(s, c2, "test.model")
	c2.Close()
	s.WaitEventSubscription("test.model", false)
}

// The kinds of holds on test.model that the indirectsent tests drop while
// another resource referencing it is still loading (resgate#241).
var indirectSentHolds = []struct {
	name        string
	subscribe   func(t *testing.T, s *restest.Session, c *restest.Client)
	unsubscribe func(t *testing.T, s *restest.Session, c *restest.Client)
}{
	{
		"direct subscription",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
		},
	},
	{
		"indirect subscription",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
		},
	},
	{
		"indirect subscription removed by change event",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":null}}`))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(`{"values":{"child":null}}`))
		},
	},
	{
		"direct subscription plus reference added by change event, both removed",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
			fxSubscribeData(t, s, c, "test.model.parent", `{"name":"parent","child":null}`)
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":{"rid":"test.model"}}}`))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(`{"values":{"child":{"rid":"test.model"}}}`))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":null}}`))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(`{"values":{"child":null}}`))
		},
	},
	{
		"reference added and removed by change events",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribeData(t, s, c, "test.model.parent", `{"name":"parent","child":null}`)
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":{"rid":"test.model"}}}`))
			fxRespondGet(t, s.GetRequest().AssertSubject("get.test.model"))
			c.GetEvent().AssertEventName("test.model.parent.change").
				AssertData(json.RawMessage(`{"values":{"child":{"rid":"test.model"}},"models":{"test.model":` + fxData("test.model") + `}}`))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":null}}`))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(`{"values":{"child":null}}`))
		},
	},
	{
		"direct subscription after its reference was removed by change event",
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
			fxSubscribe(t, s, c, "test.model.parent", false).AssertResult(fxSet("test.model.parent"))
		},
		func(t *testing.T, s *restest.Session, c *restest.Client) {
			s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":null}}`))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(`{"values":{"child":null}}`))
			c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
		},
	},
}

const (
	isDelayed       = `{"name":"delayed"}`
	isDelayedParent = `{"name":"delayedparent","child":{"rid":"test.model"},"delayed":{"rid":"test.model.delayed"}}`
)

// A subscription that references test.model, and is still loading when the
// client's last sent hold on test.model goes, includes test.model.
func TestIndirectSent_SubscriptionReference_ContainsResource(t *testing.T) {
	for _, h := range indirectSentHolds {
		t.Run(h.name, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			h.subscribe(t, s, c)

			creq := c.Request("subscribe.test.model.delayedparent", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model.delayedparent").RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.model.delayedparent").RespondModel(json.RawMessage(isDelayedParent))
			delayed := s.GetRequest().AssertSubject("get.test.model.delayed")

			h.unsubscribe(t, s, c)
			delayed.RespondModel(json.RawMessage(isDelayed))

			creq.GetResponse().AssertResult(json.RawMessage(`{"models":{` +
				`"test.model":` + fxData("test.model") + `,` +
				`"test.model.delayedparent":` + isDelayedParent + `,` +
				`"test.model.delayed":` + isDelayed + `}}`))
			fxAssertEvent(s, c, "test.model")
			fxAssertEvent(s, c, "test.model.delayedparent")
		})
	}
}

// The same, when the loading reference comes with a change event.
func TestIndirectSent_ChangeEventReference_ContainsResource(t *testing.T) {
	grandparent := `{"name":"delayedgrandparent","parent":null}`
	for _, h := range indirectSentHolds {
		t.Run(h.name, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			h.subscribe(t, s, c)
			fxSubscribeData(t, s, c, "test.model.delayedgrandparent", grandparent)

			s.Event("test.model.delayedgrandparent", "change", json.RawMessage(`{"values":{"parent":{"rid":"test.model.delayedparent"}}}`))
			s.GetRequest().AssertSubject("get.test.model.delayedparent").RespondModel(json.RawMessage(isDelayedParent))
			delayed := s.GetRequest().AssertSubject("get.test.model.delayed")

			h.unsubscribe(t, s, c)
			delayed.RespondModel(json.RawMessage(isDelayed))

			c.GetEvent().AssertEventName("test.model.delayedgrandparent.change").AssertData(json.RawMessage(`{` +
				`"values":{"parent":{"rid":"test.model.delayedparent"}},` +
				`"models":{"test.model":` + fxData("test.model") + `,` +
				`"test.model.delayedparent":` + isDelayedParent + `,` +
				`"test.model.delayed":` + isDelayed + `}}`))
			fxAssertEvent(s, c, "test.model.delayedparent")
			fxAssertEvent(s, c, "test.model")
		})
	}
}

// The same, when the loading reference comes with an add event.
func TestIndirectSent_AddEventReference_ContainsResource(t *testing.T) {
	grandparent := `["delayedgrandparent"]`
	for _, h := range indirectSentHolds {
		t.Run(h.name, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			h.subscribe(t, s, c)
			fxSubscribeData(t, s, c, "test.collection.delayedgrandparent", grandparent)

			s.Event("test.collection.delayedgrandparent", "add", json.RawMessage(`{"idx":1,"value":{"rid":"test.model.delayedparent"}}`))
			s.GetRequest().AssertSubject("get.test.model.delayedparent").RespondModel(json.RawMessage(isDelayedParent))
			delayed := s.GetRequest().AssertSubject("get.test.model.delayed")

			h.unsubscribe(t, s, c)
			delayed.RespondModel(json.RawMessage(isDelayed))

			c.GetEvent().AssertEventName("test.collection.delayedgrandparent.add").AssertData(json.RawMessage(`{` +
				`"idx":1,"value":{"rid":"test.model.delayedparent"},` +
				`"models":{"test.model":` + fxData("test.model") + `,` +
				`"test.model.delayedparent":` + isDelayedParent + `,` +
				`"test.model.delayed":` + isDelayed + `}}`))
			fxAssertEvent(s, c, "test.model.delayedparent")
			fxAssertEvent(s, c, "test.model")
		})
	}
}

// A nested resource whose sent parent is unsubscribed while a new
// subscription referencing the parent loads is included with the parent.
func TestIndirectSent_SubscriptionReferenceToNestedResource_ContainsResource(t *testing.T) {
	grandparent := `{"name":"delayedGrandparent","child":{"rid":"test.model.parent"},"delayed":{"rid":"test.model.delayed"}}`
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))

	creq := c.Request("subscribe.test.model.delayedGrandparent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.delayedGrandparent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.delayedGrandparent").RespondModel(json.RawMessage(grandparent))
	delayed := s.GetRequest().AssertSubject("get.test.model.delayed")

	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	delayed.RespondModel(json.RawMessage(isDelayed))

	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{` +
		`"test.model":` + fxData("test.model") + `,` +
		`"test.model.parent":` + fxData("test.model.parent") + `,` +
		`"test.model.delayedGrandparent":` + grandparent + `,` +
		`"test.model.delayed":` + isDelayed + `}}`))
}

// A resource the client was sent, then lost every sent hold on while an
// unsent resource still referenced it, counts as unsent: the next resource
// set that reaches it sends it again, and only once.
func TestIndirectSent_UnsentResourceSentAgainOnLaterReference(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))

	// test.model.delayedparent holds test.model while it loads.
	creq := c.Request("subscribe.test.model.delayedparent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.delayedparent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.delayedparent").RespondModel(json.RawMessage(isDelayedParent))
	delayed := s.GetRequest().AssertSubject("get.test.model.delayed")
	// The client drops test.model; the cache keeps it for the loading parent.
	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()

	// Another parent reaches test.model first and sends it.
	fxSubscribe(t, s, c, "test.model.secondparent", false).AssertResult(fxSet("test.model.secondparent", "test.model"))
	// So the delayed parent's response leaves it out.
	delayed.RespondModel(json.RawMessage(isDelayed))
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{` +
		`"test.model.delayedparent":` + isDelayedParent + `,` +
		`"test.model.delayed":` + isDelayed + `}}`))

	// Two sent holds now: dropping one keeps it sent.
	c.Request("unsubscribe.test.model.secondparent", nil).GetResponse().AssertNoResult()
	fxAssertEvent(s, c, "test.model")
	fxSubscribe(t, s, c, "test.model.parent", false).AssertResult(fxSet("test.model.parent"))
}

// When every sent hold on a resource goes while a loading subscription
// references it, and the last of those holds goes after another, that
// subscription's response leaves the resource out: Resgate's disposed
// parents keep the sent counts they gave their references, so the resource
// still counts as sent. Reproduced as is.
func TestIndirectSent_TwoSentParentsUnsubscribed_ResourceCountsAsSent(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
	fxSubscribe(t, s, c, "test.model.secondparent", false).AssertResult(fxSet("test.model.secondparent"))

	creq := c.Request("subscribe.test.model.delayedparent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.delayedparent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.delayedparent").RespondModel(json.RawMessage(isDelayedParent))
	delayed := s.GetRequest().AssertSubject("get.test.model.delayed")

	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	c.Request("unsubscribe.test.model.secondparent", nil).GetResponse().AssertNoResult()
	delayed.RespondModel(json.RawMessage(isDelayed))
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{` +
		`"test.model.delayedparent":` + isDelayedParent + `,` +
		`"test.model.delayed":` + isDelayed + `}}`))
	fxAssertEvent(s, c, "test.model")
}

// A connection closed while its subscription still loads releases the
// cache entries once the get responses have come.
func TestUnsubscribe_ConnectionCloseWhileLoading_ReleasesCache(t *testing.T) {
	t.Run("root loading", func(t *testing.T) {
		s := restest.Start(t)
		c := s.Connect()
		c.Request("subscribe.test.model.parent", nil)
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": true})
		get := reqs.BySubject(t, "get.test.model.parent")
		c.Close()
		s.WaitConnCount(0)
		s.AssertEventSubscription("test.model.parent", true)
		fxRespondGet(t, get)
		s.WaitEventSubscription("test.model.parent", false)
		s.AssertNoRequest() // the reference is not followed
		s.AssertEventSubscription("test.model", false)
	})
	t.Run("reference loading", func(t *testing.T) {
		s := restest.Start(t)
		c := s.Connect()
		c.Request("subscribe.test.model.parent", nil)
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": true})
		fxRespondGet(t, reqs.BySubject(t, "get.test.model.parent"))
		child := s.GetRequest().AssertSubject("get.test.model")
		c.Close()
		s.WaitConnCount(0)
		s.WaitEventSubscription("test.model.parent", false)
		fxRespondGet(t, child)
		s.WaitEventSubscription("test.model", false)

		// Nothing is left: a new client starts over.
		c2 := s.Connect()
		fxSubscribe(t, s, c2, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
	})
}
