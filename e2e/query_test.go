package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// Tests of query resources, after Resgate's 12query_subscribe_test.go:
// the query travels in the request payload, the service may normalize it,
// and every raw query with the same normalized query shares one cache
// entry.

// qyRID joins a resource name and a query into a resource ID.
func qyRID(name, q string) string {
	if q == "" {
		return name
	}
	return name + "?" + q
}

// qyGetReply is a get response holding data (a model or a collection) and,
// when normq is not empty, the normalized query.
func qyGetReply(data, normq string) string {
	key := "model"
	if evIsCollection(data) {
		key = "collection"
	}
	reply := `{"result":{"` + key + `":` + data
	if normq != "" {
		reply += `,"query":` + restest.Marshal(normq)
	}
	return reply + `}}`
}

// qySet is the resource set of a reply holding only rid with data.
func qySet(rid, data string) map[string]any {
	key := "models"
	if evIsCollection(data) {
		key = "collections"
	}
	return map[string]any{key: map[string]any{rid: json.RawMessage(data)}}
}

// qyAssertQuery checks the query in a request payload: q, or none at all
// when q is empty.
func qyAssertQuery(r *restest.Request, q string) *restest.Request {
	if q == "" {
		return r.AssertPathMissing("query")
	}
	return r.AssertPathPayload("query", q)
}

// qySubscribe subscribes c to the fixture name with the raw query q. The
// get request must carry q, and the service answers it with normq as the
// normalized query ("" for none).
func qySubscribe(t *testing.T, s *restest.Session, c *restest.Client, name, q, normq string) {
	t.Helper()
	rid := qyRID(name, q)
	creq := c.Request("subscribe."+rid, nil)
	reqs := s.GetRequests(2)
	qyAssertQuery(reqs.BySubject(t, "access."+name), q).RespondSuccess(map[string]any{"get": true})
	qyAssertQuery(reqs.BySubject(t, "get."+name), q).Respond(qyGetReply(evData(name), normq))
	creq.GetResponse().AssertResult(qySet(rid, evData(name)))
}

// qySubscribeCached subscribes c to name?q when the gateway already holds
// the resource: only an access request goes out, and the reply holds data.
func qySubscribeCached(t *testing.T, s *restest.Session, c *restest.Client, name, q, data string) {
	t.Helper()
	rid := qyRID(name, q)
	creq := c.Request("subscribe."+rid, nil)
	qyAssertQuery(s.GetRequest().AssertSubject("access."+name), q).RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()
	creq.GetResponse().AssertResult(qySet(rid, data))
}

// QRY-01: the query is never part of a request subject; it goes as the
// query field of the payload of access, get, call and auth requests.
func TestQuery_InPayloadNotSubject(t *testing.T) {
	t.Parallel()
	long := "q=" + strings.Repeat("x", 10000)
	for _, q := range []string{"q=foo&f=bar", "a.b=c.d", long} {
		name := q
		if len(name) > 20 {
			name = "long"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("subscribe", func(t *testing.T) {
				s := restest.Start(t)
				c := evConnect(s)
				qySubscribe(t, s, c, "test.model", q, q)
			})
			t.Run("get", func(t *testing.T) {
				s := restest.Start(t)
				c := evConnect(s)
				creq := c.Request("get.test.model?"+q, nil)
				reqs := s.GetRequests(2)
				reqs.BySubject(t, "access.test.model").AssertPathPayload("query", q).RespondSuccess(map[string]any{"get": true})
				reqs.BySubject(t, "get.test.model").AssertPathPayload("query", q).Respond(qyGetReply(evData("test.model"), q))
				creq.GetResponse().AssertResult(qySet("test.model?"+q, evData("test.model")))
			})
			t.Run("call", func(t *testing.T) {
				s := restest.Start(t)
				c := evConnect(s)
				creq := c.Request("call.test.model?"+q+".method", map[string]any{"foo": "bar"})
				s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("query", q).RespondSuccess(map[string]any{"get": true, "call": "*"})
				s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("query", q).AssertPathPayload("params", map[string]any{"foo": "bar"}).RespondSuccess(42)
				creq.GetResponse().AssertResult(map[string]any{"payload": 42})
			})
			t.Run("auth", func(t *testing.T) {
				s := restest.Start(t)
				c := evConnect(s)
				creq := c.Request("auth.test.model?"+q+".login", nil)
				s.GetRequest().AssertSubject("auth.test.model.login").AssertPathPayload("query", q).RespondSuccess("ok")
				creq.GetResponse().AssertResult(map[string]any{"payload": "ok"})
			})
		})
	}
}

// QRY-03: a query sent to a resource that does not use queries (no query
// in the get response) is served by the resource without a query, and gets
// its events under the client's RID.
func TestQuery_QueryOnNonQueryResource_ServedByBaseResource(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			qySubscribe(t, s, c, name, "q=foo&f=bar", "")

			s.Event(name, "custom", customEv)
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.custom").AssertData(customEv)
			s.AssertNoRequest()

			// The base resource is cached under its name without a query.
			c2 := evConnect(s)
			qySubscribeCached(t, s, c2, name, "", evData(name))
			s.Event(name, "custom", customEv)
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.custom").AssertData(customEv)
			c2.GetEvent().AssertEventName(name + ".custom").AssertData(customEv)
		})
	}
}

// QRY-04: a request without a query answered with a query resource: the
// client gets it under the plain RID, and events on the name do not reach
// it since they belong to the resource without a query.
func TestQuery_NonQueryRequestAnsweredWithQueryResource(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			qySubscribe(t, s, c, name, "", "q=foo&f=bar")

			s.Event(name, "custom", customEv)
			c.AssertNoMsg()
			s.AssertNoRequest()

			// The entry is shared with the normalized query.
			c2 := evConnect(s)
			qySubscribeCached(t, s, c2, name, "q=foo&f=bar", evData(name))
		})
	}
}

// QRY-12: events on the name change only the resource without a query;
// query resources get none of them, with or without normalization.
func TestQuery_SubscribedQueryResource_GetsNoEventsOfTheName(t *testing.T) {
	t.Parallel()
	tbl := []struct{ name, q, normq string }{
		{"test.model", "q=foo&f=bar", "q=foo&f=bar"},
		{"test.model", "q=foo&f=bar&ignore=true", "q=foo&f=bar"},
		{"test.collection", "q=foo&f=bar", "q=foo&f=bar"},
		{"test.collection", "q=foo&f=bar&ignore=true", "q=foo&f=bar"},
	}
	for _, l := range tbl {
		t.Run(l.name+"?"+l.q, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			qySubscribe(t, s, c, l.name, l.q, l.normq)
			s.Event(l.name, "custom", customEv)
			if evIsCollection(evData(l.name)) {
				s.Event(l.name, "add", json.RawMessage(`{"idx":0,"value":"x"}`))
			} else {
				s.Event(l.name, "change", json.RawMessage(`{"values":{"string":"x"}}`))
			}
			s.Event(l.name, "delete", nil)
			c.AssertNoMsg()
			s.AssertNoRequest()
		})
	}
}

// QRY-02: a later subscription with the same query, with the normalized
// query, or with another raw query the service normalized the same way, is
// served from the cache: only an access request goes out.
func TestQuery_FetchedFromCache(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		first  string // raw query of the first subscription
		normq  string // what the service normalizes it to
		second []string
	}{
		{"same query", "q=foo&f=bar", "q=foo&f=bar", []string{"q=foo&f=bar"}},
		{"normalized then raw queries", "q=foo&f=bar&ignore=true", "f=bar&q=foo", []string{"f=bar&q=foo", "q=foo&f=bar&ignore=true"}},
		{"raw query again", "q=foo&f=bar&ignore=true", "f=bar&q=foo", []string{"q=foo&f=bar&ignore=true"}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			qySubscribe(t, s, c, "test.model", l.first, l.normq)
			for _, q := range l.second {
				c2 := evConnect(s)
				qySubscribeCached(t, s, c2, "test.model", q, evData("test.model"))
				s.Event("test.model", "custom", customEv)
				c2.AssertNoMsg()
				s.AssertNoRequest()
			}
		})
	}
}

// Two different queries on one name are two resources: each gets its own
// access and get request.
func TestQuery_DifferentQueries_EachGetAccessAndGetRequests(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "q=foo&f=bar", "q=foo&f=bar")
	qySubscribe(t, s, c, "test.model", "q=foo&f=baz", "q=foo&f=baz")
	qySubscribe(t, s, c, "test.model", "", "")
	s.AssertNoRequest()
}

// Two raw queries in flight at once that the service normalizes the same
// way end up in one entry, and both clients get the resource.
func TestQuery_ConcurrentRawQueriesWithSameNormalization_ShareEntry(t *testing.T) {
	t.Parallel()
	for _, normFirst := range []bool{false, true} {
		name := "raw queries"
		if normFirst {
			name = "raw and normalized query"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c1 := evConnect(s)
			c2 := evConnect(s)
			q1, q2 := "q=foo&f=bar", "f=bar&q=foo&x=1"
			if normFirst {
				q1 = "f=bar&q=foo"
			}
			creq1 := c1.Request("subscribe.test.model?"+q1, nil)
			reqs1 := s.GetRequests(2)
			creq2 := c2.Request("subscribe.test.model?"+q2, nil)
			reqs2 := s.GetRequests(2)
			reqs1.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs2.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs1.BySubject(t, "get.test.model").Respond(qyGetReply(evData("test.model"), "f=bar&q=foo"))
			// The second reply holds other data; the first one to arrive is
			// what the entry holds.
			reqs2.BySubject(t, "get.test.model").Respond(qyGetReply(`{"other":true}`, "f=bar&q=foo"))
			creq1.GetResponse().AssertResult(qySet("test.model?"+q1, evData("test.model")))
			creq2.GetResponse().AssertResult(qySet("test.model?"+q2, evData("test.model")))

			// One query request for the shared entry, and both get its events.
			s.Event("test.model", "query", json.RawMessage(`{"subject":"_EVENT_01_"}`))
			s.GetRequest().AssertSubject("_EVENT_01_").AssertPayload(json.RawMessage(`{"query":"f=bar&q=foo"}`)).
				RespondSuccess(json.RawMessage(`{"events":[{"event":"change","data":{"values":{"string":"bar"}}}]}`))
			s.AssertNoRequest()
			c1.GetEvent().AssertEventName("test.model?" + q1 + ".change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
			c2.GetEvent().AssertEventName("test.model?" + q2 + ".change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
		})
	}
}

// A model referencing a query resource gets it under the referenced RID,
// the query going in the get request's payload.
func TestQuery_ReferenceToQueryResource(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	parent := `{"name":"queryparent","child":{"rid":"test.model?foo=bar"}}`
	creq := c.Request("subscribe.test.model.query.parent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.query.parent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.query.parent").RespondModel(json.RawMessage(parent))
	s.GetRequest().AssertSubject("get.test.model").AssertPathPayload("query", "foo=bar").
		Respond(qyGetReply(evData("test.model"), "foo=bar"))
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{
		"test.model.query.parent": json.RawMessage(parent),
		"test.model?foo=bar":      json.RawMessage(evData("test.model")),
	}})
	s.AssertNoRequest()
}

// QRY-11: a query resource leaves the cache as soon as its last
// subscriber goes, even while the name is kept by the unsubscribe delay;
// the resource without a query stays cached.
func TestQuery_Unsubscribed_LeavesCacheAtOnce(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "", "")
	qySubscribe(t, s, c, "test.model", "q=foo", "q=foo")
	c.Request("unsubscribe.test.model?q=foo", nil).GetResponse().AssertNoResult()
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()

	c2 := evConnect(s)
	qySubscribeCached(t, s, c2, "test.model", "", evData("test.model"))
	qySubscribe(t, s, c2, "test.model", "q=foo", "q=foo")
}

// A query resource that fails to load is not cached: the next subscription
// asks again.
func TestQuery_GetError_NotCached(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	creq := c.Request("subscribe.test.model?q=bad", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").RespondError(&resproto.Error{Code: resproto.CodeInvalidQuery, Message: "Invalid query"})
	creq.GetResponse().AssertError(resproto.CodeInvalidQuery, "Invalid query")

	qySubscribe(t, s, c, "test.model", "q=bad", "q=bad")
}

// A reaccess event on the name reaches the subscribers of the resource
// without a query only, as in Resgate: those of query resources, and of a
// plain RID linked to a query resource, are not asked about.
func TestQuery_ReaccessEvent_OnlyBaseResourceSubscribers(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		q      string
		normq  string
		access bool // whether an access request follows
	}{
		{"query resource", "q=foo", "q=foo", false},
		{"plain RID linked to a query resource", "", "q=foo", false},
		{"query RID served by the base resource", "q=foo", "", true},
		{"base resource", "", "", true},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			qySubscribe(t, s, c, "test.model", l.q, l.normq)
			s.Event("test.model", "reaccess", nil)
			if !l.access {
				s.AssertNoRequest()
				return
			}
			qyAssertQuery(s.GetRequest().AssertSubject("access.test.model"), l.q).RespondSuccess(map[string]any{"get": false})
			c.GetEvent().AssertEventName(qyRID("test.model", l.q) + ".unsubscribe").AssertData(reasonAccessDenied)
			c.AssertNoMsg()
		})
	}
}

// The get response for a raw query may arrive before that of the query
// it is normalized to, whose own get request is in flight: the first
// response serves the subscribers of both, each loaded once, and both keep
// getting the entry's events. (Resgate loads the first ones a second time
// on the later response, after which they get no more events.)
func TestQuery_NormalizedQueryAnsweredAfterRawQuery(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name      string
		norm, raw string // the normalized query, and a raw one
		fail      bool   // whether the normalized query's own get fails
	}{
		{"query resource", "f=bar&q=foo", "q=foo&f=bar", false},
		{"query resource, own get failing", "f=bar&q=foo", "q=foo&f=bar", true},
		{"query served by the base resource", "", "q=foo", false},
		{"base linked to a query resource", "q=default", "", false},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c1 := evConnect(s)
			c2 := evConnect(s)
			rid1, rid2 := qyRID("test.model", l.norm), qyRID("test.model", l.raw)
			creq1 := c1.Request("subscribe."+rid1, nil)
			reqs1 := s.GetRequests(2)
			creq2 := c2.Request("subscribe."+rid2, nil)
			reqs2 := s.GetRequests(2)
			reqs1.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs2.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs2.BySubject(t, "get.test.model").Respond(qyGetReply(evData("test.model"), l.norm))
			creq2.GetResponse().AssertResult(qySet(rid2, evData("test.model")))
			if l.fail {
				// Too late to matter: the resource is loaded.
				reqs1.BySubject(t, "get.test.model").RespondError(resproto.ErrInternalError)
			} else {
				reqs1.BySubject(t, "get.test.model").Respond(qyGetReply(`{"other":true}`, l.norm))
			}
			creq1.GetResponse().AssertResult(qySet(rid1, evData("test.model")))
			s.AssertNoRequest()
			c1.AssertNoMsg()
			c2.AssertNoMsg()

			for i := 0; i < 2; i++ {
				data := fmt.Sprintf(`{"values":{"string":"v%d"}}`, i)
				if l.norm == "" {
					s.Event("test.model", "change", json.RawMessage(data))
				} else {
					s.Event("test.model", "query", qeEvent)
					s.GetRequest().AssertSubject("_EVENT_01_").AssertPayload(json.RawMessage(`{"query":"` + l.norm + `"}`)).
						RespondSuccess(json.RawMessage(`{"events":[{"event":"change","data":` + data + `}]}`))
				}
				c1.GetEvent().AssertEventName(rid1 + ".change").AssertData(json.RawMessage(data))
				c2.GetEvent().AssertEventName(rid2 + ".change").AssertData(json.RawMessage(data))
			}
			s.AssertNoRequest()
			c1.AssertNoMsg()
			c2.AssertNoMsg()

			// Both unsubscribe; a query resource is released, and a new
			// subscription gets it again.
			c1.Request("unsubscribe."+rid1, nil).GetResponse().AssertNoResult()
			c2.Request("unsubscribe."+rid2, nil).GetResponse().AssertNoResult()
			if l.norm != "" {
				qySubscribe(t, s, evConnect(s), "test.model", l.raw, l.norm)
			}
		})
	}
}
