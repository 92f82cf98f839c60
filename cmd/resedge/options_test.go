package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/schema"
)

// load parses args as the run command does and loads the configuration
// (without environment variables), returning the warnings written.
func load(args []string) (*schema.Config, string, error) {
	var warnings bytes.Buffer
	cl, err := parseCommandLine(args)
	if err != nil {
		return nil, "", err
	}
	cfg, err := loadConfig(cl, nil, func(s string) { warnings.WriteString(s + "\n") })
	return cfg, warnings.String(), err
}

// defaultConfig returns what an empty command line loads.
func defaultConfig(t *testing.T) *schema.Config {
	t.Helper()
	c, _, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ms(n int) schema.Duration { return schema.Duration(time.Duration(n) * time.Millisecond) }

// TestParseCommandLine: every Resgate flag, short and long, with one and
// two dashes, means what it means to Resgate; the resulting configuration
// is checked whole.
func TestParseCommandLine(t *testing.T) {
	def := func(c *schema.Config) *schema.Listener { return c.Listeners["default"] }
	tests := []struct {
		name string
		args []string
		// want modifies the default configuration into the expected one.
		// Nil means an error is expected.
		want func(c *schema.Config)
		// errIs, errText and usage describe the expected error.
		errIs   error
		errText string
		usage   bool
		// warning is text expected in the warnings.
		warning string
	}{
		{name: "defaults", args: nil, want: func(c *schema.Config) {}},

		{name: "nats short", args: []string{"-n", "nats://a:4222"}, want: func(c *schema.Config) { c.NATS.URLs = []string{"nats://a:4222"} }},
		{name: "nats long list", args: []string{"--nats=nats://a:4222,nats://b:4222"}, want: func(c *schema.Config) { c.NATS.URLs = []string{"nats://a:4222", "nats://b:4222"} }},
		{name: "addr short", args: []string{"-i", "127.0.0.1"}, want: func(c *schema.Config) { def(c).Address = "127.0.0.1:8080" }},
		{name: "addr long ipv6", args: []string{"--addr", "::1"}, want: func(c *schema.Config) { def(c).Address = "[::1]:8080" }},
		{name: "addr empty means all interfaces", args: []string{"-addr="}, want: func(c *schema.Config) { def(c).Address = ":8080" }},
		{name: "port short", args: []string{"-p", "9000"}, want: func(c *schema.Config) { def(c).Address = "0.0.0.0:9000" }},
		{name: "port long", args: []string{"--port", "65535"}, want: func(c *schema.Config) { def(c).Address = "0.0.0.0:65535" }},
		{name: "port zero keeps default", args: []string{"-p", "0"}, want: func(c *schema.Config) {}},
		{name: "wspath", args: []string{"-w", "/ws"}, want: func(c *schema.Config) { def(c).WSPaths = []string{"/ws"} }},
		{name: "wspath long", args: []string{"--wspath", "/ws/"}, want: func(c *schema.Config) { def(c).WSPaths = []string{"/ws/"} }},
		{name: "apipath gets trailing slash", args: []string{"-a", "/res"}, want: func(c *schema.Config) { def(c).APIPath = "/res/" }},
		{name: "apipath long", args: []string{"--apipath", "/"}, want: func(c *schema.Config) { def(c).APIPath = "/" }},
		{name: "reqtimeout ms", args: []string{"-r", "2500"}, want: func(c *schema.Config) { c.NATS.RequestTimeout = ms(2500) }},
		{name: "reqtimeout 11 is ms", args: []string{"--reqtimeout", "11"}, want: func(c *schema.Config) { c.NATS.RequestTimeout = ms(11) }},
		{name: "reqtimeout seconds", args: []string{"-r", "5"}, want: func(c *schema.Config) { c.NATS.RequestTimeout = ms(5000) }, warning: "[DEPRECATED] Request timeout should be in milliseconds.\nChange your requestTimeout from 5 to 5000"},
		{name: "reqtimeout 10 is seconds", args: []string{"--reqtimeout=10"}, want: func(c *schema.Config) { c.NATS.RequestTimeout = ms(10000) }, warning: "[DEPRECATED]"},
		{name: "reqtimeout negative", args: []string{"-r", "-1"}, errText: "invalid request timeout -1"},
		{name: "headauth", args: []string{"-u", "auth.user.login"}, want: func(c *schema.Config) { def(c).HeaderAuth = "auth.user.login" }},
		{name: "headauth long", args: []string{"--headauth", "auth.login"}, want: func(c *schema.Config) { def(c).HeaderAuth = "auth.login" }},
		{name: "headauth empty is unset", args: []string{"-u", ""}, want: func(c *schema.Config) {}},
		{name: "headauth no dot", args: []string{"-u", "login"}, errText: `flag --headauth: listeners.default.headerAuth: invalid resource method "login"`},
		{name: "headauth query", args: []string{"-u", "auth.user?q=1.login"}, errText: "invalid resource method"},
		{name: "headauth empty part", args: []string{"-u", "auth..login"}, errText: "invalid resource method"},
		{name: "headauth trailing dot", args: []string{"-u", "auth.user."}, errText: "invalid resource method"},
		{name: "headauth wildcard", args: []string{"-u", "auth.*.login"}, errText: "invalid resource method"},
		{name: "wsheadauth", args: []string{"-t", "auth.ws.connect"}, want: func(c *schema.Config) { def(c).WSHeaderAuth = "auth.ws.connect" }},
		{name: "wsheadauth long invalid", args: []string{"--wsheadauth", "connect"}, errText: `flag --wsheadauth: listeners.default.wsHeaderAuth: invalid resource method "connect"`},
		{name: "metricsport", args: []string{"-m", "8090"}, want: func(c *schema.Config) {
			c.Listeners["metrics"] = &schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "0.0.0.0:8090"}
		}},
		{name: "metricsport long, with addr", args: []string{"--metricsport", "9100", "-i", "127.0.0.1"}, want: func(c *schema.Config) {
			def(c).Address = "127.0.0.1:8080"
			c.Listeners["metrics"] = &schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "127.0.0.1:9100"}
		}},
		{name: "metricsport equals port", args: []string{"-m", "8080"}, errText: `metrics port 8080 must be different from the API port of listener "default"`},
		{name: "metricsport equals custom port", args: []string{"-p", "9000", "-m", "9000"}, errText: "metrics port 9000 must be different"},
		{name: "apiencoding", args: []string{"--apiencoding", "jsonflat"}, want: func(c *schema.Config) { def(c).APIEncoding = "jsonflat" }},
		{name: "apiencoding case-insensitive", args: []string{"-apiencoding", "JSONFlat"}, want: func(c *schema.Config) { def(c).APIEncoding = "jsonflat" }},
		{name: "apiencoding invalid", args: []string{"--apiencoding", "xml"}, errText: `listeners.default.apiEncoding: must be one of "json", "jsonflat", got "xml"`},
		{name: "putmethod", args: []string{"--putmethod", "set"}, want: func(c *schema.Config) { def(c).PutMethod = "set" }},
		{name: "deletemethod", args: []string{"--deletemethod", "delete"}, want: func(c *schema.Config) { def(c).DeleteMethod = "delete" }},
		{name: "patchmethod", args: []string{"-patchmethod", "patch"}, want: func(c *schema.Config) { def(c).PatchMethod = "patch" }},
		{name: "putmethod with dot", args: []string{"--putmethod", "a.b"}, errText: `invalid call method name "a.b"`},
		{name: "deletemethod with query", args: []string{"--deletemethod", "del?x"}, errText: "invalid call method name"},
		{name: "patchmethod with space", args: []string{"--patchmethod", "pa tch"}, errText: "invalid call method name"},
		{name: "wscompression", args: []string{"--wscompression"}, want: func(c *schema.Config) { def(c).WSCompression = true }},
		{name: "resetthrottle", args: []string{"--resetthrottle", "10"}, want: func(c *schema.Config) { c.Engine.ResetThrottle = 10 }},
		{name: "referencethrottle", args: []string{"-referencethrottle", "5"}, want: func(c *schema.Config) { c.Engine.ReferenceThrottle = 5 }},
		{name: "tls", args: []string{"--tls", "--tlscert", "c.pem", "--tlskey", "k.pem"}, want: func(c *schema.Config) {
			def(c).TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}
		}},
		{name: "tls with metricsport: metrics over TLS too, as Resgate", args: []string{"--tls", "--tlscert", "c.pem", "--tlskey", "k.pem", "-m", "9100"}, want: func(c *schema.Config) {
			def(c).TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}
			c.Listeners["metrics"] = &schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "0.0.0.0:9100",
				TLS: &schema.TLSRef{Inline: &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}}
		}},
		{name: "tls without cert", args: []string{"--tls", "--tlskey", "k.pem"}, errText: "missing certFile"},
		{name: "tls without key", args: []string{"--tls", "--tlscert", "c.pem"}, errText: "missing keyFile"},
		{name: "tls files without tls", args: []string{"--tlscert", "c.pem"}, want: func(c *schema.Config) {}},
		{name: "creds", args: []string{"--creds", "user.creds"}, want: func(c *schema.Config) { c.NATS.Creds = "user.creds" }},
		{name: "nats client cert", args: []string{"--natscert", "c.pem", "--natskey", "k.pem"}, want: func(c *schema.Config) {
			c.NATS.Cert, c.NATS.Key = "c.pem", "k.pem"
		}},
		{name: "natscert without natskey", args: []string{"--natscert", "c.pem"}, errText: "nats: missing key (cert is set)"},
		{name: "natskey without natscert", args: []string{"--natskey", "k.pem"}, errText: "nats: missing cert (key is set)"},
		{name: "natsrootca repeated", args: []string{"--natsrootca", "a.pem", "-natsrootca", "b.pem"}, want: func(c *schema.Config) {
			c.NATS.RootCAs = []string{"a.pem", "b.pem"}
		}},
		{name: "alloworigin", args: []string{"--alloworigin", "http://a.com"}, want: func(c *schema.Config) { def(c).AllowOrigin = []string{"http://a.com"} }},
		{name: "alloworigin repeated", args: []string{"--alloworigin", "http://a.com", "--alloworigin", "https://b.com:8443"}, want: func(c *schema.Config) {
			def(c).AllowOrigin = []string{"http://a.com", "https://b.com:8443"}
		}},
		{name: "alloworigin list", args: []string{"--alloworigin", "https://B.com;http://a.com"}, want: func(c *schema.Config) {
			def(c).AllowOrigin = []string{"http://a.com", "https://b.com"}
		}},
		{name: "debug", args: []string{"-D"}, want: func(c *schema.Config) { c.Log.Level = "debug" }},
		{name: "debug long", args: []string{"--debug"}, want: func(c *schema.Config) { c.Log.Level = "debug" }},
		{name: "trace", args: []string{"-V"}, want: func(c *schema.Config) { c.Log.Trace = true }},
		{name: "trace long", args: []string{"--trace"}, want: func(c *schema.Config) { c.Log.Trace = true }},
		{name: "debug and trace", args: []string{"-DV"}, want: func(c *schema.Config) { c.Log.Level, c.Log.Trace = "debug", true }},
		{name: "debug and trace double dash", args: []string{"--DV"}, want: func(c *schema.Config) { c.Log.Level, c.Log.Trace = "debug", true }},
		{name: "logformat json", args: []string{"--logformat", "json"}, want: func(c *schema.Config) { c.Log.Format = "json" }},
		{name: "logformat text", args: []string{"--logformat", "text"}, want: func(c *schema.Config) { c.Log.Format = "text" }},
		{name: "logformat invalid", args: []string{"--logformat", "xml"}, errText: `log.format: must be one of "auto", "text", "json", "tint", got "xml"`},

		// Config key paths as flags.
		{name: "key path with =", args: []string{"-p", "8080", "--listeners.default.maxConnections=5"}, want: func(c *schema.Config) { def(c).MaxConnections = 5 }},
		// A listener configured by key paths is the whole list: without
		// one, there is no default listener.
		{name: "key path on no listener", args: []string{"--listeners.default.maxConnections=5"}, errText: `listeners.default: missing required key "address"`},
		{name: "key path with value after", args: []string{"--nats.urls", "nats://x:4222", "-p", "9000"}, want: func(c *schema.Config) {
			c.NATS.URLs = []string{"nats://x:4222"}
			def(c).Address = "0.0.0.0:9000"
		}},
		{name: "key path adds a listener", args: []string{"-listeners.extra.address=127.0.0.1:9001"}, want: func(c *schema.Config) {
			c.Listeners = map[string]*schema.Listener{"extra": schema.DefaultListener("extra", "127.0.0.1:9001")}
		}},
		{name: "key path unknown", args: []string{"--listeners.default.wspath=/x"}, errText: `flag --listeners.default.wspath: unknown key (did you mean "--listeners.default.wsPaths"?)`},
		{name: "key path without value", args: []string{"--nats.urls"}, errText: "flag needs an argument: -nats.urls", usage: true},

		// Help, version and command line errors.
		{name: "help short", args: []string{"-h"}, errIs: errHelp},
		{name: "help long", args: []string{"--help"}, errIs: errHelp},
		{name: "version short", args: []string{"-v"}, errIs: errVersion},
		{name: "version long", args: []string{"--version"}, errIs: errVersion},
		{name: "help wins over version", args: []string{"-v", "-h"}, errIs: errHelp},
		{name: "unknown flag", args: []string{"--bogus"}, errText: "Error parsing command arguments: flag provided but not defined: -bogus", usage: true},
		{name: "bad int", args: []string{"-p", "http"}, errText: "Error parsing command arguments", usage: true},
		{name: "missing value", args: []string{"-n"}, errText: "flag needs an argument", usage: true},
		{name: "positional argument", args: []string{"-p", "9000", "serve"}, errText: `unexpected argument "serve"`, usage: true},
		{name: "port too large", args: []string{"-p", "65536"}, errText: `Invalid port "65536": must be less than 65536`, usage: true},
		{name: "metricsport too large", args: []string{"--metricsport", "70000"}, errText: `Invalid metrics port "70000"`, usage: true},
		{name: "invalid addr", args: []string{"-i", "localhost"}, errText: `flag --addr: invalid addr "localhost": must be a valid IPv4 or IPv6 address`},
		{name: "bracketed ipv6 addr", args: []string{"-i", "[::1]"}, errText: "invalid addr"},
		{name: "every problem at once", args: []string{"-i", "localhost", "--apiencoding", "xml", "-u", "x"}, errText: "flag --addr: invalid addr \"localhost\": must be a valid IPv4 or IPv6 address\nflag --apiencoding"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := load(tt.args)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("want an error, got %s", dump(got))
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Fatalf("error = %v, want %v", err, tt.errIs)
				}
				if tt.errText != "" && !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error = %q, want it to contain %q", err, tt.errText)
				}
				var ue *usageError
				if errors.As(err, &ue) != tt.usage {
					t.Fatalf("error %q: usage error = %v, want %v", err, !tt.usage, tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := defaultConfig(t)
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config mismatch\n got: %s\nwant: %s", dump(got), dump(want))
			}
			if tt.warning != "" && !strings.Contains(warnings, tt.warning) {
				t.Errorf("warnings = %q, want them to contain %q", warnings, tt.warning)
			}
			if tt.warning == "" && warnings != "" {
				t.Errorf("unexpected warnings %q", warnings)
			}
		})
	}
}

// dump formats a configuration, with its listeners' names, for failure
// messages.
func dump(c *schema.Config) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// TestResgateConfigFile: a Resgate config file given with -c loads as
// Resgate reads it, flags override it, and mistakes are located in it.
func TestResgateConfigFile(t *testing.T) {
	const fileJSON = `{
	"natsUrl": "nats://file:4222",
	"natsCreds": "file.creds",
	"natsRootCAs": ["ca1.pem", "ca2.pem"],
	"requestTimeout": 4000,
	"bufferSize": 100,
	"debug": true,
	"addr": "127.0.0.1",
	"port": 9090,
	"wsPath": "/ws",
	"apiPath": "/api",
	"apiEncoding": "JSONFLAT",
	"headerAuth": "auth.http.login",
	"metricsPort": 9091,
	"allowOrigin": "https://example.com",
	"putMethod": "put",
	"wsCompression": true,
	"resetThrottle": 3,
	"referenceThrottle": 4
}`
	fileValues := func(c *schema.Config) {
		c.NATS.URLs, c.NATS.Creds = []string{"nats://file:4222"}, "file.creds"
		c.NATS.RootCAs = []string{"ca1.pem", "ca2.pem"}
		c.NATS.RequestTimeout, c.NATS.BufferSize, c.Log.Level = ms(4000), 100, "debug"
		d := c.Listeners["default"]
		d.Address, d.WSPaths, d.APIPath, d.APIEncoding = "127.0.0.1:9090", []string{"/ws"}, "/api/", "jsonflat"
		d.HeaderAuth, d.AllowOrigin, d.PutMethod, d.WSCompression = "auth.http.login", []string{"https://example.com"}, "put", true
		c.Listeners["metrics"] = &schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "127.0.0.1:9091"}
		c.Engine.ResetThrottle, c.Engine.ReferenceThrottle = 3, 4
	}
	tests := []struct {
		name    string
		content string
		args    []string
		want    func(c *schema.Config)
		errText string
	}{
		{name: "file values", content: fileJSON, want: fileValues},
		{
			name:    "flags override file",
			content: fileJSON,
			args:    []string{"-n", "nats://flag:4222", "-p", "7000", "--natsrootca", "flag.pem", "--debug=false", "-u", "", "-i", "", "--alloworigin", "*"},
			want: func(c *schema.Config) {
				fileValues(c)
				c.NATS.URLs, c.NATS.RootCAs, c.Log.Level = []string{"nats://flag:4222"}, []string{"flag.pem"}, "info"
				d := c.Listeners["default"]
				d.Address, d.HeaderAuth, d.AllowOrigin = ":7000", "", []string{"*"}
				c.Listeners["metrics"].Address = ":9091"
			},
		},
		{name: "seconds timeout in file", content: `{"requestTimeout": 2}`, want: func(c *schema.Config) { c.NATS.RequestTimeout = ms(2000) }},
		{name: "null pointers use defaults", content: `{"addr": null, "allowOrigin": null, "headerAuth": null}`, want: func(c *schema.Config) {}},
		{name: "empty natsUrl means embedded", content: `{"natsUrl": ""}`, want: func(c *schema.Config) {}},
		{name: "syntax error", content: "{\n\t\"port\": 80,\n\t\"addr\": ,\n}", errText: "config.json:3"},
		{name: "type error", content: `{"port": "80"}`, errText: "config.json:1: port"},
		{name: "port out of range", content: `{"port": 70000}`, errText: "config.json:1: port"},
		{name: "invalid value in file", content: `{"wsHeaderAuth": "nodot"}`, errText: `config.json:1: wsHeaderAuth: invalid resource method "nodot"`},
		{name: "tls with metrics port in file: metrics over TLS too, as Resgate", content: `{"tls": true, "certFile": "c.pem", "keyFile": "k.pem", "metricsPort": 9100}`, want: func(c *schema.Config) {
			c.Listeners["default"].TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}
			c.Listeners["metrics"] = &schema.Listener{Name: "metrics", Kind: schema.KindMetrics, Address: "0.0.0.0:9100",
				TLS: &schema.TLSRef{Inline: &schema.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}}
		}},
		{name: "metrics port clash in file", content: `{"port": 9000, "metricsPort": 9000}`, errText: "metrics port 9000 must be different"},
		{name: "unknown key", content: `{"port": 9000, "prot": 1}`, errText: `config.json:1: prot: unknown key (did you mean "port"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, _, err := load(append([]string{"-c", path}, tt.args...))
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := defaultConfig(t)
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config mismatch\n got: %s\nwant: %s", dump(got), dump(want))
			}
		})
	}
}

// TestNativeConfigFile: --config takes resedge's own format (YAML, TOML,
// JSON), with flags and the environment over it.
func TestNativeConfigFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"c.yaml": "nats:\n  urls: [nats://y:4222]\nlisteners:\n  pub:\n    address: 127.0.0.1:9000\n    wsPaths: [/ws, /ws2]\n",
		"c.toml": "[nats]\nurls = [\"nats://y:4222\"]\n[listeners.pub]\naddress = \"127.0.0.1:9000\"\nwsPaths = [\"/ws\", \"/ws2\"]\n",
		"c.json": `{"nats": {"urls": ["nats://y:4222"]}, "listeners": {"pub": {"address": "127.0.0.1:9000", "wsPaths": ["/ws", "/ws2"]}}}`,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			cl, err := parseCommandLine([]string{"--config", path, "--alloworigin", "https://a.example", "--listeners.pub.maxConnections", "7"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(cl, []string{"RESEDGE_NATS_REQUESTTIMEOUT=5s", "HOME=/root"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := schema.DefaultListener("pub", "127.0.0.1:9000")
			want.WSPaths, want.AllowOrigin, want.MaxConnections = []string{"/ws", "/ws2"}, []string{"https://a.example"}, 7
			if len(c.Listeners) != 1 || !reflect.DeepEqual(c.Listeners["pub"], want) {
				t.Errorf("listeners = %s", dump(c))
			}
			if !reflect.DeepEqual(c.NATS.URLs, []string{"nats://y:4222"}) || c.NATS.RequestTimeout.D() != 5*time.Second {
				t.Errorf("nats = %+v", c.NATS)
			}
		})
	}
	// A missing YAML file is an error, not created.
	_, _, err := load([]string{"--config", filepath.Join(dir, "missing.yaml")})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error = %v", err)
	}
}

// TestResgateConfigFileCreated: -c with a missing JSON file creates it, as
// Resgate does, with every Resgate key.
func TestResgateConfigFileCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resedge.json")
	args := []string{"--config", path, "-p", "9000", "--alloworigin", "http://a.com", "--putmethod", "set", "-r", "4"}

	first, _, err := load(args)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("config file not created: %v", err)
	}
	// The file mode is 0664 less the umask; compare with a file created
	// the same way.
	ref := filepath.Join(dir, "ref")
	if err := os.WriteFile(ref, nil, 0o664); err != nil {
		t.Fatal(err)
	}
	refInfo, _ := os.Stat(ref)
	if fi.Mode().Perm() != refInfo.Mode().Perm() {
		t.Errorf("config file mode = %v, want %v", fi.Mode().Perm(), refInfo.Mode().Perm())
	}

	var keys map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatalf("written config is not JSON: %v\n%s", err, data)
	}
	for _, k := range []string{"natsUrl", "natsCreds", "natsCert", "natsKey", "natsRootCAs", "requestTimeout",
		"bufferSize", "debug", "trace", "addr", "port", "wsPath", "apiPath", "apiEncoding", "headerAuth",
		"wsHeaderAuth", "metricsPort", "allowOrigin", "putMethod", "deleteMethod", "patchMethod",
		"wsCompression", "resetThrottle", "referenceThrottle", "tls", "certFile", "keyFile"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("written config lacks key %q", k)
		}
	}
	if len(keys) != 27 {
		t.Errorf("written config has %d keys, want 27:\n%s", len(keys), data)
	}
	// As Resgate, the timeout is written as given (and read as seconds).
	if keys["natsUrl"] != "" || keys["port"] != float64(9000) || keys["allowOrigin"] != "http://a.com" || keys["requestTimeout"] != float64(4) {
		t.Errorf("written config does not hold the flag values:\n%s", data)
	}

	// Reading the file back without flags gives the same configuration.
	second, _, err := load([]string{"-c", path})
	if err != nil {
		t.Fatalf("re-reading the created config: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("re-read config differs\nfirst:  %s\nsecond: %s", dump(first), dump(second))
	}
}

func TestResgateConfigFileUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory cannot be read as a file
	_, _, err := load([]string{"-c", dir})
	if err == nil || !strings.Contains(err.Error(), "config file "+dir) {
		t.Fatalf("error = %v, want a load error naming %s", err, dir)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		t.Errorf("config file errors should not print usage")
	}
}

func TestUsageAndVersionOutput(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // expected in stdout
		stderr     string // expected in stderr
		noStdout   bool
		exactStdot bool
	}{
		{args: []string{"--version"}, stdout: "resedge  v" + Version + "\nprotocol v1.2.3\n", exactStdot: true},
		{args: []string{"version"}, stdout: "resedge  v" + Version + "\nprotocol v1.2.3\n", exactStdot: true},
		{args: []string{"run", "-v"}, stdout: "resedge  v" + Version + "\nprotocol v1.2.3\n", exactStdot: true},
		{args: []string{"-h"}, stdout: "Usage: resedge [options]"},
		{args: []string{"help"}, stdout: "resedge config validate FILE..."},
		{args: []string{"run", "--help"}, stdout: "--<key.path> <value>"},
		{args: []string{"--nope"}, code: 1, stderr: "-nope", noStdout: true},
		{args: []string{"serve"}, code: 1, stderr: `unknown command "serve"`, noStdout: true},
		{args: []string{"version", "x"}, code: 1, stderr: `unexpected argument "x"`, noStdout: true},
		{args: []string{"config"}, code: 1, stderr: "missing config command", noStdout: true},
		{args: []string{"config", "frob"}, code: 1, stderr: `unknown config command "frob"`, noStdout: true},
		{args: []string{"config", "validate"}, code: 1, stderr: "needs at least one FILE", noStdout: true},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tt.args, &stdout, &stderr); code != tt.code {
			t.Errorf("%q: exit code = %d, want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
		}
		if tt.exactStdot && stdout.String() != tt.stdout || !strings.Contains(stdout.String(), tt.stdout) {
			t.Errorf("%q: stdout = %q, want %q", tt.args, stdout.String(), tt.stdout)
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: stderr = %q, want %q", tt.args, stderr.String(), tt.stderr)
		}
		if tt.code != 0 && !strings.Contains(stderr.String(), "Usage: resedge") {
			t.Errorf("%q: stderr lacks the usage:\n%s", tt.args, stderr.String())
		}
		if tt.noStdout && stdout.Len() != 0 {
			t.Errorf("%q: wrote to stdout: %q", tt.args, stdout.String())
		}
	}
}
