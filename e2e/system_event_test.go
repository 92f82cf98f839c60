package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

func TestSystemReset_WithoutSubscriptions_DoesNothing(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		payload any
	}{
		{"resources", json.RawMessage(`{"resources":["test.>"]}`)},
		{"access", json.RawMessage(`{"access":["test.>"]}`)},
		{"empty payload", nil},
		{"empty object", json.RawMessage(`{}`)},
		{"null lists", json.RawMessage(`{"resources":null,"access":null}`)},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			s.SystemEvent("reset", l.payload)
			s.AssertNoRequest()
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)
		})
	}
}

func TestSystemReset_UnchangedResource_GetRequestAndNoEvents(t *testing.T) {
	t.Parallel()
	for _, rid := range []string{"test.model", "test.collection"} {
		t.Run(rid, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, rid, false)

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
			evRespondFixture(t, s.GetRequest().AssertSubject("get."+rid).AssertPayload(json.RawMessage(`{}`)))
			c.AssertNoMsg()
			s.AssertNoRequest()
		})
	}
}

func TestSystemReset_UpdatedResource_GeneratesEvents(t *testing.T) {
	t.Parallel()
	type event struct{ name, payload string }
	tbl := []struct {
		rid    string
		reset  string
		events []event
	}{
		{"test.model", `{"model":{"string":"foo","int":42,"bool":true,"null":null}}`, nil},
		{"test.model", `{"model":{"string":"bar","int":42,"bool":true}}`, []event{
			{"change", `{"values":{"string":"bar","null":{"action":"delete"}}}`},
		}},
		{"test.model", `{"model":{"string":"foo","int":42,"bool":true,"null":null,"child":{"rid":"test.model","soft":true}}}`, []event{
			{"change", `{"values":{"child":{"rid":"test.model","soft":true}}}`},
		}},
		{"test.model.soft", `{"model":{"name":"soft","child":null}}`, []event{
			{"change", `{"values":{"child":null}}`},
		}},
		{"test.model.data", `{"model":{"name":"data","primitive":{"data":12},"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"baz"}]}}}`, []event{
			{"change", `{"values":{"array":{"data":[{"foo":"baz"}]}}}`},
		}},
		{"test.collection", `{"collection":["foo",42,true,null]}`, nil},
		{"test.collection", `{"collection":[42,"new",true,null]}`, []event{
			{"remove", `{"idx":0}`},
			{"add", `{"idx":1,"value":"new"}`},
		}},
		{"test.collection", `{"collection":["foo",42,true,null,{"rid":"test.model","soft":true}]}`, []event{
			{"add", `{"idx":4,"value":{"rid":"test.model","soft":true}}`},
		}},
		{"test.collection", `{"collection":[]}`, []event{
			{"remove", `{"idx":3}`},
			{"remove", `{"idx":2}`},
			{"remove", `{"idx":1}`},
			{"remove", `{"idx":0}`},
		}},
		{"test.collection.soft", `{"collection":["soft"]}`, []event{
			{"remove", `{"idx":1}`},
		}},
		{"test.collection.empty", `{"collection":["a","b"]}`, []event{
			{"add", `{"idx":0,"value":"a"}`},
			{"add", `{"idx":1,"value":"b"}`},
		}},
	}
	for i, l := range tbl {
		t.Run(fmt.Sprintf("#%d %s", i+1, l.rid), func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, l.rid, false)

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
			s.GetRequest().AssertSubject("get." + l.rid).Respond(`{"result":` + l.reset + `}`)
			for _, ev := range l.events {
				c.GetEvent().AssertEventName(l.rid + "." + ev.name).AssertData(json.RawMessage(ev.payload))
			}
			c.AssertNoMsg()
		})
	}
}

func TestSystemReset_ResultingCollectionMatchesReset(t *testing.T) {
	t.Parallel()
	tbl := []struct{ from, to string }{
		{`[1,2,3]`, `[3,2,1]`},
		{`[1,2,3,4,5]`, `[0,2,4,6]`},
		{`["a","b","c"]`, `["x","a","y","c","z"]`},
		{`[1,1,2,2]`, `[2,1,2,1]`},
		{`[]`, `[1]`},
	}
	for _, l := range tbl {
		t.Run(l.from+"->"+l.to, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			evSubscribeData(t, s, c, "test.list", l.from, false)

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.list"]}`))
			s.GetRequest().AssertSubject("get.test.list").RespondCollection(json.RawMessage(l.to))

			// Apply the events the client receives to its copy.
			var list []json.RawMessage
			json.Unmarshal([]byte(l.from), &list)
			done := make(chan struct{})
			go func() {
				time.Sleep(restest.Quiet * 3)
				close(done)
			}()
			for {
				got, _ := json.Marshal(list)
				if restest.JSONEqual(json.RawMessage(got), json.RawMessage(l.to)) {
					break
				}
				ev := c.GetEvent()
				var p struct {
					Idx   int             `json:"idx"`
					Value json.RawMessage `json:"value"`
				}
				b, _ := json.Marshal(ev.Data)
				json.Unmarshal(b, &p)
				switch ev.Event {
				case "test.list.add":
					list = append(list[:p.Idx], append([]json.RawMessage{p.Value}, list[p.Idx:]...)...)
				case "test.list.remove":
					list = append(list[:p.Idx], list[p.Idx+1:]...)
				default:
					t.Fatalf("unexpected event %s", ev.Raw)
				}
			}
			c.AssertNoMsg()

			// The cache holds the reset collection too.
			c2 := evConnect(s)
			creq := c2.Request("subscribe.test.list", nil)
			s.GetRequest().AssertSubject("access.test.list").RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(json.RawMessage(`{"collections":{"test.list":` + l.to + `}}`))
		})
	}
}

func TestSystemReset_NewReferenceInReset_ChangeEventIncludesResource(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.soft", false)

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.model.soft"]}`))
	s.GetRequest().AssertSubject("get.test.model.soft").RespondModel(json.RawMessage(`{"name":"soft","child":{"rid":"test.model"}}`))
	evRespondFixture(t, s.GetRequest().AssertSubject("get.test.model"))
	c.GetEvent().AssertEventName("test.model.soft.change").
		AssertData(json.RawMessage(`{"values":{"child":{"rid":"test.model"}},"models":{"test.model":` + evData("test.model") + `}}`))

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestSystemReset_Patterns_MatchResourceNames(t *testing.T) {
	t.Parallel()
	rids := []string{"test.model", "test.model.parent", "test.collection", "other.model"}
	tbl := []struct {
		name     string
		patterns []string
		matching []string
	}{
		{"full wildcard", []string{">"}, []string{"test.model", "test.model.parent", "test.collection", "other.model"}},
		{"tail wildcard", []string{"test.>"}, []string{"test.model", "test.model.parent", "test.collection"}},
		{"exact", []string{"test.model"}, []string{"test.model"}},
		{"single token wildcard", []string{"test.*"}, []string{"test.model", "test.collection"}},
		{"wildcard first token", []string{"*.model"}, []string{"test.model", "other.model"}},
		{"wildcard in middle", []string{"test.*.parent"}, []string{"test.model.parent"}},
		{"tail after exact prefix", []string{"test.model.>"}, []string{"test.model.parent"}},
		{"several patterns", []string{"other.model", "test.collection"}, []string{"test.collection", "other.model"}},
		{"no match", []string{"nope.>"}, nil},
		{"invalid patterns skipped", []string{"test.>.model", "test..model", "", "test.mod*", "test.collection"}, []string{"test.collection"}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			for _, rid := range rids {
				evSubscribeData(t, s, c, rid, `{"name":"x"}`, false)
			}
			s.SystemEvent("reset", map[string]any{"resources": l.patterns})
			reqs := s.GetRequests(len(l.matching))
			for _, rid := range l.matching {
				reqs.BySubject(t, "get."+rid).RespondModel(json.RawMessage(`{"name":"x"}`))
			}
			s.AssertNoRequest()

			s.SystemEvent("reset", map[string]any{"access": l.patterns})
			reqs = s.GetRequests(len(l.matching))
			for _, rid := range l.matching {
				reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
			}
			s.AssertNoRequest()
			c.AssertNoMsg()
		})
	}
}

func TestSystemReset_ResourceAwaitingEviction_IsReset(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.model"]}`))
	s.GetRequest().AssertSubject("get.test.model").RespondModel(json.RawMessage(`{"string":"reset"}`))
	s.AssertNoRequest()
	c.AssertNoMsg()

	creq := c.Request("subscribe.test.model", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.model":{"string":"reset"}}}`))
}

func TestSystemReset_Access_RechecksDirectSubscriptions(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")
	evSubscribe(t, s, c, "test.collection", false)

	s.SystemEvent("reset", json.RawMessage(`{"access":["test.model.>"]}`))
	s.GetRequest().AssertSubject("access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	c.AssertNoMsg()

	for _, rid := range []string{"test.model", "test.model.parent", "test.collection"} {
		s.Event(rid, "custom", customEv)
		c.GetEvent().AssertEventName(rid + ".custom").AssertData(customEv)
	}
}

func TestSystemReset_Access_DeniedUnsubscribes(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")
	evSubscribe(t, s, c, "test.collection", false)

	s.SystemEvent("reset", json.RawMessage(`{"access":["test.model.>"]}`))
	s.GetRequest().AssertSubject("access.test.model.parent").RespondSuccess(map[string]any{"get": false})
	c.GetEvent().AssertEventName("test.model.parent.unsubscribe").AssertData(reasonAccessDenied)

	s.Event("test.model", "custom", customEv)
	s.Event("test.model.parent", "custom", customEv)
	c.AssertNoMsg()
	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)
}

func TestSystemReset_QueryModel_GetWithNormalizedQuery(t *testing.T) {
	t.Parallel()
	tbl := []struct{ query, normalized string }{
		{"foo=bar", "foo=bar"},
		{"a=b&foo=bar", "foo=bar"},
		{"", "foo=bar"},
	}
	for _, l := range tbl {
		t.Run("query="+l.query, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			rid := "test.model"
			if l.query != "" {
				rid += "?" + l.query
			}
			creq := c.Request("subscribe."+rid, nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.model").RespondSuccess(map[string]any{"model": json.RawMessage(evData("test.model")), "query": l.normalized})
			creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{rid: json.RawMessage(evData("test.model"))}})

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
			s.GetRequest().AssertSubject("get.test.model").AssertPathPayload("query", l.normalized).
				RespondModel(json.RawMessage(`{"string":"bar","int":42,"bool":true,"null":null}`))
			s.AssertNoRequest()
			c.GetEvent().AssertEventName(rid + ".change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
			c.AssertNoMsg()
		})
	}
}

func TestSystemReset_NotFound_GeneratesDeleteEvent(t *testing.T) {
	t.Parallel()
	for _, rid := range []string{"test.model", "test.collection"} {
		t.Run(rid, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, rid, false)

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
			s.GetRequest().AssertSubject("get." + rid).RespondError(resproto.ErrNotFound)
			c.GetEvent().AssertEventName(rid + ".delete").AssertData(nil)
			c.GetEvent().AssertEventName(rid + ".unsubscribe").AssertData(reasonDeleted)

			s.Event(rid, "custom", customEv)
			c.AssertNoMsg()
		})
	}
}

func TestSystemReset_FailedOrMismatchingGet_KeepsCacheAndLogs(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name  string
		rid   string
		reply string
	}{
		{"internal error on model", "test.model", `{"error":{"code":"system.internalError","message":"Internal error"}}`},
		{"internal error on collection", "test.collection", `{"error":{"code":"system.internalError","message":"Internal error"}}`},
		{"collection for model", "test.model", `{"result":{"collection":["foo",42,true,null]}}`},
		{"model for collection", "test.collection", `{"result":{"model":{"string":"foo","int":42,"bool":true,"null":null}}}`},
		{"invalid response", "test.model", `{"result":{"model":{"x":{"a":1}}}}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			evSubscribe(t, s, c, l.rid, false)

			s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
			s.GetRequest().AssertSubject("get." + l.rid).Respond(l.reply)
			c.AssertNoMsg()
			s.Event(l.rid, "custom", customEv)
			c.GetEvent().AssertEventName(l.rid + ".custom").AssertData(customEv)
			evAssertErrorsLogged(t, s, 1)

			creq := evConnect(s).Request("subscribe."+l.rid, nil)
			s.GetRequest().AssertSubject("access." + l.rid).RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(evResourceSet(l.rid))
		})
	}
}

func TestSystemReset_Timeout_KeepsCache(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = time.Second }))
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"]}`))
	s.GetRequest().AssertSubject("get.test.model") // never answered
	time.Sleep(1300 * time.Millisecond)            // past the 1 s timeout
	c.AssertNoMsg()
	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
}

func TestSystemReset_EventsDuringReset_AreNotAppliedTwice(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.collection"]}`))
	req := s.GetRequest().AssertSubject("get.test.collection")
	// The service adds an item while the reset get is in flight; the reply
	// already holds it.
	s.Event("test.collection", "add", json.RawMessage(`{"idx":4,"value":"new"}`))
	req.RespondCollection(json.RawMessage(`["foo",42,true,null,"new"]`))
	c.GetEvent().AssertEventName("test.collection.add").AssertData(json.RawMessage(`{"idx":4,"value":"new"}`))
	c.AssertNoMsg()
}

// resetThrottleSetup subscribes c to test.model.1 … test.model.n.
func resetThrottleSetup(t *testing.T, s *restest.Session, c *restest.Client, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		evSubscribeData(t, s, c, fmt.Sprintf("test.model.%d", i), fmt.Sprintf(`{"id":%d}`, i), false)
	}
}

// respondThrottled answers total requests, at most limit at a time, and
// checks that each answer lets exactly one more through.
func respondThrottled(t *testing.T, s *restest.Session, limit, total int) {
	t.Helper()
	inflight := s.GetRequests(limit)
	count := limit
	s.AssertNoRequest()
	for len(inflight) > 0 {
		r := inflight[0]
		inflight = inflight[1:]
		id := r.Subject[strings.LastIndexByte(r.Subject, '.')+1:]
		switch {
		case strings.HasPrefix(r.Subject, "get.test.model."):
			r.RespondModel(json.RawMessage(`{"id":` + id + `}`))
		case strings.HasPrefix(r.Subject, "access.test.model."):
			r.RespondSuccess(map[string]any{"get": true})
		default:
			t.Fatalf("unexpected request %s", r.Subject)
		}
		if count < total {
			inflight = append(inflight, s.GetRequest())
			count++
			s.AssertNoRequest()
		}
	}
	s.AssertNoRequest()
}

func TestSystemReset_WithThrottle_ThrottlesRequests(t *testing.T) {
	t.Parallel()
	const subs = 10
	tbl := []struct {
		name    string
		payload string
		total   int
	}{
		{"resources", `{"resources":["test.>"]}`, subs},
		{"access", `{"access":["test.>"]}`, subs},
		{"resources and access", `{"resources":["test.>"],"access":["test.>"]}`, subs * 2},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withResetThrottle(3))
			c := evConnect(s)
			resetThrottleSetup(t, s, c, subs)
			s.SystemEvent("reset", json.RawMessage(l.payload))
			respondThrottled(t, s, 3, l.total)
			c.AssertNoMsg()
		})
	}
}

func TestSystemReset_WithThrottleNotReached_SendsAllAtOnce(t *testing.T) {
	t.Parallel()
	const subs = 10
	s := restest.Start(t, withResetThrottle(40))
	c := evConnect(s)
	resetThrottleSetup(t, s, c, subs)
	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.>"],"access":["test.>"]}`))
	respondThrottled(t, s, subs*2, subs*2)
}

func TestSystemReset_WithThrottleAndReferences_AllRequestsSent(t *testing.T) {
	t.Parallel()
	const subs = 10
	s := restest.Start(t, withResetThrottle(64))
	c := evConnect(s)
	for i := 1; i <= subs; i++ {
		rid := fmt.Sprintf("test.model.%d", i)
		creq := c.Request("subscribe."+rid, nil)
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
		reqs.BySubject(t, "get."+rid).RespondModel(json.RawMessage(fmt.Sprintf(`{"id":%d,"child":{"rid":"%s.child"}}`, i, rid)))
		s.GetRequest().AssertSubject("get." + rid + ".child").RespondModel(json.RawMessage(fmt.Sprintf(`{"childId":%d}`, i)))
		creq.GetResponse()
	}
	s.SystemEvent("reset", json.RawMessage(`{"resources":["test","test.>"],"access":["test","test.>"]}`))
	// A get for every parent and child, an access for every parent only.
	reqs := s.GetRequests(subs * 3)
	for _, r := range reqs {
		method, name, _ := strings.Cut(r.Subject, ".")
		parts := strings.Split(name, ".")
		switch {
		case method == "access" && len(parts) == 3:
			r.RespondSuccess(map[string]any{"get": true})
		case method == "get" && len(parts) == 3:
			r.RespondModel(json.RawMessage(fmt.Sprintf(`{"id":%s,"child":{"rid":"%s.child"}}`, parts[2], name)))
		case method == "get" && len(parts) == 4:
			r.RespondModel(json.RawMessage(fmt.Sprintf(`{"childId":%s}`, parts[2])))
		default:
			t.Fatalf("unexpected request %s", r.Subject)
		}
	}
	s.AssertNoRequest()
	c.AssertNoMsg()
}

func TestSystemReset_AccessWithThrottle_OneRequestPerSubscriber(t *testing.T) {
	t.Parallel()
	t.Run("two connections", func(t *testing.T) {
		t.Parallel()
		s := restest.Start(t, withResetThrottle(3))
		c1 := evConnect(s)
		c2 := evConnect(s)
		evSubscribe(t, s, c1, "test.model", false)
		evSubscribe(t, s, c2, "test.model", true)
		s.SystemEvent("reset", json.RawMessage(`{"access":["test.>"]}`))
		for i := 0; i < 2; i++ {
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
		}
		s.AssertNoRequest()
	})
	t.Run("two queries", func(t *testing.T) {
		t.Parallel()
		s := restest.Start(t, withResetThrottle(3))
		c := evConnect(s)
		for _, q := range []string{"q=foo&f=1", "q=foo&f=2"} {
			creq := c.Request("subscribe.test.model?"+q, nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").AssertPathPayload("query", q).RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.model").RespondSuccess(map[string]any{"model": json.RawMessage(evData("test.model")), "query": q})
			creq.GetResponse()
		}
		s.SystemEvent("reset", json.RawMessage(`{"access":["test.>"]}`))
		for i := 0; i < 2; i++ {
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
		}
		s.AssertNoRequest()
	})
}

func TestSystemTokenReset_NoMatchingTID_NoAuthRequest(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		tid     string // tid of the connection's token; empty means no token
		payload string
	}{
		{"no token", "", `{"tids":["42"],"subject":"auth.token.renew"}`},
		{"mismatching tids", "foo", `{"tids":["bar","baz"],"subject":"auth.token.renew"}`},
		{"empty tids", "foo", `{"tids":[],"subject":"auth.token.renew"}`},
		{"token without tid", "", `{"tids":[""],"subject":"auth.token.renew"}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			cid := evSubscribe(t, s, c, "test.model", false)
			if l.tid != "" {
				s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"},"tid":"`+l.tid+`"}`))
			} else if l.name == "token without tid" {
				s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"}}`))
			}
			evSync(t, s, c)
			s.SystemEvent("tokenReset", json.RawMessage(l.payload))
			s.AssertNoRequest()
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)
		})
	}
}

func TestSystemTokenReset_MatchingTID_SendsAuthRequest(t *testing.T) {
	t.Parallel()
	token := json.RawMessage(`{"user":"foo"}`)
	s := restest.Start(t)
	c := evConnect(s)
	other := evConnect(s)
	cid := evSubscribe(t, s, c, "test.model", false)
	otherCID := other.CID()
	s.ConnEvent(cid, "token", json.RawMessage(`{"token":`+string(token)+`,"tid":"foo"}`))
	s.ConnEvent(otherCID, "token", json.RawMessage(`{"token":"x","tid":"nope"}`))
	evSync(t, s, c)
	evSync(t, s, other)

	s.SystemEvent("tokenReset", json.RawMessage(`{"tids":["bar","foo"],"subject":"token.renew"}`))
	r := s.GetRequest().AssertSubject("token.renew").
		AssertPathPayload("cid", cid).
		AssertPathPayload("token", token).
		AssertPathMissing("params").
		AssertPathMissing("isHttp").
		AssertPathMissing("query")
	if _, ok := r.PathPayload("header").(map[string]any); !ok {
		t.Fatalf("expected the connection's HTTP header in %s", r.Data)
	}
	if h, _ := r.PathPayload("host").(string); h == "" {
		t.Fatalf("expected the connection's host in %s", r.Data)
	}
	r.RespondSuccess(nil)
	s.AssertNoRequest()
	c.AssertNoMsg()
	other.AssertNoMsg()
	evAssertErrorsLogged(t, s, 0)
}

func TestSystemTokenReset_MalformedEvent_LogsError(t *testing.T) {
	t.Parallel()
	tbl := []struct{ name, payload string }{
		{"tids not an array", `{"tids":"foo","subject":"token.renew"}`},
		{"missing subject", `{"tids":["foo"]}`},
		{"invalid json", `{"tids":`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			s.SystemEvent("tokenReset", l.payload)
			evAssertErrorsLogged(t, s, 1)
			s.AssertNoRequest()
		})
	}
}

func TestSystemTokenReset_AuthReply_IsDiscarded(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		respond func(r *restest.Request)
		errors  int
	}{
		{"success", func(r *restest.Request) { r.RespondSuccess(map[string]any{"ok": true}) }, 0},
		{"custom error", func(r *restest.Request) { r.RespondError(resproto.ErrAccessDenied) }, 0},
		{"timeout", func(r *restest.Request) {}, 1},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = time.Second }))
			c := evConnect(s)
			cid := evSubscribe(t, s, c, "test.model", false)
			s.ConnEvent(cid, "token", json.RawMessage(`{"token":{"user":"foo"},"tid":"foo"}`))
			evSync(t, s, c)

			s.SystemEvent("tokenReset", json.RawMessage(`{"tids":["foo"],"subject":"token.renew"}`))
			l.respond(s.GetRequest().AssertSubject("token.renew"))
			time.Sleep(300 * time.Millisecond)
			evAssertErrorsLogged(t, s, l.errors)
			c.AssertNoMsg()

			// The connection keeps its token and subscriptions.
			s.Event("test.model", "custom", customEv)
			c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
		})
	}
}

// Resgate issue #194: a collection that a reset updates while a change event
// makes a client reference it must not have the reset's add applied twice
// for that client.
func TestBug194_ResetAndNewReference_EventNotAppliedTwice(t *testing.T) {
	t.Parallel()
	const attempts = 100
	s := restest.Start(t)
	c1 := evConnect(s)
	c2 := evConnect(s)
	addEvent := json.RawMessage(`{"idx":3,"value":4}`)
	for i := 0; i < attempts; i++ {
		coll := fmt.Sprintf("test.collection.%d", i)
		model := fmt.Sprintf("test.model.%d", i)
		evSubscribeData(t, s, c1, coll, `[1,2,3]`, false)
		evSubscribeData(t, s, c2, model, `{"string":"foo"}`, false)

		s.SystemEvent("reset", map[string]any{"resources": []string{coll}})
		s.Event(model, "change", json.RawMessage(`{"values":{"ref":{"rid":"`+coll+`"}}}`))
		s.GetRequest().AssertSubject("get." + coll).RespondCollection(json.RawMessage(`[1,2,3,4]`))

		ev := c2.GetEvent().AssertEventName(model + ".change")
		before := json.RawMessage(`{"values":{"ref":{"rid":"` + coll + `"}},"collections":{"` + coll + `":[1,2,3]}}`)
		after := json.RawMessage(`{"values":{"ref":{"rid":"` + coll + `"}},"collections":{"` + coll + `":[1,2,3,4]}}`)
		switch {
		case restest.JSONEqual(ev.Data, before):
			// The change came first: the add follows.
			c2.GetEvent().AssertEventName(coll + ".add").AssertData(addEvent)
		case restest.JSONEqual(ev.Data, after):
		default:
			t.Fatalf("attempt %d: unexpected change event %s", i, ev.Raw)
		}
		c1.GetEvent().AssertEventName(coll + ".add").AssertData(addEvent)
		// A duplicate would show up as the next attempt's first event.
	}
	c1.AssertNoMsg()
	c2.AssertNoMsg()
}

// Resgate issue #217: throttled access requests on a reset, for many
// connections holding the same resource, must not deadlock.
func TestBug217_ThrottledAccessRequestsToSameResource_NoDeadlock(t *testing.T) {
	t.Parallel()
	const conns = 32
	const limit = 3
	s := restest.Start(t, withResetThrottle(limit))
	clients := make([]*restest.Client, conns)
	for i := range clients {
		clients[i] = evConnect(s)
		evSubscribe(t, s, clients[i], "test.model", i > 0)
	}
	s.SystemEvent("reset", json.RawMessage(`{"resources":null,"access":["test.>"]}`))
	inflight := s.GetRequests(limit)
	s.AssertNoRequest()
	count := limit
	for len(inflight) > 0 {
		r := inflight[0].AssertSubject("access.test.model")
		inflight = inflight[1:]
		r.RespondSuccess(map[string]any{"get": true})
		if count < conns {
			inflight = append(inflight, s.GetRequest())
			count++
		}
	}
	s.AssertNoRequest()
	clients[0].AssertNoMsg()
	clients[conns-1].AssertNoMsg()
}

func TestSystemReset_WhileGetPending_RefetchesAndDiffs(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})

	// The reset gets the resource again even though its first get is
	// still pending.
	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.model"]}`))
	reset := s.GetRequest().AssertSubject("get.test.model")

	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	creq.GetResponse().AssertResult(evResourceSet("test.model"))

	// Events wait for the reset: they are dropped until it is answered.
	s.Event("test.model", "change", json.RawMessage(`{"values":{"int":1}}`))
	c.AssertNoMsg()
	reset.RespondModel(json.RawMessage(`{"string":"bar","int":42,"bool":true,"null":null}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
	c.AssertNoMsg()
	s.AssertNoRequest()
}

func TestSystemTokenReset_MissingSubject_LogsErrorEvenWithoutTIDs(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		payload any
		errors  int
	}{
		{"empty tids without subject", json.RawMessage(`{"tids":[]}`), 1},
		{"empty object", json.RawMessage(`{}`), 1},
		{"no payload", nil, 1},
		{"empty tids with subject", json.RawMessage(`{"tids":[],"subject":"test"}`), 0},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			s.SystemEvent("tokenReset", l.payload)
			time.Sleep(restest.Quiet)
			evAssertErrorsLogged(t, s, l.errors)
			s.AssertNoRequest()
		})
	}
}

func TestSystemReset_AccessOnIndirectOnlyResource_NoRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	s.SystemEvent("reset", json.RawMessage(`{"access":["test.model"]}`))
	s.AssertNoRequest()
	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestSystemReset_TwoMatchingPatterns_AccessCheckedPerPattern(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	// As Resgate: one access recheck per matching access pattern, one reset
	// get however many resource patterns match.
	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.model","test.>"],"access":["test.model","test.>"]}`))
	reqs := s.GetRequests(2)
	evRespondFixture(t, reqs.BySubject(t, "get.test.model"))
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	c.AssertNoMsg()
}
