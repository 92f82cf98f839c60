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

// Tests of query events, after Resgate's 13query_event_test.go: on
// event.<name>.query {"subject":s} the gateway sends {"query":normalized}
// to s once for every loaded query resource of the name, and applies the
// answer to that resource.

// qeEvent is the query event the tests send.
var qeEvent = json.RawMessage(`{"subject":"_EVENT_01_"}`)

// qeQueryRequests returns the next n query requests, on _EVENT_01_, keyed
// by their query.
func qeQueryRequests(t *testing.T, s *restest.Session, n int) map[string]*restest.Request {
	t.Helper()
	m := make(map[string]*restest.Request, n)
	for _, r := range s.GetRequests(n) {
		r.AssertSubject("_EVENT_01_")
		q, _ := r.PathPayload("query").(string)
		if m[q] != nil {
			t.Fatalf("two query requests for query %q", q)
		}
		m[q] = r
	}
	return m
}

// qeStart starts a session with one client subscribed to name with each
// of the raw queries, normalized to themselves.
func qeStart(t *testing.T, name string, queries ...string) (*restest.Session, *restest.Client) {
	t.Helper()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	for _, q := range queries {
		qySubscribe(t, s, c, name, q, q)
	}
	return s, c
}

// QRY-05: one query request per loaded query resource, with its normalized
// query; an answer with no events (an empty array, or none at all) changes
// nothing and logs nothing.
func TestQueryEvent_SendsQueryRequest(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		for _, reply := range []string{`{"events":[]}`, `{}`} {
			t.Run(name+" "+reply, func(t *testing.T) {
				t.Parallel()
				s, c := qeStart(t, name, "q=foo&f=bar")
				s.Event(name, "query", qeEvent)
				s.GetRequest().AssertSubject("_EVENT_01_").AssertPayload(json.RawMessage(`{"query":"q=foo&f=bar"}`)).
					RespondSuccess(json.RawMessage(reply))
				s.AssertNoRequest()
				c.AssertNoMsg()
				evAssertErrorsLogged(t, s, 0)
			})
		}
	}
}

func TestQueryEvent_MultipleQueries_OneRequestEach(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, name, "q=foo&f=bar", "q=foo&f=baz")
			s.Event(name, "query", qeEvent)
			reqs := qeQueryRequests(t, s, 2)
			for _, q := range []string{"q=foo&f=bar", "q=foo&f=baz"} {
				if reqs[q] == nil {
					t.Fatalf("no query request for %s", q)
				}
				reqs[q].RespondSuccess(json.RawMessage(`{}`))
			}
			s.AssertNoRequest()
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)
		})
	}
}

// The same with the queries held by two clients.
func TestQueryEvent_MultipleClientsWithDifferentQueries(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c1 := evConnect(s)
	c2 := evConnect(s)
	qySubscribe(t, s, c1, "test.collection", "q=foo&f=bar", "q=foo&f=bar")
	qySubscribe(t, s, c2, "test.collection", "q=zoo&f=baz", "q=zoo&f=baz")
	s.Event("test.collection", "query", qeEvent)
	reqs := qeQueryRequests(t, s, 2)
	reqs["q=foo&f=bar"].RespondSuccess(json.RawMessage(`{"events":[]}`))
	reqs["q=zoo&f=baz"].RespondSuccess(json.RawMessage(`{"events":[{"event":"add","data":{"idx":0,"value":"zoo"}}]}`))
	c2.GetEvent().AssertEventName("test.collection?q=zoo&f=baz.add").AssertData(json.RawMessage(`{"idx":0,"value":"zoo"}`))
	c1.AssertNoMsg()
	c2.AssertNoMsg()
}

// Raw queries sharing a normalized query share one resource, and so one
// query request; every client RID gets the resulting events.
func TestQueryEvent_SameNormalizedQuery_SingleRequestEventsToEveryRID(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name  string
		reply string
		event string
		data  string
	}{
		{"test.model", `{}`, "", ""},
		{"test.collection", `{}`, "", ""},
		{"test.model", `{"events":[{"event":"change","data":{"values":{"string":"bar","int":-12}}}]}`, "change", `{"values":{"string":"bar","int":-12}}`},
		{"test.collection", `{"events":[{"event":"add","data":{"idx":1,"value":"bar"}}]}`, "add", `{"idx":1,"value":"bar"}`},
	}
	for _, l := range tbl {
		t.Run(l.name+" "+l.reply, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			qySubscribe(t, s, c, l.name, "q=foo&f=bar", "f=bar&q=foo")
			qySubscribe(t, s, c, l.name, "f=bar&q=foo&fake=1", "f=bar&q=foo")

			s.Event(l.name, "query", qeEvent)
			s.GetRequest().AssertSubject("_EVENT_01_").AssertPayload(json.RawMessage(`{"query":"f=bar&q=foo"}`)).
				RespondSuccess(json.RawMessage(l.reply))
			s.AssertNoRequest()
			if l.event != "" {
				evs := evEvents(t, c, 2)
				for _, rid := range []string{l.name + "?q=foo&f=bar", l.name + "?f=bar&q=foo&fake=1"} {
					ev := evs[rid+"."+l.event]
					if ev == nil {
						t.Fatalf("no %s event for %s", l.event, rid)
					}
					ev.AssertData(json.RawMessage(l.data))
				}
			}
			c.AssertNoMsg()
		})
	}
}

// QRY-06: the events of the answer are applied in order, sent to the
// client, and update the cache.
func TestQueryEvent_EventsResult_AppliedAndCached(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		reply  string
		events []string // name and data of the expected client events
		cached string
	}{
		{
			"test.model",
			`{"events":[{"event":"change","data":{"values":{"string":"bar","int":-12}}}]}`,
			[]string{"change", `{"values":{"string":"bar","int":-12}}`},
			`{"string":"bar","int":-12,"bool":true,"null":null}`,
		},
		{
			"test.model",
			`{"events":[{"event":"custom","data":{"foo":"bar"}},{"event":"change","data":{"values":{"null":{"action":"delete"}}}}]}`,
			[]string{"custom", `{"foo":"bar"}`, "change", `{"values":{"null":{"action":"delete"}}}`},
			`{"string":"foo","int":42,"bool":true}`,
		},
		{
			"test.collection",
			`{"events":[{"event":"add","data":{"idx":1,"value":"bar"}},{"event":"remove","data":{"idx":4}}]}`,
			[]string{"add", `{"idx":1,"value":"bar"}`, "remove", `{"idx":4}`},
			`["foo","bar",42,true]`,
		},
	}
	for i, l := range tbl {
		t.Run(fmt.Sprintf("%s #%d", l.name, i), func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, l.name, "q=foo&f=bar")
			s.Event(l.name, "query", qeEvent)
			s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(l.reply))
			for j := 0; j < len(l.events); j += 2 {
				c.GetEvent().AssertEventName(l.name + "?q=foo&f=bar." + l.events[j]).AssertData(json.RawMessage(l.events[j+1]))
			}
			c.AssertNoMsg()

			c2 := evConnect(s)
			qySubscribeCached(t, s, c2, l.name, "q=foo&f=bar", l.cached)
		})
	}
}

// Different query resources get the events of their own answers.
func TestQueryEvent_MultipleQueries_EachGetsItsOwnEvents(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		events map[string]string // query to event data
		event  string
	}{
		{"test.model", map[string]string{"q=foo&f=bar": `{"values":{"string":"barbar"}}`, "q=foo&f=baz": `{"values":{"string":"barbaz"}}`}, "change"},
		{"test.collection", map[string]string{"q=foo&f=bar": `{"idx":1,"value":"bar"}`, "q=foo&f=baz": `{"idx":1,"value":"baz"}`}, "add"},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, l.name, "q=foo&f=bar", "q=foo&f=baz")
			s.Event(l.name, "query", qeEvent)
			reqs := qeQueryRequests(t, s, 2)
			for q, data := range l.events {
				reqs[q].RespondSuccess(json.RawMessage(`{"events":[{"event":"` + l.event + `","data":` + data + `}]}`))
			}
			evs := evEvents(t, c, 2)
			for q, data := range l.events {
				ev := evs[l.name+"?"+q+"."+l.event]
				if ev == nil {
					t.Fatalf("no event for %s", q)
				}
				ev.AssertData(json.RawMessage(data))
			}
			c.AssertNoMsg()
		})
	}
}

// A query event on a name without query resources sends nothing.
func TestQueryEvent_NoQueryResource_NoRequest(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, name, "")
			s.Event(name, "query", qeEvent)
			s.AssertNoRequest()
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)
		})
	}
}

// A query resource serving a subscription without a query (QRY-04) is a
// query resource all the same: it gets query requests, and the events go
// to the client under its plain RID.
func TestQueryEvent_OnQueryResourceOfPlainRID(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "", "q=default")
	s.Event("test.model", "query", qeEvent)
	s.GetRequest().AssertSubject("_EVENT_01_").AssertPayload(json.RawMessage(`{"query":"q=default"}`)).
		RespondSuccess(json.RawMessage(`{"events":[{"event":"change","data":{"values":{"string":"bar"}}}]}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
	c.AssertNoMsg()
}

// A query resource served by the resource without a query (QRY-03) is no
// query resource: no query request.
func TestQueryEvent_OnQueryRIDServedByBaseResource_NoRequest(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "q=foo", "")
	s.Event("test.model", "query", qeEvent)
	s.AssertNoRequest()
	c.AssertNoMsg()
}

// A malformed query event, or one without a subject, is logged and sends
// nothing.
func TestQueryEvent_Invalid_LoggedNoRequest(t *testing.T) {
	t.Parallel()
	for i, payload := range []string{"", `{}`, `{"subject":BROKEN}`, `{"subject":42}`, `{"subject":""}`} {
		t.Run(fmt.Sprintf("#%d %s", i+1, payload), func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, "test.model", "q=foo&f=bar")
			s.Event("test.model", "query", payload)
			s.AssertNoRequest()
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 1)
		})
	}
}

// QRY-09: other events on the name wait until every query answer is
// handled, whatever order the answers come in.
func TestQueryEvent_OtherEventsWaitForQueryAnswers(t *testing.T) {
	t.Parallel()
	for _, queries := range [][]string{{"q=foo&f=bar"}, {"q=foo&f=bar", "q=foo&f=baz"}} {
		t.Run(fmt.Sprint(len(queries), " queries"), func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, "test.model", append([]string{""}, queries...)...)
			s.Event("test.model", "query", qeEvent)
			s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar","int":-12}}`))
			reqs := qeQueryRequests(t, s, len(queries))
			// Nothing reaches the client while answers are missing, not even
			// the change on the resource without a query.
			c.AssertNoMsg()
			for i, q := range queries {
				reqs[q].RespondSuccess(json.RawMessage(fmt.Sprintf(`{"events":[{"event":"change","data":{"values":{"string":"q%d"}}}]}`, i)))
				if i < len(queries)-1 {
					c.GetEvent().AssertEventName("test.model?" + q + ".change")
					c.AssertNoMsg()
				}
			}
			if len(queries) == 1 {
				c.GetEvent().AssertEventName("test.model?" + queries[0] + ".change").AssertData(json.RawMessage(`{"values":{"string":"q0"}}`))
			} else {
				c.GetEvent().AssertEventName("test.model?" + queries[len(queries)-1] + ".change")
			}
			c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar","int":-12}}`))
			c.AssertNoMsg()
		})
	}
}

// QRY-08: an unanswered query request does not hold other events longer
// than the request timeout, and its timeout is not an error (it is warned
// of: the query resource may be stale). (Not parallel, so that only the
// request meant to time out does.)
func TestQueryEvent_Timeout_IgnoredAndReleasesEvents(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = time.Second }))
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "", "")
	qySubscribe(t, s, c, "test.model", "q=foo", "q=foo")
	// The clock starts before the query event is sent: the gateway's
	// query request, and its timer, come after.
	start := time.Now()
	s.Event("test.model", "query", qeEvent)
	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
	s.GetRequest().AssertSubject("_EVENT_01_") // never answered
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
	if d := time.Since(start); d < time.Second-10*time.Millisecond {
		t.Fatalf("change event sent after %v, before the query request timed out", d)
	}
	evAssertErrorsLogged(t, s, 0)
	if line := waitLog(t, s, "query request got no reply"); !strings.Contains(line, "level=WARN") || !strings.Contains(line, `query="q=foo"`) {
		t.Errorf("warning %q lacks level or query", line)
	}

	// The query resource is still there.
	s.Event("test.model", "query", qeEvent)
	s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(`{"events":[{"event":"change","data":{"values":{"string":"baz"}}}]}`))
	c.GetEvent().AssertEventName("test.model?q=foo.change").AssertData(json.RawMessage(`{"values":{"string":"baz"}}`))
}

// A query event whose subject has no responders: the request fails at
// once, which is ignored as Resgate ignores every failed query request.
func TestQueryEvent_NoResponders_Ignored(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, restest.WithoutService())
	s.Serve("access.>")
	s.Serve("get.>")
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "", "")
	qySubscribe(t, s, c, "test.model", "q=foo", "q=foo")
	s.Event("test.model", "query", qeEvent)
	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
	c.AssertNoMsg()
	evAssertErrorsLogged(t, s, 0)
}

// QRY-10: a query event while the query resource still waits for its get
// response sends no query request, and is not applied later.
func TestQueryEvent_BeforeGetResponse_Discarded(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.model?foo=bar", nil)
	reqs := s.GetRequests(2)
	s.Event("test.model", "query", qeEvent)
	reqs.BySubject(t, "get.test.model").Respond(qyGetReply(evData("test.model"), "foo=baz"))
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(qySet("test.model?foo=bar", evData("test.model")))
	s.AssertNoRequest()
	c.AssertNoMsg()
	evAssertErrorsLogged(t, s, 0)
}

// QRY-07: a model or collection answer is diffed against the cached
// resource into change, or remove and add, events.
func TestQueryEvent_ResourceResult_DiffedIntoEvents(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		reply  string
		events []string
		cached string
	}{
		{
			"test.model", `{"model":{"string":"bar","int":-12,"bool":true}}`,
			[]string{"change", `{"values":{"string":"bar","int":-12,"null":{"action":"delete"}}}`},
			`{"string":"bar","int":-12,"bool":true}`,
		},
		{"test.model", `{"model":{"string":"foo","int":42,"bool":true,"null":null}}`, nil, evData("test.model")},
		{
			"test.collection", `{"collection":["foo","bar",42,true]}`,
			[]string{"remove", `{"idx":3}`, "add", `{"idx":1,"value":"bar"}`},
			`["foo","bar",42,true]`,
		},
		{"test.collection", `{"collection":["foo",42,true,null]}`, nil, evData("test.collection")},
		{
			"test.collection", `{"collection":[]}`,
			[]string{"remove", `{"idx":3}`, "remove", `{"idx":2}`, "remove", `{"idx":1}`, "remove", `{"idx":0}`},
			`[]`,
		},
	}
	for i, l := range tbl {
		t.Run(fmt.Sprintf("%s #%d", l.name, i), func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, l.name, "q=foo&f=bar")
			s.Event(l.name, "query", qeEvent)
			s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(l.reply))
			for j := 0; j < len(l.events); j += 2 {
				c.GetEvent().AssertEventName(l.name + "?q=foo&f=bar." + l.events[j]).AssertData(json.RawMessage(l.events[j+1]))
			}
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)
			qySubscribeCached(t, s, evConnect(s), l.name, "q=foo&f=bar", l.cached)
		})
	}
}

// A model answer with a new reference loads the referenced resource and
// sends it along with the change event.
func TestQueryEvent_ModelResultWithNewReference_IncludesResource(t *testing.T) {
	t.Parallel()
	s, c := qeStart(t, "test.model", "q=foo")
	s.Event("test.model", "query", qeEvent)
	s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(`{"model":{"string":"foo","int":42,"bool":true,"null":null,"ref":{"rid":"test.collection"}}}`))
	s.GetRequest().AssertSubject("get.test.collection").RespondCollection(json.RawMessage(evData("test.collection")))
	c.GetEvent().AssertEventName("test.model?q=foo.change").AssertData(json.RawMessage(
		`{"values":{"ref":{"rid":"test.collection"}},"collections":{"test.collection":["foo",42,true,null]}}`))
	c.AssertNoMsg()
}

// A model answer for a collection, or the reverse, is logged and changes
// nothing; so is an invalid answer.
func TestQueryEvent_InvalidResult_Logged(t *testing.T) {
	t.Parallel()
	tbl := map[string][]string{
		"test.model": {
			`{"collection":["foo","bar",42,true]}`,
			`{"events":"foo"}`,
			`{"model":[]}`,
			`{"collection":[]}`,
			`{"model":{},"events":[]}`,
			`{"model":{"string":"bar"},"events":[]}`,
			`{"model":{},"events":[{"event":"change","data":{"values":{"string":"bar","int":-12}}}]}`,
			`{"model":{"string":"bar"},"events":[{"event":"change","data":{"values":{"string":"bar","int":-12}}}]}`,
			`{"model":{"x":{"foo":"bar"}}}`,
		},
		"test.collection": {
			`{"model":{"string":"bar","int":-12,"bool":true}}`,
			`{"events":"foo"}`,
			`{"collection":{}}`,
			`{"model":{}}`,
			`{"collection":[],"events":[]}`,
			`{"collection":["foo","bar"],"events":[]}`,
			`{"collection":[],"events":[{"event":"add","data":{"idx":1,"value":"bar"}}]}`,
			`{"collection":["foo","bar"],"events":[{"event":"add","data":{"idx":1,"value":"bar"}}]}`,
			`{"collection":[["foo"]]}`,
		},
	}
	for name, replies := range tbl {
		for i, reply := range replies {
			t.Run(fmt.Sprintf("%s #%d", name, i+1), func(t *testing.T) {
				t.Parallel()
				s, c := qeStart(t, name, "q=foo&f=bar")
				s.Event(name, "query", qeEvent)
				s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(reply))
				c.AssertNoMsg()
				evAssertErrorsLogged(t, s, 1)
				qySubscribeCached(t, s, evConnect(s), name, "q=foo&f=bar", evData(name))
			})
		}
	}
}

// QRY-08: a system.notFound answer deletes the query resource: the client
// gets delete and unsubscribe events, and later query events send nothing
// for it.
func TestQueryEvent_NotFound_DeletesResource(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, name, "q=foo&f=bar")
			s.Event(name, "query", qeEvent)
			s.GetRequest().AssertSubject("_EVENT_01_").RespondError(resproto.ErrNotFound)
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.delete").AssertData(nil)
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.unsubscribe").AssertData(reasonDeleted)
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 0)

			s.Event(name, "query", json.RawMessage(`{"subject":"_EVENT_02_"}`))
			s.AssertNoRequest()
			// Not cached any more: a new subscription fetches it again.
			qySubscribe(t, s, evConnect(s), name, "q=foo&f=bar", "q=foo&f=bar")
		})
	}
}

// Any other error answer is logged and changes nothing; the next query
// event asks again.
func TestQueryEvent_ErrorResult_LoggedResourceKept(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test.model", "test.collection"} {
		for _, e := range []*resproto.Error{resproto.ErrInternalError, {Code: "custom.error", Message: "Custom"}} {
			t.Run(name+" "+e.Code, func(t *testing.T) {
				t.Parallel()
				s, c := qeStart(t, name, "q=foo&f=bar")
				s.Event(name, "query", qeEvent)
				s.GetRequest().AssertSubject("_EVENT_01_").RespondError(e)
				c.AssertNoMsg()
				evAssertErrorsLogged(t, s, 1)

				s.Event(name, "query", json.RawMessage(`{"subject":"_EVENT_02_"}`))
				s.GetRequest().AssertSubject("_EVENT_02_").AssertPayload(json.RawMessage(`{"query":"q=foo&f=bar"}`)).
					RespondSuccess(json.RawMessage(`{"events":[]}`))
				c.AssertNoMsg()
			})
		}
	}
}

// A delete event among the answer's events deletes the resource; the
// events after it are not sent.
func TestQueryEvent_DeleteEvent_DeletesFromCache(t *testing.T) {
	t.Parallel()
	tbl := map[string]string{
		"test.model":      `{"events":[{"event":"delete"},{"event":"change","data":{"values":{"string":"bar","int":-12}}}]}`,
		"test.collection": `{"events":[{"event":"delete"},{"event":"add","data":{"idx":1,"value":"bar"}}]}`,
	}
	for name, reply := range tbl {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c := qeStart(t, name, "q=foo&f=bar")
			s.Event(name, "query", qeEvent)
			s.GetRequest().AssertSubject("_EVENT_01_").RespondSuccess(json.RawMessage(reply))
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.delete").AssertData(nil)
			c.GetEvent().AssertEventName(name + "?q=foo&f=bar.unsubscribe").AssertData(reasonDeleted)
			c.AssertNoMsg()
			s.Event(name, "query", json.RawMessage(`{"subject":"_EVENT_02_"}`))
			s.AssertNoRequest()
		})
	}
}

// QRY-13: a system.reset gets every cached query resource again, once per
// normalized query, and turns the differences into events for every client
// RID of it.
func TestQueryEvent_SystemReset_RegetsQueryResources(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	qySubscribe(t, s, c, "test.collection", "", "")
	qySubscribe(t, s, c, "test.collection", "q=foo&f=bar", "f=bar&q=foo")
	qySubscribeCached(t, s, c, "test.collection", "f=bar&q=foo", evData("test.collection"))
	qySubscribe(t, s, c, "test.collection", "q=zoo", "q=zoo")

	s.SystemEvent("reset", json.RawMessage(`{"resources":["test.collection"]}`))
	reqs := s.GetRequests(3)
	byQuery := map[string]*restest.Request{}
	for _, r := range reqs {
		r.AssertSubject("get.test.collection")
		q, _ := r.PathPayload("query").(string)
		byQuery[q] = r
	}
	if len(byQuery) != 3 || byQuery[""] == nil || byQuery["f=bar&q=foo"] == nil || byQuery["q=zoo"] == nil {
		t.Fatalf("expected get requests for no query, f=bar&q=foo and q=zoo, got %v", byQuery)
	}
	byQuery[""].RespondCollection(json.RawMessage(evData("test.collection")))
	byQuery["f=bar&q=foo"].RespondCollection(json.RawMessage(`["foo",42,true,null,"new"]`))
	byQuery["q=zoo"].RespondError(resproto.ErrNotFound)
	s.AssertNoRequest()

	evs := evEvents(t, c, 4)
	for _, rid := range []string{"test.collection?q=foo&f=bar", "test.collection?f=bar&q=foo"} {
		if ev := evs[rid+".add"]; ev == nil {
			t.Fatalf("no add event for %s: %v", rid, evs)
		} else {
			ev.AssertData(json.RawMessage(`{"idx":4,"value":"new"}`))
		}
	}
	if evs["test.collection?q=zoo.delete"] == nil || evs["test.collection?q=zoo.unsubscribe"] == nil {
		t.Fatalf("expected delete and unsubscribe of test.collection?q=zoo, got %v", evs)
	}
	c.AssertNoMsg()
}
