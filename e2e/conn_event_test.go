package e2e

import (
	"encoding/json"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

func TestConnEvent_Token_SentOnLaterRequests(t *testing.T) {
	t.Parallel()
	token := json.RawMessage(`{"user":"foo"}`)
	s := restest.Start(t)
	c := evConnect(s)
	cid := c.CID()
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":`+string(token)+`}`))
	evSync(t, s, c)

	// Subscribe: the access request carries the token.
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("token", token).AssertPathPayload("cid", cid).
		RespondSuccess(map[string]any{"get": true})
	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	creq.GetResponse().AssertResult(evResourceSet("test.model"))

	// Call: both the access and the call request carry it.
	creq = c.Request("call.test.callmodel.method", map[string]any{"a": 1})
	s.GetRequest().AssertSubject("access.test.callmodel").AssertPathPayload("token", token).
		RespondSuccess(map[string]any{"get": false, "call": "*"})
	s.GetRequest().AssertSubject("call.test.callmodel.method").AssertPathPayload("token", token).
		AssertPathPayload("params", map[string]any{"a": 1}).RespondSuccess("ok")
	creq.GetResponse().AssertResult(map[string]any{"payload": "ok"})

	// Auth: no access request; the auth request carries it.
	creq = c.Request("auth.test.auth.login", nil)
	s.GetRequest().AssertSubject("auth.test.auth.login").AssertPathPayload("token", token).RespondSuccess(nil)
	creq.GetResponse().AssertResult(map[string]any{"payload": nil})
}

func TestConnEvent_Token_LastTokenIsUsed(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name  string
		event string
		token any
	}{
		{"first token", `{"token":{"user":"foo","token":1}}`, json.RawMessage(`{"user":"foo","token":1}`)},
		{"second token", `{"token":{"user":"bar","token":2}}`, json.RawMessage(`{"user":"bar","token":2}`)},
		{"string token", `{"token":"secret"}`, "secret"},
		{"null token clears", `{"token":null}`, nil},
		{"missing token clears", `{}`, nil},
	}
	s := restest.Start(t)
	c := evConnect(s)
	cid := c.CID()
	for _, l := range tbl {
		s.ConnEvent(cid, "token", json.RawMessage(l.event))
		evSync(t, s, c)
		creq := c.Request("call.test.model.method", nil)
		s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", l.token).
			RespondSuccess(map[string]any{"get": false})
		creq.GetResponse().AssertError(resproto.CodeAccessDenied)
	}
}

func TestConnEvent_Token_AppliedBeforeAuthReply(t *testing.T) {
	t.Parallel()
	token := json.RawMessage(`{"user":"foo"}`)
	s := restest.Start(t)
	c := evConnect(s)

	creq := c.Request("auth.test.auth.login", map[string]any{"password": "x"})
	req := s.GetRequest().AssertSubject("auth.test.auth.login").AssertPathPayload("token", nil)
	cid, _ := req.PathPayload("cid").(string)
	// A service sets the token before it replies.
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":`+string(token)+`}`))
	req.RespondSuccess(map[string]any{"ok": true})
	creq.GetResponse().AssertResult(map[string]any{"payload": map[string]any{"ok": true}})

	creq = c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("token", token).RespondSuccess(map[string]any{"get": true})
	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	creq.GetResponse().AssertResult(evResourceSet("test.model"))
	// Setting the first token does not trigger a reaccess.
	s.AssertNoRequest()
}

func TestConnEvent_FirstToken_DoesNotTriggerReaccess(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	cid := evSubscribe(t, s, c, "test.model", false)
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"}}`))
	s.AssertNoRequest()
	c.AssertNoMsg()

	// The token is set all the same.
	creq := c.Request("call.test.other.method", nil)
	s.GetRequest().AssertSubject("access.test.other").AssertPathPayload("token", map[string]any{"user": "foo"}).
		RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertError(resproto.CodeAccessDenied)
}

func TestConnEvent_TokenChange_TriggersReaccessOnDirectSubscriptions(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		first  string
		second string
	}{
		{"same token again", `{"token":{"user":"foo"}}`, `{"token":{"user":"foo"}}`},
		{"new token", `{"token":{"user":"foo"}}`, `{"token":{"user":"bar"}}`},
		{"token cleared", `{"token":{"user":"foo"}}`, `{"token":null}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			cid := c.CID()
			s.ConnEvent(cid, "token", json.RawMessage(l.first))
			evSubscribe(t, s, c, "test.model.parent", false, "test.model")
			evSubscribe(t, s, c, "test.collection", false)

			s.ConnEvent(cid, "token", json.RawMessage(l.second))
			var te struct {
				Token json.RawMessage `json:"token"`
			}
			json.Unmarshal([]byte(l.second), &te)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model.parent").AssertPathPayload("token", te.Token).RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "access.test.collection").AssertPathPayload("token", te.Token).RespondSuccess(map[string]any{"get": true})
			// The indirectly subscribed test.model is not checked.
			s.AssertNoRequest()
			c.AssertNoMsg()

			for _, rid := range []string{"test.model", "test.model.parent", "test.collection"} {
				s.Event(rid, "custom", customEv)
				c.GetEvent().AssertEventName(rid + ".custom").AssertData(customEv)
			}
		})
	}
}

func TestConnEvent_TokenChange_DeniedAccessUnsubscribes(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	cid := c.CID()
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"}}`))
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")
	evSubscribe(t, s, c, "test.collection", false)

	s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"}}`))
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": false})
	reqs.BySubject(t, "access.test.collection").RespondError(resproto.ErrAccessDenied)

	evs := evEvents(t, c, 2)
	for _, rid := range []string{"test.model.parent", "test.collection"} {
		ev := evs[rid+".unsubscribe"]
		if ev == nil {
			t.Fatalf("expected %s.unsubscribe, got %v", rid, evs)
		}
		ev.AssertData(reasonAccessDenied)
	}
	for _, rid := range []string{"test.model", "test.model.parent", "test.collection"} {
		s.Event(rid, "custom", customEv)
	}
	c.AssertNoMsg()

	// The subscriptions are gone.
	c.Request("unsubscribe.test.collection", nil).GetResponse().AssertError(resproto.CodeNoSubscription)
}

func TestConnEvent_TokenChange_ReaccessWithServiceError_ReasonIsTheError(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	cid := c.CID()
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":"a"}`))
	evSubscribe(t, s, c, "test.model", false)

	s.ConnEvent(cid, "token", json.RawMessage(`{"token":"b"}`))
	s.GetRequest().AssertSubject("access.test.model").RespondError(&resproto.Error{Code: "custom.noway", Message: "No way"})
	c.GetEvent().AssertEventName("test.model.unsubscribe").
		AssertData(json.RawMessage(`{"reason":{"code":"custom.noway","message":"No way"}}`))
}

func TestConnEvent_OtherConnectionsAndEvents_AreIgnored(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c1 := evConnect(s)
	c2 := evConnect(s)
	cid1 := c1.CID()
	s.ConnEvent(cid1, "token", json.RawMessage(`{"token":"one"}`))
	// Unknown connection events and a malformed token are not applied.
	s.ConnEvent(cid1, "custom", json.RawMessage(`{"token":"two"}`))
	s.ConnEvent(cid1, "token", "{broken")
	s.ConnEvent("nosuchcid", "token", json.RawMessage(`{"token":"three"}`))
	evSync(t, s, c1)
	evAssertErrorsLogged(t, s, 1)

	creq := c1.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", "one").RespondSuccess(map[string]any{"get": false})
	creq.GetResponse().AssertError(resproto.CodeAccessDenied)

	creq = c2.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", nil).RespondSuccess(map[string]any{"get": false})
	creq.GetResponse().AssertError(resproto.CodeAccessDenied)
	c1.AssertNoMsg()
	c2.AssertNoMsg()
}

func TestConnEvent_TokenEventWithoutToken_ClearsTokenWithoutLaterReaccess(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	cid := c.CID()
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":"a"}`))
	evSync(t, s, c)
	evSubscribe(t, s, c, "test.model", false)

	// A token event without a token replaces a set token: reaccess.
	s.ConnEvent(cid, "token", json.RawMessage(`{"tid":"x"}`))
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", nil).RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()

	// The connection has no token now, so the next one is a first token.
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":"b"}`))
	s.AssertNoRequest()
	c.AssertNoMsg()

	// An explicit null token is a token: the next change rechecks access.
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":null}`))
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", nil).RespondSuccess(map[string]any{"get": true})
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":"c"}`))
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", "c").RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	c.AssertNoMsg()
}
