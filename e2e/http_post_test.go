package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// htMapAll maps PUT, DELETE and PATCH to call methods.
func htMapAll(put, del, patch string) restest.Option {
	return restest.WithHTTP(func(c *listeners.HTTPConfig) {
		c.PutMethod, c.DeleteMethod, c.PatchMethod = put, del, patch
	})
}

func TestHTTPPost_Responses(t *testing.T) {
	params := []byte(`{"value":42}`)
	fullAccess := rqRaw(`{"get":true,"call":"*"}`)
	tbl := []struct {
		name     string
		body     []byte
		access   any // reply to the access request
		call     any // reply to the call request; rqNoRequest: none expected
		status   int
		location string
		expected any // body: nil for none, a string for an error code
	}{
		{"no body", nil, fullAccess, rqFooBar, http.StatusOK, "", rqFooBar},
		{"params", params, fullAccess, rqFooBar, http.StatusOK, "", rqFooBar},
		{"method listed", nil, rqRaw(`{"call":"method"}`), rqFooBar, http.StatusOK, "", rqFooBar},
		{"method in list", nil, rqRaw(`{"call":"foo,method"}`), rqFooBar, http.StatusOK, "", rqFooBar},
		{"method not listed", nil, rqRaw(`{"get":true,"call":"foo,bar"}`), rqNoRequest, http.StatusUnauthorized, "", resproto.ErrAccessDenied},
		{"no call access", nil, rqRaw(`{"get":true}`), rqNoRequest, http.StatusUnauthorized, "", resproto.ErrAccessDenied},
		{"access timeout", nil, rqTimeout, rqNoRequest, http.StatusNotFound, "", resproto.ErrTimeout},
		{"access error", nil, rqCustomError, rqNoRequest, http.StatusBadRequest, "", rqCustomError},
		{"string result", nil, fullAccess, rqRaw(`"zoo"`), http.StatusOK, "", rqRaw(`"zoo"`)},
		{"null result", nil, fullAccess, nil, http.StatusNoContent, "", nil},
		{"call timeout", nil, fullAccess, rqTimeout, http.StatusNotFound, "", resproto.ErrTimeout},
		{"invalid params", nil, fullAccess, resproto.ErrInvalidParams, http.StatusBadRequest, "", resproto.ErrInvalidParams},
		{"method not found", nil, fullAccess, resproto.ErrMethodNotFound, http.StatusNotFound, "", resproto.ErrMethodNotFound},
		{"resource response", nil, fullAccess, []byte(`{"resource":{"rid":"test.model"}}`), http.StatusOK, "/api/test/model", nil},
		{"resource response with query", nil, fullAccess, []byte(`{"resource":{"rid":"test.model?q=a b"}}`), http.StatusOK, "/api/test/model%3Fq=a%20b", nil},
		{"resource is string", nil, fullAccess, []byte(`{"resource":"test.model"}`), http.StatusInternalServerError, "", resproto.CodeInternalError},
		{"resource without rid", nil, fullAccess, []byte(`{"resource":{}}`), http.StatusInternalServerError, "", resproto.CodeInternalError},
		{"resource rid not a string", nil, fullAccess, []byte(`{"resource":{"rid":42}}`), http.StatusInternalServerError, "", resproto.CodeInternalError},
		{"invalid resource rid", nil, fullAccess, []byte(`{"resource":{"rid":"test..model"}}`), http.StatusInternalServerError, "", resproto.CodeInternalError},
		{"missing result", nil, fullAccess, []byte(`{}`), http.StatusInternalServerError, "", rqRaw(`{"code":"system.internalError","message":"Internal error: response missing result"}`)},
	}
	for _, enc := range []string{"json", "jsonflat"} {
		for _, l := range tbl {
			t.Run(enc+"/"+l.name, func(t *testing.T) {
				t.Parallel()
				s := rqStart(t, rqHasTimeout(l.access, l.call), htEncoding(enc))
				hreq := s.HTTPRequest("POST", "/api/test/model/method", l.body, nil)
				rqRespond(t, s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("isHttp", true), l.access)
				if l.call != rqNoRequest {
					req := s.GetRequest().AssertSubject("call.test.model.method").
						AssertPathPayload("isHttp", true).
						AssertPathPayload("token", nil)
					if l.body == nil {
						req.AssertPathPayload("params", nil)
					} else {
						req.AssertPathPayload("params", rqRaw(string(l.body)))
					}
					rqRespond(t, req, l.call)
				}
				resp := hreq.GetResponse()
				if code, ok := l.expected.(string); ok {
					resp.AssertErrorCode(l.status, code)
				} else {
					resp.AssertResponse(l.status, l.expected)
				}
				if l.location != "" {
					resp.AssertHeader("Location", l.location).AssertHeader("Content-Type")
				} else {
					resp.AssertHeader("Location")
				}
				s.AssertNoRequest()
			})
		}
	}
}

// TestHTTPPost_ErrorStatus covers every RES error code's HTTP status.
func TestHTTPPost_ErrorStatus(t *testing.T) {
	tbl := []struct {
		code   string
		status int
	}{
		{resproto.CodeNotFound, http.StatusNotFound},
		{resproto.CodeMethodNotFound, http.StatusNotFound},
		{resproto.CodeTimeout, http.StatusNotFound},
		{resproto.CodeAccessDenied, http.StatusUnauthorized},
		{resproto.CodeInternalError, http.StatusInternalServerError},
		{resproto.CodeInvalidParams, http.StatusBadRequest},
		{resproto.CodeInvalidQuery, http.StatusBadRequest},
		{resproto.CodeInvalidRequest, http.StatusBadRequest},
		{resproto.CodeNoSubscription, http.StatusBadRequest},
		{resproto.CodeUnsupportedProtocol, http.StatusBadRequest},
		{resproto.CodeSubjectTooLong, http.StatusRequestURITooLong},
		{resproto.CodeDeleted, http.StatusBadRequest},
		{resproto.CodeBadRequest, http.StatusBadRequest},
		{resproto.CodeMethodNotAllowed, http.StatusMethodNotAllowed},
		{resproto.CodeServiceUnavailable, http.StatusServiceUnavailable},
		{resproto.CodeForbidden, http.StatusForbidden},
		{resproto.CodeNotImplemented, http.StatusBadRequest}, // not in Resgate's table
		{resproto.CodeSubscriptionLimitExceeded, http.StatusBadRequest},
		{"custom.error", http.StatusBadRequest},
	}
	s := restest.Start(t)
	for _, l := range tbl {
		rerr := &resproto.Error{Code: l.code, Message: "Message of " + l.code}
		hreq := s.HTTPRequest("POST", "/api/test/model/method", nil, nil)
		s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
		s.GetRequest().AssertSubject("call.test.model.method").RespondError(rerr)
		hreq.GetResponse().AssertError(l.status, rerr)
	}
}

func TestHTTPPost_Bodies(t *testing.T) {
	tbl := []struct {
		name   string
		body   string
		params any // expected params; rqNoRequest: the body is refused
		error  string
	}{
		{"empty", "", nil, ""},
		{"whitespace", " \r\n\t ", nil, ""},
		{"object", `{"a":1}`, rqRaw(`{"a":1}`), ""},
		{"spaced array", ` [1, 2 , {"a" : null}] `, rqRaw(`[1,2,{"a":null}]`), ""},
		{"number", `42`, 42, ""},
		{"null", `null`, nil, ""},
		{"broken object", `{]`, rqNoRequest, "Error decoding request body: invalid character ']' looking for beginning of object key string"},
		{"trailing data", `{"a":1} x`, rqNoRequest, "Error decoding request body: invalid character 'x' after top-level value"},
		{"truncated", `nul`, rqNoRequest, "Error decoding request body: invalid character ' ' in literal null (expecting 'l')"},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			hreq := s.HTTPRequest("POST", "/api/test/model/method", []byte(l.body), http.Header{"Content-Type": {"application/json"}})
			if l.params == rqNoRequest {
				hreq.GetResponse().AssertError(http.StatusBadRequest, &resproto.Error{Code: resproto.CodeBadRequest, Message: l.error})
				s.AssertNoRequest()
				return
			}
			s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
			s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("params", l.params).RespondSuccess(rqFooBar)
			hreq.GetResponse().AssertResponse(http.StatusOK, rqFooBar)
		})
	}
}

// TestHTTPPost_BodyTooLarge: a body over MaxBodySize is refused with 413
// (Resgate has no limit).
func TestHTTPPost_BodyTooLarge(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.MaxBodySize = 16 }))
	s.HTTPRequest("POST", "/api/test/model/method", []byte(`{"a":"0123456789abcdef"}`), nil).GetResponse().
		AssertError(http.StatusRequestEntityTooLarge, &resproto.Error{Code: resproto.CodeBadRequest, Message: "Error reading request body: http: request body too large"})
	s.AssertNoRequest()
	// At the limit it passes.
	hreq := s.HTTPRequest("POST", "/api/test/model/method", []byte(`{"a":"01234567"}`), nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(nil)
	hreq.GetResponse().AssertStatus(http.StatusNoContent)
}

func TestHTTPPost_InvalidURLs(t *testing.T) {
	tbl := []string{
		"/wrong_prefix/test/model/action",
		"/api/",
		"/api/action",
		"/api/test.model/action",
		"/api/test/model/action/",
		"/api/test//model/action",
		"/api/test/model/\u00e4ction",
		"/api/test/m\u00e5del/action",
		"/api/test/model/m%3Fq",
		"/api/test/model/m%2Eq",
	}
	s := restest.Start(t)
	for _, path := range tbl {
		s.HTTPRequest("POST", path, nil, nil).GetResponse().AssertError(http.StatusNotFound, resproto.ErrNotFound)
	}
	s.AssertNoRequest()
}

func TestHTTPPost_QueryAndLongIDs(t *testing.T) {
	s := restest.Start(t)
	q := "q=" + strings.Repeat("x", 10000)
	hreq := s.HTTPRequest("POST", "/api/test/model/method?"+q, nil, nil)
	s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("query", q).RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("query", q).RespondSuccess(rqFooBar)
	hreq.GetResponse().AssertResponse(http.StatusOK, rqFooBar)

	long := strings.Repeat("x", 10000)
	s.HTTPRequest("POST", "/api/test/"+long+"/method", nil, nil).GetResponse().
		AssertError(http.StatusRequestURITooLong, resproto.ErrSubjectTooLong)
	s.AssertNoRequest()
	// A long method: the access request goes out, the call cannot.
	hreq = s.HTTPRequest("POST", "/api/test/"+long, nil, nil)
	s.GetRequest().AssertSubject("access.test").RespondSuccess(rqFullCallAccess)
	hreq.GetResponse().AssertError(http.StatusRequestURITooLong, resproto.ErrSubjectTooLong)
}

// TestHTTPPost_LegacyNew: a v1.1 {"rid":…} result to a new call gives a
// Location and logs a deprecation warning.
func TestHTTPPost_LegacyNew(t *testing.T) {
	for _, l := range []struct {
		name, reply string
		warned      bool
	}{
		{"legacy", `{"result":{"rid":"test.model"}}`, true},
		{"resource", `{"resource":{"rid":"test.model"}}`, false},
	} {
		t.Run(l.name, func(t *testing.T) {
			s := restest.Start(t)
			hreq := s.HTTPRequest("POST", "/api/test/collection/new", []byte(`{"value":42}`), nil)
			s.GetRequest().AssertSubject("access.test.collection").RespondSuccess(rqFullCallAccess)
			s.GetRequest().AssertSubject("call.test.collection.new").AssertPathPayload("params", rqRaw(`{"value":42}`)).Respond(l.reply)
			hreq.GetResponse().AssertStatus(http.StatusOK).AssertBody(nil).AssertHeader("Location", "/api/test/model")
			if got := strings.Contains(strings.ToLower(s.Logs.String()), "deprecated"); got != l.warned {
				t.Fatalf("expected deprecation logged: %v; logs:\n%s", l.warned, s.Logs.String())
			}
		})
	}
}

func TestHTTPMethodMapping(t *testing.T) {
	params := rqRaw(`{"foo":"bar"}`)
	tbl := []struct {
		method string
		call   any // reply to the call
		status int
		body   any
	}{
		{"PUT", rqRaw(`"zoo"`), http.StatusOK, rqRaw(`"zoo"`)},
		{"DELETE", rqRaw(`"zoo"`), http.StatusOK, rqRaw(`"zoo"`)},
		{"PATCH", rqRaw(`"zoo"`), http.StatusOK, rqRaw(`"zoo"`)},
		{"PUT", nil, http.StatusNoContent, nil},
		{"PATCH", []byte(`{"resource":{"rid":"test.model"}}`), http.StatusOK, nil},
		{"PUT", resproto.ErrInvalidParams, http.StatusBadRequest, resproto.ErrInvalidParams},
		{"DELETE", resproto.ErrAccessDenied, http.StatusUnauthorized, resproto.ErrAccessDenied},
		{"PATCH", rqTimeout, http.StatusNotFound, resproto.ErrTimeout},
		// methodNotFound from a mapped method is 405 methodNotAllowed.
		{"PUT", resproto.ErrMethodNotFound, http.StatusMethodNotAllowed, resproto.ErrMethodNotAllowed},
		{"DELETE", resproto.ErrMethodNotFound, http.StatusMethodNotAllowed, resproto.ErrMethodNotAllowed},
		{"PATCH", resproto.ErrMethodNotFound, http.StatusMethodNotAllowed, resproto.ErrMethodNotAllowed},
	}
	calls := map[string]string{"PUT": "set", "DELETE": "remove", "PATCH": "update"}
	for _, l := range tbl {
		t.Run(l.method, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.call), htMapAll("set", "remove", "update"))
			hreq := s.HTTPRequest(l.method, "/api/test/model?q=1", params, nil)
			s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("query", "q=1").RespondSuccess(rqFullCallAccess)
			req := s.GetRequest().AssertSubject("call.test.model."+calls[l.method]).
				AssertPathPayload("params", params).
				AssertPathPayload("query", "q=1").
				AssertPathPayload("isHttp", true)
			rqRespond(t, req, l.call)
			resp := hreq.GetResponse().AssertResponse(l.status, l.body).AssertHeader("Allow")
			if l.method == "PATCH" && l.status == http.StatusOK && l.body == nil {
				resp.AssertHeader("Location", "/api/test/model")
			}
		})
	}
}

// TestHTTPMethodMapping_Unmapped: unmapped methods are refused with 405 and
// an Allow header listing the methods that are accepted (Resgate sends no
// Allow).
func TestHTTPMethodMapping_Unmapped(t *testing.T) {
	tbl := []struct {
		put, del, patch string
		method          string
		allow           string
	}{
		{"", "remove", "", "PUT", "GET, HEAD, OPTIONS, POST, DELETE"},
		{"", "", "update", "DELETE", "GET, HEAD, OPTIONS, POST, PATCH"},
		{"set", "", "", "PATCH", "GET, HEAD, OPTIONS, POST, PUT"},
		{"", "", "", "PUT", "GET, HEAD, OPTIONS, POST"},
		{"set", "remove", "update", "TRACE", "GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH"},
		{"", "", "", "FOO", "GET, HEAD, OPTIONS, POST"},
	}
	for _, l := range tbl {
		t.Run(l.method, func(t *testing.T) {
			s := restest.Start(t, htMapAll(l.put, l.del, l.patch))
			s.HTTPRequest(l.method, "/api/test/model", nil, nil).GetResponse().
				AssertError(http.StatusMethodNotAllowed, resproto.ErrMethodNotAllowed).
				AssertHeader("Allow", l.allow)
			s.AssertNoRequest()
		})
	}
}

func TestHTTPMethodMapping_InvalidConfig(t *testing.T) {
	s := restest.Start(t)
	for _, cfg := range []listeners.HTTPConfig{
		{PutMethod: "a.b"},
		{DeleteMethod: "a?"},
		{PatchMethod: "a b"},
		{APIEncoding: "xml"},
		{HeaderAuth: &listeners.AuthMethod{RID: "a..b", Method: "m"}},
		{WSHeaderAuth: &listeners.AuthMethod{RID: "a.b", Method: ""}},
	} {
		if _, err := listeners.NewHTTP(s.Engine, cfg); err == nil {
			t.Errorf("expected an error for %+v", cfg)
		}
	}
	if _, err := listeners.NewHTTP(s.Engine, listeners.HTTPConfig{APIEncoding: "xml"}); err == nil || !strings.Contains(err.Error(), "json, jsonflat") {
		t.Errorf("expected the valid encodings listed, got %v", err)
	}
}

// TestHTTPPost_Curl posts JSON with curl, and reads a redirect to a
// resource.
func TestHTTPPost_Curl(t *testing.T) {
	s := restest.Start(t, htMapAll("set", "", ""))
	replies := map[string]string{
		"access.test.model":      `{"result":{"get":true,"call":"*"}}`,
		"call.test.model.method": `{"result":{"ok":true}}`,
		"call.test.model.set":    `{"resource":{"rid":"test.model.other"}}`,
	}
	resp, subjects := s.Curl("-X", "POST", "-H", "Content-Type: application/json", "--data", `{"value":42}`, "/api/test/model/method").GetResponseServing(replies)
	resp.AssertResponse(http.StatusOK, rqRaw(`{"ok":true}`))
	if strings.Join(subjects, " ") != "access.test.model call.test.model.method" {
		t.Fatalf("unexpected requests %v", subjects)
	}
	resp, _ = s.Curl("-X", "PUT", "--data", `{"value":42}`, "/api/test/model").GetResponseServing(replies)
	resp.AssertStatus(http.StatusOK).AssertBody(nil).AssertHeader("Location", "/api/test/model/other")
	resp, _ = s.Curl("-X", "DELETE", "/api/test/model").GetResponseServing(replies)
	resp.AssertError(http.StatusMethodNotAllowed, resproto.ErrMethodNotAllowed).AssertHeader("Allow", "GET, HEAD, OPTIONS, POST, PUT")
}
