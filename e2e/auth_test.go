package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// TestAuth_OnResource covers auth requests: no access request, the request
// sent to the service, and how its response reaches the client.
func TestAuth_OnResource(t *testing.T) {
	params := rqRaw(`{"value":42}`)
	tbl := []struct {
		name     string
		params   any
		auth     any // response to the auth request
		expected any
	}{
		{"object result", nil, rqFooBar, rqPayloadFooBar},
		{"error", nil, resproto.ErrInvalidParams, resproto.ErrInvalidParams},
		{"custom error with data", nil, &resproto.Error{Code: "custom.error", Message: "Custom", Data: rqRaw(`"data"`)}, &resproto.Error{Code: "custom.error", Message: "Custom", Data: rqRaw(`"data"`)}},
		{"null result", nil, nil, rqRaw(`{"payload":null}`)},
		{"timeout", nil, rqTimeout, resproto.ErrTimeout},
		{"params", params, rqFooBar, rqPayloadFooBar},
		// Invalid service responses
		{"broken JSON", nil, []byte(`{"broken":JSON}`), resproto.CodeInternalError},
		{"missing result", nil, []byte(`{}`), &resproto.Error{Code: resproto.CodeInternalError, Message: "Internal error: response missing result"}},
		{"error takes priority over result", nil, []byte(`{"result":{"foo":"bar"},"error":{"code":"system.custom","message":"Custom"}}`), &resproto.Error{Code: "system.custom", Message: "Custom"}},
		// Invalid auth error responses
		{"error is array", nil, []byte(`{"error":[]}`), resproto.CodeInternalError},
		{"error without code", nil, []byte(`{"error":{"message":"missing code"}}`), &resproto.Error{Message: "missing code"}},
		{"integer error code", nil, []byte(`{"error":{"code":12,"message":"integer code"}}`), resproto.CodeInternalError},
		// Invalid resource responses
		{"resource is string", nil, []byte(`{"resource":"test.model"}`), resproto.CodeInternalError},
		{"invalid rid", nil, []byte(`{"resource":{"rid":"test..model"}}`), resproto.CodeInternalError},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := rqStart(t, rqHasTimeout(l.auth))
			c := rqConnect(s)

			creq := c.Request("auth.test.model.method", l.params)
			// No access request: the auth request comes first.
			req := s.GetRequest().AssertSubject("auth.test.model.method")
			if cid, _ := req.PathPayload("cid").(string); cid == "" {
				t.Fatalf("auth request without cid: %s", req.Data)
			}
			if _, ok := req.PathPayload("header").(map[string]any); !ok {
				t.Fatalf("auth request without header: %s", req.Data)
			}
			if host, _ := req.PathPayload("host").(string); host != s.Addr {
				t.Fatalf("auth request: expected host %s: %s", s.Addr, req.Data)
			}
			req.AssertPathPayload("uri", "/").
				AssertPathPayload("token", nil).
				AssertPathPayload("params", l.params).
				AssertPathMissing("isHttp").
				AssertPathMissing("query")
			rqRespond(t, req, l.auth)
			rqAssert(t, creq.GetResponse(), l.expected)
			s.AssertNoRequest()
		})
	}
}

// TestAuth_RequestHasHTTPInfo covers the header, host, remoteAddr and uri
// of an auth request: those of the WebSocket upgrade request.
func TestAuth_RequestHasHTTPInfo(t *testing.T) {
	s := restest.Start(t)
	h := http.Header{}
	h.Set("Authorization", "Bearer foo")
	h.Add("X-Custom", "a")
	h.Add("X-Custom", "b")
	h.Set("Cookie", "session=abc")
	c := s.ConnectWith(h, "/?access_token=xyz")
	c.Version("1.2.3")

	creq := c.Request("auth.test.model?q=1.login", rqRaw(`{"user":"foo"}`))
	req := s.GetRequest().AssertSubject("auth.test.model.login").
		AssertPathPayload("params", rqRaw(`{"user":"foo"}`)).
		AssertPathPayload("query", "q=1").
		AssertPathPayload("host", s.Addr).
		AssertPathPayload("uri", "/?access_token=xyz").
		AssertPathPayload("header.Authorization", []string{"Bearer foo"}).
		AssertPathPayload("header.X-Custom", []string{"a", "b"}).
		AssertPathPayload("header.Cookie", []string{"session=abc"}).
		AssertPathPayload("header.Upgrade", []string{"websocket"}).
		AssertPathPayload("header.Sec-Websocket-Version", []string{"13"}).
		AssertPathMissing("isHttp")
	remote, _ := req.PathPayload("remoteAddr").(string)
	if !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(remote) {
		t.Fatalf("expected remoteAddr 127.0.0.1:<port>, got %q", remote)
	}
	if remote != c.LocalAddr() {
		t.Fatalf("expected remoteAddr %s (the client's address), got %s", c.LocalAddr(), remote)
	}
	req.RespondSuccess(nil)
	creq.GetResponse().AssertResult(rqRaw(`{"payload":null}`))
}

// TestAuth_TokenEventBeforeResponse covers the usual login: the service
// sets the token with a connection event, then replies. Requests after the
// reply carry the token.
func TestAuth_TokenEventBeforeResponse(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	token := map[string]any{"user": "admin"}

	creq := c.Request("auth.auth.login", rqRaw(`{"password":"secret"}`))
	req := s.GetRequest().AssertSubject("auth.auth.login").AssertPathPayload("token", nil)
	cid := req.PathPayload("cid").(string)
	s.ConnEvent(cid, "token", map[string]any{"token": token})
	req.RespondSuccess(nil)
	creq.GetResponse().AssertResult(rqRaw(`{"payload":null}`))

	creq = c.Request("auth.auth.whoami", nil)
	s.GetRequest().AssertSubject("auth.auth.whoami").
		AssertPathPayload("token", token).
		AssertPathPayload("cid", cid).
		RespondSuccess("admin")
	creq.GetResponse().AssertResult(rqRaw(`{"payload":"admin"}`))

	creq = c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").AssertPathPayload("token", token).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").AssertPayload(map[string]any{}).RespondModel(rqRaw(rqModel))
	creq.GetResponse().AssertResult(rqRaw(`{"models":{"test.model":` + rqModel + `}}`))
}

// TestAuth_WithResourceResponse covers an auth answered with a resource:
// like a call, the client is subscribed and gets it in the reply.
func TestAuth_WithResourceResponse(t *testing.T) {
	tbl := []struct {
		name     string
		access   any
		expected any
	}{
		{"readable", rqRaw(`{"get":true}`), rqRaw(`{"rid":"test.model","models":{"test.model":` + rqModel + `}}`)},
		{"denied", rqRaw(`{"get":false}`), rqRaw(`{"rid":"test.model","errors":{"test.model":{"code":"system.accessDenied","message":"Access denied"}}}`)},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := rqConnect(s)
			creq := c.Request("auth.test.user.login", nil)
			s.GetRequest().AssertSubject("auth.test.user.login").RespondResource("test.model")
			reqs := s.GetRequests(2)
			reqs.BySubject(t, "access.test.model").RespondSuccess(l.access)
			reqs.BySubject(t, "get.test.model").RespondModel(rqRaw(rqModel))
			creq.GetResponse().AssertResult(l.expected)
			rqAssertSubscribed(t, c, "test.model", l.name == "readable")
		})
	}
}

// TestAuth_LegacyClient covers a client without a version request: raw
// results and {"rid"} for a resource response, without a subscription.
func TestAuth_LegacyClient(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()

	creq := c.Request("auth.test.model.method", nil)
	s.GetRequest().AssertSubject("auth.test.model.method").RespondSuccess(rqFooBar)
	creq.GetResponse().AssertResult(rqFooBar)

	creq = c.Request("auth.test.model.method", nil)
	s.GetRequest().AssertSubject("auth.test.model.method").RespondResource("test.model")
	creq.GetResponse().AssertResult(rqRaw(`{"rid":"test.model"}`))
	s.AssertNoRequest()
}

// TestAuth_WithCIDPlaceholder covers {cid} in the RID of an auth request.
func TestAuth_WithCIDPlaceholder(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	cid := c.CID()
	params := rqRaw(`{"foo":"bar"}`)

	creq := c.Request("auth.test.{cid}.model.method", params)
	s.GetRequest().AssertSubject("auth.test."+cid+".model.method").
		AssertPathPayload("params", params).
		AssertPathPayload("cid", cid).
		RespondSuccess("zoo")
	creq.GetResponse().AssertResult(rqRaw(`{"payload":"zoo"}`))
}

// TestAuth_LongSubject covers auth requests whose subject is too long.
func TestAuth_LongSubject(t *testing.T) {
	long := strings.Repeat("a", 10000)
	for _, method := range []string{"auth.test." + long, "auth.test." + long + ".method"} {
		s := restest.Start(t)
		c := rqConnect(s)
		c.Request(method, nil).GetResponse().AssertErrorEqual(resproto.ErrSubjectTooLong)
		s.AssertNoRequest()
	}
}
