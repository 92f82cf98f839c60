package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// A get request returns the resource set but keeps no subscription: no
// events follow, for the resource or for what it references.
func TestGet_NoEvents(t *testing.T) {
	tbl := []struct {
		rid  string
		refs []string
	}{
		{"test.model", nil},
		{"test.collection", nil},
		{"test.model.parent", []string{"test.model"}},
		{"test.collection.grandparent", []string{"test.collection.parent", "test.collection"}},
		{"test.m.d", []string{"test.m.e", "test.m.f"}},
	}
	for _, l := range tbl {
		t.Run(l.rid, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			creq := c.Request("get."+l.rid, nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access."+l.rid).AssertPathMissing("isHttp").RespondSuccess(map[string]any{"get": true})
			get := reqs.BySubject(t, "get."+l.rid).AssertPathMissing("isHttp").AssertPayload(json.RawMessage(`{}`))
			fxRespondGet(t, get)
			subjects := make([]string, len(l.refs))
			for i, ref := range l.refs {
				subjects[i] = "get." + ref
			}
			fxServe(t, s, subjects...)
			creq.GetResponse().AssertResult(fxSet(append([]string{l.rid}, l.refs...)...))

			for _, rid := range append([]string{l.rid}, l.refs...) {
				s.Event(rid, "custom", json.RawMessage(fxCustomEvent))
			}
			c.AssertNoMsg()
			// Nothing is left in the cache either.
			for _, rid := range append([]string{l.rid}, l.refs...) {
				s.WaitEventSubscription(rid, false)
			}
		})
	}
}

func TestGet_WithCIDPlaceholder_ReplacesCID(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	cid := c.CID()
	creq := c.Request("get.test.{cid}.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test."+cid+".model").AssertPathPayload("cid", cid).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test."+cid+".model").RespondModel(json.RawMessage(fxData("test.model")))
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.{cid}.model":` + fxData("test.model") + `}}`))
	fxAssertNoEvent(s, c, "test."+cid+".model")
}

func TestGet_LongResourceID_ReturnsErrSubjectTooLong(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Request("get.test."+strings.Repeat("a", 10000), nil).GetResponse().AssertErrorEqual(resproto.ErrSubjectTooLong)
	s.AssertNoRequest()
}

// A get on a resource the client subscribes to is served from the cache,
// and leaves out what the client already has. The subscription stays.
func TestGet_OnSubscribedResource(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
	c.Request("get.test.model.parent", nil).GetResponse().AssertResult(json.RawMessage(`{}`))
	// The referenced resource needs an access check of its own.
	creq := c.Request("get.test.model", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(json.RawMessage(`{}`))
	s.AssertNoRequest()
	fxAssertEvent(s, c, "test.model.parent")
	fxAssertEvent(s, c, "test.model")
}

// Another connection's subscription keeps the resource cached: a get is
// served without a get request and does not disturb the subscriber.
func TestGet_ServedFromCache(t *testing.T) {
	s := restest.Start(t)
	c1 := s.Connect()
	fxSubscribe(t, s, c1, "test.model.parent", false, "test.model")
	c2 := s.Connect()
	creq := c2.Request("get.test.model.parent", nil)
	s.GetRequest().AssertSubject("access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(fxSet("test.model.parent", "test.model"))
	s.AssertNoRequest()
	// The subscriber still gets events; the getter does not.
	s.Event("test.model", "custom", json.RawMessage(fxCustomEvent))
	c1.GetEvent().AssertEventName("test.model.custom")
	c2.AssertNoMsg()
	s.AssertEventSubscription("test.model", true)
}

// A get does not keep the resource in the cache: with no eviction delay
// the next get sends a new get request, and with a delay it is served from
// the cache until the delay has passed.
func TestGet_CacheReleasedAfterGet(t *testing.T) {
	t.Run("no delay", func(t *testing.T) {
		s := restest.Start(t)
		c := s.Connect()
		for i := 0; i < 2; i++ {
			creq := c.Request("get.test.model", nil)
			fxServe(t, s, "access.test.model", "get.test.model")
			creq.GetResponse().AssertResult(fxSet("test.model"))
			s.WaitEventSubscription("test.model", false)
		}
	})
	t.Run("with delay", func(t *testing.T) {
		s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Second }))
		c := s.Connect()
		creq := c.Request("get.test.model", nil)
		fxServe(t, s, "access.test.model", "get.test.model")
		creq.GetResponse().AssertResult(fxSet("test.model"))
		creq = c.Request("get.test.model", nil)
		fxServe(t, s, "access.test.model")
		creq.GetResponse().AssertResult(fxSet("test.model"))
		s.WaitEventSubscription("test.model", false)
		creq = c.Request("get.test.model", nil)
		fxServe(t, s, "access.test.model", "get.test.model")
		creq.GetResponse().AssertResult(fxSet("test.model"))
	})
}

// A get and a subscribe on one connection, both waiting for the same get
// response, both get the resource; only the subscription stays.
func TestGet_AndSubscribeOnPendingGet(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	greq := c.Request("get.test.model", nil)
	reqs := s.GetRequests(2)
	sreq := c.Request("subscribe.test.model", nil)
	s.AssertNoRequest() // shares the subscription, its access and its get
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	fxRespondGet(t, reqs.BySubject(t, "get.test.model"))
	greq.GetResponse().AssertResult(fxSet("test.model"))
	sreq.GetResponse().AssertResult(json.RawMessage(`{}`))
	fxAssertEvent(s, c, "test.model")
}

// A get with broken references still succeeds, with the errors in the
// resource set, like subscribe.
func TestGet_BrokenChild(t *testing.T) {
	for _, rid := range []string{"test.model.brokenchild", "test.collection.brokenchild"} {
		t.Run(rid, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			creq := c.Request("get."+rid, nil)
			fxServe(t, s, "access."+rid, "get."+rid, "get.test.err.notFound")
			creq.GetResponse().AssertResult(fxSet(rid, "test.err.notFound"))
		})
	}
}

// A get without access sends no events, keeps nothing, and a later
// subscribe asks for access again.
func TestGet_AccessDenied(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	creq := c.Request("get.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": false})
	fxRespondGet(t, reqs.BySubject(t, "get.test.model"))
	creq.GetResponse().AssertErrorEqual(resproto.ErrAccessDenied)
	s.WaitEventSubscription("test.model", false)
	fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
}
