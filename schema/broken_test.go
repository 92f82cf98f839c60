package schema

import (
	"errors"
	"testing"
)

// brokenConfigs are configs with mistakes, and the exact error each gives.
var brokenConfigs = []struct {
	name, file, content, want string
}{
	{
		name: "misspelt keys at every level",
		file: "config.yaml",
		content: `
nats:
  url: [nats://127.0.0.1:4222]
engine:
  limits:
    writeQueues: 10
listeners:
  default:
    adress: ":8080"
    wsPath: /ws
`,
		want: `config.yaml:3: nats.url: unknown key (did you mean "urls"?)
config.yaml:6: engine.limits.writeQueues: unknown key (did you mean "writeQueue"?)
config.yaml:8: listeners.default: missing required key "address"
config.yaml:9: listeners.default.adress: unknown key (did you mean "address"?)
config.yaml:10: listeners.default.wsPath: unknown key (did you mean "wsPaths"?)`,
	},
	{
		name: "Resgate keys in a resedge config",
		file: "config.yaml",
		content: `
natsUrl: nats://127.0.0.1:4222
listeners:
  default:
    address: ":8080"
    port: 8080
`,
		want: `config.yaml:2: natsUrl: unknown key (did you mean "nats.urls"?)
config.yaml:6: listeners.default.port: unknown key (did you mean "address"?)`,
	},
	{
		name: "wrong types and values",
		file: "config.yaml",
		content: `
nats:
  urls: nats://127.0.0.1:4222
  bufferSize: 0
  requestTimeout: 3 seconds
log:
  level: verbose
  trace: yes please
listeners:
  default:
    address: ":8080"
    kind: metric
    maxConnections: -1
`,
		want: `config.yaml:3: nats.urls: must be a list, got "nats://127.0.0.1:4222"
config.yaml:4: nats.bufferSize: must be at least 1, got 0
config.yaml:5: nats.requestTimeout: must be a number of milliseconds or a duration such as "3s" or "250ms", got "3 seconds"
config.yaml:7: log.level: must be one of "debug", "info", "warn", "error", got "verbose"
config.yaml:8: log.trace: must be true or false, got "yes please"
config.yaml:12: listeners.default.kind: must be one of "http", "metrics", "redirect", got "metric" (did you mean "metrics"?)
config.yaml:13: listeners.default.maxConnections: must be at least 0, got -1`,
	},
	{
		name: "duplicate listener names",
		file: "config.json",
		content: `{
  "listeners": {
    "public": {"address": ":8080"},
    "public": {"address": ":8081"},
    "Internal": {"address": ":9000"},
    "internal": {"address": ":9001"}
  }
}`,
		want: `config.json:4: listeners.public: duplicate key (first at line 3)
config.json:6: listeners.internal: same name as listener "Internal" apart from case, "-" or "_"; names must differ in more (their environment variables would clash)`,
	},
	{
		name: "duplicate addresses",
		file: "config.yaml",
		content: `
listeners:
  a:
    address: 127.0.0.1:8080
  b:
    address: 0.0.0.0:8080
  c:
    address: 127.0.0.2:8080
  d:
    address: systemd:web
  e:
    address: systemd:web
`,
		want: `config.yaml:6: listeners.b.address: port 8080 is also used by listener "a"
config.yaml:8: listeners.c.address: port 8080 is also used by listener "b"
config.yaml:12: listeners.e.address: socket "web" is also used by listener "d"`,
	},
	{
		name: "metrics port equal to an API port",
		file: "config.yaml",
		content: `
listeners:
  api:
    address: ":8080"
  metrics:
    kind: metrics
    address: ":8080"
`,
		want: `config.yaml:7: listeners.metrics.address: metrics port 8080 must be different from the API port of listener "api"`,
	},
	{
		name: "unknown TLS reference",
		file: "config.yaml",
		content: `
tls:
  public:
    certFile: /etc/resedge/cert.pem
    keyFile: /etc/resedge/key.pem
listeners:
  default:
    address: ":443"
    tls: pubic
`,
		want: `config.yaml:9: listeners.default.tls: unknown TLS settings "pubic" (did you mean "public"?)`,
	},
	{
		name: "bad origins",
		file: "config.yaml",
		content: `
listeners:
  default:
    address: ":8080"
    allowOrigin: ["*", "https://app.example.com/", "app.example.com", "https://user@example.com"]
`,
		want: `config.yaml:5: listeners.default.allowOrigin[0]: "*" must be the only origin
config.yaml:5: listeners.default.allowOrigin[1]: invalid origin "https://app.example.com/": must be <scheme>://<host>[:<port>]
config.yaml:5: listeners.default.allowOrigin[2]: invalid origin "app.example.com": must be <scheme>://<host>[:<port>]
config.yaml:5: listeners.default.allowOrigin[3]: invalid origin "https://user@example.com": must be <scheme>://<host>[:<port>]`,
	},
	{
		name: "bad resource patterns, auth and call methods",
		file: "config.yaml",
		content: `
listeners:
  default:
    address: ":8080"
    resources:
      - example.>
      - example..model
      - example.>.model
      - "example model"
    headerAuth: auth
    wsHeaderAuth: auth.user.login?x=1
    putMethod: set.value
`,
		want: `config.yaml:7: listeners.default.resources[1]: invalid resource pattern "example..model": use dot-separated names, "*" for one part and a final ">" for the rest
config.yaml:8: listeners.default.resources[2]: invalid resource pattern "example.>.model": use dot-separated names, "*" for one part and a final ">" for the rest
config.yaml:9: listeners.default.resources[3]: invalid resource pattern "example model": use dot-separated names, "*" for one part and a final ">" for the rest
config.yaml:10: listeners.default.headerAuth: invalid resource method "auth": must be <resource>.<method>, such as "auth.header.login"
config.yaml:11: listeners.default.wsHeaderAuth: invalid resource method "auth.user.login?x=1": must be <resource>.<method>, such as "auth.header.login"
config.yaml:12: listeners.default.putMethod: invalid call method name "set.value"`,
	},
	{
		name: "keys a listener kind may not use",
		file: "config.yaml",
		content: `
listeners:
  default:
    address: ":443"
    tls: {certFile: c.pem, keyFile: k.pem}
    redirectTo: http
  metrics:
    kind: metrics
    address: ":9100"
    wsPaths: [/]
    allowOrigin: ["*"]
  http:
    kind: redirect
    address: ":80"
    tls: {certFile: c.pem, keyFile: k.pem}
`,
		want: `config.yaml:6: listeners.default.redirectTo: only allowed on a redirect listener
config.yaml:10: listeners.metrics.wsPaths: not allowed on a metrics listener
config.yaml:11: listeners.metrics.allowOrigin: not allowed on a metrics listener
config.yaml:15: listeners.http.tls: not allowed on a redirect listener`,
	},
	{
		name: "TLS settings",
		file: "config.yaml",
		content: `
tls:
  both:
    certFile: c.pem
    keyFile: k.pem
    acme: {domains: [example.com]}
  half:
    certFile: c.pem
  empty: {}
  acme:
    acme:
      domains: [example.com, -bad-.example.com]
      email: ops
      ca: ftp://ca.example.com
      typo: 1
listeners:
  a: {address: ":443", tls: both}
  b: {address: ":444", tls: half}
  c: {address: ":445", tls: empty}
  d: {address: ":446", tls: acme}
  e: {address: ":80"}
`,
		want: `config.yaml:3: tls.both: use either certFile and keyFile, or acme, not both
config.yaml:7: tls.half: missing keyFile (certFile is set)
config.yaml:9: tls.empty: needs certFile and keyFile, or acme
config.yaml:12: tls.acme.acme.domains[1]: invalid domain name "-bad-.example.com"
config.yaml:13: tls.acme.acme.email: invalid e-mail address "ops"
config.yaml:14: tls.acme.acme.ca: invalid ACME directory URL "ftp://ca.example.com": must be an https:// URL
config.yaml:15: tls.acme.acme.typo: unknown key`,
	},
	{
		name: "TLS and NATS security settings",
		file: "config.yaml",
		content: `
nats:
  creds: /etc/resedge/a.creds
  nkeySeed: /etc/resedge/a.nk
tls:
  auto:
    minVersion: "1.1"
    acme:
      ca: https://ca.example.com/dir
      staging: true
      eab: {keyId: kid, macKey: "not base64!"}
      onDemand: {}
  od:
    acme:
      onDemand: {allow: ["*.tenants.example", "bad name"], ask: "ftp://x"}
listeners:
  a: {address: ":443", tls: auto}
  b: {address: ":444", tls: od}
`,
		want: `config.yaml:2: nats: use either creds or nkeySeed, not both
config.yaml:7: tls.auto.minVersion: must be one of "1.2", "1.3", got "1.1" (did you mean "1.2"?)
config.yaml:8: tls.auto.acme: use either ca or staging, not both
config.yaml:11: tls.auto.acme.eab.macKey: must be the base64url HMAC key the CA gave
config.yaml:12: tls.auto.acme.onDemand: needs allow or ask, so that not every name gets a certificate
config.yaml:15: tls.od.acme.onDemand.allow[1]: invalid domain name "bad name"
config.yaml:15: tls.od.acme.onDemand.ask: invalid URL "ftp://x": must be an http:// or https:// URL
config.yaml:18: listeners.b.tls: ACME cannot validate this listener: it needs port 443 (TLS-ALPN-01) or a plain listener on port 80 (HTTP-01); set acme.altTLSALPNPort or acme.altHTTPPort if a port is forwarded`,
	},
	{
		name: "ACME default server names",
		file: "config.yaml",
		content: `
tls:
  a:
    acme: {domains: [a.example.com, "*.t.example.com"], defaultServerName: b.example.com, altTLSALPNPort: 8443}
  b:
    acme: {domains: [a.example.com], defaultServerName: "*.example.com", altTLSALPNPort: 8443}
  ok:
    acme: {domains: [a.example.com, "*.t.example.com"], defaultServerName: X.t.example.com, altTLSALPNPort: 8443}
  od:
    acme: {onDemand: {allow: [c.example.com]}, defaultServerName: c.example.com, altTLSALPNPort: 8443}
listeners:
  a: {address: ":8443", tls: a}
  b: {address: ":8444", tls: b}
  ok: {address: ":8445", tls: ok}
  od: {address: ":8446", tls: od}
`,
		want: `config.yaml:4: tls.a.acme.defaultServerName: "b.example.com" is not among the domains, so no certificate would be obtained for it
config.yaml:6: tls.b.acme.defaultServerName: invalid server name "*.example.com": must be a domain name, not a wildcard`,
	},
	{
		name: "PROXY protocol",
		file: "config.yaml",
		content: `
listeners:
  a:
    address: ":8080"
    proxyProtocol: {allow: [10.0.0.0/8, "fe80::1%eth0", 10.0.0.300, "10.1.0.0/33", "2001:db8::/32"]}
  b:
    address: ":8081"
    proxyProtocol: {allow: []}
  c:
    address: ":8082"
    proxyProtocol: {}
`,
		want: `config.yaml:5: listeners.a.proxyProtocol.allow[1]: invalid address "fe80::1%eth0": must be an IP address or a CIDR range
config.yaml:5: listeners.a.proxyProtocol.allow[2]: invalid address "10.0.0.300": must be an IP address or a CIDR range
config.yaml:5: listeners.a.proxyProtocol.allow[3]: invalid address "10.1.0.0/33": must be an IP address or a CIDR range
config.yaml:8: listeners.b.proxyProtocol.allow: must not be empty
config.yaml:11: listeners.c.proxyProtocol: missing required key "allow"`,
	},
	{
		name: "ACME without a challenge port",
		file: "config.yaml",
		content: `
tls:
  auto:
    acme: {domains: [realtime.example.com]}
listeners:
  public:
    address: ":8443"
    tls: auto
`,
		want: `config.yaml:8: listeners.public.tls: ACME cannot validate this listener: it needs port 443 (TLS-ALPN-01) or a plain listener on port 80 (HTTP-01); set acme.altTLSALPNPort or acme.altHTTPPort if a port is forwarded`,
	},
	{
		name: "redirect to a listener without TLS",
		file: "config.yaml",
		content: `
listeners:
  web:
    address: ":8080"
  http:
    kind: redirect
    address: ":80"
    redirectTo: web
  http2:
    kind: redirect
    address: ":81"
    redirectTo: wbe
`,
		want: `config.yaml:8: listeners.http.redirectTo: listener "web" is not an http listener with TLS
config.yaml:12: listeners.http2.redirectTo: unknown listener "wbe" (did you mean "web"?)`,
	},
	{
		name: "addresses, names and paths",
		file: "config.yaml",
		content: `
listeners:
  "bad name":
    address: ":1"
  a:
    address: "8080"
  b:
    address: ":99999"
  c:
    address: "systemd:"
  d:
    address: ":8081"
    wsPaths: [ws]
    apiPath: api/
  e:
    address: ":8082"
    wsPaths: []
    apiPath: ""
`,
		want: `config.yaml:3: listeners["bad name"]: invalid listener name "bad name": use up to 64 letters, digits, "-" and "_", starting with a letter or digit
config.yaml:6: listeners.a.address: invalid address "8080": must be host:port, :port or systemd:<name>
config.yaml:8: listeners.b.address: invalid address ":99999": invalid port "99999"
config.yaml:10: listeners.c.address: invalid address "systemd:": invalid systemd socket name "": use printable ASCII without spaces or ":"
config.yaml:13: listeners.d.wsPaths[0]: must start with "/", got "ws"
config.yaml:14: listeners.d.apiPath: must start with "/", got "api/"
config.yaml:15: listeners.e: serves neither WebSocket (wsPaths) nor the HTTP API (apiPath)`,
	},
	{
		name: "no http listener",
		file: "config.yaml",
		content: `
listeners:
  metrics:
    kind: metrics
    address: ":9100"
`,
		want: `config.yaml:2: listeners: at least one http listener is required`,
	},
	{
		name: "NATS settings",
		file: "config.toml",
		content: `
[nats]
urls = ["nats://a:4222", "http://b:4222", "nats://:4222"]
cert = "client.pem"
requestTimeout = 0

[engine]
unsubscribeDelay = "-5s"
`,
		want: `config.toml:2: nats: missing key (cert is set)
config.toml:3: nats.urls[1]: invalid NATS URL "http://b:4222": scheme must be nats, tls, ws or wss
config.toml:3: nats.urls[2]: invalid NATS URL "nats://:4222": missing host
config.toml:5: nats.requestTimeout: must be more than 0
config.toml:8: engine.unsubscribeDelay: must be a number of milliseconds or a duration such as "3s" or "250ms", got "-5s"`,
	},
	{
		name: "duplicate list items",
		file: "config.yaml",
		content: `
listeners:
  default:
    address: ":8080"
    wsPaths: [/, /ws, /]
    resources: [a.>, a.>]
`,
		want: `config.yaml:5: listeners.default.wsPaths[2]: duplicate of item 0 ("/")
config.yaml:6: listeners.default.resources[1]: duplicate of item 0 ("a.>")`,
	},
	{
		name: "JSON syntax error",
		file: "config.json",
		content: `{
  "nats": {
    "urls": ["nats://127.0.0.1:4222",]
  }
}`,
		want: `config.json:3: syntax error: invalid character ']' looking for beginning of value`,
	},
	{
		name: "YAML syntax error",
		file: "config.yaml",
		content: `
listeners:
  default:
    address: ":8080"
   wsPaths: [/]
`,
		// The YAML parser gives the line of the mapping it was reading.
		want: `config.yaml:2: syntax error: did not find expected key`,
	},
	{
		name: "TOML syntax error",
		file: "config.toml",
		content: `
[listeners.default]
address = ":8080
`,
		want: `config.toml:3: syntax error: toml: basic strings cannot have new lines`,
	},
	{
		name:    "configuration that is not an object",
		file:    "config.yaml",
		content: `- listeners`,
		want:    `config.yaml:1: the configuration must be a mapping of keys to values`,
	},
	{
		name: "Resgate config file",
		file: "resgate.json",
		content: `{
	"natsUrl": "nats://127.0.0.1:4222",
	"addr": "localhost",
	"port": 8080,
	"metricsPort": 8080,
	"requestTimeout": -1,
	"allowOrigin": "https://a.example.com;*",
	"headerAuth": "auth",
	"tls": true,
	"certFile": "c.pem",
	"tlsCert": "other.pem",
	"wsPat": "/ws"
}`,
		want: `resgate.json:3: addr: invalid addr "localhost": must be a valid IPv4 or IPv6 address
resgate.json:5: metricsPort: metrics port 8080 must be different from the API port of listener "default"
resgate.json:6: requestTimeout: must be a positive number of milliseconds, got -1
resgate.json:7: allowOrigin: "*" must be the only origin
resgate.json:8: headerAuth: invalid resource method "auth": must be <resource>.<method>, such as "auth.header.login"
resgate.json:9: tls: missing keyFile (certFile is set)
resgate.json:11: tlsCert: conflicts with certFile "c.pem"
resgate.json:12: wsPat: unknown key (did you mean "wsPath"?)`,
	},
	{
		name: "Resgate config file with wrong types",
		file: "resgate.json",
		content: `{
	"natsUrl": ["nats://127.0.0.1:4222"],
	"port": 70000,
	"debug": "true"
}`,
		want: `resgate.json:2: natsUrl: must be a string or null, got a list
resgate.json:3: port: must be at most 65535, got 70000
resgate.json:4: debug: must be true, false or null, got "true"`,
	},
}

func TestBrokenConfigs(t *testing.T) {
	for _, tc := range brokenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			f := writeConfig(t, tc.file, tc.content)
			got := loadError(t, LoadOptions{File: f})
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			_, err := Load(LoadOptions{File: f})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.File != f || (p.Line == 0 && tc.file != "config.toml") {
					t.Errorf("problem %q: File %q Line %d, want the file and a line", p, p.File, p.Line)
				}
			}
		})
	}
}
