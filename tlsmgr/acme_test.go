package tlsmgr

import (
	"crypto/tls"
	"testing"

	"github.com/resedge/resedge/schema"
)

func TestDefaultServerName(t *testing.T) {
	tests := []struct {
		name string
		acme schema.ACME
		want string
	}{
		{"first domain", schema.ACME{Domains: []string{"A.example.com", "b.example.com"}}, "a.example.com"},
		{"wildcards skipped", schema.ACME{Domains: []string{"*.example.com", "b.example.com"}}, "b.example.com"},
		{"only wildcards", schema.ACME{Domains: []string{"*.example.com"}}, ""},
		{"on demand only", schema.ACME{OnDemand: &schema.OnDemand{Allow: []string{"x.example.com"}}}, ""},
		{"configured", schema.ACME{Domains: []string{"a.example.com"}, DefaultServerName: "X.example.com"}, "x.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultServerName(&tt.acme); got != tt.want {
				t.Errorf("defaultServerName = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWithDefaultServerName: only a ClientHello without a server name is
// given the default, and the caller's hello is not changed.
func TestWithDefaultServerName(t *testing.T) {
	var asked []string
	get := func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		asked = append(asked, h.ServerName)
		return nil, nil
	}
	wrapped := withDefaultServerName(get, "default.example.com")
	empty := &tls.ClientHelloInfo{}
	wrapped(empty)
	wrapped(&tls.ClientHelloInfo{ServerName: "other.example.com"})
	if want := []string{"default.example.com", "other.example.com"}; len(asked) != 2 || asked[0] != want[0] || asked[1] != want[1] {
		t.Errorf("asked for %v, want %v", asked, want)
	}
	if empty.ServerName != "" {
		t.Errorf("the caller's ClientHello was changed: %q", empty.ServerName)
	}
	asked = nil
	withDefaultServerName(get, "")(&tls.ClientHelloInfo{})
	if len(asked) != 1 || asked[0] != "" {
		t.Errorf("without a default: asked for %v, want [\"\"]", asked)
	}
}
