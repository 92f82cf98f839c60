package edge

import (
	"reflect"
	"testing"
	"time"

	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/schema"
)

// TestHTTPConfig: an http listener's configuration maps to the listener
// server's.
func TestHTTPConfig(t *testing.T) {
	limits := schema.Default().Engine.Limits
	base := func() listeners.HTTPConfig {
		return listeners.HTTPConfig{
			Name: "pub", WSPaths: []string{"/"}, APIPath: "/api/", APIEncoding: "json",
			MaxMessageSize: 4 << 20, WriteTimeout: 10 * time.Second, WriteQueue: 4096,
			MaxBodySize: 1 << 20, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20,
			PingInterval: 30 * time.Second, PongTimeout: 30 * time.Second,
		}
	}
	tests := []struct {
		name   string
		change func(l *schema.Listener)
		want   func(c *listeners.HTTPConfig)
	}{
		{"defaults", func(l *schema.Listener) {}, func(c *listeners.HTTPConfig) {}},
		{"methods and encoding", func(l *schema.Listener) {
			l.APIPath, l.APIEncoding = "/v1/", "jsonflat"
			l.PutMethod, l.DeleteMethod, l.PatchMethod = "set", "remove", "update"
		}, func(c *listeners.HTTPConfig) {
			c.APIPath, c.APIEncoding = "/v1/", "jsonflat"
			c.PutMethod, c.DeleteMethod, c.PatchMethod = "set", "remove", "update"
		}},
		{"auth methods split at the last dot", func(l *schema.Listener) {
			l.HeaderAuth, l.WSHeaderAuth = "auth.session.header", "auth.ws"
		}, func(c *listeners.HTTPConfig) {
			c.HeaderAuth = &listeners.AuthMethod{RID: "auth.session", Method: "header"}
			c.WSHeaderAuth = &listeners.AuthMethod{RID: "auth", Method: "ws"}
		}},
		{"origins lower-cased and sorted", func(l *schema.Listener) {
			l.AllowOrigin = []string{"https://B.example", "http://a.example:8080"}
		}, func(c *listeners.HTTPConfig) { c.AllowOrigin = []string{"http://a.example:8080", "https://b.example"} }},
		{"paths, resources, compression, cap", func(l *schema.Listener) {
			l.WSPaths, l.Resources, l.WSCompression, l.MaxConnections = []string{"/ws", "/v2"}, []string{"a.>", "b.*"}, true, 10
		}, func(c *listeners.HTTPConfig) {
			c.WSPaths, c.Resources, c.WSCompression, c.MaxConnections = []string{"/ws", "/v2"}, []string{"a.>", "b.*"}, true, 10
		}},
		{"no WebSocket", func(l *schema.Listener) { l.WSPaths = []string{} }, func(c *listeners.HTTPConfig) { c.WSPaths, c.NoWebSocket = []string{}, true }},
		{"no API", func(l *schema.Listener) { l.APIPath = "" }, func(c *listeners.HTTPConfig) { c.APIPath, c.NoAPI = "", true }},
	}
	for _, tt := range tests {
		l := schema.DefaultListener("pub", ":1")
		tt.change(l)
		got, err := httpConfig("pub", l, limits, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := base()
		tt.want(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, want)
		}
	}
}

// TestSpecs: what makes two listeners the same for a reload.
func TestSpecs(t *testing.T) {
	tlsFiles := &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}
	cfg := func(change func(c *schema.Config)) *schema.Config {
		c := schema.Default()
		c.TLS = map[string]*schema.TLS{"main": {CertFile: "c.pem", KeyFile: "k.pem"}}
		pub := schema.DefaultListener("pub", ":8443")
		pub.TLS = &schema.TLSRef{Name: "main"}
		c.Listeners["pub"] = pub
		c.Listeners["redir"] = &schema.Listener{Name: "redir", Kind: schema.KindRedirect, Address: ":8080", RedirectTo: "pub"}
		change(c)
		return c
	}
	tests := []struct {
		name    string
		change  func(c *schema.Config)
		changed []string
	}{
		{"nothing", func(c *schema.Config) {}, nil},
		{"named TLS written inline", func(c *schema.Config) { c.Listeners["pub"].TLS = &schema.TLSRef{Inline: tlsFiles} }, nil},
		{"named TLS changed", func(c *schema.Config) { c.TLS["main"].CertFile = "new.pem" }, []string{"pub"}},
		{"HTTPS port moved: the redirect changes", func(c *schema.Config) {
			c.Listeners["pub"].Address, c.Listeners["redir"].Address = ":9443", ":8081"
		}, []string{"pub", "redir"}},
		{"engine limits", func(c *schema.Config) { c.Engine.Limits.WriteQueue = 1 }, []string{"default", "pub"}},
	}
	before := specsOf(cfg(func(*schema.Config) {}))
	for _, tt := range tests {
		after := specsOf(cfg(tt.change))
		var changed []string
		for _, name := range sortedKeys(after) {
			if !reflect.DeepEqual(before[name], after[name]) {
				changed = append(changed, name)
			}
		}
		if !reflect.DeepEqual(changed, tt.changed) {
			t.Errorf("%s: changed %v, want %v", tt.name, changed, tt.changed)
		}
	}
}
