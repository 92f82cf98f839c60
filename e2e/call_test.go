package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// Helpers shared by the call, auth, new, version, invalid request and
// timeout tests. Their names start with rq.

// Fixtures, as in Resgate's test/resources.go.
const (
	rqModel       = `{"string":"foo","int":42,"bool":true,"null":null}`
	rqModelParent = `{"name":"parent","child":{"rid":"test.model"}}`
)

// rqAction is a service behaviour that is not a reply.
type rqAction int

const (
	// rqTimeout: the service never replies; the request times out.
	rqTimeout rqAction = iota + 1
	// rqNoRequest: no request is expected at all.
	rqNoRequest
)

// rqShortTimeout is the request timeout of sessions in which a request is
// meant to time out. It is no shorter because the other requests of such a
// session must never time out, however loaded the machine.
const rqShortTimeout = time.Second

// rqStart starts a session, with a short request timeout when timeout is
// set.
func rqStart(t *testing.T, timeout bool, opts ...restest.Option) *restest.Session {
	t.Helper()
	if timeout {
		opts = append(opts, restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = rqShortTimeout }))
	}
	return restest.Start(t, opts...)
}

// rqHasTimeout reports whether any of the responses is rqTimeout.
func rqHasTimeout(responses ...any) bool {
	for _, r := range responses {
		if a, ok := r.(rqAction); ok && a == rqTimeout {
			return true
		}
	}
	return false
}

// rqConnect connects a client that speaks the latest protocol.
func rqConnect(s *restest.Session) *restest.Client {
	c := s.Connect()
	c.Version("1.2.3")
	return c
}

// rqRespond answers r: rqTimeout does not answer, an error is sent as an
// error response, []byte and string are sent raw and anything else as a
// result.
func rqRespond(t *testing.T, r *restest.Request, resp any) {
	t.Helper()
	switch v := resp.(type) {
	case rqAction:
		if v != rqTimeout {
			t.Fatalf("cannot respond with action %d", v)
		}
	case *resproto.Error:
		r.RespondError(v)
	case []byte:
		r.Respond(v)
	case string:
		r.Respond(v)
	default:
		r.RespondSuccess(v)
	}
}

// rqAssert checks a client response: a *resproto.Error must match exactly,
// a string is an error code, anything else the result.
func rqAssert(t *testing.T, cr *restest.ClientResponse, expected any) {
	t.Helper()
	switch v := expected.(type) {
	case *resproto.Error:
		cr.AssertErrorEqual(v)
	case string:
		cr.AssertError(v)
	default:
		cr.AssertResult(v)
	}
}

func rqRaw(s string) json.RawMessage { return json.RawMessage(s) }

// rqSubscribeModel subscribes c to test.model, answering the access
// request with access.
func rqSubscribeModel(t *testing.T, s *restest.Session, c *restest.Client, access any) {
	t.Helper()
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathMissing("isHttp").RespondSuccess(access)
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model":` + rqModel + `}}`))
}

// rqSubscribeModelParent subscribes c to test.model.parent, which makes
// test.model an indirect subscription whose access is not yet known.
func rqSubscribeModelParent(t *testing.T, s *restest.Session, c *restest.Client) {
	t.Helper()
	creq := c.Request("subscribe.test.model.parent", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model.parent").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model.parent").RespondModel(rqRaw(rqModelParent))
	s.GetRequest().AssertSubject("get.test.model").RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model":` + rqModel + `,"test.model.parent":` + rqModelParent + `}}`))
}

// rqErrorCount returns how many error records the engine has logged.
func rqErrorCount(s *restest.Session) int {
	return strings.Count(s.Logs.String(), "level=ERROR")
}

// rqAssertErrorsLogged checks that exactly n errors were logged.
func rqAssertErrorsLogged(t *testing.T, s *restest.Session, n int) {
	t.Helper()
	deadline := time.Now().Add(restest.Timeout)
	for rqErrorCount(s) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if got := rqErrorCount(s); got != n {
		t.Fatalf("expected %d errors logged, got %d:\n%s", n, got, s.Logs.String())
	}
}

// rqAssertSubscribed checks whether c holds a direct subscription to rid,
// by unsubscribing it.
func rqAssertSubscribed(t *testing.T, c *restest.Client, rid string, subscribed bool) {
	t.Helper()
	cr := c.Request("unsubscribe."+rid, nil).GetResponse()
	if subscribed {
		cr.AssertNoResult()
	} else {
		cr.AssertErrorEqual(resproto.ErrNoSubscription)
	}
}

var (
	rqFullCallAccess = rqRaw(`{"get":true,"call":"*"}`)
	rqPayloadFooBar  = rqRaw(`{"payload":{"foo":"bar"}}`)
	rqFooBar         = rqRaw(`{"foo":"bar"}`)
	rqCustomError    = &resproto.Error{Code: "custom.error", Message: "Custom error"}
)

// TestCall_OnResource covers the access check for a call, the request sent
// to the service, and how its response reaches the client, both with and
// without a prior subscription.
func TestCall_OnResource(t *testing.T) {
	params := rqRaw(`{"value":42}`)
	methodAccess := rqRaw(`{"get":true,"call":"method"}`)
	multiAccess := rqRaw(`{"get":true,"call":"foo,method"}`)
	missingAccess := rqRaw(`{"get":true,"call":"foo,bar"}`)
	noCallAccess := rqRaw(`{"get":true}`)
	custom := []byte(`{"result":{"foo":"bar"},"error":{"code":"system.custom","message":"Custom"}}`)

	tbl := []struct {
		name      string
		subscribe bool // subscribe to test.model before the call
		params    any
		access    any // response to the access request
		call      any // response to the call request; rqNoRequest: none expected
		expected  any
	}{
		// Params variants
		{"subscribed, no params", true, nil, rqFullCallAccess, rqFooBar, rqPayloadFooBar},
		{"no params", false, nil, rqFullCallAccess, rqFooBar, rqPayloadFooBar},
		{"subscribed, params", true, params, rqFullCallAccess, rqFooBar, rqPayloadFooBar},
		{"params", false, params, rqFullCallAccess, rqFooBar, rqPayloadFooBar},
		// Access variants
		{"subscribed, method access", true, nil, methodAccess, rqFooBar, rqPayloadFooBar},
		{"method access", false, nil, methodAccess, rqFooBar, rqPayloadFooBar},
		{"subscribed, method in list", true, nil, multiAccess, rqFooBar, rqPayloadFooBar},
		{"method in list", false, nil, multiAccess, rqFooBar, rqPayloadFooBar},
		{"method not in list", false, nil, missingAccess, rqNoRequest, resproto.ErrAccessDenied},
		{"list with spaces is not trimmed", false, nil, rqRaw(`{"get":true,"call":"foo, method"}`), rqNoRequest, resproto.ErrAccessDenied},
		{"trailing comma", false, nil, rqRaw(`{"get":true,"call":"method,"}`), rqFooBar, rqPayloadFooBar},
		{"no call access", false, nil, noCallAccess, rqNoRequest, resproto.ErrAccessDenied},
		{"call access without get", false, nil, rqRaw(`{"get":false,"call":"*"}`), rqFooBar, rqPayloadFooBar},
		{"access denied error", false, nil, resproto.ErrAccessDenied, rqNoRequest, resproto.ErrAccessDenied},
		{"access custom error", false, nil, rqCustomError, rqNoRequest, rqCustomError},
		{"access timeout", false, nil, rqTimeout, rqNoRequest, resproto.ErrTimeout},
		// Call response variants
		{"subscribed, call error", true, nil, rqFullCallAccess, resproto.ErrInvalidParams, resproto.ErrInvalidParams},
		{"call error", false, nil, rqFullCallAccess, resproto.ErrInvalidParams, resproto.ErrInvalidParams},
		{"call custom error with data", false, nil, rqFullCallAccess, &resproto.Error{Code: "custom.error", Message: "Custom", Data: rqRaw(`{"foo":["bar"]}`)}, &resproto.Error{Code: "custom.error", Message: "Custom", Data: rqRaw(`{"foo":["bar"]}`)}},
		{"subscribed, null result", true, nil, rqFullCallAccess, nil, rqRaw(`{"payload":null}`)},
		{"null result", false, nil, rqFullCallAccess, nil, rqRaw(`{"payload":null}`)},
		{"subscribed, number result", true, nil, rqFullCallAccess, 42, rqRaw(`{"payload":42}`)},
		{"number result", false, nil, rqFullCallAccess, 42, rqRaw(`{"payload":42}`)},
		{"array result", false, nil, rqFullCallAccess, rqRaw(`[1,{"a":"b"}]`), rqRaw(`{"payload":[1,{"a":"b"}]}`)},
		{"call timeout", false, nil, rqFullCallAccess, rqTimeout, resproto.ErrTimeout},
		// Invalid service responses
		{"invalid access result", false, nil, rqRaw(`{"get":"invalid"}`), rqNoRequest, resproto.CodeInternalError},
		{"broken access JSON", false, nil, []byte(`{"broken":JSON}`), rqNoRequest, resproto.CodeInternalError},
		{"access without result", false, nil, []byte(`{}`), rqNoRequest, resproto.CodeInternalError},
		{"broken call JSON", false, nil, methodAccess, []byte(`{"broken":JSON}`), &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: invalid character 'J' looking for beginning of value"}},
		{"empty call response", false, nil, methodAccess, []byte{}, &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: unexpected end of JSON input"}},
		{"empty access response", false, nil, []byte{}, rqNoRequest, &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: unexpected end of JSON input"}},
		{"call without result", false, nil, methodAccess, []byte(`{}`), &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: response missing result"}},
		{"access with whitespace", false, nil, []byte("\r\n\t {\"result\":\r\n\t {\"get\":\r\n\t true,\"call\":\"*\"}}\r\n\t "), rqFooBar, rqPayloadFooBar},
		{"subscribed, error takes priority over result", true, nil, methodAccess, custom, "system.custom"},
		{"error takes priority over result", false, nil, methodAccess, custom, "system.custom"},
		{"null resource, result used", false, nil, rqFullCallAccess, []byte(`{"result":{"foo":"bar"},"resource":null}`), rqPayloadFooBar},
		{"error takes priority over resource", false, nil, rqFullCallAccess, []byte(`{"resource":{"rid":"test.model"},"error":{"code":"system.custom","message":"Custom"}}`), &resproto.Error{Code: "system.custom", Message: "Custom"}},
		{"meta is ignored", false, nil, rqFullCallAccess, []byte(`{"result":{"foo":"bar"},"meta":{"status":302,"header":{"Location":["/foo"]}}}`), rqPayloadFooBar},
		{"meta on error is ignored", false, nil, rqFullCallAccess, []byte(`{"error":{"code":"system.notFound","message":"Not found"},"meta":{"status":200}}`), resproto.ErrNotFound},
		{"access meta is ignored", false, nil, []byte(`{"result":{"get":true,"call":"*"},"meta":{"status":401}}`), rqFooBar, rqPayloadFooBar},
		{"invalid meta", false, nil, rqFullCallAccess, []byte(`{"result":{"foo":"bar"},"meta":{"status":"302"}}`), resproto.CodeInternalError},
		// Invalid call error responses
		{"subscribed, error is array", true, nil, rqFullCallAccess, []byte(`{"error":[]}`), resproto.CodeInternalError},
		{"error is array", false, nil, rqFullCallAccess, []byte(`{"error":[]}`), resproto.CodeInternalError},
		{"subscribed, error without code", true, nil, rqFullCallAccess, []byte(`{"error":{"message":"missing code"}}`), &resproto.Error{Message: "missing code"}},
		{"error without code", false, nil, rqFullCallAccess, []byte(`{"error":{"message":"missing code"}}`), &resproto.Error{Message: "missing code"}},
		{"subscribed, integer error code", true, nil, rqFullCallAccess, []byte(`{"error":{"code":12,"message":"integer code"}}`), resproto.CodeInternalError},
		{"integer error code", false, nil, rqFullCallAccess, []byte(`{"error":{"code":12,"message":"integer code"}}`), resproto.CodeInternalError},
		// Invalid call resource responses
		{"subscribed, resource is string", true, nil, rqFullCallAccess, []byte(`{"resource":"test.model"}`), resproto.CodeInternalError},
		{"resource is string", false, nil, rqFullCallAccess, []byte(`{"resource":"test.model"}`), resproto.CodeInternalError},
		{"subscribed, resource without rid", true, nil, rqFullCallAccess, []byte(`{"resource":{}}`), resproto.CodeInternalError},
		{"resource without rid", false, nil, rqFullCallAccess, []byte(`{"resource":{}}`), resproto.CodeInternalError},
		{"subscribed, integer rid", true, nil, rqFullCallAccess, []byte(`{"resource":{"rid":42}}`), resproto.CodeInternalError},
		{"integer rid", false, nil, rqFullCallAccess, []byte(`{"resource":{"rid":42}}`), resproto.CodeInternalError},
		{"subscribed, invalid rid", true, nil, rqFullCallAccess, []byte(`{"resource":{"rid":"test..model"}}`), &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: invalid service response"}},
		{"invalid rid", false, nil, rqFullCallAccess, []byte(`{"resource":{"rid":"test..model"}}`), &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: invalid service response"}},
	}

	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.access, l.call))
			c := rqConnect(s)

			if l.subscribe {
				rqSubscribeModel(t, s, c, l.access)
			}
			creq := c.Request("call.test.model.method", l.params)
			if !l.subscribe {
				// Without a subscription the access check comes first.
				req := s.GetRequest().AssertSubject("access.test.model").AssertPathMissing("isHttp")
				if cid, _ := req.PathPayload("cid").(string); cid == "" {
					t.Fatalf("access request without cid: %s", req.Data)
				}
				rqRespond(t, req, l.access)
			}
			if l.call != rqNoRequest {
				// With a subscription, the access of the subscribe request is
				// used: the next request is the call itself.
				req := s.GetRequest().AssertSubject("call.test.model.method")
				if cid, _ := req.PathPayload("cid").(string); cid == "" {
					t.Fatalf("call request without cid: %s", req.Data)
				}
				req.AssertPathPayload("token", nil).
					AssertPathPayload("params", l.params).
					AssertPathMissing("isHttp").
					AssertPathMissing("query")
				rqRespond(t, req, l.call)
			}
			rqAssert(t, creq.GetResponse(), l.expected)
			if l.call == rqNoRequest {
				s.AssertNoRequest()
			}
		})
	}
}

// TestCall_WithResourceResponse covers a call answered with a resource: the
// client is subscribed to it and gets it in the reply, or, when the
// resource cannot be read, the call still succeeds with the error in the
// reply's errors.
func TestCall_WithResourceResponse(t *testing.T) {
	params := rqRaw(`{"value":42}`)
	modelGet := rqRaw(`{"model":` + rqModel + `}`)
	errorsOf := func(e string) json.RawMessage {
		return rqRaw(`{"rid":"test.model","errors":{"test.model":` + e + `}}`)
	}
	invalidParams := errorsOf(`{"code":"system.invalidParams","message":"Invalid parameters"}`)
	timeout := errorsOf(`{"code":"system.timeout","message":"Request timeout"}`)
	denied := errorsOf(`{"code":"system.accessDenied","message":"Access denied"}`)
	custom := errorsOf(`{"code":"custom.error","message":"Custom error"}`)

	tbl := []struct {
		name       string
		get        any // response to get.test.model
		access     any // response to access.test.model
		expected   any
		subscribed bool // whether the client holds test.model afterwards
	}{
		{"readable", modelGet, rqRaw(`{"get":true}`), rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`), true},
		{"get error", resproto.ErrInvalidParams, rqRaw(`{"get":true}`), invalidParams, true},
		{"get custom error", rqCustomError, rqFullCallAccess, custom, true},
		{"get timeout", rqTimeout, rqRaw(`{"get":true}`), timeout, true},
		{"get denied", modelGet, rqRaw(`{"get":false}`), denied, false},
		{"access error", modelGet, resproto.ErrInvalidParams, invalidParams, false},
		{"access custom error", modelGet, rqCustomError, custom, false},
		{"access denied error", modelGet, resproto.ErrAccessDenied, denied, false},
		{"access timeout", modelGet, rqTimeout, timeout, false},
	}

	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.get, l.access))
			c := rqConnect(s)

			creq := c.Request("call.test.collection.create", params)
			s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(rqFullCallAccess)
			s.GetRequest().AssertSubject("call.test.collection.create").
				AssertPathPayload("params", params).
				RespondResource("test.model")

			reqs := s.GetRequests(2)
			rqRespond(t, reqs.BySubject(t, "access.test.model").AssertPathMissing("isHttp"), l.access)
			rqRespond(t, reqs.BySubject(t, "get.test.model"), l.get)
			rqAssert(t, creq.GetResponse(), l.expected)

			if l.name != "readable" {
				rqAssertSubscribed(t, c, "test.model", l.subscribed)
				return
			}
			// The resource is directly subscribed: events reach the client,
			// and it can be unsubscribed.
			s.Event("test.model", "custom", rqFooBar)
			c.GetEvent().AssertEventName("test.model.custom").AssertData(rqFooBar)
			rqAssertSubscribed(t, c, "test.model", true)
			rqAssertSubscribed(t, c, "test.model", false)
		})
	}
}

// TestCall_WithResourceResponseOnSubscribedResource covers a resource
// response naming a resource the client already holds: no new requests, the
// reply has no resource set, and the direct subscription count grows.
func TestCall_WithResourceResponseOnSubscribedResource(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	rqSubscribeModel(t, s, c, rqFullCallAccess)

	creq := c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("call.test.model.method").RespondResource("test.model")
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model"}`))
	s.AssertNoRequest()

	rqAssertSubscribed(t, c, "test.model", true)
	rqAssertSubscribed(t, c, "test.model", true)
	rqAssertSubscribed(t, c, "test.model", false)
}

// TestCall_LegacyClient covers a client that never sent a version request
// (protocol 1.1.1): results come raw, and a resource response is only
// {"rid":…}, without a subscription.
func TestCall_LegacyClient(t *testing.T) {
	params := rqRaw(`{"value":42}`)
	tbl := []struct {
		name     string
		call     any
		expected any
	}{
		{"object result", rqFooBar, rqFooBar},
		{"rid-like result", rqRaw(`{"rid":"test.model"}`), rqRaw(`{"rid":"test.model"}`)},
		{"null result", nil, nil},
		{"resource response", []byte(`{"resource":{"rid":"test.model"}}`), rqRaw(`{"rid":"test.model"}`)},
		{"resource takes priority over result", []byte(`{"result":{"foo":"bar"},"resource":{"rid":"test.model"}}`), rqRaw(`{"rid":"test.model"}`)},
		{"resource response with query", []byte(`{"resource":{"rid":"test.model?q=1"}}`), rqRaw(`{"rid":"test.model?q=1"}`)},
		{"error", resproto.ErrInvalidParams, resproto.ErrInvalidParams},
		{"resource is string", []byte(`{"resource":"test.model"}`), resproto.CodeInternalError},
		{"resource without rid", []byte(`{"resource":{}}`), resproto.CodeInternalError},
		{"integer rid", []byte(`{"resource":{"rid":42}}`), resproto.CodeInternalError},
		{"invalid rid", []byte(`{"resource":{"rid":"test..model"}}`), resproto.CodeInternalError},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect() // no version request

			creq := c.Request("call.test.model.method", params)
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
			rqRespond(t, s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("params", params), l.call)
			cr := creq.GetResponse()
			rqAssert(t, cr, l.expected)
			if l.expected == nil && !cr.HasResult {
				t.Fatalf("expected a null result, got %s", cr.Raw)
			}
			// No subscription is made for a resource response.
			s.AssertNoRequest()
			rqAssertSubscribed(t, c, "test.model", false)
		})
	}
}

// TestCall_ResultEncodingByProtocolVersion covers the version at which call
// results are wrapped in {"payload":…} and resource responses subscribe.
func TestCall_ResultEncodingByProtocolVersion(t *testing.T) {
	tbl := []struct {
		version string // "" sends no version request
		legacy  bool
	}{
		{"", true},
		{"1.0.0", true},
		{"1.1.1", true},
		{"1.1.999", true},
		{"1.2.0", false},
		{"1.2.3", false},
		{"1.999.999", false},
	}
	for _, l := range tbl {
		name := l.version
		if name == "" {
			name = "no version"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			if l.version != "" {
				c.Version(l.version)
			}
			creq := c.Request("call.test.model.method", nil)
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
			s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(rqFooBar)
			if l.legacy {
				creq.GetResponse().AssertResult(rqFooBar)
			} else {
				creq.GetResponse().AssertResult(rqPayloadFooBar)
			}

			creq = c.Request("call.test.model.method", nil)
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
			s.GetRequest().AssertSubject("call.test.model.method").RespondResource("test.model")
			if l.legacy {
				creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model"}`))
				s.AssertNoRequest()
				return
			}
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
			reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
			creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`))
		})
	}
}

// TestCall_AccessCachedOnSubscription covers calls on a resource the
// client holds indirectly: a successful access response, or an
// accessDenied error, is kept on the subscription and not asked again;
// other errors (timeout, internal error) are not, so the next call asks
// again.
func TestCall_AccessCachedOnSubscription(t *testing.T) {
	noCallAccess := rqRaw(`{"get":true}`)
	type round struct {
		access   any // rqNoRequest: no access request expected
		call     bool
		expected any
	}
	tbl := []struct {
		name          string
		first, second round
	}{
		{"success is cached", round{rqFullCallAccess, true, rqPayloadFooBar}, round{rqNoRequest, true, rqPayloadFooBar}},
		{"no call access is cached", round{noCallAccess, false, resproto.ErrAccessDenied}, round{rqNoRequest, false, resproto.ErrAccessDenied}},
		{"accessDenied error is cached", round{resproto.ErrAccessDenied, false, resproto.ErrAccessDenied}, round{rqNoRequest, false, resproto.ErrAccessDenied}},
		{"timeout then success", round{rqTimeout, false, resproto.ErrTimeout}, round{rqFullCallAccess, true, rqPayloadFooBar}},
		{"timeout then timeout", round{rqTimeout, false, resproto.ErrTimeout}, round{rqTimeout, false, resproto.ErrTimeout}},
		{"timeout then accessDenied", round{rqTimeout, false, resproto.ErrTimeout}, round{resproto.ErrAccessDenied, false, resproto.ErrAccessDenied}},
		{"internal error then success", round{resproto.ErrInternalError, false, resproto.ErrInternalError}, round{rqFullCallAccess, true, rqPayloadFooBar}},
		{"internal error then timeout", round{resproto.ErrInternalError, false, resproto.ErrInternalError}, round{rqTimeout, false, resproto.ErrTimeout}},
		{"internal error then accessDenied", round{resproto.ErrInternalError, false, resproto.ErrInternalError}, round{resproto.ErrAccessDenied, false, resproto.ErrAccessDenied}},
		{"custom error then success", round{rqCustomError, false, rqCustomError}, round{rqFullCallAccess, true, rqPayloadFooBar}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.first.access, l.second.access))
			c := rqConnect(s)
			rqSubscribeModelParent(t, s, c)

			for _, r := range []round{l.first, l.second} {
				creq := c.Request("call.test.model.method", rqRaw(`{"value":42}`))
				if r.access != rqNoRequest {
					rqRespond(t, s.GetRequest().AssertSubject("access.test.model"), r.access)
				}
				if r.call {
					s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(rqFooBar)
				}
				rqAssert(t, creq.GetResponse(), r.expected)
			}
			s.AssertNoRequest()
		})
	}
}

// TestCall_AccessNotCachedWithoutSubscription covers calls on a resource
// the client does not hold: every call asks for access again.
func TestCall_AccessNotCachedWithoutSubscription(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		var access any = rqFullCallAccess
		if !allowed {
			access = resproto.ErrAccessDenied
		}
		t.Run(restest.Marshal(access), func(t *testing.T) {
			s := restest.Start(t)
			c := rqConnect(s)
			for i := 0; i < 2; i++ {
				creq := c.Request("call.test.model.method", nil)
				rqRespond(t, s.GetRequest().AssertSubject("access.test.model"), access)
				if allowed {
					s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(rqFooBar)
					creq.GetResponse().AssertResult(rqPayloadFooBar)
				} else {
					creq.GetResponse().AssertErrorEqual(resproto.ErrAccessDenied)
				}
			}
			s.AssertNoRequest()
		})
	}
}

// TestCall_RequestPayload covers what a call and its access request tell
// the service: cid, token (null until a token event), query, and no isHttp.
func TestCall_RequestPayload(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	params := rqRaw(`{"foo":"bar"}`)

	creq := c.Request("call.test.model?q=foo&f=bar.method", params)
	acc := s.GetRequest().AssertSubject("access.test.model").
		AssertPathPayload("query", "q=foo&f=bar").
		AssertPathPayload("token", nil).
		AssertPathMissing("params").
		AssertPathMissing("isHttp")
	cid, _ := acc.PathPayload("cid").(string)
	if cid == "" {
		t.Fatalf("access request without cid: %s", acc.Data)
	}
	acc.RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").
		AssertPayload(map[string]any{"params": params, "token": nil, "query": "q=foo&f=bar", "cid": cid}).
		RespondSuccess("ok")
	creq.GetResponse().AssertResult(map[string]any{"payload": "ok"})

	// After a token event for the connection, requests carry the token.
	token := map[string]any{"user": "foo", "id": 42}
	s.ConnEvent(cid, "token", map[string]any{"token": token})
	creq = c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").
		AssertPayload(map[string]any{"token": token, "cid": cid}).
		RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").
		AssertPayload(map[string]any{"params": nil, "token": token, "cid": cid}).
		RespondSuccess("ok")
	creq.GetResponse().AssertResult(map[string]any{"payload": "ok"})

	// A token event with a null token clears it.
	s.ConnEvent(cid, "token", map[string]any{"token": nil})
	creq = c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").
		AssertPayload(map[string]any{"token": nil, "cid": cid}).
		RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").
		AssertPayload(map[string]any{"params": nil, "token": nil, "cid": cid}).
		RespondSuccess("ok")
	creq.GetResponse().AssertResult(map[string]any{"payload": "ok"})
}

// TestCall_WithCIDPlaceholder covers {cid} in the RID of a call: the
// service sees the real cid, the client its own RID.
func TestCall_WithCIDPlaceholder(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	cid := c.CID()
	params := rqRaw(`{"foo":"bar"}`)

	creq := c.Request("call.test.{cid}.model.method", params)
	s.GetRequest().AssertSubject("access.test." + cid + ".model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test."+cid+".model.method").
		AssertPathPayload("params", params).
		RespondSuccess("zoo")
	creq.GetResponse().AssertResult(rqRaw(`{"payload":"zoo"}`))
}

// TestCall_LongSubject covers a call whose subject would not fit a NATS
// control line: system.subjectTooLong, after the access check when only
// the method is long.
func TestCall_LongSubject(t *testing.T) {
	long := strings.Repeat("a", 10000)
	t.Run("long method", func(t *testing.T) {
		s := restest.Start(t)
		c := rqConnect(s)
		creq := c.Request("call.test."+long, nil)
		s.GetRequest().AssertSubject("access.test").RespondSuccess(rqFullCallAccess)
		creq.GetResponse().AssertErrorEqual(resproto.ErrSubjectTooLong)
		s.AssertNoRequest()
	})
	t.Run("long query", func(t *testing.T) {
		s := restest.Start(t)
		c := rqConnect(s)
		creq := c.Request("call.test?q="+long+".method", nil)
		s.GetRequest().AssertSubject("access.test").AssertPathPayload("query", "q="+long).RespondSuccess(rqFullCallAccess)
		s.GetRequest().AssertSubject("call.test.method").AssertPathPayload("query", "q="+long).RespondSuccess(nil)
		creq.GetResponse().AssertResult(rqRaw(`{"payload":null}`))
	})
	t.Run("long resource ID", func(t *testing.T) {
		s := restest.Start(t)
		c := rqConnect(s)
		creq := c.Request("call.test."+long+".method", nil)
		creq.GetResponse().AssertErrorEqual(resproto.ErrSubjectTooLong)
		s.AssertNoRequest()
	})
}

// TestCall_WithQueryResourceResponse covers a resource response whose RID
// has a query: access and get carry the query, the reply uses the RID.
func TestCall_WithQueryResourceResponse(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	creq := c.Request("call.test.collection.create", nil)
	s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.collection.create").RespondResource("test.model?q=1")
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("query", "q=1").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").AssertPayload(map[string]any{"query": "q=1"}).RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model?q=1","models":{"test.model?q=1":` + rqModel + `}}`))
	rqAssertSubscribed(t, c, "test.model?q=1", true)
}

// TestCall_EventsBeforeReply covers ordering: events a service sends on a
// resource before it replies to a call on it reach the client before the
// reply.
func TestCall_EventsBeforeReply(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	rqSubscribeModel(t, s, c, rqFullCallAccess)

	creq := c.Request("call.test.model.set", rqRaw(`{"string":"bar"}`))
	req := s.GetRequest().AssertSubject("call.test.model.set")
	s.Event("test.model", "change", rqRaw(`{"values":{"string":"bar"}}`))
	s.Event("test.model", "custom", rqFooBar)
	req.RespondSuccess(nil)
	c.GetEvent().AssertEventName("test.model.change").AssertData(rqRaw(`{"values":{"string":"bar"}}`))
	c.GetEvent().AssertEventName("test.model.custom").AssertData(rqFooBar)
	creq.GetResponse().AssertResult(rqRaw(`{"payload":null}`))
}

// TestCall_DuringSubscribe covers a call sent while the subscribe on the
// same resource still waits for its access response: one access request
// serves both.
func TestCall_DuringSubscribe(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	sreq := c.Request("subscribe.test.model", nil)
	creq := c.Request("call.test.model.method", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	reqs.BySubject(t, "access.test.model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(42)
	sreq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model":` + rqModel + `}}`))
	creq.GetResponse().AssertResult(rqRaw(`{"payload":42}`))
	s.AssertNoRequest()
}

// TestCall_ParamsVerbatim covers params of any JSON type reaching the
// service as sent.
func TestCall_ParamsVerbatim(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	for _, p := range []string{`"foo"`, `42`, `[1,"a",{"b":null}]`, `{"a":{"b":[1.5,true]}}`, `false`} {
		creq := c.Request("call.test.model.method", rqRaw(p))
		s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
		s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("params", rqRaw(p)).RespondSuccess(rqRaw(p))
		creq.GetResponse().AssertResult(rqRaw(`{"payload":` + p + `}`))
	}
}
