package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

func htAuthMethod(s string) *listeners.AuthMethod {
	i := strings.LastIndexByte(s, '.')
	return &listeners.AuthMethod{RID: s[:i], Method: s[i+1:]}
}

// htHeaderAuth starts sessions with headerAuth set.
func htHeaderAuth(method string) restest.Option {
	return restest.WithHTTP(func(c *listeners.HTTPConfig) { c.HeaderAuth = htAuthMethod(method) })
}

// htWSHeaderAuth starts sessions with wsHeaderAuth set.
func htWSHeaderAuth(method string) restest.Option {
	return restest.WithHTTP(func(c *listeners.HTTPConfig) { c.WSHeaderAuth = htAuthMethod(method) })
}

// htNoToken: no token event is sent.
type htNoToken struct{}

// TestHeaderAuth_Request covers the auth request sent before an HTTP API
// request: the request's header, cookies, host, remote address and URI,
// isHttp, no params, on the request's temporary connection.
func TestHeaderAuth_Request(t *testing.T) {
	s := restest.Start(t, htHeaderAuth("vault.method"))
	h := htHeader("Origin", "example.com", "Cookie", "session=abc; theme=dark", "Authorization", "Bearer x", "X-Custom", "a", "X-Custom", "b")
	hreq := s.HTTPRequest("GET", "/api/test/model?x=1", nil, h)
	auth := s.GetRequest().AssertSubject("auth.vault.method").
		AssertPathPayload("isHttp", true).
		AssertPathPayload("token", nil).
		AssertPathMissing("params").
		AssertPathMissing("query").
		AssertPathPayload("header.Origin", []string{"example.com"}).
		AssertPathPayload("header.Cookie", []string{"session=abc; theme=dark"}).
		AssertPathPayload("header.Authorization", []string{"Bearer x"}).
		AssertPathPayload("header.X-Custom", []string{"a", "b"}).
		AssertPathPayload("host", s.Addr).
		AssertPathPayload("uri", "/api/test/model?x=1")
	if ra, _ := auth.PathPayload("remoteAddr").(string); !strings.HasPrefix(ra, "127.0.0.1:") {
		t.Fatalf("expected a remote address, got %s", auth.Data)
	}
	cid, _ := auth.PathPayload("cid").(string)
	auth.RespondSuccess(nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("cid", cid).AssertPathPayload("query", "x=1").RespondSuccess(rqRaw(`{"get":true}`))
	reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
	hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel)).AssertHeader("Access-Control-Allow-Credentials", "true")
}

// TestHeaderAuth_TokenAndIgnoredErrors: a token set by the auth method
// applies to the request; auth errors, timeouts and broken replies are
// ignored, as in Resgate.
func TestHeaderAuth_TokenAndIgnoredErrors(t *testing.T) {
	token := rqRaw(`{"user":"foo"}`)
	tbl := []struct {
		name  string
		auth  any // reply to the auth request
		token any // token event sent first; htNoToken{}: none
	}{
		{"timeout without token", rqTimeout, htNoToken{}},
		{"error without token", resproto.ErrNotFound, htNoToken{}},
		{"broken JSON without token", []byte(`{]`), htNoToken{}},
		{"null result without token", nil, htNoToken{}},
		{"timeout with token", rqTimeout, token},
		{"error with token", resproto.ErrNotFound, token},
		{"broken JSON with token", []byte(`{]`), token},
		{"null result with token", nil, token},
		{"resource response with token", []byte(`{"resource":{"rid":"test.user"}}`), token},
		{"null token", nil, nil},
	}
	for _, method := range []string{"GET", "POST"} {
		for _, l := range tbl {
			t.Run(method+" "+l.name, func(t *testing.T) {
				t.Parallel()
				s := rqStart(t, rqHasTimeout(l.auth), htHeaderAuth("vault.method"))
				path := "/api/test/model"
				if method == "POST" {
					path += "/method"
				}
				hreq := s.HTTPRequest(method, path, nil, htHeader("Origin", "example.com"))
				auth := s.GetRequest().AssertSubject("auth.vault.method").AssertPathPayload("header.Origin", []string{"example.com"})
				expected := l.token
				if _, ok := l.token.(htNoToken); ok {
					expected = nil
				} else {
					s.ConnEvent(auth.PathPayload("cid").(string), "token", map[string]any{"token": l.token})
				}
				rqRespond(t, auth, l.auth)
				if method == "GET" {
					reqs := s.GetRequests(2)
					reqs.BySubject(t, "access.test.model").AssertPathPayload("token", expected).AssertPathPayload("isHttp", true).RespondSuccess(rqRaw(`{"get":true}`))
					reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
					hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel)).AssertHeader("Access-Control-Allow-Credentials", "true")
				} else {
					s.GetRequest().AssertSubject("access.test.model").AssertPathPayload("token", expected).RespondSuccess(rqFullCallAccess)
					s.GetRequest().AssertSubject("call.test.model.method").AssertPathPayload("token", expected).RespondSuccess(rqFooBar)
					hreq.GetResponse().AssertResponse(http.StatusOK, rqFooBar).AssertHeader("Access-Control-Allow-Credentials", "true")
				}
			})
		}
	}
}

// TestHeaderAuth_NotForRefusedRequests: requests answered without the
// services (bad URL, forbidden origin, unmapped method, OPTIONS) send no
// auth request.
func TestHeaderAuth_NotForRefusedRequests(t *testing.T) {
	s := restest.Start(t, htHeaderAuth("vault.method"), htAllowOrigin(t, "http://localhost"))
	s.HTTPRequest("GET", "/api/test.model", nil, nil).GetResponse().AssertStatus(http.StatusNotFound)
	s.HTTPRequest("GET", "/api/test/model", nil, htHeader("Origin", "http://evil")).GetResponse().
		AssertStatus(http.StatusForbidden).AssertHeader("Access-Control-Allow-Credentials", "true")
	s.HTTPRequest("PUT", "/api/test/model", nil, nil).GetResponse().AssertStatus(http.StatusMethodNotAllowed)
	s.HTTPRequest("POST", "/api/test/model/method", []byte(`{]`), nil).GetResponse().AssertStatus(http.StatusBadRequest)
	s.HTTPRequest("OPTIONS", "/api/test/model", nil, nil).GetResponse().AssertStatus(http.StatusOK)
	s.AssertNoRequest()
}

// htDial is the outcome of a WebSocket handshake.
type htDial struct {
	resp *http.Response
	body []byte
	err  error
}

// htWSDial opens a WebSocket with h in the background; the connection, if
// any, is closed at once.
func htWSDial(s *restest.Session, h http.Header) <-chan htDial {
	ch := make(chan htDial, 1)
	go func() {
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", h)
		if ws != nil {
			ws.Close()
		}
		var body []byte
		if resp != nil && resp.Body != nil {
			body = make([]byte, 1024)
			n, _ := resp.Body.Read(body)
			body = body[:n]
		}
		ch <- htDial{resp, body, err}
	}()
	return ch
}

func htDialResult(t *testing.T, ch <-chan htDial) (*http.Response, []byte) {
	t.Helper()
	select {
	case d := <-ch:
		if d.resp == nil {
			t.Fatalf("dial: %v", d.err)
		}
		return d.resp, d.body
	case <-time.After(restest.Timeout):
		t.Fatal("no handshake response")
		return nil, nil
	}
}

// TestWSHeaderAuth_TokenOnConnection: the auth request is sent before the
// upgrade, with isHttp; a token it sets stays on the connection; errors
// are ignored.
func TestWSHeaderAuth_TokenOnConnection(t *testing.T) {
	token := rqRaw(`{"user":"foo"}`)
	tbl := []struct {
		name  string
		auth  any
		token any
	}{
		{"timeout without token", rqTimeout, htNoToken{}},
		{"error without token", resproto.ErrNotFound, htNoToken{}},
		{"broken JSON without token", []byte(`{]`), htNoToken{}},
		{"null result without token", nil, htNoToken{}},
		{"timeout with token", rqTimeout, token},
		{"error with token", resproto.ErrNotFound, token},
		{"broken JSON with token", []byte(`{]`), token},
		{"null result with token", nil, token},
		{"null token", nil, nil},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.auth), htWSHeaderAuth("vault.method"))
			done := make(chan *restest.Client)
			go func() { done <- s.ConnectWith(htHeader("Cookie", "session=abc"), "/?t=1") }()
			auth := s.GetRequest().AssertSubject("auth.vault.method").
				AssertPathPayload("isHttp", true).
				AssertPathPayload("token", nil).
				AssertPathMissing("params").
				AssertPathPayload("header.Cookie", []string{"session=abc"}).
				AssertPathPayload("uri", "/?t=1").
				AssertPathPayload("host", s.Addr)
			expected := l.token
			if _, ok := l.token.(htNoToken); ok {
				expected = nil
			} else {
				s.ConnEvent(auth.PathPayload("cid").(string), "token", map[string]any{"token": l.token})
			}
			rqRespond(t, auth, l.auth)
			c := <-done
			creq := c.Request("subscribe.test.model", nil)
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").
				AssertPathPayload("token", expected).
				AssertPathPayload("cid", auth.PathPayload("cid")).
				AssertPathMissing("isHttp").
				RespondSuccess(rqRaw(`{"get":true}`))
			reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
			creq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model":` + rqModel + `}}`))
		})
	}
}

// TestWSHeaderAuth_Meta: meta headers are added to the upgrade response; a
// meta status of 300-599 refuses the upgrade with that status.
func TestWSHeaderAuth_Meta(t *testing.T) {
	custom := `{"code":"system.custom","message":"Custom"}`
	tbl := []struct {
		name    string
		auth    string
		status  int
		headers map[string][]string // nil value: header missing
		body    string
		errors  int
	}{
		{"custom header", `{"result":null,"meta":{"header":{"Test-Header":["foo"]}}}`, http.StatusSwitchingProtocols, map[string][]string{"Test-Header": {"foo"}}, "", 0},
		{"Set-Cookie", `{"result":null,"meta":{"header":{"Set-Cookie":["id=foo; Max-Age=86400","b=2"]}}}`, http.StatusSwitchingProtocols, map[string][]string{"Set-Cookie": {"id=foo; Max-Age=86400", "b=2"}}, "", 0},
		{"canonicalized header", `{"result":null,"meta":{"header":{"test-header":["foo"]}}}`, http.StatusSwitchingProtocols, map[string][]string{"Test-Header": {"foo"}}, "", 0},
		{"redirect", `{"result":null,"meta":{"status":307,"header":{"Location":["http://example.com/login"]}}}`, http.StatusTemporaryRedirect, map[string][]string{"Location": {"http://example.com/login"}}, "", 0},
		{"redirect to resource", `{"resource":{"rid":"test.redirect"},"meta":{"status":307}}`, http.StatusTemporaryRedirect, map[string][]string{"Location": {"/api/test/redirect"}}, "", 0},
		{"401 with WWW-Authenticate", `{"result":null,"meta":{"status":401,"header":{"Www-Authenticate":["Basic realm=\"x\""]}}}`, http.StatusUnauthorized, map[string][]string{"Www-Authenticate": {`Basic realm="x"`}}, `{"code":"system.accessDenied","message":"Access denied"}`, 0},
		{"407 with custom error", `{"error":` + custom + `,"meta":{"status":407,"header":{"Test-Header":["foo"]}}}`, http.StatusProxyAuthRequired, map[string][]string{"Test-Header": {"foo"}}, custom, 0},
		{"507 with custom error", `{"error":` + custom + `,"meta":{"status":507}}`, http.StatusInsufficientStorage, nil, custom, 0},
		{"protected headers", `{"result":null,"meta":{"header":{"Sec-Websocket-Extensions":["foo"],"Sec-Websocket-Protocol":["foo"],"Access-Control-Allow-Credentials":["foo"],"Access-Control-Allow-Origin":["foo"],"Content-Type":["text/html; charset=utf-8"]}}}`, http.StatusSwitchingProtocols,
			map[string][]string{"Sec-Websocket-Extensions": nil, "Sec-Websocket-Protocol": nil, "Access-Control-Allow-Credentials": nil, "Access-Control-Allow-Origin": nil, "Content-Type": nil}, "", 0},
		{"2XX status ignored", `{"result":null,"meta":{"status":206}}`, http.StatusSwitchingProtocols, nil, "", 1},
		{"invalid status ignored", `{"result":null,"meta":{"status":601}}`, http.StatusSwitchingProtocols, nil, "", 1},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, htWSHeaderAuth("vault.method"), htAllowOrigin(t, "http://example.com"))
			dial := htWSDial(s, htHeader("Origin", "http://example.com"))
			s.GetRequest().AssertSubject("auth.vault.method").AssertPathPayload("isHttp", true).Respond(l.auth)
			resp, body := htDialResult(t, dial)
			if resp.StatusCode != l.status {
				t.Fatalf("expected status %d, got %d %v %s", l.status, resp.StatusCode, resp.Header, body)
			}
			for k, v := range l.headers {
				if got := resp.Header.Values(k); len(v) != len(got) || strings.Join(v, "\n") != strings.Join(got, "\n") {
					t.Fatalf("header %s: expected %q, got %q", k, v, got)
				}
			}
			if l.body != "" && !restest.JSONEqual(rqRaw(string(body)), rqRaw(l.body)) {
				t.Fatalf("expected body %s, got %s", l.body, body)
			}
			rqAssertErrorsLogged(t, s, l.errors)
			if l.status != http.StatusSwitchingProtocols {
				s.WaitConnCount(0)
			}
		})
	}
}

// TestWSHeaderAuth_OriginRefusedFirst: no auth request for an origin the
// upgrade refuses.
func TestWSHeaderAuth_OriginRefusedFirst(t *testing.T) {
	s := restest.Start(t, htWSHeaderAuth("vault.method"), htAllowOrigin(t, "http://localhost"))
	resp, _ := htDialResult(t, htWSDial(s, htHeader("Origin", "http://evil.com")))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("expected 403, got %d", resp.StatusCode)
	}
	s.AssertNoRequest()
	s.WaitConnCount(0)
}

// TestWSHeaderAuth_Curl: an upgrade refused with 401 and WWW-Authenticate,
// as curl sees it.
func TestWSHeaderAuth_Curl(t *testing.T) {
	s := restest.Start(t, htWSHeaderAuth("session.ws"))
	hreq := s.Curl("-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
		"-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Cookie: session=expired", "/")
	s.GetRequest().AssertSubject("auth.session.ws").
		AssertPathPayload("header.Cookie", []string{"session=expired"}).
		Respond(`{"error":{"code":"system.accessDenied","message":"Session expired"},"meta":{"status":401,"header":{"WWW-Authenticate":["Bearer realm=\"app\""],"Set-Cookie":["session=; Max-Age=0"]}}}`)
	hreq.GetResponse().
		AssertError(http.StatusUnauthorized, &resproto.Error{Code: resproto.CodeAccessDenied, Message: "Session expired"}).
		AssertHeader("Www-Authenticate", `Bearer realm="app"`).
		AssertHeader("Set-Cookie", "session=; Max-Age=0")
	s.WaitConnCount(0)
}

// TestHeaderAuth_FailuresLogged: a header auth request that gets no answer
// (here a timeout) is a fault the operator should see: warned of, at most
// once every 10 s with the count; an error the service answers is its
// decision, logged at debug level only. Either way the HTTP request goes
// on without the auth result, as in Resgate.
func TestHeaderAuth_FailuresLogged(t *testing.T) {
	// 1 s: the access and get requests answered must never time out.
	s := restest.Start(t, htHeaderAuth("vault.method"), rqWithTimeout(time.Second))
	const warning = "header auth request got no answer"
	get := func(answer func(*restest.Request)) {
		t.Helper()
		hreq := s.HTTPRequest("GET", "/api/test/model", nil, nil)
		answer(s.GetRequest().AssertSubject("auth.vault.method"))
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access.test.model").RespondSuccess(rqRaw(`{"get":true}`))
		reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
		hreq.GetResponse().AssertResponse(http.StatusOK, rqRaw(rqModel))
		// The request's connection may be disposed of, and the model
		// released from the cache, a moment after the response: wait, so
		// that the next request gets it from the service again.
		s.WaitEventSubscription("test.model", false)
	}
	unanswered := func(*restest.Request) {}
	get(unanswered)
	get(unanswered)
	get(func(r *restest.Request) { r.RespondError(resproto.ErrAccessDenied) })
	logs := s.Logs.String()
	if n := strings.Count(logs, warning); n != 1 {
		t.Fatalf("%d warnings %q, want 1 (the second within 10 s is counted, not logged):\n%s", n, warning, logs)
	}
	for _, want := range [][]string{
		{`level=WARN msg="` + warning, "method=vault.method", `error="Request timeout"`, "failures=1"},
		{`level=DEBUG msg="header auth returned an error; going on without its result"`, "method=vault.method", `error="Access denied"`},
	} {
		found := false
		for _, line := range strings.Split(logs, "\n") {
			found = found || strings.Contains(line, want[0]) && strings.Contains(line, want[1]) && strings.Contains(line, want[2]) && strings.Contains(line, want[len(want)-1])
		}
		if !found {
			t.Errorf("no log line with %q:\n%s", want, logs)
		}
	}
}
