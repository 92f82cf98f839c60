package e2e

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// Helpers shared by the HTTP API tests. Their names start with ht.

// htFixtures answers the requests of GET tests: every access granted, and
// a resource graph with references, cycles, soft references, data values
// and a broken child, as in Resgate's test/resources.go.
var htFixtures = map[string]string{
	"get.test.model":              `{"result":{"model":` + rqModel + `}}`,
	"get.test.model.parent":       `{"result":{"model":{"name":"parent","child":{"rid":"test.model"}}}}`,
	"get.test.model.grandparent":  `{"result":{"model":{"name":"grandparent","child":{"rid":"test.model.parent"}}}}`,
	"get.test.model.brokenchild":  `{"result":{"model":{"name":"brokenchild","child":{"rid":"test.err.notFound"}}}}`,
	"get.test.model.soft":         `{"result":{"model":{"name":"soft","child":{"rid":"test.model","soft":true}}}}`,
	"get.test.model.soft.parent":  `{"result":{"model":{"name":"softparent","child":{"rid":"test.model.soft"}}}}`,
	"get.test.model.data":         `{"result":{"model":{"name":"data","primitive":{"data":12},"object":{"data":{"foo":["bar"]}},"array":{"data":[{"foo":"bar"}]}}}}`,
	"get.test.err.notFound":       `{"error":{"code":"system.notFound","message":"Not found"}}`,
	"get.test.collection":         `{"result":{"collection":["foo",42,true,null]}}`,
	"get.test.collection.parent":  `{"result":{"collection":["parent",{"rid":"test.collection"}]}}`,
	"get.test.collection.soft":    `{"result":{"collection":["soft",{"rid":"test.collection","soft":true}]}}`,
	"get.test.collection.data":    `{"result":{"collection":["data",{"data":12},{"data":{"foo":["bar"]}},{"data":[{"foo":"bar"}]}]}}`,
	"get.test.collection.broken":  `{"result":{"collection":["brokenchild",{"rid":"test.err.notFound"}]}}`,
	"get.test.m.a":                `{"result":{"model":{"a":{"rid":"test.m.a"}}}}`,
	"get.test.m.b":                `{"result":{"model":{"c":{"rid":"test.m.c"}}}}`,
	"get.test.m.c":                `{"result":{"model":{"b":{"rid":"test.m.b"}}}}`,
	"get.test.m.d":                `{"result":{"model":{"e":{"rid":"test.m.e"},"f":{"rid":"test.m.f"}}}}`,
	"get.test.m.e":                `{"result":{"model":{"d":{"rid":"test.m.d"}}}}`,
	"get.test.m.f":                `{"result":{"model":{"d":{"rid":"test.m.d"}}}}`,
	"get.test.c.b":                `{"result":{"collection":[{"rid":"test.c.c"}]}}`,
	"get.test.c.c":                `{"result":{"collection":[{"rid":"test.c.b"}]}}`,
	"get.test.c.d":                `{"result":{"collection":[{"rid":"test.c.e"},{"rid":"test.c.f"}]}}`,
	"get.test.c.e":                `{"result":{"collection":[{"rid":"test.c.d"}]}}`,
	"get.test.c.f":                `{"result":{"collection":[{"rid":"test.c.d"}]}}`,
	"get.test.model.parent.query": `{"result":{"model":{"q":{"rid":"test.model?q=1"}}}}`,
	"get.test.model?q=1":          `{}`,
}

// htGranted adds full access for every resource to replies.
func htGranted(replies map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range replies {
		out[k] = v
		if name, ok := strings.CutPrefix(k, "get."); ok {
			out["access."+name] = `{"result":{"get":true,"call":"*"}}`
		}
	}
	return out
}

// htEncoding starts sessions with an API encoding.
func htEncoding(enc string) restest.Option {
	return restest.WithHTTP(func(c *listeners.HTTPConfig) { c.APIEncoding = enc })
}

func TestHTTPGet_Encodings(t *testing.T) {
	model := rqModel
	tbl := []struct {
		rid      string
		json     string
		jsonflat string
	}{
		{"test.model", model, model},
		{"test.model.parent",
			`{"name":"parent","child":{"href":"/api/test/model","model":` + model + `}}`,
			`{"name":"parent","child":` + model + `}`},
		{"test.model.grandparent",
			`{"name":"grandparent","child":{"href":"/api/test/model/parent","model":{"name":"parent","child":{"href":"/api/test/model","model":` + model + `}}}}`,
			`{"name":"grandparent","child":{"name":"parent","child":` + model + `}}`},
		{"test.model.brokenchild",
			`{"name":"brokenchild","child":{"href":"/api/test/err/notFound","error":{"code":"system.notFound","message":"Not found"}}}`,
			`{"name":"brokenchild","child":{"code":"system.notFound","message":"Not found"}}`},
		{"test.model.soft",
			`{"name":"soft","child":{"href":"/api/test/model"}}`,
			`{"name":"soft","child":{"href":"/api/test/model"}}`},
		{"test.model.soft.parent",
			`{"name":"softparent","child":{"href":"/api/test/model/soft","model":{"name":"soft","child":{"href":"/api/test/model"}}}}`,
			`{"name":"softparent","child":{"name":"soft","child":{"href":"/api/test/model"}}}`},
		{"test.model.data",
			`{"name":"data","primitive":12,"object":{"foo":["bar"]},"array":[{"foo":"bar"}]}`,
			`{"name":"data","primitive":12,"object":{"foo":["bar"]},"array":[{"foo":"bar"}]}`},
		{"test.collection", `["foo",42,true,null]`, `["foo",42,true,null]`},
		{"test.collection.parent",
			`["parent",{"href":"/api/test/collection","collection":["foo",42,true,null]}]`,
			`["parent",["foo",42,true,null]]`},
		{"test.collection.soft", `["soft",{"href":"/api/test/collection"}]`, `["soft",{"href":"/api/test/collection"}]`},
		{"test.collection.data", `["data",12,{"foo":["bar"]},[{"foo":"bar"}]]`, `["data",12,{"foo":["bar"]},[{"foo":"bar"}]]`},
		{"test.collection.broken",
			`["brokenchild",{"href":"/api/test/err/notFound","error":{"code":"system.notFound","message":"Not found"}}]`,
			`["brokenchild",{"code":"system.notFound","message":"Not found"}]`},
		// Cycles: a reference back to a resource being encoded is an href.
		{"test.m.a", `{"a":{"href":"/api/test/m/a"}}`, `{"a":{"href":"/api/test/m/a"}}`},
		{"test.m.b", `{"c":{"href":"/api/test/m/c","model":{"b":{"href":"/api/test/m/b"}}}}`, `{"c":{"b":{"href":"/api/test/m/b"}}}`},
		{"test.m.d",
			`{"e":{"href":"/api/test/m/e","model":{"d":{"href":"/api/test/m/d"}}},"f":{"href":"/api/test/m/f","model":{"d":{"href":"/api/test/m/d"}}}}`,
			`{"e":{"d":{"href":"/api/test/m/d"}},"f":{"d":{"href":"/api/test/m/d"}}}`},
		{"test.c.b", `[{"href":"/api/test/c/c","collection":[{"href":"/api/test/c/b"}]}]`, `[[{"href":"/api/test/c/b"}]]`},
		{"test.c.d",
			`[{"href":"/api/test/c/e","collection":[{"href":"/api/test/c/d"}]},{"href":"/api/test/c/f","collection":[{"href":"/api/test/c/d"}]}]`,
			`[[{"href":"/api/test/c/d"}],[{"href":"/api/test/c/d"}]]`},
	}
	replies := htGranted(htFixtures)
	for _, enc := range []string{"json", "jsonFlat"} {
		for _, l := range tbl {
			// cached: a WebSocket client holds the resource graph first,
			// so the GET is read from the cache (after its access
			// request only, unless part of the graph failed to load).
			for _, cached := range []bool{false, true} {
				name := enc + "/" + l.rid
				if cached {
					name += "/cached"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					s := restest.Start(t, htEncoding(enc))
					broken := strings.Contains(l.rid, "broken")
					if cached {
						c := rqConnect(s)
						if resp, _ := c.Request("subscribe."+l.rid, nil).GetResponseServing(replies); resp.Error != nil {
							t.Fatalf("subscribe: %s", resp.Raw)
						}
					}
					resp, subjects := s.HTTPRequest("GET", "/api/"+strings.ReplaceAll(l.rid, ".", "/"), nil, nil).GetResponseServing(replies)
					expected := l.json
					if enc == "jsonFlat" {
						expected = l.jsonflat
					}
					resp.AssertResponse(http.StatusOK, rqRaw(expected))
					if cached && !broken && !slices.Equal(subjects, []string{"access." + l.rid}) {
						t.Errorf("requests %v, want the access request only", subjects)
					}
				})
			}
		}
	}
}

func TestHTTPGet_RequestsAndTemporaryConnection(t *testing.T) {
	s := restest.Start(t)
	hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
	reqs := s.GetRequests(2)
	access := reqs.BySubject(t, "access.test.model").
		AssertPathPayload("isHttp", true).
		AssertPathPayload("token", nil).
		AssertPathMissing("query")
	cid, _ := access.PathPayload("cid").(string)
	if cid == "" {
		t.Fatalf("access request without cid: %s", access.Data)
	}
	if s.Engine.ConnCount() != 1 {
		t.Fatalf("expected a temporary connection during the request, have %d", s.Engine.ConnCount())
	}
	access.RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.model").AssertPayload(rqRaw(`{}`)).RespondModel(rqRaw(rqModel))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel)).AssertHeader("Access-Control-Allow-Origin", "*")
	// The temporary connection is disposed after the response; the next
	// request gets a new one.
	s.WaitConnCount(0)
	hreq = s.HTTPRequest("GET", "/api/test/model", nil, nil)
	reqs = s.GetRequests(2)
	access = reqs.BySubject(t, "access.test.model")
	if cid2, _ := access.PathPayload("cid").(string); cid2 == cid || cid2 == "" {
		t.Fatalf("expected a new cid, got %q after %q", cid2, cid)
	}
	access.RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel))
	s.WaitConnCount(0)
}

func TestHTTPGet_Query(t *testing.T) {
	for _, q := range []string{"q=foo&f=bar", "q=a%20b", "q=" + strings.Repeat("x", 10000)} {
		t.Run(q[:min(len(q), 12)], func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			hreq := s.HTTPRequest("GET", "/api/test/model?"+q, nil, nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").AssertPathPayload("query", q).AssertPathPayload("isHttp", true).RespondSuccess(rqRaw(`{"get":true}`))
			reqs.BySubject(t, "get.test.model").AssertPathPayload("query", q).RespondSuccess(rqRaw(`{"model":` + rqModel + `,"query":"normalized"}`))
			hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel))
		})
	}
}

func TestHTTPGet_InvalidURLs(t *testing.T) {
	tbl := []string{
		"/wrong_prefix/test/model",
		"/api/",
		"/api/test.model",
		"/api/test/model/",
		"/api/test//model",
		"/api/test/m\u00e5del",
		"/api/test/m%C3%A5del",
		"/api/test/a%20b",
		"/api/test/mod*el",
		"/api/test/mod%3Eel",
		"/api/test/%2E",
	}
	s := restest.Start(t)
	for _, method := range []string{"GET", "HEAD"} {
		for _, path := range tbl {
			resp := s.HTTPRequest(method, path, nil, nil).GetResponse().AssertStatus(http.StatusNotFound)
			if method == "GET" {
				resp.AssertBody(resproto.ErrNotFound)
			} else {
				resp.AssertBody(nil)
			}
		}
	}
	s.AssertNoRequest()
}

// TestHTTPGet_PathMapping covers percent-decoding of path segments and the
// extra slash Resgate tolerates after the API prefix.
func TestHTTPGet_PathMapping(t *testing.T) {
	tbl := []struct{ path, name string }{
		{"/api/test/a%2Fb", "test.a/b"},
		{"/api/test/a%2Eb", "test.a.b"},
		{"/api//test/model", "test.model"},
		{"/api/test/m%6Fdel", "test.model"},
	}
	for _, l := range tbl {
		t.Run(l.path, func(t *testing.T) {
			s := restest.Start(t)
			hreq := s.HTTPRequest("GET", l.path, nil, nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access."+l.name).RespondSuccess(rqRaw(`{"get":true}`))
			reqs.BySubject(t, "get."+l.name).RespondModel(rqRaw(rqModel))
			hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel))
		})
	}
}

func TestHTTPGet_Errors(t *testing.T) {
	custom := `{"code":"custom.error","message":"Custom","data":{"a":[1]}}`
	tbl := []struct {
		name     string
		access   any // reply to the access request
		get      any // reply to the get request
		status   int
		expected any
	}{
		{"access denied", rqRaw(`{"get":false}`), rqRaw(`{"model":{}}`), http.StatusUnauthorized, resproto.ErrAccessDenied},
		{"access error", resproto.ErrAccessDenied, rqRaw(`{"model":{}}`), http.StatusUnauthorized, resproto.ErrAccessDenied},
		{"access internal error", []byte(`{"error":{"code":"system.internalError","message":"Internal error: x"}}`), rqRaw(`{"model":{}}`), http.StatusInternalServerError, rqRaw(`{"code":"system.internalError","message":"Internal error: x"}`)},
		{"access timeout", rqTimeout, rqRaw(`{"model":{}}`), http.StatusNotFound, resproto.ErrTimeout},
		{"not found", rqRaw(`{"get":true}`), resproto.ErrNotFound, http.StatusNotFound, resproto.ErrNotFound},
		{"get timeout", rqRaw(`{"get":true}`), rqTimeout, http.StatusNotFound, resproto.ErrTimeout},
		{"invalid query", rqRaw(`{"get":true}`), resproto.ErrInvalidQuery, http.StatusBadRequest, resproto.ErrInvalidQuery},
		{"custom error with data", rqRaw(`{"get":true}`), []byte(`{"error":` + custom + `}`), http.StatusBadRequest, rqRaw(custom)},
		{"null data left out", rqRaw(`{"get":true}`), []byte(`{"error":{"code":"x.y","message":"X","data":null}}`), http.StatusBadRequest, rqRaw(`{"code":"x.y","message":"X"}`)},
		{"invalid model", rqRaw(`{"get":true}`), []byte(`{"result":{"model":{"a":{"b":1}}}}`), http.StatusInternalServerError, resproto.CodeInternalError},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.access, l.get))
			hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
			reqs := s.GetRequests(2)
			rqRespond(t, reqs.BySubject(t, "access.test.model"), l.access)
			rqRespond(t, reqs.BySubject(t, "get.test.model"), l.get)
			resp := hreq.GetResponse()
			if code, ok := l.expected.(string); ok {
				resp.AssertErrorCode(l.status, code)
			} else {
				resp.AssertResponse(l.status, l.expected)
			}
		})
	}
}

func TestHTTPGet_LongResourceID_Returns414(t *testing.T) {
	s := restest.Start(t)
	s.HTTPRequest("GET", "/api/test/"+strings.Repeat("x", 10000), nil, nil).
		GetResponse().AssertError(http.StatusRequestURITooLong, resproto.ErrSubjectTooLong)
	s.AssertNoRequest()
}

func TestHTTPHead(t *testing.T) {
	s := restest.Start(t)
	hreq := s.HTTPRequest("HEAD", "/api/test/model", nil, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	hreq.GetResponse().AssertStatus(http.StatusOK).AssertBody(nil).AssertHeader("Content-Type", "application/json; charset=utf-8")

	hreq = s.HTTPRequest("HEAD", "/api/test/other", nil, nil)
	reqs = s.GetRequests(2)
	reqs.BySubject(t, "access.test.other").RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.other").RespondError(resproto.ErrNotFound)
	hreq.GetResponse().AssertStatus(http.StatusNotFound).AssertBody(nil)
}

// TestHTTPGet_CachedResource_SendsNoGetRequest: a resource a WebSocket
// client keeps in the cache is served to an HTTP GET from the cache; only
// the access request goes to the service.
func TestHTTPGet_CachedResource_SendsNoGetRequest(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	rqSubscribeModelParent(t, s, c)

	hreq := s.HTTPRequest("GET", "/api/test/model/parent", nil, nil)
	s.GetRequest().AssertSubject("access.test.model.parent").AssertPathPayload("isHttp", true).RespondSuccess(rqRaw(`{"get":true}`))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(`{"name":"parent","child":{"href":"/api/test/model","model":`+rqModel+`}}`))
	s.AssertNoRequest()

	// Changes applied to the cache are what the next GET returns.
	s.Event("test.model", "change", rqRaw(`{"values":{"string":"bar"}}`))
	c.GetEvent().AssertEventName("test.model.change")
	hreq = s.HTTPRequest("GET", "/api/test/model", nil, nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqRaw(`{"get":true}`))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(`{"string":"bar","int":42,"bool":true,"null":null}`))
	s.AssertNoRequest()
	// The WebSocket client got nothing from the HTTP requests.
	c.AssertNoMsg()
}

// TestHTTPGet_CachedResource_AccessResponses: a GET of a cached resource
// sends only the access request, whatever its answer, and ends as a GET of
// an uncached resource with the same answer would.
func TestHTTPGet_CachedResource_AccessResponses(t *testing.T) {
	tbl := []struct {
		name     string
		access   any // reply to the access request
		status   int
		expected any
		header   map[string]string
	}{
		{"granted", rqRaw(`{"get":true}`), http.StatusOK, rqRaw(rqModel), nil},
		{"access denied", rqRaw(`{"get":false}`), http.StatusUnauthorized, resproto.ErrAccessDenied, nil},
		{"call access only", rqRaw(`{"call":"*"}`), http.StatusUnauthorized, resproto.ErrAccessDenied, nil},
		{"access error", resproto.ErrAccessDenied, http.StatusUnauthorized, resproto.ErrAccessDenied, nil},
		{"access internal error", []byte(`{"error":{"code":"system.internalError","message":"Internal error: x"}}`), http.StatusInternalServerError, rqRaw(`{"code":"system.internalError","message":"Internal error: x"}`), nil},
		{"access timeout", rqTimeout, http.StatusNotFound, resproto.ErrTimeout, nil},
		{"meta header", []byte(`{"result":{"get":true},"meta":{"header":{"Test-Header":["foo"]}}}`), http.StatusOK, rqRaw(rqModel), map[string]string{"Test-Header": "foo"}},
		{"meta redirect", []byte(`{"result":{"get":true},"meta":{"status":302,"header":{"Location":["/elsewhere"]}}}`), http.StatusFound, nil, map[string]string{"Location": "/elsewhere"}},
		{"meta status with error", []byte(`{"error":{"code":"system.accessDenied","message":"Access denied"},"meta":{"status":403}}`), http.StatusForbidden, resproto.ErrAccessDenied, nil},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.access))
			c := rqConnect(s)
			rqSubscribeModel(t, s, c, rqRaw(`{"get":true}`))

			hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
			rqRespond(t, s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("isHttp", true), l.access)
			resp := hreq.GetResponse()
			if l.expected == nil {
				resp.AssertStatus(l.status)
			} else {
				resp.AssertResponse(l.status, l.expected)
			}
			resp.AssertHeaders(l.header)
			s.AssertNoRequest()
			c.AssertNoMsg()
		})
	}
}

// TestHTTPGet_CachedResource_EvictedDuringAccess: a resource that leaves
// the cache while its access request is out is loaded with a get request
// after all.
func TestHTTPGet_CachedResource_EvictedDuringAccess(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	rqSubscribeModel(t, s, c, rqRaw(`{"get":true}`))

	hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
	access := s.GetRequest().AssertSubject("access.test.model")
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertResult(nil)
	s.WaitEventSubscription("test.model", false)
	access.RespondSuccess(rqRaw(`{"get":true}`))
	s.GetRequest().AssertSubject("get.test.model").RespondModel(rqRaw(`{"string":"fresh"}`))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(`{"string":"fresh"}`))
	s.AssertNoRequest()
	s.WaitConnCount(1)
	s.WaitEventSubscription("test.model", false)
}

// TestHTTPGet_ClientGone_DisposesConnection: a client that goes away
// before the services answer leaves no connection behind.
func TestHTTPGet_ClientGone_DisposesConnection(t *testing.T) {
	s := restest.Start(t)
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(restest.RawHTTPRequest(s.Addr, "GET", "/api/test/model", nil, nil))
	reqs := s.GetRequests(2)
	s.WaitConnCount(1)
	conn.Close()
	s.WaitConnCount(0)
	// Late replies are harmless.
	reqs.BySubject(t, "access.test.model").RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	s.AssertNoRequest()
}

// TestHTTPGet_RequestWait: a request still waiting for the services after
// RequestWait is answered with system.timeout (Resgate waits unbounded).
func TestHTTPGet_RequestWait(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.RequestWait = 200 * time.Millisecond }))
	start := time.Now()
	hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
	s.GetRequests(2)
	hreq.GetResponse().AssertError(http.StatusNotFound, resproto.ErrTimeout)
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("expected an answer after about 200ms, got %s", d)
	}
	s.WaitConnCount(0)
}

// TestHTTPGet_Curl checks a GET as curl sees it.
func TestHTTPGet_Curl(t *testing.T) {
	s := restest.Start(t, htEncoding("jsonflat"))
	resp, _ := s.Curl("-H", "Accept: application/json", "/api/test/model/parent").GetResponseServing(htGranted(htFixtures))
	resp.AssertResponse(http.StatusOK, rqRaw(`{"name":"parent","child":`+rqModel+`}`)).
		AssertHeader("Content-Type", "application/json; charset=utf-8").
		AssertHeader("Access-Control-Allow-Origin", "*")
	resp, _ = s.Curl("-I", "/api/test/model").GetResponseServing(htGranted(htFixtures))
	resp.AssertStatus(http.StatusOK).AssertBody(nil)
}

// TestHTTP_EngineClosed_Returns503: a request the engine can no longer
// take is answered with system.serviceUnavailable.
func TestHTTP_EngineClosed_Returns503(t *testing.T) {
	s := restest.Start(t)
	s.Engine.Close()
	s.HTTPRequest("GET", "/api/test/model", nil, nil).GetResponse().AssertError(http.StatusServiceUnavailable, resproto.ErrServiceUnavailable)
	s.HTTPRequest("POST", "/api/test/model/method", nil, nil).GetResponse().AssertError(http.StatusServiceUnavailable, resproto.ErrServiceUnavailable)
}
