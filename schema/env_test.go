package schema

import (
	"reflect"
	"testing"
	"time"
)

const layeredFile = `
nats:
  urls: [nats://file:4222]
  requestTimeout: 1s
log:
  level: warn
listeners:
  public:
    address: ":8080"
    wsPaths: [/file]
  my-api:
    address: ":8081"
`

// TestOverridesWinOverFile: environment variables win over the file, flags
// win over both, and untouched keys keep their file values.
func TestOverridesWinOverFile(t *testing.T) {
	f := writeConfig(t, "config.yaml", layeredFile)
	env := []string{
		"PATH=/bin",
		"RESEDGE_NATS_URLS=nats://env-a:4222, nats://env-b:4222",
		"RESEDGE_LOG_LEVEL=info",
		"RESEDGE_LISTENERS_PUBLIC_ADDRESS=:9000",
		"RESEDGE_LISTENERS_PUBLIC_WSPATHS=[\"/env\"]",
	}
	c := mustLoad(t, LoadOptions{File: f, Env: env})
	pub := c.Listeners["public"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"env list", c.NATS.URLs, []string{"nats://env-a:4222", "nats://env-b:4222"}},
		{"file value kept", c.NATS.RequestTimeout.D(), time.Second},
		{"env scalar", c.Log.Level, "info"},
		{"env listener key", pub.Address, ":9000"},
		{"env JSON list", pub.WSPaths, []string{"/env"}},
		{"file listener untouched", c.Listeners["my-api"].Address, ":8081"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}

	c = mustLoad(t, LoadOptions{File: f, Env: env, Flags: flags(
		"listeners.public.address", ":9100",
		"log.level", "debug",
		"nats.requestTimeout", "2500",
	)})
	if pub := c.Listeners["public"]; pub.Address != ":9100" {
		t.Errorf("flag over env: address %q", pub.Address)
	}
	if c.Log.Level != "debug" {
		t.Errorf("flag over env: level %q", c.Log.Level)
	}
	if c.NATS.RequestTimeout.D() != 2500*time.Millisecond {
		t.Errorf("flag over file: requestTimeout %v", c.NATS.RequestTimeout)
	}

	// Resgate flags win over the environment too.
	one := writeConfig(t, "config.yaml", "listeners:\n  web:\n    address: \":8080\"\n")
	c = mustLoad(t, LoadOptions{File: one, Env: []string{"RESEDGE_LISTENERS_WEB_ADDRESS=:8090", "RESEDGE_LOG_TRACE=true"}, Flags: flags("p", "8095", "V", "false")})
	if c.Listeners["web"].Address != ":8095" || c.Log.Trace {
		t.Errorf("Resgate flags over env: address %q, trace %v", c.Listeners["web"].Address, c.Log.Trace)
	}
}

// TestEnvMapping: how variable names map to keys.
func TestEnvMapping(t *testing.T) {
	f := writeConfig(t, "config.yaml", layeredFile)
	tests := []struct {
		env   string
		check func(c *Config) any
		want  any
	}{
		{"RESEDGE_NATS_REQUESTTIMEOUT=5s", func(c *Config) any { return c.NATS.RequestTimeout.D() }, 5 * time.Second},
		{"RESEDGE_NATS_REQUEST_TIMEOUT=250", func(c *Config) any { return c.NATS.RequestTimeout.D() }, 250 * time.Millisecond},
		{"RESEDGE_NATS_BUFFERSIZE=100", func(c *Config) any { return c.NATS.BufferSize }, 100},
		{"RESEDGE_ENGINE_LIMITS_WRITE_QUEUE=10", func(c *Config) any { return c.Engine.Limits.WriteQueue }, 10},
		{"RESEDGE_ENGINE_REPLYMALFORMED=true", func(c *Config) any { return c.Engine.ReplyMalformed }, true},
		{"RESEDGE_LISTENERS_MY_API_ADDRESS=:7000", func(c *Config) any { return c.Listeners["my-api"].Address }, ":7000"},
		{"RESEDGE_LISTENERS_PUBLIC_ALLOWORIGIN=https://a.example.com,https://b.example.com", func(c *Config) any { return c.Listeners["public"].AllowOrigin }, []string{"https://a.example.com", "https://b.example.com"}},
		{"RESEDGE_LISTENERS_PUBLIC_APIPATH=", func(c *Config) any { return c.Listeners["public"].APIPath }, ""},
		{"RESEDGE_LISTENERS_PUBLIC_TLS_CERTFILE=c.pem", func(c *Config) any { return c.Listeners["public"].TLS.Inline.CertFile }, "c.pem"},
		{"RESEDGE_LISTENERS_NEW_ONE_ADDRESS=:7001", func(c *Config) any { return c.Listeners["new_one"].WSPaths }, []string{"/"}},
		{"RESEDGE_TLS_MAIN_ACME_DOMAINS=a.example.com", func(c *Config) any { return c.TLS["main"].ACME.Domains }, []string{"a.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			env := []string{tc.env}
			if tc.env == "RESEDGE_LISTENERS_PUBLIC_TLS_CERTFILE=c.pem" {
				env = append(env, "RESEDGE_LISTENERS_PUBLIC_TLS_KEYFILE=k.pem")
			}
			c := mustLoad(t, LoadOptions{File: f, Env: env})
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnvAndFlagErrors(t *testing.T) {
	f := writeConfig(t, "config.yaml", layeredFile)
	got := loadError(t, LoadOptions{File: f,
		Env: []string{
			"RESEDGE_NATS_URL=nats://x:4222",
			"RESEDGE_LISTENERS=x",
			"RESEDGE_LISTENERS_PUBLIC_MAXCONNECTIONS=many",
			"RESEDGE_LISTENERS_EXTRA_WSPATHS=/x",
			"RESEDGE_LOGG_LEVEL=debug",
			"RESEDGE_LISTENERS__X_ADDRESS=:1",
		},
		Flags: flags("listeners.public.adress", ":1", "listners.public.address", ":1", "nats", "http://x", "p", "abc", "engine", "x"),
	})
	want := `env RESEDGE_LISTENERS: names a group of keys; set one of its keys
env RESEDGE_LISTENERS_EXTRA_WSPATHS: listeners.extra: missing required key "address"
env RESEDGE_LISTENERS_PUBLIC_MAXCONNECTIONS: listeners.public.maxConnections: must be an integer, got "many"
env RESEDGE_LISTENERS__X_ADDRESS: invalid name "_x": use up to 64 letters, digits, "-" and "_", starting with a letter or digit
env RESEDGE_LOGG_LEVEL: unknown key (did you mean "RESEDGE_LOG_LEVEL"?)
env RESEDGE_NATS_URL: unknown key (did you mean "RESEDGE_NATS_URLS"?)
flag --engine: unknown flag
flag --listeners.public.adress: unknown key (did you mean "--listeners.public.address"?)
flag --listners.public.address: unknown key (did you mean "--listeners.public.address"?)
flag --nats: nats.urls[0]: invalid NATS URL "http://x": scheme must be nats, tls, ws or wss
flag --port: invalid value "abc": must be a port number`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
