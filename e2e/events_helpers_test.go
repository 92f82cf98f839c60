package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// Fixture resources used by the event tests, named as in Resgate's test
// suite. A value starting with '[' is a collection, otherwise a model.
var evRes = map[string]string{
	"test.model":             `{"string":"foo","int":42,"bool":true,"null":null}`,
	"test.model.parent":      `{"name":"parent","child":{"rid":"test.model"}}`,
	"test.model.soft":        `{"name":"soft","child":{"rid":"test.model","soft":true}}`,
	"test.model.data":        `{"name":"data","primitive":{"data":12},"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`,
	"test.m.a":               `{"a":{"rid":"test.m.a"}}`,
	"test.collection":        `["foo",42,true,null]`,
	"test.collection.parent": `["parent",{"rid":"test.collection"}]`,
	"test.collection.soft":   `["soft",{"rid":"test.collection","soft":true}]`,
	"test.collection.data":   `["data",{"data":12},{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`,
	"test.collection.empty":  `[]`,
}

// evClientData is how a fixture is sent to clients: data values wrapping a
// primitive are unwrapped.
var evClientData = map[string]string{
	"test.model.data":      `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`,
	"test.collection.data": `["data",12,{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`,
}

// customEv is the payload of the custom events the tests send.
var customEv = json.RawMessage(`{"foo":"bar"}`)

var reasonAccessDenied = json.RawMessage(`{"reason":{"code":"system.accessDenied","message":"Access denied"}}`)
var reasonDeleted = json.RawMessage(`{"reason":{"code":"system.deleted","message":"Deleted"}}`)

func evIsCollection(data string) bool { return strings.HasPrefix(data, "[") }

func evData(rid string) string {
	d, ok := evRes[rid]
	if !ok {
		panic("no fixture " + rid)
	}
	return d
}

func evClient(rid string) string {
	if d, ok := evClientData[rid]; ok {
		return d
	}
	return evData(rid)
}

// evRespondGet answers a get request with the fixture or the given raw data.
func evRespondGet(r *restest.Request, data string) {
	if evIsCollection(data) {
		r.RespondCollection(json.RawMessage(data))
	} else {
		r.RespondModel(json.RawMessage(data))
	}
}

// evRespondFixture answers a get request with the fixture its subject names.
func evRespondFixture(t *testing.T, r *restest.Request) {
	t.Helper()
	name, ok := strings.CutPrefix(r.Subject, "get.")
	if !ok {
		t.Fatalf("expected a get request, got %s", r.Subject)
	}
	evRespondGet(r, evData(name))
}

// evResourceSet is the expected resource set holding the client data of rids.
func evResourceSet(rids ...string) json.RawMessage {
	models := map[string]json.RawMessage{}
	colls := map[string]json.RawMessage{}
	for _, rid := range rids {
		d := evClient(rid)
		if evIsCollection(d) {
			colls[rid] = json.RawMessage(d)
		} else {
			models[rid] = json.RawMessage(d)
		}
	}
	m := map[string]any{}
	if len(models) > 0 {
		m["models"] = models
	}
	if len(colls) > 0 {
		m["collections"] = colls
	}
	b, _ := json.Marshal(m)
	return b
}

// evSubscribe subscribes c to the fixture rid. cached tells whether the
// gateway already holds rid (no get request then); loads are the references
// the gateway must fetch, answered from the fixtures in any order. The
// reply must hold rid (unless cached and already sent) and loads. Returns
// the cid of the access request.
func evSubscribe(t *testing.T, s *restest.Session, c *restest.Client, rid string, cached bool, loads ...string) string {
	t.Helper()
	return evSubscribeData(t, s, c, rid, evData(rid), cached, loads...)
}

// evSubscribeData is evSubscribe for a resource with the given raw data.
func evSubscribeData(t *testing.T, s *restest.Session, c *restest.Client, rid, data string, cached bool, loads ...string) string {
	t.Helper()
	creq := c.Request("subscribe."+rid, nil)
	n := 2
	if cached {
		n = 1
	}
	reqs := s.GetRequests(n)
	acc := reqs.BySubject(t, "access."+rid)
	cid, _ := acc.PathPayload("cid").(string)
	acc.RespondSuccess(map[string]any{"get": true})
	if !cached {
		evRespondGet(reqs.BySubject(t, "get."+rid), data)
	}
	for range loads {
		evRespondFixture(t, s.GetRequest())
	}
	expected := map[string]any{}
	json.Unmarshal(evResourceSet(loads...), &expected)
	cd := data
	if d, ok := evClientData[rid]; ok && data == evRes[rid] {
		cd = d
	}
	key := "models"
	if evIsCollection(cd) {
		key = "collections"
	}
	set, _ := expected[key].(map[string]any)
	if set == nil {
		set = map[string]any{}
		expected[key] = set
	}
	set[rid] = json.RawMessage(cd)
	creq.GetResponse().AssertResult(expected)
	return cid
}

// evEvents returns the next n events, which may arrive in any order, by
// event name.
func evEvents(t *testing.T, c *restest.Client, n int) map[string]*restest.ClientEvent {
	t.Helper()
	m := make(map[string]*restest.ClientEvent, n)
	for i := 0; i < n; i++ {
		ev := c.GetEvent()
		m[ev.Event] = ev
	}
	return m
}

// evErrorCount returns how many error records the engine has logged.
func evErrorCount(s *restest.Session) int {
	return strings.Count(s.Logs.String(), "level=ERROR")
}

// evAssertErrorsLogged waits briefly and checks the number of errors logged.
func evAssertErrorsLogged(t *testing.T, s *restest.Session, n int) {
	t.Helper()
	deadline := time.Now().Add(restest.Timeout)
	for {
		got := evErrorCount(s)
		if got == n && n == 0 {
			return
		}
		if got == n {
			// Make sure no further error follows.
			time.Sleep(restest.Quiet)
			if got = evErrorCount(s); got == n {
				return
			}
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("expected %d errors logged, got %d:\n%s", n, got, s.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withCacheDelay keeps unused cache entries for a while, as Resgate does.
func withCacheDelay() restest.Option {
	return restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = time.Minute })
}

// withResetThrottle sets the reset throttle.
func withResetThrottle(n int) restest.Option {
	return restest.WithEngine(func(c *resproto.Config) { c.ResetThrottle = n })
}

// evRIDOf returns the resource name of a get or access request subject.
func evRIDOf(subject string) string {
	_, name, _ := strings.Cut(subject, ".")
	return name
}

// evConnect connects a client speaking the latest protocol, as Resgate's
// test clients do.
func evConnect(s *restest.Session) *restest.Client {
	c := s.Connect()
	c.Version("1.2.3")
	return c
}

// evSync makes a round trip through the gateway's NATS connection for c:
// a call on a throwaway resource whose access request the service denies.
// Everything the service published before that reply (token events, for
// instance) is then handled by the gateway. It must be used when no other
// service request is pending.
func evSync(t *testing.T, s *restest.Session, c *restest.Client) {
	t.Helper()
	creq := c.Request("call.restest.sync.probe", nil)
	s.GetRequest().AssertSubject("access.restest.sync").RespondSuccess(map[string]any{"get": false})
	creq.GetResponse().AssertError(resproto.CodeAccessDenied)
}
