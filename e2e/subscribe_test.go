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

// Fixture resources served by the tests of subscribe, get and unsubscribe.
// The ids with a cyclic reference graph are:
//
//	test.m.a -> a; test.m.b -> c -> b; test.m.d -> e, f; e -> d; f -> d;
//	test.m.g -> e, f; test.m.h -> e
//
// and the same shapes as collections under test.c.
type fxResource struct {
	coll bool
	data string
	err  *resproto.Error
}

func fxModel(data string) fxResource      { return fxResource{data: data} }
func fxCollection(data string) fxResource { return fxResource{coll: true, data: data} }
func fxError(err *resproto.Error) fxResource {
	return fxResource{err: err}
}

var fxResources = map[string]fxResource{
	"test.model":              fxModel(`{"string":"foo","int":42,"bool":true,"null":null}`),
	"test.model.parent":       fxModel(`{"name":"parent","child":{"rid":"test.model"}}`),
	"test.model.secondparent": fxModel(`{"name":"secondparent","child":{"rid":"test.model"}}`),
	"test.model.grandparent":  fxModel(`{"name":"grandparent","child":{"rid":"test.model.parent"}}`),
	"test.model.brokenchild":  fxModel(`{"name":"brokenchild","child":{"rid":"test.err.notFound"}}`),
	"test.model.soft":         fxModel(`{"name":"soft","child":{"rid":"test.model","soft":true}}`),
	"test.model.soft.parent":  fxModel(`{"name":"softparent","child":{"rid":"test.model.soft","soft":false}}`),
	"test.model.data":         fxModel(`{"name":"data","primitive":{"data":12},"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`),
	"test.model.data.parent":  fxModel(`{"name":"dataparent","child":{"rid":"test.model.data"}}`),

	"test.m.a": fxModel(`{"a":{"rid":"test.m.a"}}`),
	"test.m.b": fxModel(`{"c":{"rid":"test.m.c"}}`),
	"test.m.c": fxModel(`{"b":{"rid":"test.m.b"}}`),
	"test.m.d": fxModel(`{"e":{"rid":"test.m.e"},"f":{"rid":"test.m.f"}}`),
	"test.m.e": fxModel(`{"d":{"rid":"test.m.d"}}`),
	"test.m.f": fxModel(`{"d":{"rid":"test.m.d"}}`),
	"test.m.g": fxModel(`{"e":{"rid":"test.m.e"},"f":{"rid":"test.m.f"}}`),
	"test.m.h": fxModel(`{"e":{"rid":"test.m.e"}}`),

	"test.collection":              fxCollection(`["foo",42,true,null]`),
	"test.collection.parent":       fxCollection(`["parent",{"rid":"test.collection"}]`),
	"test.collection.secondparent": fxCollection(`["secondparent",{"rid":"test.collection"}]`),
	"test.collection.grandparent":  fxCollection(`["grandparent",{"rid":"test.collection.parent"}]`),
	"test.collection.brokenchild":  fxCollection(`["brokenchild",{"rid":"test.err.notFound"}]`),
	"test.collection.soft":         fxCollection(`["soft",{"rid":"test.collection","soft":true}]`),
	"test.collection.soft.parent":  fxCollection(`["softparent",{"rid":"test.collection.soft","soft":false}]`),
	"test.collection.data":         fxCollection(`["data",{"data":12},{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`),
	"test.collection.data.parent":  fxCollection(`["dataparent",{"rid":"test.collection.data"}]`),

	"test.c.a": fxCollection(`[{"rid":"test.c.a"}]`),
	"test.c.b": fxCollection(`[{"rid":"test.c.c"}]`),
	"test.c.c": fxCollection(`[{"rid":"test.c.b"}]`),
	"test.c.d": fxCollection(`[{"rid":"test.c.e"},{"rid":"test.c.f"}]`),
	"test.c.e": fxCollection(`[{"rid":"test.c.d"}]`),
	"test.c.f": fxCollection(`[{"rid":"test.c.d"}]`),
	"test.c.g": fxCollection(`[{"rid":"test.c.e"},{"rid":"test.c.f"}]`),
	"test.c.h": fxCollection(`[{"rid":"test.c.e"}]`),

	"test.err.notFound":      fxError(resproto.ErrNotFound),
	"test.err.internalError": fxError(resproto.ErrInternalError),
}

// fxData returns the JSON of a fixture resource as the service sends it.
func fxData(rid string) string {
	r, ok := fxResources[rid]
	if !ok {
		panic("no fixture resource " + rid)
	}
	return r.data
}

// fxCustomEvent is the payload of the custom events the tests send.
const fxCustomEvent = `{"foo":"bar"}`

// fxRespond answers a get request with r.
func fxRespond(req *restest.Request, r fxResource) {
	switch {
	case r.err != nil:
		req.RespondError(r.err)
	case r.coll:
		req.Respond(`{"result":{"collection":` + r.data + `}}`)
	default:
		req.Respond(`{"result":{"model":` + r.data + `}}`)
	}
}

// fxRespondGet answers a get request with the fixture named by its subject.
func fxRespondGet(t *testing.T, req *restest.Request) {
	t.Helper()
	rid, ok := strings.CutPrefix(req.Subject, "get.")
	if !ok {
		t.Fatalf("expected a get request, got %s", req.Subject)
	}
	r, ok := fxResources[rid]
	if !ok {
		t.Fatalf("get request for unknown fixture %s", rid)
	}
	fxRespond(req, r)
}

// fxServe answers the next n service requests, in whatever order they come:
// access requests with full access and get requests with fixtures. It
// fails on any request whose subject is not in subjects, and returns the
// cid of the last access request.
func fxServe(t *testing.T, s *restest.Session, subjects ...string) string {
	t.Helper()
	want := make(map[string]int)
	for _, subj := range subjects {
		want[subj]++
	}
	var cid string
	for range subjects {
		req := s.GetRequest()
		if want[req.Subject] == 0 {
			t.Fatalf("unexpected service request %s (expected %v)", req.Subject, subjects)
		}
		want[req.Subject]--
		if strings.HasPrefix(req.Subject, "access.") {
			cid, _ = req.PathPayload("cid").(string)
			req.RespondSuccess(map[string]any{"get": true})
		} else {
			fxRespondGet(t, req)
		}
	}
	return cid
}

// fxSubscribe subscribes c to rid, serving the access request, the get
// request of rid unless cached, and the get requests of the referenced
// fixture ids in refs. It returns the response.
func fxSubscribe(t *testing.T, s *restest.Session, c *restest.Client, rid string, cached bool, refs ...string) *restest.ClientResponse {
	t.Helper()
	creq := c.Request("subscribe."+rid, nil)
	subjects := []string{"access." + rid}
	if !cached {
		subjects = append(subjects, "get."+rid)
	}
	for _, ref := range refs {
		subjects = append(subjects, "get."+ref)
	}
	fxServe(t, s, subjects...)
	return creq.GetResponse()
}

// fxSet builds the expected resource set of a response or event from
// fixture ids; a value of "" means the fixture itself.
func fxSet(rids ...string) json.RawMessage {
	models, colls, errs := map[string]json.RawMessage{}, map[string]json.RawMessage{}, map[string]*resproto.Error{}
	for _, rid := range rids {
		r, ok := fxResources[rid]
		if !ok {
			panic("no fixture resource " + rid)
		}
		switch {
		case r.err != nil:
			errs[rid] = r.err
		case r.coll:
			colls[rid] = json.RawMessage(r.data)
		default:
			models[rid] = json.RawMessage(r.data)
		}
	}
	out := map[string]any{}
	if len(models) > 0 {
		out["models"] = models
	}
	if len(colls) > 0 {
		out["collections"] = colls
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	b, _ := json.Marshal(out)
	return b
}

// fxAssertEvent sends a custom event on rid and checks that c gets it.
func fxAssertEvent(s *restest.Session, c *restest.Client, rid string) {
	s.Event(rid, "custom", json.RawMessage(fxCustomEvent))
	c.GetEvent().AssertEventName(rid + ".custom").AssertData(json.RawMessage(fxCustomEvent))
}

// fxAssertNoEvent sends a custom event on rid and checks that c gets
// nothing.
func fxAssertNoEvent(s *restest.Session, c *restest.Client, rid string) {
	s.Event(rid, "custom", json.RawMessage(fxCustomEvent))
	c.AssertNoMsg()
}

func TestSubscribe_SendsAccessAndGetRequests(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "get.test.model").AssertPayload(json.RawMessage(`{}`))
	access := reqs.BySubject(t, "access.test.model").
		AssertPathPayload("token", nil).
		AssertPathMissing("isHttp").
		AssertPathMissing("query")
	if cid, _ := access.PathPayload("cid").(string); cid == "" {
		t.Fatalf("access request without cid: %s", access.Data)
	}
}

// Every combination of access and get outcome, for both subscribe and get
// requests, with either response arriving first.
func TestSubscribe_AccessAndGetOutcomes(t *testing.T) {
	const timeout = "timeout" // the service never answers
	model := fxData("test.model")
	modelResult := `{"models":{"$RID":` + model + `}}`
	getModel := `{"result":{"model":` + model + `}}`
	fullAccess := `{"result":{"get":true}}`
	noAccess := `{"result":{"get":false}}`
	brokenAccess := `{"result":{"get":"foo"}}`
	brokenModel := `{"result":{"foo":"bar"}}`
	errResp := func(e *resproto.Error) string { return `{"error":` + restest.Marshal(e) + `}` }
	disposing := &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: disposing connection"}

	tbl := []struct {
		name   string
		get    string
		access string
		result string          // expected result, or
		err    *resproto.Error // expected error, or
		code   string          // expected error code
	}{
		{"model, access", getModel, fullAccess, modelResult, nil, ""},
		{"model, no access", getModel, noAccess, "", resproto.ErrAccessDenied, ""},
		{"model, access error", getModel, errResp(resproto.ErrAccessDenied), "", resproto.ErrAccessDenied, ""},
		{"model, access internal error", getModel, errResp(resproto.ErrInternalError), "", resproto.ErrInternalError, ""},
		{"model, access timeout", getModel, timeout, "", resproto.ErrTimeout, ""},
		{"model, broken access", getModel, brokenAccess, "", nil, resproto.CodeInternalError},
		{"not found, access", errResp(resproto.ErrNotFound), fullAccess, "", resproto.ErrNotFound, ""},
		{"not found, no access", errResp(resproto.ErrNotFound), noAccess, "", resproto.ErrAccessDenied, ""},
		{"not found, access error", errResp(resproto.ErrNotFound), errResp(resproto.ErrAccessDenied), "", resproto.ErrAccessDenied, ""},
		{"not found, access internal error", errResp(resproto.ErrNotFound), errResp(resproto.ErrInternalError), "", resproto.ErrInternalError, ""},
		{"not found, access timeout", errResp(resproto.ErrNotFound), timeout, "", resproto.ErrTimeout, ""},
		{"not found, broken access", errResp(resproto.ErrNotFound), brokenAccess, "", nil, resproto.CodeInternalError},
		{"internal error, access", errResp(resproto.ErrInternalError), fullAccess, "", resproto.ErrInternalError, ""},
		{"internal error, no access", errResp(resproto.ErrInternalError), noAccess, "", resproto.ErrAccessDenied, ""},
		{"internal error, access error", errResp(resproto.ErrInternalError), errResp(resproto.ErrAccessDenied), "", resproto.ErrAccessDenied, ""},
		{"internal error, access disposing error", errResp(resproto.ErrInternalError), errResp(disposing), "", disposing, ""},
		{"internal error, access timeout", errResp(resproto.ErrInternalError), timeout, "", resproto.ErrTimeout, ""},
		{"internal error, broken access", errResp(resproto.ErrInternalError), brokenAccess, "", nil, resproto.CodeInternalError},
		{"get timeout, access", timeout, fullAccess, "", resproto.ErrTimeout, ""},
		{"get timeout, no access", timeout, noAccess, "", resproto.ErrAccessDenied, ""},
		{"get timeout, access error", timeout, errResp(resproto.ErrAccessDenied), "", resproto.ErrAccessDenied, ""},
		{"get timeout, access internal error", timeout, errResp(resproto.ErrInternalError), "", resproto.ErrInternalError, ""},
		{"get timeout, access timeout", timeout, timeout, "", resproto.ErrTimeout, ""},
		{"get timeout, broken access", timeout, brokenAccess, "", nil, resproto.CodeInternalError},
		{"broken model, access", brokenModel, fullAccess, "", nil, resproto.CodeInternalError},
		{"broken model, no access", brokenModel, noAccess, "", resproto.ErrAccessDenied, ""},
		{"broken model, access error", brokenModel, errResp(resproto.ErrAccessDenied), "", resproto.ErrAccessDenied, ""},
		{"broken model, access internal error", brokenModel, errResp(resproto.ErrInternalError), "", resproto.ErrInternalError, ""},
		{"broken model, access timeout", brokenModel, timeout, "", resproto.ErrTimeout, ""},
		{"broken model, broken access", brokenModel, brokenAccess, "", nil, resproto.CodeInternalError},
		{"untrimmed get response", "\r\n \t{\"result\":{ \"model\":\t \r\n" + model + "\t} \t\n}", fullAccess, modelResult, nil, ""},
		{"untrimmed access response", getModel, "{\"result\":\r\n \t{\"get\":\ttrue}\n}", modelResult, nil, ""},
		{"invalid JSON get response", `{"invalid":JSON}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"empty get response", ``, fullAccess, "", nil, resproto.CodeInternalError},
		{"get response without result", `{"invalid":"response"}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"invalid JSON access response", getModel, `{"invalid":JSON}`, "", nil, resproto.CodeInternalError},
		{"empty access response", getModel, ``, "", nil, resproto.CodeInternalError},
		{"access response without result", getModel, `{"invalid":"response"}`, "", nil, resproto.CodeInternalError},
		{"model with array data", `{"result":{"model":["with","array","data"]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"collection with model data", `{"result":{"collection":{"with":"model data"}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"model with array value", `{"result":{"model":{"array":[1,2]}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"model with delete action", `{"result":{"model":{"prop":{"action":"delete"}}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"model with unknown action", `{"result":{"model":{"prop":{"action":"unknown"}}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"model with object value", `{"result":{"model":{"prop":{"unknown":"property"}}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"model with non-string rid", `{"result":{"model":{"child":{"rid":false}}}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"collection with array value", `{"result":{"collection":["array",[1,2]]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"collection with delete action", `{"result":{"collection":["prop",{"action":"delete"}]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"collection with unknown action", `{"result":{"collection":["prop",{"action":"unknown"}]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"collection with object value", `{"result":{"collection":["prop",{"unknown":"property"}]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"both model and collection", `{"result":{"model":{"foo":"bar"},"collection":[1,2,3]}}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"error that is no object", `{"error":[]}`, fullAccess, "", nil, resproto.CodeInternalError},
		{"error without code", `{"error":{"message":"missing code"}}`, fullAccess, "", &resproto.Error{Message: "missing code"}, ""},
		{"error with integer code", `{"error":{"code":12,"message":"integer code"}}`, fullAccess, "", nil, resproto.CodeInternalError},
	}

	respond := func(req *restest.Request, data string) {
		if data != timeout {
			req.Respond(data)
		}
	}
	// Each row runs four variants at once, on their own clients and
	// resources: subscribe and get, with the get or the access response
	// sent first.
	type variant struct {
		rid      string
		method   string
		getFirst bool
		creq     *restest.ClientRequest
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			// Rows run in parallel, so the timeout rows cost one timeout
			// in all; it is long enough that an answered request never
			// times out on a loaded machine under the race detector.
			s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = time.Second }))
			var vs []*variant
			for _, method := range []string{"subscribe", "get"} {
				for _, getFirst := range []bool{true, false} {
					v := &variant{rid: "test." + method + ".accessfirst", method: method, getFirst: getFirst}
					if getFirst {
						v.rid = "test." + method + ".getfirst"
					}
					v.creq = s.Connect().Request(method+"."+v.rid, nil)
					vs = append(vs, v)
				}
			}
			reqs := s.GetRequests(2 * len(vs))
			for _, v := range vs {
				if v.getFirst {
					respond(reqs.BySubject(t, "get."+v.rid), l.get)
					respond(reqs.BySubject(t, "access."+v.rid), l.access)
				} else {
					respond(reqs.BySubject(t, "access."+v.rid), l.access)
					respond(reqs.BySubject(t, "get."+v.rid), l.get)
				}
			}
			for _, v := range vs {
				resp := v.creq.GetResponse()
				switch {
				case l.result != "":
					resp.AssertResult(json.RawMessage(strings.ReplaceAll(l.result, "$RID", v.rid)))
				case l.err != nil:
					resp.AssertErrorEqual(l.err)
				default:
					resp.AssertError(l.code)
				}
			}
		})
	}
}

// A subscribe scenario is a sequence of steps: client requests, service
// responses, and what the client then receives.
type subStep struct {
	op   string // subscribe, access, deny, get, response, error, event, noevent, nosubscription
	rid  string
	want string // for response: the expected result
}

func stSubscribe(rid string) subStep { return subStep{op: "subscribe", rid: rid} }
func stAccess(rid string) subStep    { return subStep{op: "access", rid: rid} }
func stDeny(rid string) subStep      { return subStep{op: "deny", rid: rid} }
func stGet(rid string) subStep       { return subStep{op: "get", rid: rid} }
func stResponse(rid string, want json.RawMessage) subStep {
	return subStep{op: "response", rid: rid, want: string(want)}
}
func stError(rid string) subStep          { return subStep{op: "error", rid: rid} }
func stEvent(rid string) subStep          { return subStep{op: "event", rid: rid} }
func stNoEvent(rid string) subStep        { return subStep{op: "noevent", rid: rid} }
func stNoSubscription(rid string) subStep { return subStep{op: "nosubscription", rid: rid} }

func runSubSteps(t *testing.T, s *restest.Session, c *restest.Client, steps []subStep) {
	t.Helper()
	creqs := map[string]*restest.ClientRequest{}
	pending := map[string]*restest.Request{}
	take := func(subject string) *restest.Request {
		t.Helper()
		for pending[subject] == nil {
			r := s.GetRequest()
			if pending[r.Subject] != nil {
				t.Fatalf("second pending request on %s", r.Subject)
			}
			pending[r.Subject] = r
		}
		r := pending[subject]
		delete(pending, subject)
		return r
	}
	for _, st := range steps {
		switch st.op {
		case "subscribe":
			creqs[st.rid] = c.Request("subscribe."+st.rid, nil)
		case "access":
			take("access." + st.rid).RespondSuccess(map[string]any{"get": true})
		case "deny":
			take("access." + st.rid).RespondSuccess(map[string]any{"get": false})
		case "get":
			fxRespondGet(t, take("get."+st.rid))
		case "response":
			creqs[st.rid].GetResponse().AssertResult(json.RawMessage(st.want))
		case "error":
			creqs[st.rid].GetResponse().AssertError(resproto.CodeAccessDenied)
		case "event":
			fxAssertEvent(s, c, st.rid)
		case "noevent":
			fxAssertNoEvent(s, c, st.rid)
		case "nosubscription":
			s.AssertEventSubscription(st.rid, false)
		default:
			t.Fatalf("unknown step %s", st.op)
		}
	}
	if len(pending) > 0 {
		for subj := range pending {
			t.Errorf("unanswered service request %s", subj)
		}
	}
	s.AssertNoRequest()
}

func TestSubscribe_Sequences(t *testing.T) {
	dataModel := `{"name":"data","primitive":12,"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}`
	dataCollection := `["data",12,{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]`
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }

	tbl := []struct {
		name  string
		steps []subStep
	}{
		{"model", []subStep{
			stSubscribe("test.model"), stAccess("test.model"), stGet("test.model"),
			stResponse("test.model", fxSet("test.model")),
			stEvent("test.model"),
		}},
		{"model parent", []subStep{
			stSubscribe("test.model.parent"), stAccess("test.model.parent"), stGet("test.model.parent"), stGet("test.model"),
			stResponse("test.model.parent", fxSet("test.model.parent", "test.model")),
			stEvent("test.model.parent"), stEvent("test.model"),
		}},
		{"model grandparent", []subStep{
			stSubscribe("test.model.grandparent"), stAccess("test.model.grandparent"),
			stGet("test.model.grandparent"), stGet("test.model.parent"), stGet("test.model"),
			stResponse("test.model.grandparent", fxSet("test.model.grandparent", "test.model.parent", "test.model")),
			stEvent("test.model.grandparent"), stEvent("test.model.parent"), stEvent("test.model"),
		}},
		{"model parent then second parent", []subStep{
			stSubscribe("test.model.parent"), stAccess("test.model.parent"), stGet("test.model.parent"), stGet("test.model"),
			stResponse("test.model.parent", fxSet("test.model.parent", "test.model")),
			stSubscribe("test.model.secondparent"), stAccess("test.model.secondparent"), stGet("test.model.secondparent"),
			stResponse("test.model.secondparent", fxSet("test.model.secondparent")),
		}},
		{"model with broken child", []subStep{
			stSubscribe("test.model.brokenchild"), stAccess("test.model.brokenchild"),
			stGet("test.model.brokenchild"), stGet("test.err.notFound"),
			stResponse("test.model.brokenchild", fxSet("test.model.brokenchild", "test.err.notFound")),
			stEvent("test.model.brokenchild"), stNoEvent("test.err.notFound"), stNoSubscription("test.err.notFound"),
		}},
		{"model with soft reference", []subStep{
			stSubscribe("test.model.soft"), stAccess("test.model.soft"), stGet("test.model.soft"),
			stResponse("test.model.soft", fxSet("test.model.soft")),
			stEvent("test.model.soft"), stNoSubscription("test.model"),
		}},
		{"model referencing model with soft reference", []subStep{
			stSubscribe("test.model.soft.parent"), stAccess("test.model.soft.parent"),
			stGet("test.model.soft.parent"), stGet("test.model.soft"),
			stResponse("test.model.soft.parent", fxSet("test.model.soft.parent", "test.model.soft")),
			stEvent("test.model.soft.parent"), stEvent("test.model.soft"), stNoSubscription("test.model"),
		}},
		{"model with data values", []subStep{
			stSubscribe("test.model.data"), stAccess("test.model.data"), stGet("test.model.data"),
			stResponse("test.model.data", raw(`{"models":{"test.model.data":`+dataModel+`}}`)),
			stEvent("test.model.data"),
		}},
		{"model referencing model with data values", []subStep{
			stSubscribe("test.model.data.parent"), stAccess("test.model.data.parent"),
			stGet("test.model.data.parent"), stGet("test.model.data"),
			stResponse("test.model.data.parent", raw(`{"models":{"test.model.data.parent":`+fxData("test.model.data.parent")+`,"test.model.data":`+dataModel+`}}`)),
			stEvent("test.model.data.parent"), stEvent("test.model.data"),
		}},
		{"model referencing itself", []subStep{
			stSubscribe("test.m.a"), stAccess("test.m.a"), stGet("test.m.a"),
			stResponse("test.m.a", fxSet("test.m.a")),
			stEvent("test.m.a"),
		}},
		{"two models referencing each other", []subStep{
			stSubscribe("test.m.b"), stAccess("test.m.b"), stGet("test.m.b"), stGet("test.m.c"),
			stResponse("test.m.b", fxSet("test.m.b", "test.m.c")),
			stEvent("test.m.b"), stEvent("test.m.c"),
		}},
		{"model in two cycles", []subStep{
			stSubscribe("test.m.d"), stAccess("test.m.d"), stGet("test.m.d"), stGet("test.m.e"), stGet("test.m.f"),
			stResponse("test.m.d", fxSet("test.m.d", "test.m.e", "test.m.f")),
			stEvent("test.m.d"), stEvent("test.m.e"), stEvent("test.m.f"),
		}},
		{"model referencing a cycle", []subStep{
			stSubscribe("test.m.g"), stAccess("test.m.g"), stGet("test.m.g"), stGet("test.m.e"), stGet("test.m.f"), stGet("test.m.d"),
			stResponse("test.m.g", fxSet("test.m.g", "test.m.d", "test.m.e", "test.m.f")),
		}},
		{"two subscriptions into one cycle while loading", []subStep{
			stSubscribe("test.m.d"), stAccess("test.m.d"), stGet("test.m.d"),
			stSubscribe("test.m.h"), stAccess("test.m.h"), stGet("test.m.e"), stGet("test.m.h"), stGet("test.m.f"),
			stResponse("test.m.d", fxSet("test.m.d", "test.m.e", "test.m.f")),
			stResponse("test.m.h", fxSet("test.m.h")),
		}},

		{"collection", []subStep{
			stSubscribe("test.collection"), stAccess("test.collection"), stGet("test.collection"),
			stResponse("test.collection", fxSet("test.collection")),
			stEvent("test.collection"),
		}},
		{"collection parent", []subStep{
			stSubscribe("test.collection.parent"), stAccess("test.collection.parent"), stGet("test.collection.parent"), stGet("test.collection"),
			stResponse("test.collection.parent", fxSet("test.collection.parent", "test.collection")),
			stEvent("test.collection.parent"), stEvent("test.collection"),
		}},
		{"collection grandparent", []subStep{
			stSubscribe("test.collection.grandparent"), stAccess("test.collection.grandparent"),
			stGet("test.collection.grandparent"), stGet("test.collection.parent"), stGet("test.collection"),
			stResponse("test.collection.grandparent", fxSet("test.collection.grandparent", "test.collection.parent", "test.collection")),
			stEvent("test.collection.grandparent"), stEvent("test.collection.parent"), stEvent("test.collection"),
		}},
		{"collection parent then second parent", []subStep{
			stSubscribe("test.collection.parent"), stAccess("test.collection.parent"), stGet("test.collection.parent"), stGet("test.collection"),
			stResponse("test.collection.parent", fxSet("test.collection.parent", "test.collection")),
			stSubscribe("test.collection.secondparent"), stAccess("test.collection.secondparent"), stGet("test.collection.secondparent"),
			stResponse("test.collection.secondparent", fxSet("test.collection.secondparent")),
		}},
		{"collection with broken child", []subStep{
			stSubscribe("test.collection.brokenchild"), stAccess("test.collection.brokenchild"),
			stGet("test.collection.brokenchild"), stGet("test.err.notFound"),
			stResponse("test.collection.brokenchild", fxSet("test.collection.brokenchild", "test.err.notFound")),
			stEvent("test.collection.brokenchild"), stNoEvent("test.err.notFound"),
		}},
		{"collection with soft reference", []subStep{
			stSubscribe("test.collection.soft"), stAccess("test.collection.soft"), stGet("test.collection.soft"),
			stResponse("test.collection.soft", fxSet("test.collection.soft")),
			stEvent("test.collection.soft"), stNoSubscription("test.collection"),
		}},
		{"collection referencing collection with soft reference", []subStep{
			stSubscribe("test.collection.soft.parent"), stAccess("test.collection.soft.parent"),
			stGet("test.collection.soft.parent"), stGet("test.collection.soft"),
			stResponse("test.collection.soft.parent", fxSet("test.collection.soft.parent", "test.collection.soft")),
			stEvent("test.collection.soft.parent"), stEvent("test.collection.soft"), stNoSubscription("test.collection"),
		}},
		{"collection with data values", []subStep{
			stSubscribe("test.collection.data"), stAccess("test.collection.data"), stGet("test.collection.data"),
			stResponse("test.collection.data", raw(`{"collections":{"test.collection.data":`+dataCollection+`}}`)),
			stEvent("test.collection.data"), stNoSubscription("test.collection"),
		}},
		{"collection referencing collection with data values", []subStep{
			stSubscribe("test.collection.data.parent"), stAccess("test.collection.data.parent"),
			stGet("test.collection.data.parent"), stGet("test.collection.data"),
			stResponse("test.collection.data.parent", raw(`{"collections":{"test.collection.data.parent":`+fxData("test.collection.data.parent")+`,"test.collection.data":`+dataCollection+`}}`)),
			stEvent("test.collection.data.parent"), stEvent("test.collection.data"),
		}},
		{"collection referencing itself", []subStep{
			stSubscribe("test.c.a"), stAccess("test.c.a"), stGet("test.c.a"),
			stResponse("test.c.a", fxSet("test.c.a")),
		}},
		{"two collections referencing each other", []subStep{
			stSubscribe("test.c.b"), stAccess("test.c.b"), stGet("test.c.b"), stGet("test.c.c"),
			stResponse("test.c.b", fxSet("test.c.b", "test.c.c")),
		}},
		{"collection in two cycles", []subStep{
			stSubscribe("test.c.d"), stAccess("test.c.d"), stGet("test.c.d"), stGet("test.c.e"), stGet("test.c.f"),
			stResponse("test.c.d", fxSet("test.c.d", "test.c.e", "test.c.f")),
		}},
		{"collection referencing a cycle", []subStep{
			stSubscribe("test.c.g"), stAccess("test.c.g"), stGet("test.c.g"), stGet("test.c.e"), stGet("test.c.f"), stGet("test.c.d"),
			stResponse("test.c.g", fxSet("test.c.g", "test.c.d", "test.c.e", "test.c.f")),
			stEvent("test.c.g"), stEvent("test.c.d"), stEvent("test.c.e"), stEvent("test.c.f"),
		}},
		{"two collection subscriptions into one cycle while loading", []subStep{
			stSubscribe("test.c.d"), stAccess("test.c.d"), stGet("test.c.d"),
			stSubscribe("test.c.h"), stAccess("test.c.h"), stGet("test.c.e"), stGet("test.c.h"), stGet("test.c.f"),
			stResponse("test.c.d", fxSet("test.c.d", "test.c.e", "test.c.f")),
			stResponse("test.c.h", fxSet("test.c.h")),
		}},

		{"indirect model subscribed directly", []subStep{
			stSubscribe("test.model.parent"), stAccess("test.model.parent"), stGet("test.model.parent"), stGet("test.model"),
			stResponse("test.model.parent", fxSet("test.model.parent", "test.model")),
			stSubscribe("test.model"), stAccess("test.model"),
			stResponse("test.model", raw(`{}`)),
			stEvent("test.model.parent"), stEvent("test.model"),
		}},
		{"indirect model subscribed directly without access", []subStep{
			stSubscribe("test.model.parent"), stAccess("test.model.parent"), stGet("test.model.parent"), stGet("test.model"),
			stResponse("test.model.parent", fxSet("test.model.parent", "test.model")),
			stSubscribe("test.model"), stDeny("test.model"),
			stError("test.model"),
			stEvent("test.model.parent"), stEvent("test.model"),
		}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			c.Version("1.2.3")
			runSubSteps(t, s, c, l.steps)
		})
	}
}

// Clients on protocol 1.2.0 get soft references as plain strings and data
// values that are no primitives as "[Data]".
func TestSubscribe_LegacyClientEncoding(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	softModel := `{"name":"soft","child":"test.model"}`
	dataModel := `{"name":"data","primitive":12,"object":"[Data]","array":"[Data]"}`
	softColl := `["soft","test.collection"]`
	dataColl := `["data",12,"[Data]","[Data]"]`
	tbl := []struct {
		name  string
		steps []subStep
	}{
		{"model with soft reference", []subStep{
			stSubscribe("test.model.soft"), stAccess("test.model.soft"), stGet("test.model.soft"),
			stResponse("test.model.soft", raw(`{"models":{"test.model.soft":`+softModel+`}}`)),
			stEvent("test.model.soft"), stNoSubscription("test.model"),
		}},
		{"model referencing model with soft reference", []subStep{
			stSubscribe("test.model.soft.parent"), stAccess("test.model.soft.parent"),
			stGet("test.model.soft.parent"), stGet("test.model.soft"),
			stResponse("test.model.soft.parent", raw(`{"models":{"test.model.soft.parent":`+fxData("test.model.soft.parent")+`,"test.model.soft":`+softModel+`}}`)),
			stEvent("test.model.soft.parent"), stEvent("test.model.soft"),
		}},
		{"model with data values", []subStep{
			stSubscribe("test.model.data"), stAccess("test.model.data"), stGet("test.model.data"),
			stResponse("test.model.data", raw(`{"models":{"test.model.data":`+dataModel+`}}`)),
			stEvent("test.model.data"),
		}},
		{"model referencing model with data values", []subStep{
			stSubscribe("test.model.data.parent"), stAccess("test.model.data.parent"),
			stGet("test.model.data.parent"), stGet("test.model.data"),
			stResponse("test.model.data.parent", raw(`{"models":{"test.model.data.parent":`+fxData("test.model.data.parent")+`,"test.model.data":`+dataModel+`}}`)),
			stEvent("test.model.data.parent"), stEvent("test.model.data"),
		}},
		{"collection with soft reference", []subStep{
			stSubscribe("test.collection.soft"), stAccess("test.collection.soft"), stGet("test.collection.soft"),
			stResponse("test.collection.soft", raw(`{"collections":{"test.collection.soft":`+softColl+`}}`)),
			stEvent("test.collection.soft"), stNoSubscription("test.collection"),
		}},
		{"collection referencing collection with soft reference", []subStep{
			stSubscribe("test.collection.soft.parent"), stAccess("test.collection.soft.parent"),
			stGet("test.collection.soft.parent"), stGet("test.collection.soft"),
			stResponse("test.collection.soft.parent", raw(`{"collections":{"test.collection.soft.parent":`+fxData("test.collection.soft.parent")+`,"test.collection.soft":`+softColl+`}}`)),
			stEvent("test.collection.soft.parent"), stEvent("test.collection.soft"),
		}},
		{"collection with data values", []subStep{
			stSubscribe("test.collection.data"), stAccess("test.collection.data"), stGet("test.collection.data"),
			stResponse("test.collection.data", raw(`{"collections":{"test.collection.data":`+dataColl+`}}`)),
			stEvent("test.collection.data"),
		}},
		{"collection referencing collection with data values", []subStep{
			stSubscribe("test.collection.data.parent"), stAccess("test.collection.data.parent"),
			stGet("test.collection.data.parent"), stGet("test.collection.data"),
			stResponse("test.collection.data.parent", raw(`{"collections":{"test.collection.data.parent":`+fxData("test.collection.data.parent")+`,"test.collection.data":`+dataColl+`}}`)),
			stEvent("test.collection.data.parent"), stEvent("test.collection.data"),
		}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			c.Version("1.2.0")
			runSubSteps(t, s, c, l.steps)
		})
	}
}

// The response to a subscription with references waits for both the
// access response and the whole reference tree, whichever comes last.
func TestSubscribe_LinkedModelWithDelayedAccess(t *testing.T) {
	for i := 0; i < 10; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			creq := c.Request("subscribe.test.model.parent", nil)
			reqs := s.GetRequests(2)
			fxRespondGet(t, reqs.BySubject(t, "get.test.model.parent"))
			fxRespondGet(t, s.GetRequest().AssertSubject("get.test.model"))
			reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(fxSet("test.model.parent", "test.model"))
		})
	}
}

func TestSubscribe_WithCIDPlaceholder_ReplacesCID(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	cid := c.CID()
	creq := c.Request("subscribe.test.{cid}.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test."+cid+".model").
		AssertPathPayload("cid", cid).
		RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test."+cid+".model").RespondModel(json.RawMessage(fxData("test.model")))
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.{cid}.model":` + fxData("test.model") + `}}`))

	s.Event("test."+cid+".model", "custom", json.RawMessage(fxCustomEvent))
	c.GetEvent().AssertEventName("test.{cid}.model.custom").AssertData(json.RawMessage(fxCustomEvent))

	// The client's name for the resource is the one with the tag.
	c.Request("unsubscribe.test.{cid}.model", nil).GetResponse().AssertNoResult()
	fxAssertNoEvent(s, c, "test."+cid+".model")
}

// The tag is replaced wherever it is in the RID, the query included.
func TestSubscribe_WithCIDPlaceholderInQuery_ReplacesCID(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	cid := c.CID()
	creq := c.Request("subscribe.test.{cid}.model?owner={cid}", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test."+cid+".model").AssertPathPayload("query", "owner="+cid).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test."+cid+".model").AssertPathPayload("query", "owner="+cid).
		RespondSuccess(map[string]any{"model": map[string]any{"foo": "bar"}, "query": "owner=" + cid})
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.{cid}.model?owner={cid}":{"foo":"bar"}}}`))
}

// A reference to a {cid} tagged RID is not expanded: only client requests
// are.
func TestSubscribe_WithCIDPlaceholderInReference_NotExpanded(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	cid := c.CID()
	creq := c.Request("subscribe.test.{cid}.parent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test."+cid+".parent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test."+cid+".parent").RespondModel(json.RawMessage(`{"child":{"rid":"test.` + cid + `.child"}}`))
	s.GetRequest().AssertSubject("get.test." + cid + ".child").RespondModel(map[string]any{"foo": "bar"})
	creq.GetResponse().AssertResult(json.RawMessage(`{"models":{"test.{cid}.parent":{"child":{"rid":"test.` + cid + `.child"}},"test.` + cid + `.child":{"foo":"bar"}}}`))
	s.Event("test."+cid+".child", "custom", json.RawMessage(fxCustomEvent))
	c.GetEvent().AssertEventName("test." + cid + ".child.custom")
}

// Two connections on the same resource share one cache entry: the second
// subscriber only needs access.
func TestSubscribe_MultipleClients_FetchedFromCache(t *testing.T) {
	for _, rid := range []string{"test.model", "test.collection", "test.model.parent", "test.c.d"} {
		t.Run(rid, func(t *testing.T) {
			s := restest.Start(t)
			c1 := s.Connect()
			var refs []string
			var set json.RawMessage
			switch rid {
			case "test.model.parent":
				refs = []string{"test.model"}
				set = fxSet(rid, "test.model")
			case "test.c.d":
				refs = []string{"test.c.e", "test.c.f"}
				set = fxSet(rid, "test.c.e", "test.c.f")
			default:
				set = fxSet(rid)
			}
			fxSubscribe(t, s, c1, rid, false, refs...).AssertResult(set)

			c2 := s.Connect()
			creq := c2.Request("subscribe."+rid, nil)
			s.GetRequest().AssertSubject("access." + rid).RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(set)
			s.AssertNoRequest()

			// Both get events.
			s.Event(rid, "custom", json.RawMessage(fxCustomEvent))
			c1.GetEvent().AssertEventName(rid + ".custom")
			c2.GetEvent().AssertEventName(rid + ".custom")
		})
	}
}

// A second subscriber on the same connection is served from the
// subscription without any request: its access is kept too.
func TestSubscribe_TwiceOnSameConnection_NoRequests(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
	c.Request("subscribe.test.model", nil).GetResponse().AssertResult(json.RawMessage(`{}`))
	s.AssertNoRequest()
	// One event, not two, although subscribed twice.
	fxAssertEvent(s, c, "test.model")
	c.AssertNoMsg()
}

func TestSubscribe_MultipleSubscribersOnPendingGet(t *testing.T) {
	tbl := []struct {
		name    string
		respond func(r *restest.Request)
		assert  func(cr *restest.ClientResponse)
	}{
		{"model",
			func(r *restest.Request) { r.RespondModel(json.RawMessage(fxData("test.model"))) },
			func(cr *restest.ClientResponse) { cr.AssertResult(fxSet("test.model")) }},
		{"error",
			func(r *restest.Request) { r.RespondError(resproto.ErrNotFound) },
			func(cr *restest.ClientResponse) { cr.AssertErrorEqual(resproto.ErrNotFound) }},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			s := restest.Start(t)
			c1, c2 := s.Connect(), s.Connect()
			creq1 := c1.Request("subscribe.test.model", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			get := reqs.BySubject(t, "get.test.model")

			creq2 := c2.Request("subscribe.test.model", nil)
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
			s.AssertNoRequest()

			l.respond(get)
			l.assert(creq1.GetResponse())
			l.assert(creq2.GetResponse())
		})
	}
}

// A failed get is not cached: the next subscriber makes a new get request.
func TestSubscribe_ErrorNotCached(t *testing.T) {
	for _, delay := range []time.Duration{-1, time.Minute} {
		t.Run(fmt.Sprint("delay ", delay), func(t *testing.T) {
			s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.UnsubscribeDelay = delay }))
			c1 := s.Connect()
			creq := c1.Request("subscribe.test.model", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.model").RespondError(resproto.ErrInternalError)
			creq.GetResponse().AssertErrorEqual(resproto.ErrInternalError)

			c2 := s.Connect()
			fxSubscribe(t, s, c2, "test.model", false).AssertResult(fxSet("test.model"))
			// The first client may retry too.
			creq = c1.Request("subscribe.test.model", nil)
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
			creq.GetResponse().AssertResult(fxSet("test.model"))
		})
	}
}

// A failed reference is not cached either: a later subscriber of the
// parent gets it retried.
func TestSubscribe_BrokenChildNotCached(t *testing.T) {
	s := restest.Start(t)
	c1 := s.Connect()
	fxSubscribe(t, s, c1, "test.model.brokenchild", false, "test.err.notFound").
		AssertResult(fxSet("test.model.brokenchild", "test.err.notFound"))
	c2 := s.Connect()
	fxSubscribe(t, s, c2, "test.model.brokenchild", true, "test.err.notFound").
		AssertResult(fxSet("test.model.brokenchild", "test.err.notFound"))
}

func TestSubscribe_LongResourceID_ReturnsErrSubjectTooLong(t *testing.T) {
	for _, method := range []string{"subscribe", "get"} {
		t.Run(method, func(t *testing.T) {
			s := restest.Start(t)
			c := s.Connect()
			c.Request(method+".test."+strings.Repeat("a", 10000), nil).GetResponse().AssertErrorEqual(resproto.ErrSubjectTooLong)
			s.AssertNoRequest()
			// The connection is still usable.
			fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
		})
	}
}

// A long resource ID whose subjects still fit NATS' control line limit
// works as any other.
func TestSubscribe_LongButValidResourceID_Succeeds(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	rid := "test." + strings.Repeat("a", 3900)
	creq := c.Request("subscribe."+rid, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get."+rid).RespondModel(map[string]any{"foo": "bar"})
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{rid: map[string]any{"foo": "bar"}}})
	fxAssertEvent(s, c, rid)
	c.Request("unsubscribe."+rid, nil).GetResponse().AssertNoResult()
	s.WaitEventSubscription(rid, false)
}

// A long query does not go in the subject, so it is no problem.
func TestSubscribe_LongQuery_Succeeds(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	q := "q=" + strings.Repeat("a", 10000)
	creq := c.Request("subscribe.test.model?"+q, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("query", q).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").AssertPathPayload("query", q).RespondSuccess(map[string]any{"model": map[string]any{"foo": "bar"}, "query": q})
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{"test.model?" + q: map[string]any{"foo": "bar"}}})
}

// The reference throttle caps the get requests in flight while a new
// subscription's references are followed, nested ones included.
func TestSubscribe_WithReferenceThrottle(t *testing.T) {
	const count, limit = 10, 3
	for _, nested := range []bool{false, true} {
		t.Run(fmt.Sprint("nested ", nested), func(t *testing.T) {
			s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.ReferenceThrottle = limit }))
			c := s.Connect()
			refs := make([]string, count)
			for i := range refs {
				refs[i] = fmt.Sprintf(`{"rid":"test.model.%d"}`, i+1)
			}
			creq := c.Request("subscribe.test.collection", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.collection").RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.collection").RespondCollection(json.RawMessage("[" + strings.Join(refs, ",") + "]"))

			total := count
			if nested {
				total *= 2
			}
			inflight := s.GetRequests(limit)
			s.AssertNoRequest()
			sent := limit
			for len(inflight) > 0 {
				r := inflight[0]
				inflight = inflight[1:]
				id := strings.TrimPrefix(r.Subject, "get.test.model.")
				if child, ok := strings.CutSuffix(id, ".child"); ok {
					r.RespondModel(map[string]any{"id": child, "isChild": true})
				} else if nested {
					r.RespondModel(json.RawMessage(`{"id":"` + id + `","child":{"rid":"test.model.` + id + `.child"}}`))
				} else {
					r.RespondModel(map[string]any{"id": id})
				}
				if sent < total {
					// Each response lets exactly one more request go.
					inflight = append(inflight, s.GetRequest())
					sent++
				}
			}
			cr := creq.GetResponse()
			s.AssertNoRequest()
			var res struct {
				Models map[string]any `json:"models"`
			}
			json.Unmarshal([]byte(restest.Marshal(cr.Result)), &res)
			if len(res.Models) != total {
				t.Fatalf("expected %d models, got %s", total, cr.Raw)
			}
		})
	}
}

// One connection may hold at most 256 direct subscriptions on one
// resource, whether by subscribe requests or resource responses.
func TestSubscribe_SubscriptionLimit(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.3")
	fxSubscribe(t, s, c, "test.model", false).AssertResult(fxSet("test.model"))
	for i := 1; i < 256; i++ {
		c.Request("subscribe.test.model", nil)
	}
	for i := 1; i < 256; i++ {
		c.GetMsg() // {} results: already sent
	}
	c.Request("subscribe.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrSubscriptionLimitExceeded)
	// A get holds a direct subscription while it runs, so it fails too.
	c.Request("get.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrSubscriptionLimitExceeded)

	// A call returning the resource counts as a subscription too.
	creq := c.Request("call.test.getModel", nil)
	s.GetRequest().AssertSubject("access.test").RespondSuccess(map[string]any{"get": true, "call": "*"})
	s.GetRequest().AssertSubject("call.test.getModel").RespondResource("test.model")
	creq.GetResponse().AssertErrorEqual(resproto.ErrSubscriptionLimitExceeded)
	s.AssertNoRequest()

	// The 256 subscriptions are all there.
	c.Request("unsubscribe.test.model", map[string]any{"count": 257}).GetResponse().AssertError(resproto.CodeNoSubscription)
	c.Request("unsubscribe.test.model", map[string]any{"count": 255}).GetResponse().AssertNoResult()
	fxAssertEvent(s, c, "test.model")
	// Below the limit again.
	c.Request("subscribe.test.model", nil).GetResponse().AssertResult(json.RawMessage(`{}`))
	c.Request("unsubscribe.test.model", map[string]any{"count": 2}).GetResponse().AssertNoResult()
	fxAssertNoEvent(s, c, "test.model")
}

// The limit counts direct subscriptions only: references from other
// resources do not count toward it.
func TestSubscribe_SubscriptionLimit_IndirectNotCounted(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model")
	for i := 0; i < 256; i++ {
		c.Request("subscribe.test.model", nil)
		if i == 0 {
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
		}
	}
	for i := 0; i < 256; i++ {
		c.GetMsg()
	}
	c.Request("subscribe.test.model", nil).GetResponse().AssertErrorEqual(resproto.ErrSubscriptionLimitExceeded)
}
