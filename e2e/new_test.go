package e2e

import (
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// TestNew_OnResource covers the deprecated new request: a call to the new
// method whose response must be a resource, or a v1.1 {"rid":…} result
// (logged as deprecated); the new resource is subscribed.
func TestNew_OnResource(t *testing.T) {
	params := rqRaw(`{"value":42}`)
	legacyResult := rqRaw(`{"rid":"test.model"}`)
	modelGet := rqRaw(`{"model":` + rqModel + `}`)
	modelResult := rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`)
	errorsOf := func(e string) any {
		return rqRaw(`{"rid":"test.model","errors":{"test.model":` + e + `}}`)
	}
	invalidParams := errorsOf(`{"code":"system.invalidParams","message":"Invalid parameters"}`)
	timeout := errorsOf(`{"code":"system.timeout","message":"Request timeout"}`)
	denied := errorsOf(`{"code":"system.accessDenied","message":"Access denied"}`)
	nonResource := &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: non-resource response on new request"}
	invalidResponse := &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: invalid service response"}

	tbl := []struct {
		name        string
		params      any
		callAccess  any // response to access.test.collection
		call        any // response to call.test.collection.new; rqNoRequest: none expected
		get         any // response to get.test.model; rqNoRequest: none expected
		modelAccess any // response to access.test.model
		expected    any
		errors      int // errors logged
	}{
		// Params variants
		{"params", params, rqFullCallAccess, legacyResult, modelGet, rqFullCallAccess, modelResult, 1},
		{"no params", nil, rqFullCallAccess, legacyResult, modelGet, rqFullCallAccess, modelResult, 1},
		// Call access variants
		{"method access", params, rqRaw(`{"get":true,"call":"new"}`), legacyResult, modelGet, rqFullCallAccess, modelResult, 1},
		{"method in list", params, rqRaw(`{"get":true,"call":"foo,new"}`), legacyResult, modelGet, rqFullCallAccess, modelResult, 1},
		{"method not in list", params, rqRaw(`{"get":true,"call":"foo,bar"}`), rqNoRequest, rqNoRequest, nil, resproto.ErrAccessDenied, 0},
		{"no call access", params, rqRaw(`{"get":true}`), rqNoRequest, rqNoRequest, nil, resproto.ErrAccessDenied, 0},
		{"access timeout", params, rqTimeout, rqNoRequest, rqNoRequest, nil, resproto.ErrTimeout, 0},
		// Call response variants
		{"call error", params, rqFullCallAccess, resproto.ErrInvalidParams, rqNoRequest, nil, resproto.ErrInvalidParams, 0},
		{"call timeout", params, rqFullCallAccess, rqTimeout, rqNoRequest, nil, resproto.ErrTimeout, 0},
		{"resource response", params, rqFullCallAccess, []byte(`{"resource":{"rid":"test.model"}}`), modelGet, rqFullCallAccess, modelResult, 0},
		// Get response variants
		{"get error", params, rqFullCallAccess, legacyResult, resproto.ErrInvalidParams, rqFullCallAccess, invalidParams, 1},
		{"get timeout", params, rqFullCallAccess, legacyResult, rqTimeout, rqFullCallAccess, timeout, 1},
		// Model access variants
		{"model get denied", params, rqFullCallAccess, legacyResult, modelGet, rqRaw(`{"get":false}`), denied, 1},
		{"model access error", params, rqFullCallAccess, legacyResult, modelGet, resproto.ErrInvalidParams, invalidParams, 1},
		{"model accessDenied error", params, rqFullCallAccess, legacyResult, modelGet, resproto.ErrAccessDenied, denied, 1},
		{"model access timeout", params, rqFullCallAccess, legacyResult, modelGet, rqTimeout, timeout, 1},
		// Invalid service responses
		{"broken JSON", nil, rqFullCallAccess, []byte(`{"broken":JSON}`), rqNoRequest, nil, resproto.CodeInternalError, 0},
		{"number response", nil, rqFullCallAccess, []byte(`42`), rqNoRequest, nil, resproto.CodeInternalError, 0},
		{"missing result", nil, rqFullCallAccess, []byte(`{}`), rqNoRequest, nil, resproto.CodeInternalError, 0},
		{"error takes priority over result", nil, rqFullCallAccess, []byte(`{"result":{"foo":"bar"},"error":{"code":"system.custom","message":"Custom"}}`), rqNoRequest, nil, "system.custom", 0},
		{"empty object result", nil, rqFullCallAccess, rqRaw(`{}`), rqNoRequest, nil, nonResource, 0},
		{"non-resource result", nil, rqFullCallAccess, rqRaw(`{"foo":"bar"}`), rqNoRequest, nil, nonResource, 0},
		{"null result", nil, rqFullCallAccess, nil, rqNoRequest, nil, nonResource, 0},
		{"empty rid", nil, rqFullCallAccess, rqRaw(`{"rid":""}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with only a query", nil, rqFullCallAccess, rqRaw(`{"rid":"?q=foo"}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with tab", nil, rqFullCallAccess, rqRaw(`{"rid":"test\tmodel"}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with newline", nil, rqFullCallAccess, rqRaw(`{"rid":"test\nmodel"}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with carriage return", nil, rqFullCallAccess, rqRaw(`{"rid":"test\rmodel"}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with space", nil, rqFullCallAccess, rqRaw(`{"rid":"test model"}`), rqNoRequest, nil, invalidResponse, 1},
		{"rid with non-ASCII", nil, rqFullCallAccess, rqRaw(`{"rid":"test\ufffdmodel"}`), rqNoRequest, nil, invalidResponse, 1},
		{"integer rid", nil, rqFullCallAccess, rqRaw(`{"rid":42}`), rqNoRequest, nil, nonResource, 0},
		{"rid with other keys", nil, rqFullCallAccess, rqRaw(`{"rid":"test.model","foo":42}`), rqNoRequest, nil, nonResource, 0},
		// Invalid error responses
		{"error is array", nil, rqFullCallAccess, []byte(`{"error":[]}`), rqNoRequest, nil, resproto.CodeInternalError, 0},
		{"error without code", nil, rqFullCallAccess, []byte(`{"error":{"message":"missing code"}}`), rqNoRequest, nil, &resproto.Error{Message: "missing code"}, 0},
		{"integer error code", nil, rqFullCallAccess, []byte(`{"error":{"code":12,"message":"integer code"}}`), rqNoRequest, nil, resproto.CodeInternalError, 0},
	}

	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.callAccess, l.call, l.get, l.modelAccess))
			c := rqConnect(s)

			creq := c.Request("new.test.collection", l.params)
			rqRespond(t, s.GetRequest().AssertSubject("access.test.collection").AssertPathMissing("isHttp"), l.callAccess)
			if l.call != rqNoRequest {
				req := s.GetRequest().AssertSubject("call.test.collection.new").
					AssertPathPayload("params", l.params).
					AssertPathMissing("isHttp")
				rqRespond(t, req, l.call)
			}
			if l.get != rqNoRequest {
				reqs := s.GetRequests(2)
				rqRespond(t, reqs.BySubject(t, "get.test.model"), l.get)
				rqRespond(t, reqs.BySubject(t, "access.test.model"), l.modelAccess)
			}
			rqAssert(t, creq.GetResponse(), l.expected)
			if l.get == rqNoRequest {
				s.AssertNoRequest()
			}
			rqAssertErrorsLogged(t, s, l.errors)
			if l.errors > 0 && !strings.Contains(s.Logs.String(), "deprecated") {
				t.Fatalf("expected a deprecation warning, got:\n%s", s.Logs.String())
			}
		})
	}
}

// TestNew_SubscribesNewResource covers the new resource being directly
// subscribed: its events reach the client until it unsubscribes.
func TestNew_SubscribesNewResource(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)

	creq := c.Request("new.test.collection", rqRaw(`{"name":"foo"}`))
	s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.collection.new").RespondResource("test.model")
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`))

	s.Event("test.model", "change", rqRaw(`{"values":{"string":"bar"}}`))
	c.GetEvent().AssertEventName("test.model.change").AssertData(rqRaw(`{"values":{"string":"bar"}}`))
	rqAssertSubscribed(t, c, "test.model", true)
	s.Event("test.model", "custom", rqFooBar)
	c.AssertNoMsg()
}

// TestNew_LegacyClient covers new from a client without a version request:
// the reply is the same resource reply as for newer clients.
func TestNew_LegacyClient(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()

	creq := c.Request("new.test.collection", nil)
	s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.collection.new").RespondSuccess(rqRaw(`{"rid":"test.model"}`))
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`))
}

// TestNew_DeprecationLoggedOncePerService covers the deprecation warning
// for v1.1 new results: logged once per service, not per request.
func TestNew_DeprecationLoggedOncePerService(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	for _, svc := range []string{"test", "test", "other"} {
		creq := c.Request("new."+svc+".collection", nil)
		s.GetRequest().AssertSubject("access." + svc + ".collection").RespondSuccess(rqFullCallAccess)
		s.GetRequest().AssertSubject("call." + svc + ".collection.new").RespondSuccess(rqRaw(`{"rid":"` + svc + `.model"}`))
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access."+svc+".model").RespondSuccess(map[string]any{"get": true})
		reqs.BySubject(t, "get."+svc+".model").RespondModel(rqRaw(rqModel))
		creq.GetResponse().AssertResult(rqRaw(`{"rid":"` + svc + `.model","models":{"` + svc + `.model":` + rqModel + `}}`))
		rqAssertSubscribed(t, c, svc+".model", true)
	}
	rqAssertErrorsLogged(t, s, 2)
}
