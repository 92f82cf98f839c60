package schema

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const examplesDir = "../examples/configs"

// TestExamplesValidate loads every file in examples/configs.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d example configs, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(LoadOptions{File: f})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := Validate(cfg); err != nil {
				t.Fatalf("Validate of the loaded config: %v", err)
			}
		})
	}
}

// TestSingleMatchesResgateExample: single.yaml is the native form of
// resgate-config.json.
func TestSingleMatchesResgateExample(t *testing.T) {
	native := mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "single.yaml")})
	resgate := mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "resgate-config.json")})
	if !reflect.DeepEqual(native, resgate) {
		t.Fatalf("single.yaml and resgate-config.json differ:\n%s\n%s", dump(native), dump(resgate))
	}
}

func TestExampleContents(t *testing.T) {
	c := mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "public-internal-metrics.yaml")})
	pub := c.Listeners["public"]
	if pub.TLS == nil || pub.TLS.Name != "public" || c.ListenerTLS(pub) != c.TLS["public"] {
		t.Errorf("public listener TLS = %+v", pub.TLS)
	}
	if got := c.ListenerNames(); !reflect.DeepEqual(got, []string{"http", "internal", "metrics", "public"}) {
		t.Errorf("ListenerNames = %v", got)
	}
	if m := c.Listeners["metrics"]; m.Kind != KindMetrics || m.WSPaths != nil || m.APIPath != "" || m.Resources != nil {
		t.Errorf("metrics listener got http defaults: %+v", m)
	}

	c = mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "two-tenants.yaml")})
	if g := c.Listeners["globex"]; g.APIPath != "" || len(g.WSPaths) != 2 {
		t.Errorf("globex listener: apiPath %q, wsPaths %v", g.APIPath, g.WSPaths)
	}
	if a := c.ListenerTLS(c.Listeners["globex"]); a == nil || a.ACME == nil || a.ACME.Domains[0] != "realtime.globex.example" {
		t.Errorf("globex TLS = %+v", a)
	}
}

// TestSecurityExamples: the static TLS, on-demand TLS and secured NATS
// examples load to what they say.
func TestSecurityExamples(t *testing.T) {
	c := mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "static-tls.yaml")})
	if m := c.ListenerTLS(c.Listeners["https"]); m == nil || m.MinVersion != "1.3" || m.CertFile == "" {
		t.Errorf("static-tls.yaml: https TLS = %+v", m)
	}
	c = mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "on-demand-tls.yaml")})
	if a := c.TLS["customers"].ACME; a.OnDemand == nil || a.OnDemand.Allow[0] != "*.tenants.example.com" || a.OnDemand.Ask == "" {
		t.Errorf("on-demand-tls.yaml: ACME = %+v", a)
	}
	c = mustLoad(t, LoadOptions{File: filepath.Join(examplesDir, "secure-nats.yaml")})
	if n := c.NATS; n.Cert == "" || n.Key == "" || len(n.RootCAs) != 1 || n.Creds == "" {
		t.Errorf("secure-nats.yaml: NATS = %+v", n)
	}
}

// TestMinVersionNumber: an unquoted minVersion (a YAML number) is read as
// the version it looks like.
func TestMinVersionNumber(t *testing.T) {
	for _, v := range []string{"1.3", `"1.3"`} {
		f := writeConfig(t, "config.yaml", "tls:\n  t:\n    certFile: c.pem\n    keyFile: k.pem\n    minVersion: "+v+"\n")
		if got := mustLoad(t, LoadOptions{File: f}).TLS["t"].MinVersion; got != "1.3" {
			t.Errorf("minVersion: %s loads as %q", v, got)
		}
	}
}

// TestInitTemplate: the starter config loads to the defaults.
func TestInitTemplate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(InitTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	got := mustLoad(t, LoadOptions{File: f})
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("InitTemplate loads to\n%s\nwant Default()\n%s", dump(got), dump(want))
	}
}

// TestNothingConfigured: no file, environment or flags gives Default().
func TestNothingConfigured(t *testing.T) {
	got := mustLoad(t, LoadOptions{})
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load with nothing gives\n%s\nwant Default()\n%s", dump(got), dump(want))
	}
	if err := Validate(Default()); err != nil {
		t.Fatalf("Validate(Default()): %v", err)
	}
}
