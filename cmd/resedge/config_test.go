package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resedge/resedge/schema"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigValidate: every problem of every file is printed, located;
// the exit code says whether all files are valid.
func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "listeners:\n  pub:\n    address: 127.0.0.1:9000\n")
	resgate := writeFile(t, dir, "resgate.json", `{"port": 9000, "requestTimeout": 5}`)
	bad := writeFile(t, dir, "bad.yaml", "listeners:\n  pub:\n    address: nowhere\n    wsPath: /x\n")
	acme := writeFile(t, dir, "acme.yaml", "listeners:\n  pub:\n    address: \":443\"\n    tls:\n      acme:\n        domains: [x.example.com]\n        caRoots: ["+filepath.Join(dir, "no-ca.pem")+"]\n  pem:\n    address: \":8443\"\n    tls: {certFile: "+filepath.Join(dir, "no.pem")+", keyFile: k.pem}\n")
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name   string
		files  []string
		env    []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "valid files", files: []string{good, resgate}, code: 0,
			stdout: []string{good + ": ok\n", resgate + ": ok\n"},
			stderr: []string{resgate + ": warning: [DEPRECATED] Request timeout should be in milliseconds."}},
		{name: "every problem", files: []string{bad, good, acme, missing}, code: 1,
			stdout: []string{good + ": ok\n"},
			stderr: []string{
				bad + `:3: listeners.pub.address: invalid address "nowhere"`,
				bad + `:4: listeners.pub.wsPath: unknown key (did you mean "wsPaths"?)`,
				acme + `: listener "pem": certificate file ` + filepath.Join(dir, "no.pem") + " does not exist",
				acme + `: listener "pub": CA root file ` + filepath.Join(dir, "no-ca.pem") + " does not exist",
				"config file " + missing + ": open " + missing + ": no such file or directory",
			}},
		{name: "environment applies", files: []string{good}, env: []string{"RESEDGE_LISTENERS_PUB_APIENCODING=xml"}, code: 1,
			stderr: []string{`env RESEDGE_LISTENERS_PUB_APIENCODING: listeners.pub.apiEncoding: must be one of "json", "jsonflat", got "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := validateFiles(tt.files, tt.env, &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("validate created the missing file")
	}
}

// TestConfigSchemaAndInit: "config schema" prints the JSON Schema; "config
// init" writes a starting config that validates, and overwrites nothing.
func TestConfigSchemaAndInit(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"config", "schema"}, &stdout, &stderr); code != 0 {
		t.Fatalf("config schema: exit code %d: %s", code, stderr.String())
	}
	var s map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || !bytes.Equal(stdout.Bytes(), schema.Schema()) {
		t.Fatalf("config schema printed something else than the schema (%v)", err)
	}

	stdout.Reset()
	if code := run([]string{"config", "init"}, &stdout, &stderr); code != 0 || stdout.String() != schema.InitTemplate {
		t.Fatalf("config init without FILE: exit code %d, output %q", code, stdout.String())
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "resedge.yaml")
	stdout.Reset()
	if code := run([]string{"config", "init", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("config init: exit code %d: %s", code, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"config", "validate", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("the starting config does not validate: %s", stderr.String())
	}
	for _, tt := range []struct{ path, want string }{
		{path, "already exists; not overwritten"},
		{filepath.Join(dir, "resedge.json"), "the starting config is YAML"},
	} {
		stderr.Reset()
		if code := run([]string{"config", "init", tt.path}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("config init %s: exit code %d, stderr %q, want %q", tt.path, code, stderr.String(), tt.want)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != schema.InitTemplate {
		t.Error("config init changed an existing file")
	}
}
