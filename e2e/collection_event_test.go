package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/resedge/resedge/internal/restest"
)

func TestCollectionEvent_AddAndRemove_Forwarded(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)

	s.Event("test.collection", "add", json.RawMessage(`{"idx":3,"value":"bar"}`))
	c.GetEvent().AssertEventName("test.collection.add").AssertData(json.RawMessage(`{"idx":3,"value":"bar"}`))
	s.Event("test.collection", "remove", json.RawMessage(`{"idx":2}`))
	c.GetEvent().AssertEventName("test.collection.remove").AssertData(json.RawMessage(`{"idx":2}`))
	c.AssertNoMsg()
}

func TestCollectionEvent_AddRemoveOnCachedCollection_UpdatesCache(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		rid        string
		event      string
		payload    string
		collection string // what a later subscriber gets
		expected   string // event sent to the client; empty means payload
	}{
		{"test.collection", "add", `{"idx":0,"value":"bar"}`, `["bar","foo",42,true,null]`, ""},
		{"test.collection", "add", `{"idx":1,"value":"bar"}`, `["foo","bar",42,true,null]`, ""},
		{"test.collection", "add", `{"idx":4,"value":"bar"}`, `["foo",42,true,null,"bar"]`, ""},
		{"test.collection", "add", `{"idx":0,"value":{"rid":"test.collection.soft","soft":true}}`, `[{"rid":"test.collection.soft","soft":true},"foo",42,true,null]`, ""},
		{"test.collection", "add", `{"idx":0,"value":{"data":{"foo":["bar"]}}}`, `[{"data":{"foo":["bar"]}},"foo",42,true,null]`, ""},
		{"test.collection", "add", `{"idx":0,"value":{"data":12}}`, `[12,"foo",42,true,null]`, `{"idx":0,"value":12}`},
		{"test.collection", "remove", `{"idx":0}`, `[42,true,null]`, ""},
		{"test.collection", "remove", `{"idx":1}`, `["foo",true,null]`, ""},
		{"test.collection", "remove", `{"idx":3}`, `["foo",42,true]`, ""},
		{"test.collection.soft", "remove", `{"idx":1}`, `["soft"]`, ""},
		{"test.collection.data", "remove", `{"idx":1}`, `["data",{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`, ""},
		{"test.collection.data", "remove", `{"idx":2}`, `["data",12,{"data":[{"foo":"bar"}]}]`, ""},
		{"test.collection.data", "remove", `{"idx":3}`, `["data",12,{"data":{"foo":["bar"]}}]`, ""},
	}
	for i, l := range tbl {
		for _, sameClient := range []bool{true, false} {
			t.Run(fmt.Sprintf("#%d %s %s/sameClient=%v", i+1, l.event, l.payload, sameClient), func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t, withCacheDelay())
				c := evConnect(s)
				evSubscribe(t, s, c, l.rid, false)

				s.Event(l.rid, l.event, json.RawMessage(l.payload))
				expected := l.expected
				if expected == "" {
					expected = l.payload
				}
				c.GetEvent().AssertEventName(l.rid + "." + l.event).AssertData(json.RawMessage(expected))

				var creq *restest.ClientRequest
				if sameClient {
					c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertNoResult()
					creq = c.Request("subscribe."+l.rid, nil)
				} else {
					creq = evConnect(s).Request("subscribe."+l.rid, nil)
				}
				s.GetRequest().AssertSubject("access." + l.rid).RespondSuccess(map[string]any{"get": true})
				creq.GetResponse().AssertResult(json.RawMessage(`{"collections":{"` + l.rid + `":` + l.collection + `}}`))
				evAssertErrorsLogged(t, s, 0)
			})
		}
	}
}

func TestCollectionEvent_AddWithReference_IncludesResource(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)

	s.Event("test.collection", "add", json.RawMessage(`{"idx":3,"value":{"rid":"test.model"}}`))
	evRespondFixture(t, s.GetRequest().AssertSubject("get.test.model"))
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":3,"value":{"rid":"test.model"},"models":{"test.model":` + evData("test.model") + `}}`))

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestCollectionEvent_RemoveReference_UnsubscribesReference(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection.parent", false, "test.collection")

	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)

	s.Event("test.collection.parent", "remove", json.RawMessage(`{"idx":1}`))
	c.GetEvent().AssertEventName("test.collection.parent.remove").AssertData(json.RawMessage(`{"idx":1}`))

	s.Event("test.collection", "custom", customEv)
	c.AssertNoMsg()
}

func TestCollectionEvent_SequentialAddRemoveWithReference_ExpectedEvents(t *testing.T) {
	t.Parallel()
	type step struct {
		add bool
		idx int
	}
	tbl := [][]step{
		{{true, 0}},
		{{true, 0}, {false, 0}},
		{{true, 0}, {false, 0}, {true, 0}},
		{{true, 0}, {true, 0}},
		{{true, 0}, {true, 1}},
		{{true, 0}, {true, 1}, {false, 0}, {false, 0}},
		{{true, 0}, {true, 1}, {false, 1}, {false, 0}, {true, 0}},
	}
	model := evData("test.model")
	for i, steps := range tbl {
		t.Run(fmt.Sprintf("#%d", i+1), func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			evSubscribe(t, s, c, "test.collection.empty", false)
			count := 0
			cached := false
			for _, st := range steps {
				if st.add {
					s.Event("test.collection.empty", "add", json.RawMessage(fmt.Sprintf(`{"idx":%d,"value":{"rid":"test.model"}}`, st.idx)))
					if !cached {
						evRespondFixture(t, s.GetRequest().AssertSubject("get.test.model"))
						cached = true
					}
					if count == 0 {
						c.GetEvent().AssertEventName("test.collection.empty.add").
							AssertData(json.RawMessage(fmt.Sprintf(`{"idx":%d,"value":{"rid":"test.model"},"models":{"test.model":%s}}`, st.idx, model)))
					} else {
						c.GetEvent().AssertEventName("test.collection.empty.add").
							AssertData(json.RawMessage(fmt.Sprintf(`{"idx":%d,"value":{"rid":"test.model"}}`, st.idx)))
					}
					count++
				} else {
					s.Event("test.collection.empty", "remove", json.RawMessage(fmt.Sprintf(`{"idx":%d}`, st.idx)))
					c.GetEvent().AssertEventName("test.collection.empty.remove").
						AssertData(json.RawMessage(fmt.Sprintf(`{"idx":%d}`, st.idx)))
					count--
				}
			}
			c.AssertNoMsg()
			s.AssertNoRequest()
		})
	}
}

func TestCollectionEvent_InvalidEvents_AreDroppedAndLogged(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		event   string
		payload string
	}{
		{"add index beyond end", "add", `{"idx":5,"value":"bar"}`},
		{"add negative index", "add", `{"idx":-1,"value":"bar"}`},
		{"add unwrapped object", "add", `{"idx":0,"value":{"foo":"bar"}}`},
		{"add delete action", "add", `{"idx":0,"value":{"action":"delete"}}`},
		{"add malformed", "add", `{"idx":"x"}`},
		{"remove index at end", "remove", `{"idx":4}`},
		{"remove negative index", "remove", `{"idx":-1}`},
		{"remove malformed", "remove", `{"idx":"x"}`},
		{"change on collection", "change", `{"values":{"foo":"bar"}}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withCacheDelay())
			c := evConnect(s)
			evSubscribe(t, s, c, "test.collection", false)

			s.Event("test.collection", l.event, json.RawMessage(l.payload))
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 1)

			// The cached collection is unchanged.
			c2 := evConnect(s)
			creq := c2.Request("subscribe.test.collection", nil)
			s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(evResourceSet("test.collection"))
		})
	}
}

func TestCollectionEvent_AddOnLegacyClient_EncodesLegacyValues(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name     string
		payload  string
		expected string
	}{
		{"soft reference", `{"idx":0,"value":{"rid":"test.model","soft":true}}`, `{"idx":0,"value":"test.model"}`},
		{"object data", `{"idx":0,"value":{"data":{"a":1}}}`, `{"idx":0,"value":"[Data]"}`},
		{"primitive data", `{"idx":0,"value":{"data":7}}`, `{"idx":0,"value":7}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			c.Version("1.2.0")
			evSubscribe(t, s, c, "test.collection", false)
			s.Event("test.collection", "add", json.RawMessage(l.payload))
			c.GetEvent().AssertEventName("test.collection.add").AssertData(json.RawMessage(l.expected))
		})
	}
}

func TestCollectionEvent_CustomEvent_ForwardedVerbatim(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)
	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)
	s.Event("test.collection", "custom", nil)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(nil)
	s.Event("test.collection", "create", json.RawMessage(`{"id":1}`))
	c.GetEvent().AssertEventName("test.collection.create").AssertData(json.RawMessage(`{"id":1}`))
}

func TestEventQueuing_EventWhileLoadingReference_IsQueued(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)

	s.Event("test.collection", "add", json.RawMessage(`{"idx":1,"value":{"rid":"test.model"}}`))
	req := s.GetRequest().AssertSubject("get.test.model")
	s.Event("test.collection", "add", json.RawMessage(`{"idx":2,"value":"newValue"}`))
	c.AssertNoMsg()

	evRespondFixture(t, req)
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":1,"value":{"rid":"test.model"},"models":{"test.model":` + evData("test.model") + `}}`))
	c.GetEvent().AssertEventName("test.collection.add").AssertData(json.RawMessage(`{"idx":2,"value":"newValue"}`))
	c.AssertNoMsg()
}

func TestEventQueuing_ReferenceEventWhileQueuing_LoadsInOrder(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection", false)
	model := evData("test.model")

	s.Event("test.collection", "add", json.RawMessage(`{"idx":1,"value":{"rid":"test.model"}}`))
	req1 := s.GetRequest().AssertSubject("get.test.model")
	s.Event("test.collection", "add", json.RawMessage(`{"idx":2,"value":{"rid":"test.model2"}}`))
	s.Event("test.collection", "add", json.RawMessage(`{"idx":3,"value":"newValue"}`))

	req1.RespondModel(json.RawMessage(model))
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":1,"value":{"rid":"test.model"},"models":{"test.model":` + model + `}}`))
	req2 := s.GetRequest().AssertSubject("get.test.model2")
	c.AssertNoMsg()

	req2.RespondModel(json.RawMessage(model))
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":2,"value":{"rid":"test.model2"},"models":{"test.model2":` + model + `}}`))
	c.GetEvent().AssertEventName("test.collection.add").AssertData(json.RawMessage(`{"idx":3,"value":"newValue"}`))
	c.AssertNoMsg()
}

func TestEventQueuing_CachedReferenceWhileQueuing_SentWithResource(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withCacheDelay())
	c := evConnect(s)
	evSubscribe(t, s, c, "test.collection.parent", false, "test.collection")

	s.Event("test.collection.parent", "remove", json.RawMessage(`{"idx":1}`))
	c.GetEvent().AssertEventName("test.collection.parent.remove").AssertData(json.RawMessage(`{"idx":1}`))

	s.Event("test.collection.parent", "add", json.RawMessage(`{"idx":1,"value":{"rid":"test.model"}}`))
	req := s.GetRequest().AssertSubject("get.test.model")
	// test.collection is still cached but no longer sent to the client.
	s.Event("test.collection.parent", "add", json.RawMessage(`{"idx":2,"value":{"rid":"test.collection"}}`))

	evRespondFixture(t, req)
	c.GetEvent().AssertEventName("test.collection.parent.add").
		AssertData(json.RawMessage(`{"idx":1,"value":{"rid":"test.model"},"models":{"test.model":` + evData("test.model") + `}}`))
	c.GetEvent().AssertEventName("test.collection.parent.add").
		AssertData(json.RawMessage(`{"idx":2,"value":{"rid":"test.collection"},"collections":{"test.collection":` + evData("test.collection") + `}}`))
	s.AssertNoRequest()
	c.AssertNoMsg()
}

func TestEventQueuing_UnqueueWithLoadedReference_SentOnce(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	model := evData("test.model")
	evSubscribe(t, s, c, "test.model", false)
	evSubscribe(t, s, c, "test.collection", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"a":{"rid":"test.model.a"},"b":{"rid":"test.model.b"},"c":{"rid":"test.model.c"}}}`))
	reqs := s.GetRequests(3)
	reqs.BySubject(t, "get.test.model.a").RespondModel(json.RawMessage(model))

	s.Event("test.collection", "add", json.RawMessage(`{"idx":1,"value":{"rid":"test.model.b"}}`))
	s.Event("test.collection", "add", json.RawMessage(`{"idx":2,"value":{"rid":"test.model.a"}}`))
	c.AssertNoMsg()

	reqs.BySubject(t, "get.test.model.b").RespondModel(json.RawMessage(model))
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":1,"value":{"rid":"test.model.b"},"models":{"test.model.b":` + model + `}}`))
	c.GetEvent().AssertEventName("test.collection.add").
		AssertData(json.RawMessage(`{"idx":2,"value":{"rid":"test.model.a"},"models":{"test.model.a":` + model + `}}`))

	reqs.BySubject(t, "get.test.model.c").RespondModel(json.RawMessage(model))
	c.GetEvent().AssertEventName("test.model.change").
		AssertData(json.RawMessage(`{"values":{"a":{"rid":"test.model.a"},"b":{"rid":"test.model.b"},"c":{"rid":"test.model.c"}},"models":{"test.model.c":` + model + `}}`))
	c.AssertNoMsg()
}

func TestCollectionEvent_FanOut_ReachesExactlyTheHolders(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		event    string
		payload  string
		expected string
	}{
		{"add", `{"idx":0,"value":"x"}`, `{"idx":0,"value":"x"}`},
		{"remove", `{"idx":3}`, `{"idx":3}`},
		{"custom", `{"foo":"bar"}`, `{"foo":"bar"}`},
	}
	for _, l := range tbl {
		t.Run(l.event, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			direct := evConnect(s)
			viaRef := evConnect(s)
			none := evConnect(s)
			evSubscribe(t, s, direct, "test.collection", false)
			creq := viaRef.Request("subscribe.test.collection.parent", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.collection.parent").RespondSuccess(map[string]any{"get": true})
			evRespondFixture(t, reqs.BySubject(t, "get.test.collection.parent"))
			creq.GetResponse().AssertResult(evResourceSet("test.collection.parent", "test.collection"))
			evSubscribe(t, s, none, "test.model", false)

			s.Event("test.collection", l.event, json.RawMessage(l.payload))
			direct.GetEvent().AssertEventName("test.collection." + l.event).AssertData(json.RawMessage(l.expected))
			viaRef.GetEvent().AssertEventName("test.collection." + l.event).AssertData(json.RawMessage(l.expected))
			direct.AssertNoMsg()
			viaRef.AssertNoMsg()
			none.AssertNoMsg()
		})
	}
}
