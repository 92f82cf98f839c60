package schema

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// flags builds a Flag list from name, value pairs.
func flags(nv ...string) []Flag {
	var out []Flag
	for i := 0; i+1 < len(nv); i += 2 {
		out = append(out, Flag{Name: nv[i], Value: nv[i+1]})
	}
	return out
}

// TestResgateFileEqualsFlags: a Resgate config.json loads to the same
// effective settings as the equivalent Resgate flags.
func TestResgateFileEqualsFlags(t *testing.T) {
	tests := []struct {
		name, file string
		flags      []Flag
	}{
		{
			name: "example config",
			file: mustRead(t, filepath.Join(examplesDir, "resgate-config.json")),
			flags: flags("nats", "nats://127.0.0.1:4222", "r", "5000", "i", "0.0.0.0", "p", "8080",
				"w", "/", "a", "/api/", "m", "9090", "apiencoding", "json",
				"u", "auth.user.header", "t", "auth.user.wsheader",
				"alloworigin", "https://app.example.com", "alloworigin", "https://admin.example.com",
				"putmethod", "set", "deletemethod", "delete", "wscompression", "true",
				"resetthrottle", "16", "referencethrottle", "32"),
		},
		{
			name: "TLS, NATS security, logging, Resgate quirks",
			file: `{
				"natsUrl": "nats://10.0.0.1:4222, nats://10.0.0.2:4222",
				"natsCreds": "gw.creds", "natsCert": "nc.pem", "natsKey": "nk.pem",
				"natsRootCAs": ["ca1.pem", "ca2.pem"],
				"requestTimeout": 5,
				"debug": true, "trace": true,
				"addr": "::1", "port": 443, "apiPath": "/rest", "apiEncoding": "jsonFlat",
				"allowOrigin": "HTTPS://B.example.com;https://a.example.com",
				"tls": true, "certFile": "c.pem", "keyFile": "k.pem",
				"patchMethod": "patch"
			}`,
			flags: flags("n", "nats://10.0.0.1:4222, nats://10.0.0.2:4222",
				"creds", "gw.creds", "natscert", "nc.pem", "natskey", "nk.pem",
				"natsrootca", "ca1.pem", "natsrootca", "ca2.pem", "r", "5", "DV", "true",
				"addr", "::1", "port", "443", "apipath", "/rest", "apiencoding", "jsonFlat",
				"alloworigin", "HTTPS://B.example.com;https://a.example.com",
				"tls", "true", "tlscert", "c.pem", "tlskey", "k.pem", "patchmethod", "patch"),
		},
		{
			name: "defaults",
			file: `{}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fileWarn, flagWarn []string
			fromFile := mustLoad(t, LoadOptions{File: writeConfig(t, "config.json", tc.file), Warn: func(s string) { fileWarn = append(fileWarn, s) }})
			fromFlags := mustLoad(t, LoadOptions{Flags: tc.flags, Warn: func(s string) { flagWarn = append(flagWarn, s) }})
			if !reflect.DeepEqual(fromFile, fromFlags) {
				t.Fatalf("file gives\n%s\nflags give\n%s", dump(fromFile), dump(fromFlags))
			}
			if !reflect.DeepEqual(fileWarn, flagWarn) {
				t.Errorf("warnings: file %q, flags %q", fileWarn, flagWarn)
			}
		})
	}
}

func TestResgateQuirks(t *testing.T) {
	var warnings []string
	c := mustLoad(t, LoadOptions{
		File: writeConfig(t, "resgate.conf", `{
			"natsUrl": "", "requestTimeout": 5, "bufferSize": 0, "addr": "", "port": 0,
			"wsPath": "", "apiPath": "/rest", "apiEncoding": "JSONFLAT", "allowOrigin": null,
			"headerAuth": null, "resetThrottle": -3, "tls": false, "tlsCert": "c.pem", "tlsKey": "k.pem"
		}`),
		Warn: func(s string) { warnings = append(warnings, s) },
	})
	l := c.Listeners["default"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"embedded NATS for an empty natsUrl", c.NATS.URLs, []string{}},
		{"requestTimeout of 5 is seconds", c.NATS.RequestTimeout.D().String(), "5s"},
		{"bufferSize 0 is the default", c.NATS.BufferSize, DefaultBufferSize},
		{"empty addr is every interface, port 0 the default", l.Address, ":8080"},
		{"empty wsPath is /", l.WSPaths, []string{"/"}},
		{"apiPath gets a trailing /", l.APIPath, "/rest/"},
		{"apiEncoding is case-insensitive", l.APIEncoding, "jsonflat"},
		{"null allowOrigin is *", l.AllowOrigin, []string{"*"}},
		{"negative throttle is no limit", c.Engine.ResetThrottle, 0},
		{"tls false ignores the certificate", l.TLS == nil, true},
		{"no metrics listener", len(c.Listeners), 1},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	want := "[DEPRECATED] Request timeout should be in milliseconds.\nChange your requestTimeout from 5 to 5000, and you won't be bothered anymore."
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("warnings = %q, want [%q]", warnings, want)
	}

	// tlsCert and tlsKey, the names in Resgate's README, work when tls is
	// on, and --tls turns on a file's certificate.
	f := writeConfig(t, "resgate.json", `{"tls": true, "tlsCert": "c.pem", "tlsKey": "k.pem"}`)
	c = mustLoad(t, LoadOptions{File: f})
	if got := c.Listeners["default"].TLS; got == nil || got.Inline == nil || *got.Inline != (TLS{CertFile: "c.pem", KeyFile: "k.pem"}) {
		t.Errorf("tlsCert/tlsKey: TLS = %+v", got)
	}
	f = writeConfig(t, "resgate.json", `{"tls": false, "certFile": "c.pem", "keyFile": "k.pem"}`)
	c = mustLoad(t, LoadOptions{File: f, Flags: flags("tls", "true")})
	if got := c.Listeners["default"].TLS; got == nil || got.Inline == nil || *got.Inline != (TLS{CertFile: "c.pem", KeyFile: "k.pem"}) {
		t.Errorf("--tls with the file's certFile: TLS = %+v", got)
	}
}

// TestResgateFlagsOverFile: flags override single keys of a Resgate file,
// as in Resgate.
func TestResgateFlagsOverFile(t *testing.T) {
	f := writeConfig(t, "config.json", `{"addr": "127.0.0.1", "port": 9000, "metricsPort": 9100, "headerAuth": "auth.a.b", "debug": true}`)
	c := mustLoad(t, LoadOptions{File: f, Flags: flags("p", "7000", "u", "", "D", "false")})
	if got := c.Listeners["default"].Address; got != "127.0.0.1:7000" {
		t.Errorf("-p 7000 over addr 127.0.0.1: address %q", got)
	}
	if got := c.Listeners["default"].HeaderAuth; got != "" {
		t.Errorf(`-u "" keeps headerAuth %q`, got)
	}
	if c.Log.Level != "info" {
		t.Errorf("-D=false: level %q", c.Log.Level)
	}
	c = mustLoad(t, LoadOptions{File: f, Flags: flags("i", "10.0.0.1")})
	if got := c.Listeners["default"].Address; got != "10.0.0.1:9000" {
		t.Errorf("-i 10.0.0.1: address %q", got)
	}
	if got := c.Listeners["metrics"].Address; got != "10.0.0.1:9100" {
		t.Errorf("-i 10.0.0.1: metrics address %q", got)
	}
	c = mustLoad(t, LoadOptions{File: f, Flags: flags("m", "9200", "p", "0")})
	if got := c.Listeners["metrics"].Address; got != "127.0.0.1:9200" {
		t.Errorf("-m 9200: metrics address %q", got)
	}
	if got := c.Listeners["default"].Address; got != "127.0.0.1:9000" {
		t.Errorf("-p 0 leaves the port: address %q", got)
	}
}

// TestResgateFlagsOnNativeConfig: Resgate flags are shorthand for the one
// http listener of a native config, and an error with several.
func TestResgateFlagsOnNativeConfig(t *testing.T) {
	one := writeConfig(t, "config.yaml", "listeners:\n  web:\n    address: 127.0.0.1:8080\n    tls: {certFile: c.pem, keyFile: k.pem}\n")
	c := mustLoad(t, LoadOptions{File: one, Flags: flags("port", "9000", "wspath", "/ws", "tlscert", "c2.pem", "m", "9100")})
	web := c.Listeners["web"]
	if web.Address != "127.0.0.1:9000" || !reflect.DeepEqual(web.WSPaths, []string{"/ws"}) || web.TLS.Inline.CertFile != "c2.pem" || web.TLS.Inline.KeyFile != "k.pem" {
		t.Errorf("web listener = %+v, TLS %+v", web, web.TLS.Inline)
	}
	if m := c.Listeners["metrics"]; m == nil || m.Kind != KindMetrics || m.Address != "127.0.0.1:9100" {
		t.Errorf("metrics listener = %+v", m)
	}

	two := writeConfig(t, "config.yaml", "listeners:\n  a:\n    address: \":1\"\n  b:\n    address: \":2\"\n")
	got := loadError(t, LoadOptions{File: two, Flags: flags("p", "9000", "alloworigin", "https://x.example.com", "natz", "x", "nats", "nats://h:4222")})
	want := `flag --alloworigin: sets a single http listener, but there are 2 (a, b); use --listeners.<name>.<key> instead
flag --natz: unknown flag (did you mean "--nats"?)
flag --port: sets a single http listener, but there are 2 (a, b); use --listeners.<name>.<key> instead`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	sd := writeConfig(t, "config.yaml", "listeners:\n  a:\n    address: systemd:a\n")
	if got, want := loadError(t, LoadOptions{File: sd, Flags: flags("p", "9000")}), `flag --port: listener "a" has address "systemd:a", which is not host:port`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestConfigFlagCreatesMissingFile: -c with a missing file writes a Resgate
// config of the defaults and the flags, as Resgate does, and reads it.
func TestConfigFlagCreatesMissingFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "config.json")
	fl := flags("c", f, "p", "9000", "alloworigin", "https://a.example.com", "u", "auth.user.header", "r", "4000")
	got := mustLoad(t, LoadOptions{Flags: fl})
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
	"natsUrl": "",
	"natsCreds": "",
	"natsCert": "",
	"natsKey": "",
	"natsRootCAs": [],
	"requestTimeout": 4000,
	"bufferSize": 8192,
	"debug": false,
	"trace": false,
	"addr": "0.0.0.0",
	"port": 9000,
	"wsPath": "/",
	"apiPath": "/api/",
	"metricsPort": 0,
	"apiEncoding": "json",
	"headerAuth": "auth.user.header",
	"wsHeaderAuth": null,
	"allowOrigin": "https://a.example.com",
	"putMethod": null,
	"deleteMethod": null,
	"patchMethod": null,
	"tls": false,
	"certFile": "",
	"keyFile": "",
	"wsCompression": false,
	"resetThrottle": 0,
	"referenceThrottle": 0
}
`
	if string(data) != want {
		t.Errorf("created file:\n%s\nwant\n%s", data, want)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("created file mode: %v %v", fi.Mode(), err)
	}
	// The same as the flags without a file, and the same when read again.
	if noFile := mustLoad(t, LoadOptions{Flags: fl[1:]}); !reflect.DeepEqual(got, noFile) {
		t.Errorf("with created file\n%s\nwithout file\n%s", dump(got), dump(noFile))
	}
	if again := mustLoad(t, LoadOptions{File: f}); !reflect.DeepEqual(got, again) {
		t.Errorf("first load\n%s\nreading the created file\n%s", dump(got), dump(again))
	}

	// A file that cannot be written is a warning.
	var warnings []string
	bad := filepath.Join(t.TempDir(), "missing-dir", "config.json")
	mustLoad(t, LoadOptions{File: bad, CreateMissing: true, Warn: func(s string) { warnings = append(warnings, s) }})
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "could not create config file "+bad+": ") {
		t.Errorf("warnings = %q", warnings)
	}

	// Other missing files are errors.
	for _, opts := range []LoadOptions{
		{File: filepath.Join(t.TempDir(), "config.json")},
		{File: filepath.Join(t.TempDir(), "config.yaml"), CreateMissing: true},
	} {
		if _, err := Load(opts); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%+v) = %v, want fs.ErrNotExist", opts, err)
		}
	}
}

func TestIsResgate(t *testing.T) {
	tests := []struct {
		m    map[string]any
		want bool
	}{
		{map[string]any{}, false},
		{map[string]any{"natsUrl": "x"}, true},
		{map[string]any{"tls": true}, true},
		{map[string]any{"tls": map[string]any{}}, false},
		{map[string]any{"port": 1, "listeners": map[string]any{}}, false},
		{map[string]any{"unknown": 1}, false},
		{map[string]any{"tls": nil, "port": 8080}, true},
	}
	for _, tc := range tests {
		if got := IsResgate(tc.m); got != tc.want {
			t.Errorf("IsResgate(%v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}

func TestFromResgate(t *testing.T) {
	var warnings []string
	c, err := FromResgate([]byte(`{"port": 9000, "metricsPort": 9100, "requestTimeout": 2}`), func(s string) { warnings = append(warnings, s) })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listeners["default"].Address != "0.0.0.0:9000" || c.Listeners["metrics"].Address != "0.0.0.0:9100" || c.NATS.RequestTimeout.D().Seconds() != 2 || len(warnings) != 1 {
		t.Errorf("FromResgate: %s, warnings %q", dump(c), warnings)
	}
	// Not Resgate keys: errors, even where a native config would be fine.
	_, err = FromResgate([]byte(`{"listeners": {}}`), nil)
	if err == nil || err.Error() != `config.json:1: listeners: unknown key` {
		t.Errorf("FromResgate with native keys: %v", err)
	}
}

func mustRead(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMetricsPortAlone: --metricsport alone keeps the default http listener
// (resedge -m 9100 is Resgate's default gateway plus metrics), and is
// refused on the API port.
func TestMetricsPortAlone(t *testing.T) {
	c := mustLoad(t, LoadOptions{Flags: flags("m", "9100")})
	if got := c.ListenerNames(); !reflect.DeepEqual(got, []string{"default", "metrics"}) {
		t.Fatalf("listeners = %v", got)
	}
	if d := c.Listeners["default"]; d.Address != DefaultAddress || !reflect.DeepEqual(d.WSPaths, []string{"/"}) {
		t.Errorf("default listener = %+v", d)
	}
	if m := c.Listeners["metrics"]; m.Kind != KindMetrics || m.Address != "0.0.0.0:9100" {
		t.Errorf("metrics listener = %+v", m)
	}
	_, err := Load(LoadOptions{Flags: flags("m", "8080")})
	if err == nil || !strings.Contains(err.Error(), `metrics port 8080 must be different from the API port of listener "default"`) {
		t.Errorf("-m 8080: error = %v", err)
	}
}

// TestResgateEmptyAPIPath: a Resgate file without apiPath (or with "")
// serves the API at /api/, as Resgate's SetDefault does.
func TestResgateEmptyAPIPath(t *testing.T) {
	for _, content := range []string{`{"requestTimeout": 3000}`, `{"apiPath": ""}`} {
		c := mustLoad(t, LoadOptions{File: writeConfig(t, "config.json", content)})
		if got := c.Listeners["default"].APIPath; got != DefaultAPIPath {
			t.Errorf("%s: apiPath = %q, want %q", content, got, DefaultAPIPath)
		}
	}
}
