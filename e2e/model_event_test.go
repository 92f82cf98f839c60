package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

func TestModelEvent_ChangeOnSubscribedModel_ForwardsChange(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar","int":-12}}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar","int":-12}}`))
	c.AssertNoMsg()
}

func TestModelEvent_ChangePriorToGetResponse_IsDiscarded(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar","int":-12}}`))
	evRespondGet(reqs.BySubject(t, "get.test.model"), evData("test.model"))
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	creq.GetResponse().AssertResult(evResourceSet("test.model"))
	c.AssertNoMsg()
}

func TestModelEvent_ChangeOnCachedModel_UpdatesCache(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name     string
		rid      string
		change   string // change event payload
		expected string // event sent to the client; empty means none
		model    string // the model a later subscriber gets
		errors   int
	}{
		{"all changed", "test.model", `{"values":{"string":"bar","int":-12}}`, `{"values":{"string":"bar","int":-12}}`, `{"string":"bar","int":-12,"bool":true,"null":null}`, 0},
		{"one string", "test.model", `{"values":{"string":"bar"}}`, `{"values":{"string":"bar"}}`, `{"string":"bar","int":42,"bool":true,"null":null}`, 0},
		{"one int", "test.model", `{"values":{"int":-12}}`, `{"values":{"int":-12}}`, `{"string":"foo","int":-12,"bool":true,"null":null}`, 0},
		{"new property", "test.model", `{"values":{"new":false}}`, `{"values":{"new":false}}`, `{"string":"foo","int":42,"bool":true,"null":null,"new":false}`, 0},
		{"delete action", "test.model", `{"values":{"int":{"action":"delete"}}}`, `{"values":{"int":{"action":"delete"}}}`, `{"string":"foo","bool":true,"null":null}`, 0},
		{"new soft reference", "test.model", `{"values":{"soft":{"rid":"test.model.soft","soft":true}}}`, `{"values":{"soft":{"rid":"test.model.soft","soft":true}}}`, `{"string":"foo","int":42,"bool":true,"null":null,"soft":{"rid":"test.model.soft","soft":true}}`, 0},
		{"soft reference to null", "test.model.soft", `{"values":{"child":null}}`, `{"values":{"child":null}}`, `{"name":"soft","child":null}`, 0},
		{"soft reference deleted", "test.model.soft", `{"values":{"child":{"action":"delete"}}}`, `{"values":{"child":{"action":"delete"}}}`, `{"name":"soft"}`, 0},
		{"primitive data value", "test.model.data", `{"values":{"primitive":{"data":13}}}`, `{"values":{"primitive":13}}`, `{"name":"data","primitive":13,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`, 0},
		{"object data value", "test.model.data", `{"values":{"object":{"data":{"foo":["baz"]}}}}`, `{"values":{"object":{"data":{"foo":["baz"]}}}}`, `{"name":"data","primitive":12,"object":{"data":{"foo":["baz"]}},"array":{"data":[{"foo":"bar"}]}}`, 0},
		{"array data value", "test.model.data", `{"values":{"array":{"data":[{"foo":"baz"}]}}}`, `{"values":{"array":{"data":[{"foo":"baz"}]}}}`, `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"baz"}]}}`, 0},

		// Nothing changes: no event.
		{"empty values", "test.model", `{"values":{}}`, "", `{"string":"foo","int":42,"bool":true,"null":null}`, 0},
		{"same string", "test.model", `{"values":{"string":"foo"}}`, "", `{"string":"foo","int":42,"bool":true,"null":null}`, 0},
		{"same string and int", "test.model", `{"values":{"string":"foo","int":42}}`, "", `{"string":"foo","int":42,"bool":true,"null":null}`, 0},
		{"delete missing property", "test.model", `{"values":{"invalid":{"action":"delete"}}}`, "", `{"string":"foo","int":42,"bool":true,"null":null}`, 0},
		{"only changed forwarded", "test.model", `{"values":{"null":null,"string":"bar"}}`, `{"values":{"string":"bar"}}`, `{"string":"bar","int":42,"bool":true,"null":null}`, 0},
		{"same soft reference", "test.model.soft", `{"values":{"child":{"rid":"test.model","soft":true}}}`, "", `{"name":"soft","child":{"rid":"test.model","soft":true}}`, 0},
		{"empty values on data model", "test.model.data", `{"values":{}}`, "", `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`, 0},
		{"same data values", "test.model.data", `{"values":{"primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}}`, "", `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`, 0},
		{"null as data value", "test.model", `{"values":{"null":{"data":null}}}`, "", `{"string":"foo","int":42,"bool":true,"null":null}`, 0},

		// v1.0 legacy change events, without the values wrapper.
		{"legacy change", "test.model", `{"string":"bar","int":-12}`, `{"values":{"string":"bar","int":-12}}`, `{"string":"bar","int":-12,"bool":true,"null":null}`, 1},
		{"legacy one property", "test.model", `{"string":"bar"}`, `{"values":{"string":"bar"}}`, `{"string":"bar","int":42,"bool":true,"null":null}`, 1},
	}
	for _, l := range tbl {
		for _, sameClient := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sameClient=%v", l.name, sameClient), func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t, withCacheDelay())
				c := evConnect(s)
				evSubscribe(t, s, c, l.rid, false)

				s.Event(l.rid, "change", json.RawMessage(l.change))
				if l.expected != "" {
					c.GetEvent().AssertEventName(l.rid + ".change").AssertData(json.RawMessage(l.expected))
				} else {
					c.AssertNoMsg()
				}

				var creq *restest.ClientRequest
				if sameClient {
					c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertNoResult()
					creq = c.Request("subscribe."+l.rid, nil)
				} else {
					c2 := evConnect(s)
					creq = c2.Request("subscribe."+l.rid, nil)
				}
				// Cached: only an access request.
				s.GetRequest().AssertSubject("access." + l.rid).RespondSuccess(map[string]any{"get": true})
				// A stray message or a get request would fail this.
				creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"` + l.rid + `":` + l.model + `}}`))
				evAssertErrorsLogged(t, s, l.errors)
			})
		}
	}
}

func TestModelEvent_ChangeWithNewReference_IncludesResource(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"ref":{"rid":"test.collection"}}}`))
	evRespondFixture(t, s.GetRequest().AssertSubject("get.test.collection"))
	c.GetEvent().AssertEventName("test.model.change").
		AssertData(json.RawMessage(`{"values":{"ref":{"rid":"test.collection"}},"collections":{"test.collection":` + evData("test.collection") + `}}`))

	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)
}

func TestModelEvent_ChangeWithRemovedReference_UnsubscribesReference(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name   string
		change string
	}{
		{"null", `{"values":{"child":null}}`},
		{"delete action", `{"values":{"child":{"action":"delete"}}}`},
		{"replaced by soft reference", `{"values":{"child":{"rid":"test.model","soft":true}}}`},
		{"replaced by primitive", `{"values":{"child":"gone"}}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, "test.model.parent", false, "test.model")

			s.Event("test.model", "custom", customEv)
			c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)

			s.Event("test.model.parent", "change", json.RawMessage(l.change))
			c.GetEvent().AssertEventName("test.model.parent.change").AssertData(json.RawMessage(l.change))

			s.Event("test.model", "custom", customEv)
			c.AssertNoMsg()
			s.AssertNoRequest()
		})
	}
}

func TestModelEvent_ChangeWithChangedReference_SwitchesSubscription(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":{"rid":"test.collection"}}}`))
	evRespondFixture(t, s.GetRequest().AssertSubject("get.test.collection"))
	c.GetEvent().AssertEventName("test.model.parent.change").
		AssertData(json.RawMessage(`{"values":{"child":{"rid":"test.collection"}},"collections":{"test.collection":` + evData("test.collection") + `}}`))

	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)
	s.Event("test.model", "custom", customEv)
	c.AssertNoMsg()
}

func TestModelEvent_ChangeWithSoftReplacedByReference_SubscribesReference(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.soft", false)

	s.Event("test.model.soft", "change", json.RawMessage(`{"values":{"child":{"rid":"test.model","soft":false}}}`))
	evRespondFixture(t, s.GetRequest().AssertSubject("get.test.model"))
	c.GetEvent().AssertEventName("test.model.soft.change").
		AssertData(json.RawMessage(`{"values":{"child":{"rid":"test.model","soft":false}},"models":{"test.model":` + evData("test.model") + `}}`))

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestModelEvent_ChangeWithReferenceMovedBetweenProperties_KeepsSubscription(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.parent", false, "test.model")

	// The reference moves from child to other: no new get, no resource set.
	s.Event("test.model.parent", "change", json.RawMessage(`{"values":{"child":null,"other":{"rid":"test.model"}}}`))
	c.GetEvent().AssertEventName("test.model.parent.change").
		AssertData(json.RawMessage(`{"values":{"child":null,"other":{"rid":"test.model"}}}`))
	s.AssertNoRequest()

	s.Event("test.model", "custom", customEv)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(customEv)
}

func TestModelEvent_ChangeWithAlreadySentReference_HasNoResourceSet(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)
	evSubscribe(t, s, c, "test.collection", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"ref":{"rid":"test.collection"}}}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"ref":{"rid":"test.collection"}}}`))
	s.AssertNoRequest()

	// The collection stays subscribed through the reference after the
	// direct subscription is gone.
	c.Request("unsubscribe.test.collection", nil).GetResponse().AssertNoResult()
	s.Event("test.collection", "custom", customEv)
	c.GetEvent().AssertEventName("test.collection.custom").AssertData(customEv)
}

func TestModelEvent_ChangeWithBrokenReference_IncludesError(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"ref":{"rid":"test.err.notFound"}}}`))
	s.GetRequest().AssertSubject("get.test.err.notFound").RespondError(&resproto.Error{Code: "system.notFound", Message: "Not found"})
	c.GetEvent().AssertEventName("test.model.change").
		AssertData(json.RawMessage(`{"values":{"ref":{"rid":"test.err.notFound"}},"errors":{"test.err.notFound":{"code":"system.notFound","message":"Not found"}}}`))
}

func TestModelEvent_ChangeOnLegacyClient_EncodesLegacyValues(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.0")
	evSubscribe(t, s, c, "test.model", false)

	s.Event("test.model", "change", json.RawMessage(`{"values":{"soft":{"rid":"test.model.soft","soft":true},"obj":{"data":{"a":1}},"prim":{"data":3}}}`))
	c.GetEvent().AssertEventName("test.model.change").
		AssertData(json.RawMessage(`{"values":{"soft":"test.model.soft","obj":"[Data]","prim":3}}`))
}

func TestModelEvent_InvalidChangeEvents_AreDroppedAndLogged(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name    string
		payload string
	}{
		{"invalid value", `{"values":{"x":{"foo":"bar"}}}`},
		{"invalid json", `{"values":`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, "test.model", false)

			s.Event("test.model", "change", l.payload)
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 1)

			s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
			c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
		})
	}
}

func TestModelEvent_WrongTypeEvents_AreDropped(t *testing.T) {
	t.Parallel()
	for _, ev := range []struct{ name, payload string }{
		{"add", `{"idx":0,"value":"foo"}`},
		{"remove", `{"idx":0}`},
	} {
		t.Run(ev.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, "test.model", false)
			s.Event("test.model", ev.name, json.RawMessage(ev.payload))
			c.AssertNoMsg()
			evAssertErrorsLogged(t, s, 1)
		})
	}
}

func TestModelEvent_CustomEvents_ForwardedVerbatim(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name     string
		event    string
		payload  any
		expected string
	}{
		{"object payload", "custom", customEv, `{"foo":"bar"}`},
		{"no payload", "custom", nil, `null`},
		{"string payload", "custom", json.RawMessage(`"text"`), `"text"`},
		{"array payload", "custom", json.RawMessage(`[1,{"a":2}]`), `[1,{"a":2}]`},
		{"create event", "create", json.RawMessage(`{"x":1}`), `{"x":1}`},
		{"reserved name patch", "patch", json.RawMessage(`{"p":1}`), `{"p":1}`},
		{"reserved name reset", "reset", nil, `null`},
		{"reserved name unsubscribe", "unsubscribe", json.RawMessage(`{"reason":"x"}`), `{"reason":"x"}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := evConnect(s)
			evSubscribe(t, s, c, "test.model", false)
			s.Event("test.model", l.event, l.payload)
			ev := c.GetEvent().AssertEventName("test.model." + l.event).AssertData(json.RawMessage(l.expected))
			if !ev.HasData {
				t.Fatalf("expected a data field, got %s", ev.Raw)
			}
			c.AssertNoMsg()
			// The subscription is untouched by any of them.
			s.Event("test.model", "change", json.RawMessage(`{"values":{"string":"bar"}}`))
			c.GetEvent().AssertEventName("test.model.change").AssertData(json.RawMessage(`{"values":{"string":"bar"}}`))
			c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
		})
	}
}

func TestModelEvent_MalformedPayload_IsDroppedAndLogged(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model", false)
	s.Event("test.model", "custom", "{not json")
	c.AssertNoMsg()
	evAssertErrorsLogged(t, s, 1)
}

func TestModelEvent_EventsOnDataModel_UseClientEncoding(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	evSubscribe(t, s, c, "test.model.data", false)
	s.Event("test.model.data", "change", json.RawMessage(`{"values":{"primitive":{"data":"x"},"name":{"data":"data"}}}`))
	c.GetEvent().AssertEventName("test.model.data.change").AssertData(json.RawMessage(`{"values":{"primitive":"x"}}`))
}

func TestModelEvent_FanOut_ReachesExactlyTheHolders(t *testing.T) {
	t.Parallel()
	tbl := []struct {
		name     string
		event    string
		payload  string
		expected string
	}{
		{"change", "change", `{"values":{"string":"bar"}}`, `{"values":{"string":"bar"}}`},
		{"custom", "custom", `{"foo":"bar"}`, `{"foo":"bar"}`},
		{"custom without payload", "custom", ``, `null`},
		{"create", "create", `{"id":1}`, `{"id":1}`},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
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

			var payload any
			if l.payload != "" {
				payload = json.RawMessage(l.payload)
			}
			s.Event("test.model", l.event, payload)
			direct.GetEvent().AssertEventName("test.model." + l.event).AssertData(json.RawMessage(l.expected))
			viaRef.GetEvent().AssertEventName("test.model." + l.event).AssertData(json.RawMessage(l.expected))
			direct.AssertNoMsg()
			viaRef.AssertNoMsg()
			none.AssertNoMsg()
		})
	}
}

func TestModelEvent_CIDPlaceholder_EventsUseClientRID(t *testing.T) {
	t.Parallel()
	s := restest.Start(t)
	c := evConnect(s)
	creq := c.Request("subscribe.test.{cid}.model", nil)
	reqs := s.GetRequests(2)
	acc := reqs[0]
	if acc.Subject[:7] != "access." {
		acc = reqs[1]
	}
	cid, _ := acc.PathPayload("cid").(string)
	name := "test." + cid + ".model"
	reqs.BySubject(t, "access."+name).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get."+name).RespondModel(json.RawMessage(`{"a":1}`))
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.{cid}.model":{"a":1}}}`))

	s.Event(name, "change", json.RawMessage(`{"values":{"a":2}}`))
	c.GetEvent().AssertEventName("test.{cid}.model.change").AssertData(json.RawMessage(`{"values":{"a":2}}`))
	s.Event(name, "custom", customEv)
	c.GetEvent().AssertEventName("test.{cid}.model.custom").AssertData(customEv)

	s.Event(name, "reaccess", nil)
	s.GetRequest().AssertSubject("access." + name).RespondSuccess(map[string]any{"get": false})
	c.GetEvent().AssertEventName("test.{cid}.model.unsubscribe").AssertData(reasonAccessDenied)
	c.AssertNoMsg()
}
