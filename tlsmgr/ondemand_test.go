package tlsmgr

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestOnDemandPolicy: a name gets an on-demand certificate if it is
// configured, on the allow-list, or approved by the ask URL; the ask URL
// is asked only about other names.
func TestOnDemandPolicy(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("domain")
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		if strings.HasSuffix(d, ".customer.example") {
			return // 200
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer ask.Close()
	log, _ := testLogger(t)
	tests := []struct {
		name    string
		allow   []string
		ask     string
		host    string
		allowed bool
		asked   bool
	}{
		{"configured domain", nil, "", "rt.example", true, false},
		{"exact allow", []string{"a.example"}, "", "a.example", true, false},
		{"wildcard allow, one label", []string{"*.tenants.example"}, "", "acme.tenants.example", true, false},
		{"wildcard allow, case-insensitive", []string{"*.Tenants.example"}, "", "ACME.tenants.example", true, false},
		{"wildcard allow, two labels", []string{"*.tenants.example"}, "", "a.b.tenants.example", false, false},
		{"wildcard allow, the base name", []string{"*.tenants.example"}, "", "tenants.example", false, false},
		{"not allowed", []string{"a.example"}, "", "evil.example", false, false},
		{"ask approves", []string{"a.example"}, ask.URL + "/check?token=x", "shop.customer.example", true, true},
		{"ask refuses", nil, ask.URL + "/check", "evil.example", false, true},
		{"ask unreachable", nil, "http://127.0.0.1:1/check", "shop.customer.example", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			asked = nil
			mu.Unlock()
			p := &policy{allow: tt.allow, ask: tt.ask, client: http.DefaultClient, log: log,
				managed: func(n string) bool { return n == "rt.example" }}
			err := p.decide(context.Background(), tt.host)
			if (err == nil) != tt.allowed {
				t.Errorf("decide(%q) = %v, want allowed=%v", tt.host, err, tt.allowed)
			}
			mu.Lock()
			defer mu.Unlock()
			if (len(asked) > 0) != tt.asked || (tt.asked && asked[0] != strings.ToLower(tt.host)) {
				t.Errorf("asked about %v, want asked=%v", asked, tt.asked)
			}
		})
	}
}
