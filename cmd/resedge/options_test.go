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
)

// defaultOptions returns what parseOptions gives for an empty command line.
func defaultOptions() Options {
	addr := DefaultAddr
	origin := DefaultAllowOrigin
	return Options{
		RequestTimeout: DefaultRequestTimeout,
		BufferSize:     DefaultBufferSize,
		NATSRootCAs:    []string{},
		Addr:           &addr,
		Port:           DefaultPort,
		WSPath:         DefaultWSPath,
		APIPath:        DefaultAPIPath,
		APIEncoding:    DefaultAPIEncoding,
		AllowOrigin:    &origin,
		LogFormat:      DefaultLogFormat,
	}
}

func ptr(s string) *string { return &s }

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// want modifies the default options into the expected ones. Nil
		// means an error is expected.
		want func(o *Options)
		// errIs, errText and usage describe the expected error.
		errIs   error
		errText string
		usage   bool
		// stderr is text expected in the warnings output.
		stderr string
	}{
		{name: "defaults", args: nil, want: func(o *Options) {}},

		// Every flag, short and long, with one and two dashes.
		{name: "nats short", args: []string{"-n", "nats://a:4222"}, want: func(o *Options) { o.NATSURL = "nats://a:4222" }},
		{name: "nats long", args: []string{"--nats=nats://a:4222,nats://b:4222"}, want: func(o *Options) { o.NATSURL = "nats://a:4222,nats://b:4222" }},
		{name: "addr short", args: []string{"-i", "127.0.0.1"}, want: func(o *Options) { o.Addr = ptr("127.0.0.1") }},
		{name: "addr long ipv6", args: []string{"--addr", "::1"}, want: func(o *Options) { o.Addr = ptr("::1") }},
		{name: "addr empty means all interfaces", args: []string{"-addr="}, want: func(o *Options) { o.Addr = ptr("") }},
		{name: "port short", args: []string{"-p", "9000"}, want: func(o *Options) { o.Port = 9000 }},
		{name: "port long", args: []string{"--port", "65535"}, want: func(o *Options) { o.Port = 65535 }},
		{name: "port zero keeps default", args: []string{"-p", "0"}, want: func(o *Options) {}},
		{name: "wspath", args: []string{"-w", "/ws"}, want: func(o *Options) { o.WSPath = "/ws" }},
		{name: "wspath long", args: []string{"--wspath", "/ws/"}, want: func(o *Options) { o.WSPath = "/ws/" }},
		{name: "apipath gets trailing slash", args: []string{"-a", "/res"}, want: func(o *Options) { o.APIPath = "/res/" }},
		{name: "apipath long", args: []string{"--apipath", "/"}, want: func(o *Options) { o.APIPath = "/" }},
		{name: "reqtimeout ms", args: []string{"-r", "2500"}, want: func(o *Options) { o.RequestTimeout = 2500 }},
		{name: "reqtimeout 11 is ms", args: []string{"--reqtimeout", "11"}, want: func(o *Options) { o.RequestTimeout = 11 }},
		{name: "reqtimeout seconds", args: []string{"-r", "5"}, want: func(o *Options) { o.RequestTimeout = 5000 }, stderr: "[DEPRECATED] Request timeout should be in milliseconds.\nChange your requestTimeout from 5 to 5000"},
		{name: "reqtimeout 10 is seconds", args: []string{"--reqtimeout=10"}, want: func(o *Options) { o.RequestTimeout = 10000 }, stderr: "[DEPRECATED]"},
		{name: "reqtimeout negative", args: []string{"-r", "-1"}, errText: "invalid requestTimeout"},
		{name: "headauth", args: []string{"-u", "auth.user.login"}, want: func(o *Options) {
			o.HeaderAuth = ptr("auth.user.login")
			o.HeaderAuthRID, o.HeaderAuthMethod = "auth.user", "login"
		}},
		{name: "headauth long", args: []string{"--headauth", "auth.login"}, want: func(o *Options) {
			o.HeaderAuth = ptr("auth.login")
			o.HeaderAuthRID, o.HeaderAuthMethod = "auth", "login"
		}},
		{name: "headauth empty is unset", args: []string{"-u", ""}, want: func(o *Options) {}},
		{name: "headauth no dot", args: []string{"-u", "login"}, errText: "invalid headerAuth setting (login)"},
		{name: "headauth query", args: []string{"-u", "auth.user?q=1.login"}, errText: "invalid headerAuth setting"},
		{name: "headauth empty part", args: []string{"-u", "auth..login"}, errText: "invalid headerAuth setting"},
		{name: "headauth trailing dot", args: []string{"-u", "auth.user."}, errText: "invalid headerAuth setting"},
		{name: "headauth wildcard", args: []string{"-u", "auth.*.login"}, errText: "invalid headerAuth setting"},
		{name: "wsheadauth", args: []string{"-t", "auth.ws.connect"}, want: func(o *Options) {
			o.WSHeaderAuth = ptr("auth.ws.connect")
			o.WSHeaderAuthRID, o.WSHeaderAuthMethod = "auth.ws", "connect"
		}},
		{name: "wsheadauth long invalid", args: []string{"--wsheadauth", "connect"}, errText: "invalid wsHeaderAuth setting (connect)"},
		{name: "metricsport", args: []string{"-m", "8090"}, want: func(o *Options) { o.MetricsPort = 8090 }},
		{name: "metricsport long", args: []string{"--metricsport", "9100"}, want: func(o *Options) { o.MetricsPort = 9100 }},
		{name: "metricsport equals port", args: []string{"-m", "8080"}, errText: `invalid metrics port "8080": must be different from API port ("8080")`},
		{name: "metricsport equals custom port", args: []string{"-p", "9000", "-m", "9000"}, errText: "invalid metrics port"},
		{name: "apiencoding", args: []string{"--apiencoding", "jsonflat"}, want: func(o *Options) { o.APIEncoding = "jsonflat" }},
		{name: "apiencoding case-insensitive", args: []string{"-apiencoding", "JSONFlat"}, want: func(o *Options) { o.APIEncoding = "jsonflat" }},
		{name: "apiencoding invalid", args: []string{"--apiencoding", "xml"}, errText: "invalid apiEncoding setting (xml)"},
		{name: "putmethod", args: []string{"--putmethod", "set"}, want: func(o *Options) { o.PutMethod = ptr("set") }},
		{name: "deletemethod", args: []string{"--deletemethod", "delete"}, want: func(o *Options) { o.DeleteMethod = ptr("delete") }},
		{name: "patchmethod", args: []string{"-patchmethod", "patch"}, want: func(o *Options) { o.PatchMethod = ptr("patch") }},
		{name: "putmethod with dot", args: []string{"--putmethod", "a.b"}, errText: "invalid putMethod setting (a.b)"},
		{name: "deletemethod with query", args: []string{"--deletemethod", "del?x"}, errText: "invalid deleteMethod setting"},
		{name: "patchmethod with space", args: []string{"--patchmethod", "pa tch"}, errText: "invalid patchMethod setting"},
		{name: "wscompression", args: []string{"--wscompression"}, want: func(o *Options) { o.WSCompression = true }},
		{name: "resetthrottle", args: []string{"--resetthrottle", "10"}, want: func(o *Options) { o.ResetThrottle = 10 }},
		{name: "referencethrottle", args: []string{"-referencethrottle", "5"}, want: func(o *Options) { o.ReferenceThrottle = 5 }},
		{name: "tls", args: []string{"--tls", "--tlscert", "c.pem", "--tlskey", "k.pem"}, want: func(o *Options) {
			o.TLS, o.CertFile, o.KeyFile = true, "c.pem", "k.pem"
		}},
		{name: "tls without cert", args: []string{"--tls", "--tlskey", "k.pem"}, errText: "missing --tlscert"},
		{name: "tls without key", args: []string{"--tls", "--tlscert", "c.pem"}, errText: "missing --tlskey"},
		{name: "tls files without tls", args: []string{"--tlscert", "c.pem"}, want: func(o *Options) { o.CertFile = "c.pem" }},
		{name: "creds", args: []string{"--creds", "user.creds"}, want: func(o *Options) { o.NATSCreds = "user.creds" }},
		{name: "nats client cert", args: []string{"--natscert", "c.pem", "--natskey", "k.pem"}, want: func(o *Options) {
			o.NATSCert, o.NATSKey = "c.pem", "k.pem"
		}},
		{name: "natscert without natskey", args: []string{"--natscert", "c.pem"}, errText: "missing --natskey file option"},
		{name: "natskey without natscert", args: []string{"--natskey", "k.pem"}, errText: "missing --natscert file option"},
		{name: "natsrootca repeated", args: []string{"--natsrootca", "a.pem", "-natsrootca", "b.pem"}, want: func(o *Options) {
			o.NATSRootCAs = []string{"a.pem", "b.pem"}
		}},
		{name: "alloworigin", args: []string{"--alloworigin", "http://a.com"}, want: func(o *Options) { o.AllowOrigin = ptr("http://a.com") }},
		{name: "alloworigin repeated", args: []string{"--alloworigin", "http://a.com", "--alloworigin", "https://b.com:8443"}, want: func(o *Options) {
			o.AllowOrigin = ptr("http://a.com;https://b.com:8443")
		}},
		{name: "debug", args: []string{"-D"}, want: func(o *Options) { o.Debug = true }},
		{name: "debug long", args: []string{"--debug"}, want: func(o *Options) { o.Debug = true }},
		{name: "trace", args: []string{"-V"}, want: func(o *Options) { o.Trace = true }},
		{name: "trace long", args: []string{"--trace"}, want: func(o *Options) { o.Trace = true }},
		{name: "debug and trace", args: []string{"-DV"}, want: func(o *Options) { o.Debug, o.Trace = true, true }},
		{name: "debug and trace double dash", args: []string{"--DV"}, want: func(o *Options) { o.Debug, o.Trace = true, true }},
		{name: "logformat json", args: []string{"--logformat", "json"}, want: func(o *Options) { o.LogFormat = "json" }},
		{name: "logformat tint upper", args: []string{"-logformat=TINT"}, want: func(o *Options) { o.LogFormat = "tint" }},
		{name: "logformat text", args: []string{"--logformat", "text"}, want: func(o *Options) { o.LogFormat = "text" }},
		{name: "logformat invalid", args: []string{"--logformat", "xml"}, errText: `Invalid log format "xml"`, usage: true},

		// Help, version and command line errors.
		{name: "help short", args: []string{"-h"}, errIs: errHelp},
		{name: "help long", args: []string{"--help"}, errIs: errHelp},
		{name: "version short", args: []string{"-v"}, errIs: errVersion},
		{name: "version long", args: []string{"--version"}, errIs: errVersion},
		{name: "help wins over version", args: []string{"-v", "-h"}, errIs: errHelp},
		{name: "unknown flag", args: []string{"--bogus"}, errText: "Error parsing command arguments: flag provided but not defined: -bogus", usage: true},
		{name: "bad int", args: []string{"-p", "http"}, errText: "Error parsing command arguments", usage: true},
		{name: "missing value", args: []string{"-n"}, errText: "flag needs an argument", usage: true},
		{name: "positional argument", args: []string{"serve"}, errText: `unexpected argument "serve"`, usage: true},
		{name: "port too large", args: []string{"-p", "65536"}, errText: `Invalid port "65536": must be less than 65536`, usage: true},
		{name: "metricsport too large", args: []string{"--metricsport", "70000"}, errText: `Invalid metrics port "70000"`, usage: true},
		{name: "invalid addr", args: []string{"-i", "localhost"}, errText: "invalid addr setting (localhost)\n\tmust be a valid IPv4 or IPv6 address"},
		{name: "bracketed ipv6 addr", args: []string{"-i", "[::1]"}, errText: "invalid addr setting"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseOptions(tt.args, &stderr)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("want an error, got options %+v", got)
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
			want := defaultOptions()
			tt.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("options mismatch\n got: %s\nwant: %s", dump(got), dump(&want))
			}
			if tt.stderr != "" && !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if tt.stderr == "" && stderr.Len() > 0 {
				t.Errorf("unexpected stderr output %q", stderr.String())
			}
		})
	}
}

// dump formats options, including the fields hidden from JSON, for failure
// messages.
func dump(o *Options) string {
	b, _ := json.Marshal(o)
	return string(b) + " " + strings.Join([]string{
		"logFormat=" + o.LogFormat, "configFile=" + o.ConfigFile,
		"headerAuth=" + o.HeaderAuthRID + "|" + o.HeaderAuthMethod,
		"wsHeaderAuth=" + o.WSHeaderAuthRID + "|" + o.WSHeaderAuthMethod,
	}, " ")
}

func TestParseOptionsConfigFile(t *testing.T) {
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
	"referenceThrottle": 4,
	"unknownKey": "ignored"
}`
	tests := []struct {
		name    string
		content string // file content; "" means the file does not exist
		args    []string
		want    func(o *Options)
		errText string
	}{
		{
			name:    "file values",
			content: fileJSON,
			want: func(o *Options) {
				o.NATSURL, o.NATSCreds = "nats://file:4222", "file.creds"
				o.NATSRootCAs = []string{"ca1.pem", "ca2.pem"}
				o.RequestTimeout, o.BufferSize, o.Debug = 4000, 100, true
				o.Addr, o.Port, o.WSPath, o.APIPath = ptr("127.0.0.1"), 9090, "/ws", "/api/"
				o.APIEncoding = "jsonflat"
				o.HeaderAuth, o.HeaderAuthRID, o.HeaderAuthMethod = ptr("auth.http.login"), "auth.http", "login"
				o.MetricsPort, o.AllowOrigin, o.PutMethod = 9091, ptr("https://example.com"), ptr("put")
				o.WSCompression, o.ResetThrottle, o.ReferenceThrottle = true, 3, 4
			},
		},
		{
			name:    "flags override file",
			content: fileJSON,
			args:    []string{"-n", "nats://flag:4222", "-p", "7000", "--natsrootca", "flag.pem", "--debug=false", "-u", "", "-i", "", "--alloworigin", "*"},
			want: func(o *Options) {
				o.NATSURL, o.NATSCreds = "nats://flag:4222", "file.creds"
				o.NATSRootCAs = []string{"flag.pem"}
				o.RequestTimeout, o.BufferSize = 4000, 100
				o.Addr, o.Port, o.WSPath, o.APIPath = ptr(""), 7000, "/ws", "/api/"
				o.APIEncoding = "jsonflat"
				o.MetricsPort, o.PutMethod = 9091, ptr("put")
				o.WSCompression, o.ResetThrottle, o.ReferenceThrottle = true, 3, 4
			},
		},
		{
			name:    "seconds timeout in file",
			content: `{"requestTimeout": 2}`,
			want:    func(o *Options) { o.RequestTimeout = 2000 },
		},
		{
			name:    "null pointers use defaults",
			content: `{"addr": null, "allowOrigin": null, "headerAuth": null}`,
			want:    func(o *Options) {},
		},
		{
			name:    "empty natsUrl means embedded",
			content: `{"natsUrl": ""}`,
			want:    func(o *Options) {},
		},
		{name: "syntax error", content: "{\n\t\"port\": 80,\n\t\"addr\": ,\n}", errText: "line 3, column"},
		{name: "type error", content: `{"port": "80"}`, errText: "cannot unmarshal"},
		{name: "port out of range", content: `{"port": 70000}`, errText: "error parsing config file"},
		{name: "invalid value in file", content: `{"wsHeaderAuth": "nodot"}`, errText: "invalid wsHeaderAuth setting (nodot)"},
		{name: "metrics port clash in file", content: `{"port": 9000, "metricsPort": 9000}`, errText: "invalid metrics port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-c", path}, tt.args...)
			got, err := parseOptions(args, new(bytes.Buffer))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("want an error, got %s", dump(got))
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error = %q, want it to contain %q", err, tt.errText)
				}
				if !strings.Contains(err.Error(), path) && !strings.HasPrefix(err.Error(), "invalid") {
					t.Fatalf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := defaultOptions()
			tt.want(&want)
			want.ConfigFile = path
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("options mismatch\n got: %s\nwant: %s", dump(got), dump(&want))
			}
		})
	}
}

func TestParseOptionsConfigFileCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resedge.json")
	args := []string{"--config", path, "-p", "9000", "--alloworigin", "http://a.com", "--putmethod", "set", "-r", "4"}

	var stderr bytes.Buffer
	first, err := parseOptions(args, &stderr)
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

	// Every Resgate key is written.
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
	if keys["natsUrl"] != "" || keys["port"] != float64(9000) || keys["allowOrigin"] != "http://a.com" || keys["requestTimeout"] != float64(4000) {
		t.Errorf("written config does not hold the flag values:\n%s", data)
	}

	// Reading the file back without flags gives the same options.
	second, err := parseOptions([]string{"-c", path}, &stderr)
	if err != nil {
		t.Fatalf("re-reading the created config: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("re-read options differ\nfirst:  %s\nsecond: %s", dump(first), dump(second))
	}
}

func TestParseOptionsConfigFileUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory cannot be read as a file
	_, err := parseOptions([]string{"-c", dir}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "error loading config file "+dir) {
		t.Fatalf("error = %v, want a load error naming %s", err, dir)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		t.Errorf("config file errors should not print usage")
	}
}

func TestParseOptionsInvalidNotWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.json")
	if _, err := parseOptions([]string{"-c", path, "-i", "bad"}, new(bytes.Buffer)); err == nil {
		t.Fatal("want an error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an invalid configuration was written to %s", path)
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		addr *string
		port uint16
		want string
	}{
		{nil, 8080, "0.0.0.0:8080"},
		{ptr(""), 80, ":80"},
		{ptr("127.0.0.1"), 9000, "127.0.0.1:9000"},
		{ptr("::1"), 8080, "[::1]:8080"},
	}
	for _, tt := range tests {
		o := Options{Addr: tt.addr, Port: tt.port}
		if got := o.ListenAddr(); got != tt.want {
			t.Errorf("ListenAddr() = %q, want %q", got, tt.want)
		}
	}
}

func TestUsageAndVersionOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exit code = %d", code)
	}
	if got, want := stdout.String(), "resedge  v"+Version+"\nprotocol v1.2.3\n"; got != want {
		t.Errorf("--version output = %q, want %q", got, want)
	}

	stdout.Reset()
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-h exit code = %d", code)
	}
	if !strings.Contains(stdout.String(), "Usage: resedge [options]") {
		t.Errorf("-h output lacks the usage line:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"--nope"}, &stdout, &stderr); code != 1 {
		t.Fatalf("bad flag exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "-nope") || !strings.Contains(stderr.String(), "Usage: resedge") {
		t.Errorf("bad flag stderr lacks the error or usage:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("bad flag wrote to stdout: %q", stdout.String())
	}
}
