package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// TestSecrets_NotInTrace runs, with every client and NATS message traced,
// a flow that carries every kind of secret a gateway handles: WebSocket
// upgrade cookies and authorization headers (sent to services in auth
// requests), a password in an auth request's params, a token set by a
// token event (and then sent in access requests), a token returned in an
// auth result, and an HTTP API request with an authorization header (sent
// to the headerAuth method). None of the secrets may appear in the log,
// while the trace itself is there.
func TestSecrets_NotInTrace(t *testing.T) {
	secrets := map[string]string{
		"cookie":        "COOKIE-s3cr3t",
		"authorization": "AUTHZ-s3cr3t",
		"password":      "PASSWORD-s3cr3t",
		"token":         "TOKEN-s3cr3t",
		"refresh token": "REFRESH-s3cr3t",
		"API key":       "APIKEY-s3cr3t",
		"HTTP auth":     "HTTPAUTH-s3cr3t",
		"query token":   "QUERY-s3cr3t",
	}
	s := restest.Start(t,
		restest.WithEngine(func(c *resproto.Config) { c.Trace = true }),
		restest.WithHTTP(func(c *listeners.HTTPConfig) {
			c.HeaderAuth = &listeners.AuthMethod{RID: "test", Method: "header"}
			c.WSHeaderAuth = &listeners.AuthMethod{RID: "test", Method: "wsheader"}
		}))

	// The upgrade waits for the wsHeaderAuth request, whose uri carries the
	// token a browser client put in the query string.
	done := make(chan *restest.Client)
	go func() {
		done <- s.ConnectWith(http.Header{
			"Cookie":        {"session=" + secrets["cookie"]},
			"Authorization": {"Bearer " + secrets["authorization"]},
			"X-Api-Key":     {secrets["API key"]},
		}, "/?lang=en&access_token="+secrets["query token"])
	}()
	s.GetRequest().AssertSubject("auth.test.wsheader").
		AssertPathPayload("uri", "/?lang=en&access_token="+secrets["query token"]).
		RespondSuccess(nil)
	c := <-done
	c.Version("1.2.3")

	// Auth with a password; the service sets a token and returns a
	// refresh token.
	req := c.Request("auth.test.login", map[string]any{"user": "bob", "password": secrets["password"]})
	r := s.GetRequest().AssertSubject("auth.test.login")
	s.ConnEvent(r.PathPayload("cid").(string), "token", map[string]any{"token": map[string]any{"user": "bob", "key": secrets["token"]}, "tid": "t1"})
	r.RespondSuccess(map[string]any{"refreshToken": secrets["refresh token"]})
	req.GetResponse()

	// A subscription: its access request carries the token.
	req = c.Request("subscribe.test.model", nil)
	rs := s.GetRequests(2)
	rs.BySubject(t, "access.test.model").AssertPathPayload("token.key", secrets["token"]).RespondSuccess(map[string]any{"get": true})
	rs.BySubject(t, "get.test.model").RespondSuccess(map[string]any{"model": map[string]any{"name": "bob"}})
	req.GetResponse()

	// An HTTP API request, authenticated by header.
	hreq := s.HTTPRequest("GET", "/api/test/model", nil, http.Header{"Authorization": {"Basic " + secrets["HTTP auth"]}})
	s.GetRequest().AssertSubject("auth.test.header").AssertPathPayload("header.Authorization", []any{"Basic " + secrets["HTTP auth"]}).
		RespondSuccess(nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(map[string]any{"get": true})
	hreq.GetResponse().AssertStatus(http.StatusOK)

	logs := s.Logs.String()
	for _, want := range []string{`--> {\"id\":2,\"method\":\"auth.test.login\",\"params\":\"[redacted]\"}`, "<== ", "=>> conn.", "[redacted]", "bob", `/?lang=en&access_token=[redacted]`} {
		if !strings.Contains(logs, want) {
			t.Errorf("trace lacks %q:\n%s", want, logs)
		}
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("%s in the log: %s", what, line)
				}
			}
		}
	}
}
