package schema

// Fuzz targets for config files. Run one with, for instance:
//
//	go test -run x -fuzz FuzzLoadConfig -fuzztime 30s ./schema/

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzFormats are the formats a fuzz input's format byte picks from.
var fuzzFormats = []string{formatJSON, formatYAML, formatTOML}

// FuzzLoadConfig: loading any file content, in any format, with any one
// RESEDGE_ variable and flag on top, never panics, and a configuration it
// accepts passes Validate and has a listener.
func FuzzLoadConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "configs", "*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(indexOf(fuzzFormats, formatOf(file))), "", "")
	}
	f.Add([]byte(InitTemplate), uint8(1), "RESEDGE_LISTENERS_DEFAULT_ADDRESS=:9000", "--engine.limits.pingInterval=0")
	for _, s := range []struct {
		data      string
		format    uint8
		env, flag string
	}{
		{`{"natsUrl":"nats://u:p@h:4222","port":8080,"wsPath":"/ws"}`, 0, "", "--port=9000"},
		{`{"natsUrl":null,"requestTimeout":5}`, 0, "", ""},
		{`{"listeners":{"a":{"address":":1","tls":"x"}},"tls":{"x":{"acme":{"domains":["*.a.b"]}}}}`, 0, "", ""},
		{"listeners:\n  a:\n    address: ':1'\n    kind: redirect\n    redirectTo: b\n", 1, "", ""},
		{"[engine.limits]\npingInterval = \"1s\"\npongTimeout = 0\n[shutdown]\nlameDuck = -1\n", 2, "", ""},
		{"a: &x [*x]\n", 1, "", ""},
		{"nats:\n  urls: [1, {a: b}]\n", 1, "RESEDGE_NATS_URLS=nats://a,nats://b", "-n"},
		{`{"engine":{"unsubscribeDelay":"1h2m3.5s"},"log":{"level":"debug"}}`, 0, "RESEDGE_LOG_TRACE=true", "-DV"},
		{"listeners = 3\n", 2, "", "--listeners.x.address"},
		{`[`, 0, "", ""},
		{"", 1, "", ""},
	} {
		f.Add([]byte(s.data), s.format, s.env, s.flag)
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8, env, flag string) {
		if len(data) > 64<<10 {
			return // a config file is small; big inputs only slow the fuzzer
		}
		fm := fuzzFormats[int(format)%len(fuzzFormats)]
		opts := LoadOptions{}
		if strings.HasPrefix(env, "RESEDGE_") {
			opts.Env = []string{env}
		}
		if flag != "" {
			name, value, _ := strings.Cut(strings.TrimLeft(flag, "-"), "=")
			opts.Flags = []Flag{{Name: name, Value: value}}
		}
		cfg, err := load(opts, &fileInput{name: "fuzz." + fm, format: fm, data: data})
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatalf("validation error without problems for %q", data)
			}
			return
		}
		if err := Validate(cfg); err != nil {
			t.Fatalf("%s %q loaded, but does not validate: %v", fm, data, err)
		}
		if len(cfg.Listeners) == 0 {
			t.Fatalf("%s %q loaded without a listener", fm, data)
		}
	})
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}
