package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// htMetaCase is one HTTP request whose auth, access and get or call
// responses carry meta objects. A nil response is not expected (and no
// headerAuth is configured when auth is nil).
type htMetaCase struct {
	name    string
	auth    string
	access  string
	reply   string // get or call response
	status  int
	body    any                 // nil: no body
	headers map[string][]string // nil value: header missing
	errors  int
}

const (
	htOrigin      = "http://example.com"
	htHref        = "http://example.com/test/ref"
	htCustomError = `{"code":"system.custom","message":"Custom"}`
)

func htRunMeta(t *testing.T, method string, l htMetaCase) {
	t.Helper()
	opts := []restest.Option{htAllowOrigin(t, htOrigin)}
	if l.auth != "" {
		opts = append(opts, htHeaderAuth("vault.method"))
	}
	s := restest.Start(t, opts...)
	path := "/api/test/model"
	if method == "POST" {
		path += "/method"
	}
	hreq := s.HTTPRequest(method, path, nil, htHeader("Origin", htOrigin))
	if l.auth != "" {
		s.GetRequest().AssertSubject("auth.vault.method").AssertPathPayload("isHttp", true).Respond(l.auth)
	}
	switch {
	case l.access == "":
	case method == "GET":
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access.test.model").AssertPathPayload("isHttp", true).Respond(l.access)
		get := reqs.BySubject(t, "get.test.model")
		if l.reply != "" {
			get.Respond(l.reply)
		}
	default:
		s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("isHttp", true).Respond(l.access)
		if l.reply != "" {
			s.GetRequest().AssertSubject("call.test.model.method").Respond(l.reply)
		}
	}
	resp := hreq.GetResponse().AssertStatus(l.status)
	if l.body == nil {
		resp.AssertBody(nil)
	} else {
		resp.AssertBody(l.body)
	}
	for k, v := range l.headers {
		resp.AssertHeader(k, v...)
	}
	rqAssertErrorsLogged(t, s, l.errors)
	s.WaitConnCount(0)
}

func TestHTTPMeta_Get(t *testing.T) {
	model := rqRaw(rqModel)
	get := `{"result":{"model":` + rqModel + `}}`
	granted := `{"result":{"get":true}}`
	tbl := []htMetaCase{
		// Auth meta headers
		{"custom header in auth", `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, granted, get, http.StatusOK, model, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"canonicalized header in auth", `{"result":null,"meta":{"header":{"test-header":["foo"]}}}`, granted, get, http.StatusOK, model, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"duplicate header values in auth", `{"result":null,"meta":{"header":{"Test-Header":["foo","bar"]}}}`, granted, get, http.StatusOK, model, map[string][]string{"Test-Header": {"foo", "bar"}}, 0},
		{"Set-Cookie in auth", `{"result":null,"meta":{"header":{"Set-Cookie":["id=foo; Max-Age=86400"]}}}`, granted, get, http.StatusOK, model, map[string][]string{"Set-Cookie": {"id=foo; Max-Age=86400"}}, 0},
		// Auth meta status
		{"307 in auth", `{"result":null,"meta":{"status":307,"header":{"Location":["` + htHref + `"]}}}`, "", "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": {htHref}, "Access-Control-Allow-Origin": {htOrigin}}, 0},
		{"resource and 307 in auth", `{"resource":{"rid":"test.redirect"},"meta":{"status":307}}`, "", "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": {"/api/test/redirect"}}, 0},
		{"407 with custom error in auth", `{"error":` + htCustomError + `,"meta":{"status":407}}`, "", "", http.StatusProxyAuthRequired, rqRaw(htCustomError), nil, 0},
		{"507 with custom error in auth", `{"error":` + htCustomError + `,"meta":{"status":507}}`, "", "", http.StatusInsufficientStorage, rqRaw(htCustomError), nil, 0},
		{"error status with header in auth", `{"error":` + htCustomError + `,"meta":{"status":407,"header":{"Test-Header":["foo"]}}}`, "", "", http.StatusProxyAuthRequired, rqRaw(htCustomError), map[string][]string{"Test-Header": {"foo"}}, 0},
		{"401 with WWW-Authenticate in auth", `{"result":null,"meta":{"status":401,"header":{"WWW-Authenticate":["Basic realm=\"x\""]}}}`, "", "", http.StatusUnauthorized, resproto.ErrAccessDenied, map[string][]string{"Www-Authenticate": {`Basic realm="x"`}}, 0},
		// Access meta headers
		{"custom header in access", "", `{"result":{"get":true},"meta":{"header":{"Test-Header":["foo"]}}}`, get, http.StatusOK, model, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"canonicalized header in access", "", `{"result":{"get":true},"meta":{"header":{"test-header":["foo"]}}}`, get, http.StatusOK, model, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"Set-Cookie in access", "", `{"result":{"get":true},"meta":{"header":{"Set-Cookie":["id=foo; Max-Age=86400"]}}}`, get, http.StatusOK, model, map[string][]string{"Set-Cookie": {"id=foo; Max-Age=86400"}}, 0},
		{"access header overrides auth", `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, `{"result":{"get":true},"meta":{"header":{"Test-Header":["bar"]}}}`, get, http.StatusOK, model, map[string][]string{"Test-Header": {"bar"}}, 0},
		{"headers in auth and access", `{"result":null,"meta":{"header":{"Test-Auth":["foo"]}}}`, `{"result":{"get":true},"meta":{"header":{"Test-Access":["bar"]}}}`, get, http.StatusOK, model, map[string][]string{"Test-Auth": {"foo"}, "Test-Access": {"bar"}}, 0},
		{"Set-Cookie in auth and access add up", `{"result":null,"meta":{"header":{"Set-Cookie":["id=foo; Max-Age=86400"]}}}`, `{"result":{"get":true},"meta":{"header":{"Set-Cookie":["id=bar; Max-Age=43200"]}}}`, get, http.StatusOK, model, map[string][]string{"Set-Cookie": {"id=foo; Max-Age=86400", "id=bar; Max-Age=43200"}}, 0},
		// Access meta status
		{"307 in access", "", `{"result":{"get":true},"meta":{"status":307,"header":{"Location":["` + htHref + `"]}}}`, "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": {htHref}}, 0},
		{"resource in auth does not redirect on access 307", `{"resource":{"rid":"test.redirect"}}`, `{"result":{"get":true},"meta":{"status":307}}`, "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": nil}, 0},
		{"407 with custom error in access", "", `{"error":` + htCustomError + `,"meta":{"status":407}}`, "", http.StatusProxyAuthRequired, rqRaw(htCustomError), nil, 0},
		{"507 with custom error in access", "", `{"error":` + htCustomError + `,"meta":{"status":507}}`, "", http.StatusInsufficientStorage, rqRaw(htCustomError), nil, 0},
		{"error status with header in access", "", `{"error":` + htCustomError + `,"meta":{"status":407,"header":{"Test-Header":["foo"]}}}`, "", http.StatusProxyAuthRequired, rqRaw(htCustomError), map[string][]string{"Test-Header": {"foo"}}, 0},
		{"auth header kept on access error status", `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, `{"error":` + htCustomError + `,"meta":{"status":407}}`, "", http.StatusProxyAuthRequired, rqRaw(htCustomError), map[string][]string{"Test-Header": {"foo"}}, 0},
		{"meta header on access denied", "", `{"result":{"get":false},"meta":{"header":{"Test-Header":["foo"]}}}`, get, http.StatusUnauthorized, resproto.ErrAccessDenied, map[string][]string{"Test-Header": {"foo"}}, 0},
		// Invalid meta
		{"protected headers in auth", `{"result":null,"meta":{"header":{"Sec-Websocket-Extensions":["foo"],"Sec-Websocket-Protocol":["foo"],"Access-Control-Allow-Credentials":["foo"],"Access-Control-Allow-Origin":["foo"],"Content-Type":["text/html; charset=utf-8"]}}}`, granted, get, http.StatusOK, model,
			map[string][]string{"Sec-Websocket-Extensions": nil, "Sec-Websocket-Protocol": nil, "Access-Control-Allow-Credentials": {"true"}, "Access-Control-Allow-Origin": {htOrigin}, "Content-Type": {"application/json; charset=utf-8"}}, 0},
		{"206 in auth ignored", `{"result":null,"meta":{"status":206}}`, granted, get, http.StatusOK, model, nil, 1},
		{"601 in auth ignored", `{"result":null,"meta":{"status":601}}`, granted, get, http.StatusOK, model, nil, 1},
		{"206 in access ignored", `{"result":null}`, `{"result":{"get":true},"meta":{"status":206}}`, get, http.StatusOK, model, nil, 1},
		{"601 in access ignored", `{"result":null}`, `{"result":{"get":true},"meta":{"status":601}}`, get, http.StatusOK, model, nil, 1},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			htRunMeta(t, "GET", l)
		})
	}
}

func TestHTTPMeta_Post(t *testing.T) {
	access := `{"result":{"call":"method"}}`
	tbl := []htMetaCase{
		{"custom header in call", "", access, `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, http.StatusNoContent, nil, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"canonicalized header in call", "", access, `{"result":null,"meta":{"header":{"test-header":["foo"]}}}`, http.StatusNoContent, nil, map[string][]string{"Test-Header": {"foo"}}, 0},
		{"Set-Cookie in call", "", access, `{"result":null,"meta":{"header":{"Set-Cookie":["id=foo; Max-Age=86400"]}}}`, http.StatusNoContent, nil, map[string][]string{"Set-Cookie": {"id=foo; Max-Age=86400"}}, 0},
		{"header with result", "", access, `{"result":{"a":1},"meta":{"header":{"Test-Header":["foo"]}}}`, http.StatusOK, rqRaw(`{"a":1}`), map[string][]string{"Test-Header": {"foo"}}, 0},
		{"call overrides access overrides auth", `{"result":null,"meta":{"header":{"Test-Header":["auth"]}}}`, `{"result":{"call":"method"},"meta":{"header":{"Test-Header":["access"]}}}`, `{"result":null,"meta":{"header":{"Test-Header":["call"]}}}`, http.StatusNoContent, nil, map[string][]string{"Test-Header": {"call"}}, 0},
		{"headers of all three", `{"result":null,"meta":{"header":{"Test-Auth":["foo"]}}}`, `{"result":{"call":"method"},"meta":{"header":{"Test-Access":["bar"]}}}`, `{"result":null,"meta":{"header":{"Test-Call":["baz"]}}}`, http.StatusNoContent, nil, map[string][]string{"Test-Auth": {"foo"}, "Test-Access": {"bar"}, "Test-Call": {"baz"}}, 0},
		{"Set-Cookie of all three add up", `{"result":null,"meta":{"header":{"Set-Cookie":["id=foo"]}}}`, `{"result":{"call":"method"},"meta":{"header":{"Set-Cookie":["id=bar"]}}}`, `{"result":null,"meta":{"header":{"Set-Cookie":["id=baz"]}}}`, http.StatusNoContent, nil, map[string][]string{"Set-Cookie": {"id=foo", "id=bar", "id=baz"}}, 0},
		// Call meta status
		{"303 in call", "", access, `{"result":{"a":1},"meta":{"status":303,"header":{"Location":["` + htHref + `"]}}}`, http.StatusSeeOther, nil, map[string][]string{"Location": {htHref}}, 0},
		{"resource and 307 in call", "", access, `{"resource":{"rid":"test.other"},"meta":{"status":307}}`, http.StatusTemporaryRedirect, nil, map[string][]string{"Location": {"/api/test/other"}}, 0},
		{"meta Location wins over resource", "", access, `{"resource":{"rid":"test.other"},"meta":{"status":302,"header":{"Location":["/x"]}}}`, http.StatusFound, nil, map[string][]string{"Location": {"/x"}}, 0},
		{"resource response Location wins over meta header", "", access, `{"resource":{"rid":"test.other"},"meta":{"header":{"Location":["/x"]}}}`, http.StatusOK, nil, map[string][]string{"Location": {"/api/test/other"}}, 0},
		{"error status with error in call", "", access, `{"error":` + htCustomError + `,"meta":{"status":409,"header":{"Test-Header":["foo"]}}}`, http.StatusConflict, rqRaw(htCustomError), map[string][]string{"Test-Header": {"foo"}}, 0},
		{"error status without error in call", "", access, `{"result":null,"meta":{"status":503}}`, http.StatusServiceUnavailable, resproto.ErrServiceUnavailable, nil, 0},
		{"methodNotFound with error status stays", "", access, `{"error":{"code":"system.methodNotFound","message":"Method not found"},"meta":{"status":410}}`, http.StatusGone, resproto.ErrMethodNotFound, nil, 0},
		// Access meta status
		{"307 in access", "", `{"result":{"call":"method"},"meta":{"status":307,"header":{"Location":["` + htHref + `"]}}}`, "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": {htHref}}, 0},
		{"resource in auth does not redirect on access 307", `{"resource":{"rid":"test.redirect"}}`, `{"result":{"call":"method"},"meta":{"status":307}}`, "", http.StatusTemporaryRedirect, nil, map[string][]string{"Location": nil}, 0},
		{"407 in access", "", `{"error":` + htCustomError + `,"meta":{"status":407}}`, "", http.StatusProxyAuthRequired, rqRaw(htCustomError), nil, 0},
		{"auth header kept on access error status", `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, `{"error":` + htCustomError + `,"meta":{"status":407}}`, "", http.StatusProxyAuthRequired, rqRaw(htCustomError), map[string][]string{"Test-Header": {"foo"}}, 0},
		// Invalid meta
		{"protected headers in call", "", access, `{"result":null,"meta":{"header":{"Sec-Websocket-Extensions":["foo"],"Sec-Websocket-Protocol":["foo"],"Access-Control-Allow-Credentials":["foo"],"Access-Control-Allow-Origin":["foo"],"Content-Type":["text/html; charset=utf-8"]}}}`, http.StatusNoContent, nil,
			map[string][]string{"Sec-Websocket-Extensions": nil, "Sec-Websocket-Protocol": nil, "Access-Control-Allow-Credentials": nil, "Access-Control-Allow-Origin": {htOrigin}, "Content-Type": nil}, 0},
		{"206 in call ignored", "", access, `{"result":null,"meta":{"status":206}}`, http.StatusNoContent, nil, nil, 1},
		{"601 in call ignored", "", access, `{"result":null,"meta":{"status":601}}`, http.StatusNoContent, nil, nil, 1},
		{"206 in access ignored", "", `{"result":{"call":"method"},"meta":{"status":206}}`, `{"result":null}`, http.StatusNoContent, nil, nil, 1},
		{"601 in access ignored", "", `{"result":{"call":"method"},"meta":{"status":601}}`, `{"result":null}`, http.StatusNoContent, nil, nil, 1},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			htRunMeta(t, "POST", l)
		})
	}
}

// TestHTTPMeta_ErrorStatus_DefaultError: a meta error status without an
// error answers with the error the status stands for.
func TestHTTPMeta_ErrorStatus_DefaultError(t *testing.T) {
	tbl := []struct {
		status int
		err    *resproto.Error
	}{
		{401, resproto.ErrAccessDenied}, {402, resproto.ErrAccessDenied}, {407, resproto.ErrAccessDenied},
		{403, resproto.ErrForbidden}, {451, resproto.ErrForbidden},
		{404, resproto.ErrNotFound}, {410, resproto.ErrNotFound},
		{405, resproto.ErrMethodNotAllowed},
		{408, resproto.ErrTimeout},
		{400, resproto.ErrBadRequest}, {406, resproto.ErrBadRequest}, {409, resproto.ErrBadRequest}, {411, resproto.ErrBadRequest}, {418, resproto.ErrBadRequest}, {499, resproto.ErrBadRequest},
		{501, resproto.ErrNotImplemented},
		{503, resproto.ErrServiceUnavailable},
		{504, resproto.ErrTimeout},
		{500, resproto.ErrInternalError}, {505, resproto.ErrInternalError}, {507, resproto.ErrInternalError}, {511, resproto.ErrInternalError}, {599, resproto.ErrInternalError},
	}
	s := restest.Start(t, htHeaderAuth("vault.method"))
	for _, l := range tbl {
		hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
		s.GetRequest().AssertSubject("auth.vault.method").Respond(fmt.Sprintf(`{"result":null,"meta":{"status":%d}}`, l.status))
		hreq.GetResponse().AssertError(l.status, l.err)
	}
	// 3xx without Location or resource: no Location, no body.
	for _, status := range []int{300, 301, 302, 303, 304, 307, 308, 399} {
		hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
		s.GetRequest().AssertSubject("auth.vault.method").Respond(fmt.Sprintf(`{"result":null,"meta":{"status":%d}}`, status))
		hreq.GetResponse().AssertStatus(status).AssertBody(nil).AssertHeader("Location").AssertHeader("Content-Type")
	}
	s.AssertNoRequest()
}

// TestHTTPMeta_Curl: cookies and redirects as curl sees them.
func TestHTTPMeta_Curl(t *testing.T) {
	s := restest.Start(t, htHeaderAuth("session.header"))
	replies := map[string]string{
		"auth.session.header":    `{"result":null,"meta":{"header":{"Set-Cookie":["sid=1; HttpOnly"]}}}`,
		"access.test.model":      `{"result":{"get":true,"call":"*"},"meta":{"header":{"Set-Cookie":["theme=dark"]}}}`,
		"get.test.model":         `{"result":{"model":` + rqModel + `}}`,
		"call.test.model.logout": `{"result":null,"meta":{"status":303,"header":{"Location":["/login"],"Set-Cookie":["sid=; Max-Age=0"]}}}`,
	}
	resp, _ := s.Curl("-b", "sid=0", "/api/test/model").GetResponseServing(replies)
	resp.AssertResponse(http.StatusOK, rqRaw(rqModel)).AssertHeader("Set-Cookie", "sid=1; HttpOnly", "theme=dark")
	resp, subjects := s.Curl("-X", "POST", "/api/test/model/logout").GetResponseServing(replies)
	resp.AssertStatus(http.StatusSeeOther).AssertBody(nil).
		AssertHeader("Location", "/login").
		AssertHeader("Set-Cookie", "sid=1; HttpOnly", "theme=dark", "sid=; Max-Age=0")
	if strings.Join(subjects, " ") != "auth.session.header access.test.model call.test.model.logout" {
		t.Fatalf("unexpected requests %v", subjects)
	}
}
