package e2e

import (
	"encoding/json"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

func TestReaccess_Event_TriggersAccessRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	cid := evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("cid", cid).
		RespondSuccess(map[string]any{"get": true})
	c.AssertNoMsg()
	s.AssertNoRequest()
}

func TestReaccess_Granted_KeepsSubscriptions(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	s.Event("test.model.parent", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	c.AssertNoMsg()

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
	s.Event("test.model.parent", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.parent.custom").AssertData(customEv)
}

func TestReaccess_Denied_SendsUnsubscribeEvent(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		respond func(r *restest.Request)
		reason  string
	}{
		{"get false", func(r *restest.Request) { r.RespondSuccess(map[string]any{"get": false}) }, string(reasonAccessDenied)},
		{"get false with call", func(r *restest.Request) { r.RespondSuccess(map[string]any{"get": false, "call": "*"}) }, string(reasonAccessDenied)},
		{"access denied error", func(r *restest.Request) { r.RespondError(resproto.ErrAccessDenied) }, string(reasonAccessDenied)},
		{"custom error", func(r *restest.Request) {
			r.RespondError(&resproto.Error{Code: "custom.error", Message: "Custom", Data: json.RawMessage(`{"x":1}`)})
		}, `{"reason":{"code":"custom.error","message":"Custom","data":{"x":1}}}`},
		{"not found", func(r *restest.Request) { r.RespondError(resproto.ErrNotFound) }, `{"reason":{"code":"system.notFound","message":"Not found"}}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, "test.model.parent", false, "test.model")

			s.Event("test.model.parent", "reaccess", nil)
			l.respond(s.GetRequest().AssertSubject("access.test.model.parent"))
			c.GetEvent().AssertEventName("test.model.parent.unsubscribe").AssertData(json.RawMessage(l.reason))

			s.Event("test.model", "custom", customEv)
			s.Event("test.model.parent", "custom", customEv)
			c.AssertNoMsg()
			c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertError(resproto.CodeNoSubscription)
		})
	}
}

func TestReaccess_DeniedWithSeveralDirectSubscriptions_RemovesThemAll(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)
	// The access of the first subscribe is reused.
	c.Request("subscribe.test.model", nil).GetResponse().AssertResult(json.RawMessage(`{}`))
	s.AssertNoRequest()

	s.Event("test.model", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": false})
	c.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonAccessDenied)
	c.AssertNoMsg()
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertError(resproto.CodeNoSubscription)
}

func TestReaccess_DeniedOnResourceAlsoReferenced_KeepsIndirectSubscription(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")
	creq := c.Request("subscribe.test.model", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(json.RawMessage(`{}`))

	s.Event("test.model", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": false})
	c.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonAccessDenied)

	// Still held through test.model.parent.
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestReaccess_UnsubscribingParentOfPresubscribedChild_NoAccessRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)
	evSubscribe(t, s, c, "test.model.parent", false)

	c.Request("unsubscribe.test.model.parent", nil).GetResponse().AssertNoResult()
	s.AssertNoRequest()
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestReaccess_QueuesEventsOfDirectSubscriptionOnly(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	s.Event("test.model.parent", "reaccess", nil)
	req := s.GetRequest().AssertSubject("access.test.model.parent")

	s.Event("test.model.parent", "custom", customEv)
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
	c.AssertNoMsg()

	req.RespondSuccess(map[string]any{"get": true})
	c.GetEvent().AssertEventName("test.model.parent.custom").AssertData(customEv)
	c.AssertNoMsg()
}

func TestReaccess_QueuedEventsAfterDenial_AreNotSent(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "reaccess", nil)
	req := s.GetRequest().AssertSubject("access.test.model")
	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
	c.AssertNoMsg()
	req.RespondSuccess(map[string]any{"get": false})
	c.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonAccessDenied)
	c.AssertNoMsg()
}

func TestReaccess_BeforeGetResponse_IsHonoured(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		access bool
	}{
		{"denying access", false},
		{"granting access", true},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			creq := c.Request("subscribe.test.model", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})

			s.Event("test.model", "reaccess", nil)
			evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
			creq.GetResponse().AssertResult(evResourceSet("test.model"))

			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": l.access})
			if !l.access {
				c.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonAccessDenied)
				s.Event("test.model", "custom", customEv)
				c.AssertNoMsg()
				return
			}
			s.Event("test.model", "custom", customEv)
			c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
			s.AssertNoRequest()
		})
	}
}

func TestReaccess_OnCyclicReference_TriggersAccessRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.m.a", false)

	s.Event("test.m.a", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.m.a").RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	c.AssertNoMsg()
}

func TestReaccess_MultipleWhileLoading_MergedIntoOneRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})

	s.Event("test.model", "reaccess", nil)
	s.Event("test.model", "reaccess", nil)
	s.Event("test.model", "reaccess", nil)
	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	creq.GetResponse().AssertResult(evResourceSet("test.model"))

	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestReaccess_OnIndirectSubscription_IsDiscarded(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	s.Event("test.model", "reaccess", nil)
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
	s.AssertNoRequest()
}

func TestReaccess_TwoClients_EachChecksItsOwnAccess(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c1 := evConnect(s)
	c2 := evConnect(s)
	cid1 := evSubscribe(t, s, c1, "test.model", false)
	cid2 := evSubscribe(t, s, c2, "test.model", true)

	s.Event("test.model", "reaccess", nil)
	reqs := s.GetRequests(2)
	for _, r := range reqs {
		r.AssertSubject("access.test.model")
		switch r.PathPayload("cid") {
		case cid1:
			r.RespondSuccess(map[string]any{"get": true})
		case cid2:
			r.RespondSuccess(map[string]any{"get": false})
		default:
			t.Fatalf("unexpected cid in %s", r.Data)
		}
	}
	c2.GetEvent().AssertEventName("test.model.unsubscribe").AssertData(reasonAccessDenied)
	c1.AssertNoMsg()

	s.Event("test.model", "custom", customEv)
	c1.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
	c2.AssertNoMsg()
}

func TestReaccess_AfterReaccess_CallUsesNewAccess(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	// The subscribe's access (no call) is cached: a call is denied at once.
	c.Request("call.test.model.method", nil).GetResponse().AssertError(resproto.CodeAccessDenied)
	s.AssertNoRequest()

	// Reaccess replaces it.
	s.Event("test.model", "reaccess", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true, "call": "method"})
	evSync(t, s, c)
	creq := c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(42)
	creq.GetResponse().AssertResult(map[string]any{"payload": 42})
}
