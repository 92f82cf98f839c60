package e2e

import (
	"net/http"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// A listener's resource patterns deny requests for other resources before
// any service is asked, over WebSocket and HTTP alike.
func TestResourcePatterns_DenyOutsidePatterns(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) {
		c.Resources = []string{"tenant1.>", "shared.*.public"}
	}))
	c := s.Connect()
	c.Version("1.2.3")

	denied := []string{
		"subscribe.tenant2.model",
		"get.tenant2.model",
		"call.tenant2.model.set",
		"auth.tenant2.login.in",
		"new.tenant2.items",
		"subscribe.shared.x.private",
		"subscribe.tenant1",
	}
	for _, m := range denied {
		c.Request(m, nil).GetResponse().AssertError(resproto.CodeAccessDenied)
	}
	s.AssertNoRequest()

	// Allowed resources reach the service as usual; references to
	// resources outside the patterns are followed.
	creq := c.Request("subscribe.tenant1.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.tenant1.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.tenant1.model").RespondModel(map[string]any{"ref": map[string]any{"rid": "other.model"}})
	s.GetRequest().AssertSubject("get.other.model").RespondModel(map[string]any{"x": 1})
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{
		"tenant1.model": map[string]any{"ref": map[string]any{"rid": "other.model"}},
		"other.model":   map[string]any{"x": 1},
	}})
	creq = c.Request("subscribe.shared.x.public", nil)
	reqs = s.GetRequests(2)
	reqs.BySubject(t, "access.shared.x.public").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.shared.x.public").RespondModel(map[string]any{})
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{"shared.x.public": map[string]any{}}})

	// Over HTTP the denial is a 401, as any access denial.
	resp, err := http.Get("http://" + s.Addr + "/api/tenant2/model")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET outside the patterns: expected 401, got %d", resp.StatusCode)
	}
	s.AssertNoRequest()
}

func TestResourcePatterns_InvalidPatternRefused(t *testing.T) {
	s := restest.Start(t)
	if _, err := listeners.NewHTTP(s.Engine, listeners.HTTPConfig{Resources: []string{"a.*", "b.>"}}); err != nil {
		t.Fatalf("valid patterns: %v", err)
	}
	for _, p := range []string{"", "a..b", "a.>.b", "a b"} {
		if _, err := listeners.NewHTTP(s.Engine, listeners.HTTPConfig{Resources: []string{p}}); err == nil {
			t.Errorf("pattern %q: expected an error", p)
		}
	}
}
