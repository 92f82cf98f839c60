package e2e

import (
	"encoding/json"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

func TestDeleteEvent_SentToClientThenUnsubscribe(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name     string
		rid      string
		payload  any
		expected string
	}{
		{"model", "test.model", nil, `null`},
		{"collection", "test.collection", nil, `null`},
		{"model with payload", "test.model", json.RawMessage(`{"by":"admin"}`), `{"by":"admin"}`},
		{"collection with payload", "test.collection", json.RawMessage(`{"by":"admin"}`), `{"by":"admin"}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, l.rid, false)

			s.Event(l.rid, "delete", l.payload)
			c.GetEvent().AssertEventName(l.rid + ".delete").AssertData(json.RawMessage(l.expected))
			c.GetEvent().AssertEventName(l.rid + ".unsubscribe").AssertData(reasonDeleted)

			// Later events are not delivered.
			s.Event(l.rid, "custom", customEv)
			s.Event(l.rid, "delete", nil)
			c.AssertNoMsg()
			c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertError(resproto.CodeNoSubscription)
		})
	}
}

func TestDeleteEvent_PriorToGetResponse_IsDiscarded(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	s.Event("test.model", "delete", nil)
	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(evResourceSet("test.model"))
	c.AssertNoMsg()

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestDeleteEvent_FollowedBySubscribe_IsNotCached(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c1 := evConnect(s)
	c2 := evConnect(s)
	evSubscribe(t, s, c1, "test.model", false)

	s.Event("test.model", "delete", nil)
	c1.GetEvent().AssertEventName("test.model.delete").AssertData(nil)
	c1.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonDeleted)

	// A new subscriber makes a new get request.
	evSubscribe(t, s, c2, "test.model", false)
	s.Event("test.model", "custom", customEv)
	c2.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
	c1.AssertNoMsg()
}

func TestDeleteEvent_FollowedByResubscribe_IsNotCached(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "delete", nil)
	c.GetEvent().AssertEventName("test.model.delete").AssertData(nil)
	c.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonDeleted)
	s.Event("test.model", "custom", customEv)
	c.AssertNoMsg()

	evSubscribe(t, s, c, "test.model", false)
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestDeleteEvent_OnResourceQueuedForEviction_DoesNothing(t *testing.T) {
	t.Parallel()
	for _, rid := range []string{"test.model", "test.collection"} {
		t.Run(rid, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			evSubscribe(t, s, c, rid, false)
			c.Request("unsubscribe."+rid, nil).GetResponse().AssertNoResult()

			s.Event(rid, "delete", nil)
			c.AssertNoMsg()

			// The delete removed it from the cache: resubscribing gets it again.
			evSubscribe(t, s, c, rid, false)
		})
	}
}

func TestDeleteEvent_OnReferencedResource_SentToAllHolders(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	direct := evConnect(s)
	viaRef := evConnect(s)
	none := evConnect(s)
	evSubscribe(t, s, direct, "test.model", false)
	creq := viaRef.Request("subscribe.test.model.parent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	evRespondFixture(t, reqs.BySubject(t, "get.test.model.parent"))
	creq.GetResponse().AssertResult(evResourceSet("test.model.parent", "test.model"))
	evSubscribe(t, s, none, "test.collection", false)

	s.Event("test.model", "delete", nil)
	direct.GetEvent().AssertEventName("test.model.delete").AssertData(nil)
	direct.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonDeleted)
	// The indirect holder gets the delete, but no unsubscribe: it had no
	// direct subscription.
	viaRef.GetEvent().AssertEventName("test.model.delete").AssertData(nil)
	viaRef.AssertNoMsg()
	none.AssertNoMsg()

	s.Event("test.model", "custom", customEv)
	direct.AssertNoMsg()
	viaRef.AssertNoMsg()

	// The parent lives on.
	s.Event("test.model.parent", "custom", customEv)
	viaRef.GetEvent().AssertEventName("test.model.parent.custom").AssertData(customEv)
}

func TestDeleteEvent_ViaReset_SameAsDeleteEvent(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection.parent", false, "test.collection")
	creq := c.Request("subscribe.test.collection", nil)
	s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(json.RawMessage(`{}`))

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.collection"]}`))
	s.GetRequest().AssertSubject("get.test.collection").RespondError(resproto.ErrNotFound)
	c.GetEvent().AssertEventName("test.collection.delete").AssertData(nil)
	c.GetEvent().AssertEventName("test.collection.unsubscribe").AssertData(reasonDeleted)
	s.Event("test.collection", "add", json.RawMessage(`{"idx":0,"value":1}`))
	c.AssertNoMsg()
}
