package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSchemaMatchesTypes guards against drift: every key of the Go types
// is in the schema and every schema property is a key of the Go types.
func TestSchemaMatchesTypes(t *testing.T) {
	s := compiled()
	var walk func(path string, typ reflect.Type, n node)
	walk = func(path string, typ reflect.Type, n node) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch typ {
		case reflect.TypeFor[TLSRef]():
			walk(path, reflect.TypeFor[TLS](), n)
			return
		case reflect.TypeFor[Duration]():
			return
		}
		switch typ.Kind() {
		case reflect.Map:
			add := s.additional(n)
			if add == nil {
				t.Errorf("%s: a map in Go, not in the schema", path)
				return
			}
			walk(path+".<name>", typ.Elem(), add)
			return
		case reflect.Struct:
		default:
			return
		}
		goKeys := map[string]reflect.Type{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			goKeys[tag] = f.Type
		}
		props := s.properties(n)
		for k, ft := range goKeys {
			p, ok := props[k]
			if !ok {
				t.Errorf("%s.%s: in the Go types, not in the schema", path, k)
				continue
			}
			walk(path+"."+k, ft, p)
		}
		for k := range props {
			if _, ok := goKeys[k]; !ok && !(path == "" && k == "$schema") {
				t.Errorf("%s.%s: in the schema, not in the Go types", path, k)
			}
		}
	}
	walk("", reflect.TypeFor[Config](), s.root(false))

	// The Resgate format.
	props := s.properties(s.root(true))
	typ := reflect.TypeFor[resgateConfig]()
	seen := map[string]bool{}
	for i := range typ.NumField() {
		k, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		seen[k] = true
		if _, ok := props[k]; !ok {
			t.Errorf("Resgate key %s: in the Go type, not in the schema", k)
		}
		if !resgateKeys[k] {
			t.Errorf("Resgate key %s: not in resgateKeys", k)
		}
	}
	for k := range props {
		if !seen[k] {
			t.Errorf("Resgate key %s: in the schema, not in the Go type", k)
		}
	}
}

func TestSchema(t *testing.T) {
	b := Schema()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" || doc["$id"] != schemaURL {
		t.Errorf("$schema %v, $id %v", doc["$schema"], doc["$id"])
	}
	b[0] = 'x'
	if !bytes.Equal(Schema(), schemaJSON) || schemaJSON[0] != '{' {
		t.Error("Schema() does not return a copy")
	}
	// Listener kinds may use exactly the keys the Go validation allows.
	forbidden := compiled().forbidden(KindMetrics)
	for _, k := range []string{"wsPaths", "apiPath", "allowOrigin", "resources", "redirectTo"} {
		if !forbidden[k] {
			t.Errorf("metrics listeners may use %s", k)
		}
	}
	if f := compiled().forbidden(KindHTTP); len(f) != 1 || !f["redirectTo"] {
		t.Errorf("http listeners may not use %v", f)
	}
}

// TestFormats: the same mistakes give the same problems, at the right
// lines, in JSON, YAML and TOML.
func TestFormats(t *testing.T) {
	files := map[string]string{
		"config.json": `{
  "nats": {"urls": ["nats://a:4222"]},
  "listeners": {
    "web": {
      "address": ":8080",
      "wsPaths": ["/ws", "ws"],
      "allowOrigins": ["*"]
    }
  }
}`,
		"config.yaml": `nats:
  urls: [nats://a:4222]
listeners:
  web:
    address: ":8080"
    wsPaths:
      - /ws
      - ws
    allowOrigins: ["*"]
`,
		"config.toml": `[nats]
urls = ["nats://a:4222"]

[listeners.web]
address = ":8080"
wsPaths = [
  "/ws",
  "ws",
]
allowOrigins = ["*"]
`,
	}
	want := map[string]string{
		"config.json": `config.json:6: listeners.web.wsPaths[1]: must start with "/", got "ws"
config.json:7: listeners.web.allowOrigins: unknown key (did you mean "allowOrigin"?)`,
		"config.yaml": `config.yaml:8: listeners.web.wsPaths[1]: must start with "/", got "ws"
config.yaml:9: listeners.web.allowOrigins: unknown key (did you mean "allowOrigin"?)`,
		"config.toml": `config.toml:8: listeners.web.wsPaths[1]: must start with "/", got "ws"
config.toml:10: listeners.web.allowOrigins: unknown key (did you mean "allowOrigin"?)`,
	}
	var configs []*Config
	for name, content := range files {
		f := writeConfig(t, name, content)
		if got := loadError(t, LoadOptions{File: f}); got != want[name] {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got, want[name])
		}
		fixed := strings.NewReplacer(`"ws",`, `"/ws2",`, `"ws"]`, `"/ws2"]`, "- ws\n", "- /ws2\n", "allowOrigins", "allowOrigin").Replace(content)
		configs = append(configs, mustLoad(t, LoadOptions{File: writeConfig(t, name, fixed)}))
	}
	for _, c := range configs[1:] {
		if !reflect.DeepEqual(c, configs[0]) {
			t.Errorf("formats load differently:\n%s\n%s", dump(c), dump(configs[0]))
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"address", "allowOrigin", "apiPath", "kind", "resources", "tls", "wsPaths"}
	tests := map[string]string{
		"adress":       "address",
		"Address":      "address",
		"wsPath":       "wsPaths",
		"allowOrigins": "allowOrigin",
		"resource":     "resources",
		"apipath":      "apiPath",
		"kidn":         "kind",
		"tsl":          "tls",
		"port":         "",
		"x":            "",
		"certificate":  "",
	}
	for word, want := range tests {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
	if d := levenshtein("kitten", "sitting"); d != 3 {
		t.Errorf("levenshtein(kitten, sitting) = %d", d)
	}
	if d := levenshtein("ab", "ba"); d != 1 {
		t.Errorf("levenshtein(ab, ba) = %d", d)
	}
}

// TestValidate: Validate on a config built in Go.
func TestValidate(t *testing.T) {
	c := Default()
	c.NATS.Cert = "client.pem"
	l := DefaultListener("api", ":8080")
	l.Resources = []string{"ok.>", "bad..x"}
	l.TLS = &TLSRef{Name: "missing"}
	c.Listeners["api"] = l
	c.Listeners["metrics"] = &Listener{Name: "metrics", Kind: KindMetrics, Address: "0.0.0.0:8080", WSPaths: []string{"/"}}
	err := Validate(c)
	want := `listeners.api.resources[1]: invalid resource pattern "bad..x": use dot-separated names, "*" for one part and a final ">" for the rest
listeners.api.tls: unknown TLS settings "missing"
listeners.default.address: port 8080 is also used by listener "api"
listeners.metrics.address: metrics port 8080 must be different from the API port of listener "api"
listeners.metrics.address: metrics port 8080 must be different from the API port of listener "default"
listeners.metrics.wsPaths: not allowed on a metrics listener
nats: missing key (cert is set)`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if err := Validate(&Config{}); err == nil || !strings.Contains(err.Error(), "listeners: at least one http listener is required") {
		t.Errorf("Validate of the zero Config: %v", err)
	}
}

func TestDuration(t *testing.T) {
	f := writeConfig(t, "config.yaml", "nats:\n  requestTimeout: 1500\nengine:\n  unsubscribeDelay: 1m30s\n  limits:\n    writeTimeout: 0.5s\n")
	c := mustLoad(t, LoadOptions{File: f})
	if c.NATS.RequestTimeout.D() != 1500*time.Millisecond || c.Engine.UnsubscribeDelay.D() != 90*time.Second || c.Engine.Limits.WriteTimeout.D() != 500*time.Millisecond {
		t.Errorf("durations: %v %v %v", c.NATS.RequestTimeout, c.Engine.UnsubscribeDelay, c.Engine.Limits.WriteTimeout)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("250")); err != nil || d.D() != 250*time.Millisecond {
		t.Errorf("UnmarshalText(250) = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "250ms" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText(soon) succeeded")
	}
}

func TestTLSRefJSON(t *testing.T) {
	for _, tc := range []struct {
		r    TLSRef
		want string
	}{
		{TLSRef{Name: "main"}, `"main"`},
		{TLSRef{Inline: &TLS{CertFile: "c", KeyFile: "k"}}, `{"certFile":"c","keyFile":"k"}`},
	} {
		if b, err := json.Marshal(tc.r); err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.r, b, err, tc.want)
		}
	}
}

func TestFlagsFromFlagSet(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("nats", "", "")
	fs.Int("p", 0, "")
	fs.Bool("DV", false, "")
	fs.String("unset", "", "")
	var roots listValue
	fs.Var(&roots, "natsrootca", "")
	if err := fs.Parse([]string{"-nats", "nats://h:4222", "-p", "9000", "-DV", "-natsrootca", "a.pem", "-natsrootca", "b.pem"}); err != nil {
		t.Fatal(err)
	}
	got := FlagsFromFlagSet(fs)
	sort.Slice(got, func(i, j int) bool { return got[i].Name+got[i].Value < got[j].Name+got[j].Value })
	want := flags("DV", "true", "nats", "nats://h:4222", "natsrootca", "a.pem", "natsrootca", "b.pem", "p", "9000")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	c := mustLoad(t, LoadOptions{Flags: got})
	if c.Listeners["default"].Address != "0.0.0.0:9000" || !c.Log.Trace || !reflect.DeepEqual(c.NATS.RootCAs, []string{"a.pem", "b.pem"}) {
		t.Errorf("loaded %s", dump(c))
	}
}

// listValue is a repeatable flag that implements flag.Getter.
type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ";") }
func (l *listValue) Set(v string) error { *l = append(*l, v); return nil }
func (l *listValue) Get() any           { return []string(*l) }
