package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

var rqVersionResult = rqRaw(`{"protocol":"1.2.3"}`)

// TestVersion_Request covers the version request: its params, and the
// reply, always the gateway's protocol 1.2.3.
func TestVersion_Request(t *testing.T) {
	tbl := []struct {
		name     string
		params   string // raw JSON; "" sends no params
		expected any
	}{
		// Valid requests
		{"no params", "", rqVersionResult},
		{"null params", `null`, rqVersionResult},
		{"empty object", `{}`, rqVersionResult},
		{"other keys", `{"foo":"bar"}`, rqVersionResult},
		{"empty protocol", `{"protocol":""}`, rqVersionResult},
		{"null protocol", `{"protocol":null}`, rqVersionResult},
		{"1.0.0", `{"protocol":"1.0.0"}`, rqVersionResult},
		{"1.1.0", `{"protocol":"1.1.0"}`, rqVersionResult},
		{"1.0.1", `{"protocol":"1.0.1"}`, rqVersionResult},
		{"1.999.999", `{"protocol":"1.999.999"}`, rqVersionResult},
		{"1.2.3 with other keys", `{"protocol":"1.2.3","foo":42}`, rqVersionResult},
		{"plus sign", `{"protocol":"+1.2.0"}`, rqVersionResult},
		{"negative patch", `{"protocol":"1.2.-1"}`, rqVersionResult},
		// Invalid params
		{"string params", `""`, resproto.ErrInvalidParams},
		{"version string params", `"1.0.0"`, resproto.ErrInvalidParams},
		{"array params", `["1.0.0"]`, resproto.ErrInvalidParams},
		{"number params", `42`, resproto.ErrInvalidParams},
		{"number protocol", `{"protocol":1.0}`, resproto.ErrInvalidParams},
		{"two parts", `{"protocol":"1.0"}`, resproto.ErrInvalidParams},
		{"four parts", `{"protocol":"1.2.3.4"}`, resproto.ErrInvalidParams},
		{"v prefix", `{"protocol":"v1.0.0"}`, resproto.ErrInvalidParams},
		{"patch 1000", `{"protocol":"1.0.1000"}`, resproto.ErrInvalidParams},
		{"minor 1000", `{"protocol":"1.1000.0"}`, resproto.ErrInvalidParams},
		{"empty part", `{"protocol":"1..0"}`, resproto.ErrInvalidParams},
		{"space", `{"protocol":" 1.0.0"}`, resproto.ErrInvalidParams},
		// Unsupported protocol
		{"0.0.0", `{"protocol":"0.0.0"}`, resproto.ErrUnsupportedProtocol},
		{"2.0.0", `{"protocol":"2.0.0"}`, resproto.ErrUnsupportedProtocol},
		{"0.999.999", `{"protocol":"0.999.999"}`, resproto.ErrUnsupportedProtocol},
		{"3.2.1", `{"protocol":"3.2.1"}`, resproto.ErrUnsupportedProtocol},
		{"negative minor", `{"protocol":"1.-1.0"}`, resproto.ErrUnsupportedProtocol},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			if l.params == "" {
				c.Send(`{"id":7,"method":"version"}`)
			} else {
				c.Send(`{"id":7,"method":"version","params":` + l.params + `}`)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(c.GetMsg()), &m); err != nil {
				t.Fatal(err)
			}
			if m["id"] != float64(7) {
				t.Fatalf("expected the reply to id 7, got %s", restest.Marshal(m))
			}
			if e, ok := expectedError(l.expected); ok {
				if !restest.JSONEqual(m["error"], e) || m["result"] != nil {
					t.Fatalf("expected error %s, got %s", restest.Marshal(e), restest.Marshal(m))
				}
				return
			}
			if !restest.JSONEqual(m["result"], l.expected) || m["error"] != nil {
				t.Fatalf("expected result %s, got %s", restest.Marshal(l.expected), restest.Marshal(m))
			}
		})
	}
}

func expectedError(v any) (*resproto.Error, bool) {
	e, ok := v.(*resproto.Error)
	return e, ok
}

// rqCallResult makes a call and returns the client's reply to it.
func rqCallResult(t *testing.T, s *restest.Session, c *restest.Client) *restest.ClientResponse {
	t.Helper()
	creq := c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(rqFooBar)
	return creq.GetResponse()
}

// TestVersion_ChangesEncoding covers the version request at any time: each
// valid one sets the encoding of later replies; an empty or invalid one
// leaves it.
func TestVersion_ChangesEncoding(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()

	rqCallResult(t, s, c).AssertResult(rqFooBar) // 1.1.1 until told
	c.Request("version", map[string]any{"protocol": ""}).GetResponse().AssertResult(rqVersionResult)
	rqCallResult(t, s, c).AssertResult(rqFooBar)

	c.Version("1.2.0")
	rqCallResult(t, s, c).AssertResult(rqPayloadFooBar)
	c.Request("version", map[string]any{"protocol": ""}).GetResponse().AssertResult(rqVersionResult)
	c.Request("version", nil).GetResponse().AssertResult(rqVersionResult)
	c.Request("version", map[string]any{"protocol": "2.0.0"}).GetResponse().AssertErrorEqual(resproto.ErrUnsupportedProtocol)
	c.Request("version", map[string]any{"protocol": "1.0"}).GetResponse().AssertErrorEqual(resproto.ErrInvalidParams)
	rqCallResult(t, s, c).AssertResult(rqPayloadFooBar)

	c.Version("1.1.0")
	rqCallResult(t, s, c).AssertResult(rqFooBar)
}

// Fixtures with soft references and data values, and how clients older
// than protocol 1.2.1 see them (test/resources.go, 01subscribe_test.go).
var rqLegacyFixtures = []struct {
	rid, data, legacy, latest string
}{
	{"test.model.soft", `{"name":"soft","child":{"rid":"test.model","soft":true}}`, `{"name":"soft","child":"test.model"}`, `{"name":"soft","child":{"rid":"test.model","soft":true}}`},
	{"test.model.data", `{"name":"data","primitive":{"data":12},"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`, `{"name":"data","primitive":12,"object":"[Data]","array":"[Data]"}`, `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`},
	{"test.collection.soft", `["soft",{"rid":"test.collection","soft":true}]`, `["soft","test.collection"]`, `["soft",{"rid":"test.collection","soft":true}]`},
	{"test.collection.data", `["data",{"data":12},{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`, `["data",12,"[Data]","[Data]"]`, `["data",12,{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`},
}

func rqIsCollection(data string) bool { return strings.HasPrefix(data, "[") }

// rqResourceSet is {"models":{rid:data}} or {"collections":{rid:data}}.
func rqResourceSet(rid, data string) json.RawMessage {
	key := "models"
	if rqIsCollection(data) {
		key = "collections"
	}
	return rqRaw(`{"` + key + `":{"` + rid + `":` + data + `}}`)
}

func rqRespondGet(r *restest.Request, data string) {
	if rqIsCollection(data) {
		r.RespondCollection(rqRaw(data))
	} else {
		r.RespondModel(rqRaw(data))
	}
}

// rqSubscribe subscribes c to rid holding data (no references) and checks
// the reply holds expected.
func rqSubscribe(t *testing.T, s *restest.Session, c *restest.Client, rid, data, expected string) {
	t.Helper()
	creq := c.Request("subscribe."+rid, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
	rqRespondGet(reqs.BySubject(t, "get."+rid), data)
	creq.GetResponse().AssertResult(rqResourceSet(rid, expected))
}

// TestLegacy120_ResourceEncoding covers resource sets for clients older
// than protocol 1.2.1: soft references as RID strings and non-primitive
// data values as "[Data]".
func TestLegacy120_ResourceEncoding(t *testing.T) {
	for _, f := range rqLegacyFixtures {
		for _, version := range []string{"", "1.2.0", "1.2.1", "1.2.3"} {
			name := f.rid + "/" + version
			if version == "" {
				name = f.rid + "/no version"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t)
				c := s.Connect()
				if version != "" {
					c.Version(version)
				}
				expected := f.latest
				if version == "" || version == "1.2.0" {
					expected = f.legacy
				}
				rqSubscribe(t, s, c, f.rid, f.data, expected)
			})
		}
	}
}

// TestLegacy120_ResourceEncodingInReference covers a legacy encoded
// resource reached through a reference.
func TestLegacy120_ResourceEncodingInReference(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.0")
	parent := `{"name":"softparent","child":{"rid":"test.model.soft","soft":false}}`

	creq := c.Request("subscribe.test.model.soft.parent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.soft.parent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.soft.parent").RespondModel(rqRaw(parent))
	s.GetRequest().AssertSubject("get.test.model.soft").RespondModel(rqRaw(rqLegacyFixtures[0].data))
	creq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model.soft.parent":` + parent + `,"test.model.soft":{"name":"soft","child":"test.model"}}}`))
}

// TestLegacy120_CallResourceResponse covers the resource set of a call's
// resource response for a 1.2.0 client: subscribed, legacy encoded.
func TestLegacy120_CallResourceResponse(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.0")

	creq := c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").RespondResource("test.model.data")
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.data").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.data").RespondModel(rqRaw(rqLegacyFixtures[1].data))
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model.data","models":{"test.model.data":` + rqLegacyFixtures[1].legacy + `}}`))
}

func rqWithCacheDelay() restest.Option {
	return restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Minute })
}

// TestLegacy120_ChangeEventOnCachedModel covers change events for a 1.2.0
// client (40legacy_1.2.0_test.go), and the cached model it gets when it
// subscribes again.
func TestLegacy120_ChangeEventOnCachedModel(t *testing.T) {
	models := map[string]string{
		"test.model":      rqModel,
		"test.model.soft": rqLegacyFixtures[0].data,
	}
	tbl := []struct {
		name     string
		rid      string
		change   string
		event    string // expected client event data; "" means none
		expected string // model the client gets on a new subscribe
	}{
		{"soft reference added", "test.model", `{"values":{"soft":{"rid":"test.model.soft","soft":true}}}`, `{"values":{"soft":"test.model.soft"}}`, `{"string":"foo","int":42,"bool":true,"null":null,"soft":"test.model.soft"}`},
		{"soft reference set to null", "test.model.soft", `{"values":{"child":null}}`, `{"values":{"child":null}}`, `{"name":"soft","child":null}`},
		{"soft reference deleted", "test.model.soft", `{"values":{"child":{"action":"delete"}}}`, `{"values":{"child":{"action":"delete"}}}`, `{"name":"soft"}`},
		{"soft reference unchanged", "test.model.soft", `{"values":{"child":{"rid":"test.model","soft":true}}}`, "", `{"name":"soft","child":"test.model"}`},
		{"data value added", "test.model", `{"values":{"obj":{"data":{"a":1}},"arr":{"data":[1]},"num":{"data":7}}}`, `{"values":{"obj":"[Data]","arr":"[Data]","num":7}}`, `{"string":"foo","int":42,"bool":true,"null":null,"obj":"[Data]","arr":"[Data]","num":7}`},
	}
	for _, l := range tbl {
		for _, sameClient := range []bool{true, false} {
			name := l.name + "/same client"
			if !sameClient {
				name = l.name + "/other client"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t, rqWithCacheDelay())
				c := s.Connect()
				c.Version("1.2.0")
				creq := c.Request("subscribe."+l.rid, nil)
				reqs := s.GetRequests(2)
				reqs.BySubject(t, "access."+l.rid).RespondSuccess(map[string]any{"get": true})
				reqs.BySubject(t, "get."+l.rid).RespondModel(rqRaw(models[l.rid]))
				creq.GetResponse()

				s.Event(l.rid, "change", rqRaw(l.change))
				if l.event == "" {
					c.AssertNoMsg()
				} else {
					c.GetEvent().AssertEventName(l.rid + ".change").AssertData(rqRaw(l.event))
				}

				c2 := c
				if sameClient {
					c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertNoResult()
				} else {
					c2 = s.Connect()
					c2.Version("1.2.0")
				}
				creq = c2.Request("subscribe."+l.rid, nil)
				// Cached: only the access request.
				s.GetRequest().AssertSubject("access." + l.rid).RespondSuccess(map[string]any{"get": true})
				creq.GetResponse().AssertResult(rqRaw(`{"models":{"` + l.rid + `":` + l.expected + `}}`))
			})
		}
	}
}

// TestLegacy120_SoftReferenceReplacedByReference covers a change that turns
// a soft reference into a reference for a 1.2.0 client: the resource is
// fetched, sent with the event and subscribed.
func TestLegacy120_SoftReferenceReplacedByReference(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.0")
	rqSubscribe(t, s, c, "test.model.soft", rqLegacyFixtures[0].data, rqLegacyFixtures[0].legacy)

	s.Event("test.model.soft", "change", rqRaw(`{"values":{"child":{"rid":"test.model","soft":false}}}`))
	s.GetRequest().AssertSubject("get.test.model").RespondModel(rqRaw(rqModel))
	c.GetEvent().AssertEventName("test.model.soft.change").
		AssertData(rqRaw(`{"values":{"child":{"rid":"test.model","soft":false}},"models":{"test.model":` + rqModel + `}}`))

	s.Event("test.model", "custom", rqFooBar)
	c.GetEvent().AssertEventName("test.model.custom").AssertData(rqFooBar)
}

// TestLegacy120_AddRemoveEventsOnCachedCollection covers add and remove
// events for a 1.2.0 client, and the cached collection it gets when it
// subscribes again.
func TestLegacy120_AddRemoveEventsOnCachedCollection(t *testing.T) {
	colls := map[string]string{
		"test.collection":      `["foo",42,true,null]`,
		"test.collection.soft": rqLegacyFixtures[2].data,
	}
	tbl := []struct {
		name, rid, event, payload, clientPayload, expected string
	}{
		{"add soft reference", "test.collection", "add", `{"idx":0,"value":{"rid":"test.collection.soft","soft":true}}`, `{"idx":0,"value":"test.collection.soft"}`, `["test.collection.soft","foo",42,true,null]`},
		{"remove soft reference", "test.collection.soft", "remove", `{"idx":1}`, `{"idx":1}`, `["soft"]`},
		{"add data object", "test.collection", "add", `{"idx":4,"value":{"data":{"a":1}}}`, `{"idx":4,"value":"[Data]"}`, `["foo",42,true,null,"[Data]"]`},
		{"add data array", "test.collection", "add", `{"idx":1,"value":{"data":[1,2]}}`, `{"idx":1,"value":"[Data]"}`, `["foo","[Data]",42,true,null]`},
		{"add data primitive", "test.collection", "add", `{"idx":0,"value":{"data":"x"}}`, `{"idx":0,"value":"x"}`, `["x","foo",42,true,null]`},
	}
	for _, l := range tbl {
		for _, sameClient := range []bool{true, false} {
			name := l.name + "/same client"
			if !sameClient {
				name = l.name + "/other client"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t, rqWithCacheDelay())
				c := s.Connect()
				c.Version("1.2.0")
				creq := c.Request("subscribe."+l.rid, nil)
				reqs := s.GetRequests(2)
				reqs.BySubject(t, "access."+l.rid).RespondSuccess(map[string]any{"get": true})
				reqs.BySubject(t, "get."+l.rid).RespondCollection(rqRaw(colls[l.rid]))
				creq.GetResponse()

				s.Event(l.rid, l.event, rqRaw(l.payload))
				c.GetEvent().AssertEventName(l.rid + "." + l.event).AssertData(rqRaw(l.clientPayload))

				c2 := c
				if sameClient {
					c.Request("unsubscribe."+l.rid, nil).GetResponse().AssertNoResult()
				} else {
					c2 = s.Connect()
					c2.Version("1.2.0")
				}
				creq = c2.Request("subscribe."+l.rid, nil)
				s.GetRequest().AssertSubject("access." + l.rid).RespondSuccess(map[string]any{"get": true})
				creq.GetResponse().AssertResult(rqRaw(`{"collections":{"` + l.rid + `":` + l.expected + `}}`))
			})
		}
	}
}

// TestLegacy120_MixedClients covers clients of different protocol versions
// on the same resource: each gets events in its own encoding.
func TestLegacy120_MixedClients(t *testing.T) {
	s := restest.Start(t)
	legacy := s.Connect()
	legacy.Version("1.2.0")
	latest := rqConnect(s)
	none := s.Connect()

	rqSubscribe(t, s, legacy, "test.model", rqModel, rqModel)
	for _, c := range []*restest.Client{latest, none} {
		creq := c.Request("subscribe.test.model", nil)
		s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
		creq.GetResponse().AssertResult(rqResourceSet("test.model", rqModel))
	}

	s.Event("test.model", "change", rqRaw(`{"values":{"soft":{"rid":"test.other","soft":true},"obj":{"data":{"a":1}}}}`))
	legacyData := rqRaw(`{"values":{"soft":"test.other","obj":"[Data]"}}`)
	legacy.GetEvent().AssertEventName("test.model.change").AssertData(legacyData)
	none.GetEvent().AssertEventName("test.model.change").AssertData(legacyData)
	latest.GetEvent().AssertEventName("test.model.change").
		AssertData(rqRaw(`{"values":{"soft":{"rid":"test.other","soft":true},"obj":{"data":{"a":1}}}}`))
}
