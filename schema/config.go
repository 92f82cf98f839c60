package schema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Listener kinds.
const (
	// KindHTTP serves WebSocket clients and the HTTP API.
	KindHTTP = "http"
	// KindMetrics serves /healthz for now; OpenMetrics at /metrics comes
	// with the observability work.
	KindMetrics = "metrics"
	// KindRedirect answers every plain HTTP request with a redirect to
	// HTTPS, except ACME HTTP-01 challenges, which it answers.
	KindRedirect = "redirect"
)

// SystemdPrefix starts a listener address naming a socket passed by systemd
// socket activation: "systemd:public" is the socket whose
// FileDescriptorName= is "public".
const SystemdPrefix = "systemd:"

// Defaults used by Default and by Load for keys left unset. They match
// Resgate v1.8.0 where Resgate has the setting.
const (
	DefaultAddress                  = "0.0.0.0:8080"   // address of the listener used when none is configured
	DefaultListenerName             = "default"        // its name, and the name of a Resgate config's listener
	DefaultMetricsListenerName      = "metrics"        // name of the listener a Resgate metricsPort gives
	DefaultWSPath                   = "/"              // an http listener's WebSocket path
	DefaultAPIPath                  = "/api/"          // an http listener's HTTP API prefix
	DefaultAPIEncoding              = "json"           // an http listener's HTTP API encoding
	DefaultBufferSize               = 8192             // nats.bufferSize
	DefaultRequestTimeout           = 3 * time.Second  // nats.requestTimeout
	DefaultUnsubscribeDelay         = 5 * time.Second  // engine.unsubscribeDelay
	DefaultSubscriptionsPerResource = 256              // engine.limits.subscriptionsPerResource
	DefaultSubscriptionsPerConn     = 10000            // engine.limits.subscriptionsPerConnection
	DefaultWriteQueue               = 4096             // engine.limits.writeQueue
	DefaultMaxMessageSize           = 4 << 20          // engine.limits.maxMessageSize
	DefaultWriteTimeout             = 10 * time.Second // engine.limits.writeTimeout
	DefaultMaxBodySize              = 1 << 20          // engine.limits.maxBodySize
	DefaultReadHeaderTimeout        = 10 * time.Second // engine.limits.readHeaderTimeout
	DefaultReadTimeout              = 30 * time.Second // engine.limits.readTimeout
	DefaultIdleTimeout              = 2 * time.Minute  // engine.limits.idleTimeout
	DefaultMaxHeaderBytes           = 1 << 20          // engine.limits.maxHeaderBytes
	DefaultPingInterval             = 30 * time.Second // engine.limits.pingInterval
	DefaultPongTimeout              = 30 * time.Second // engine.limits.pongTimeout
	DefaultLameDuck                 = 5 * time.Second  // shutdown.lameDuck
	DefaultLogLevel                 = "info"           // log.level
	DefaultLogFormat                = "auto"           // log.format
)

// Config is the whole resedge configuration.
//
// Listeners and named TLS settings are maps keyed by name rather than lists
// with a name field: configuration layers merge maps key by key but replace
// lists whole, so an overlay (a second file, RESEDGE_LISTENERS_PUBLIC_ADDRESS,
// --listeners.public.address) can change one listener without restating the
// others, names are unique by construction, and a name is a stable identity
// for reloads, logs and metrics (as Caddy's servers and Traefik's
// entryPoints). Use ListenerNames for a deterministic order.
type Config struct {
	// NATS is the connection to the services.
	NATS NATS `koanf:"nats" json:"nats"`
	// Engine tunes the RES protocol engine.
	Engine Engine `koanf:"engine" json:"engine"`
	// Log configures logging.
	Log Log `koanf:"log" json:"log"`
	// Shutdown configures how resedge stops.
	Shutdown Shutdown `koanf:"shutdown" json:"shutdown"`
	// TLS holds named TLS settings that listeners reference by name.
	TLS map[string]*TLS `koanf:"tls" json:"tls,omitempty"`
	// Listeners are the listeners by name. Each Listener's Name is its key.
	Listeners map[string]*Listener `koanf:"listeners" json:"listeners"`
}

// NATS configures the NATS connection.
type NATS struct {
	// URLs are the NATS server URLs. Empty means: start an embedded NATS
	// server on 127.0.0.1:4222.
	URLs []string `koanf:"urls" json:"urls"`
	// Creds is a NATS user credentials file (JWT and NKey seed).
	Creds string `koanf:"creds" json:"creds,omitempty"`
	// NKeySeed is a file holding an NKey seed ("SU..."), for servers that
	// authenticate users by NKey. Not with Creds.
	NKeySeed string `koanf:"nkeySeed" json:"nkeySeed,omitempty"`
	// Cert and Key are the client certificate and key files for NATS
	// mutual TLS. Both or neither are set.
	Cert string `koanf:"cert" json:"cert,omitempty"`
	Key  string `koanf:"key" json:"key,omitempty"`
	// RootCAs are root CA files used to verify the NATS server.
	RootCAs []string `koanf:"rootCAs" json:"rootCAs"`
	// BufferSize is the capacity of the inbound NATS message buffer.
	BufferSize int `koanf:"bufferSize" json:"bufferSize"`
	// RequestTimeout is how long a NATS request waits for its response.
	RequestTimeout Duration `koanf:"requestTimeout" json:"requestTimeout"`
	// Outage is what happens while the NATS connection is lost: OutageClose
	// (the default), OutageResync or OutageExit.
	Outage string `koanf:"outage" json:"outage"`
}

// NATS outage modes (NATS.Outage).
const (
	// OutageClose closes every client with a going-away close frame,
	// answers new WebSocket upgrades and HTTP API requests with 503 until
	// NATS is back, then serves again from an empty cache: what the RES
	// protocol recommends.
	OutageClose = "close"
	// OutageResync keeps clients connected, fails their requests at once
	// during the outage, and when NATS is back fetches every cached
	// resource and checks access again, as a system.reset of everything.
	OutageResync = "resync"
	// OutageExit exits the process, as Resgate does.
	OutageExit = "exit"
)

// Engine tunes the RES protocol engine (resproto.Config).
type Engine struct {
	// ResetThrottle caps the parallel requests caused by one system.reset;
	// zero is no limit.
	ResetThrottle int `koanf:"resetThrottle" json:"resetThrottle"`
	// ReferenceThrottle caps the parallel requests while following the
	// references of a new subscription; zero is no limit.
	ReferenceThrottle int `koanf:"referenceThrottle" json:"referenceThrottle"`
	// UnsubscribeDelay is how long an unused cached resource is kept. Zero
	// evicts at once (resproto.Config wants a negative value for that).
	UnsubscribeDelay Duration `koanf:"unsubscribeDelay" json:"unsubscribeDelay"`
	// ReplyMalformed answers a malformed client message with
	// system.invalidRequest instead of ignoring it as Resgate does.
	ReplyMalformed bool `koanf:"replyMalformed" json:"replyMalformed"`
	// Limits bound what one client may cost.
	Limits Limits `koanf:"limits" json:"limits"`
}

// Limits bound what one client may cost. They apply to every listener.
type Limits struct {
	// SubscriptionsPerResource caps the direct subscriptions one connection
	// may hold on one resource (Resgate's fixed 256).
	SubscriptionsPerResource int `koanf:"subscriptionsPerResource" json:"subscriptionsPerResource"`
	// SubscriptionsPerConnection caps the distinct resources one
	// connection may subscribe to directly (those it holds through
	// references do not count). Zero is no limit, as in Resgate.
	SubscriptionsPerConnection int `koanf:"subscriptionsPerConnection" json:"subscriptionsPerConnection"`
	// WriteQueue is the number of messages a connection may have waiting
	// to be written before it is closed as a slow consumer.
	WriteQueue int `koanf:"writeQueue" json:"writeQueue"`
	// MaxMessageSize is the largest message a WebSocket client may send, in
	// bytes.
	MaxMessageSize int `koanf:"maxMessageSize" json:"maxMessageSize"`
	// WriteTimeout bounds one write to a WebSocket client.
	WriteTimeout Duration `koanf:"writeTimeout" json:"writeTimeout"`
	// MaxBodySize is the largest HTTP API request body accepted, in bytes;
	// a larger one is answered with 413.
	MaxBodySize int `koanf:"maxBodySize" json:"maxBodySize"`
	// ReadHeaderTimeout bounds how long a client may take to send the
	// headers of an HTTP request (or WebSocket upgrade); a slower one is
	// disconnected.
	ReadHeaderTimeout Duration `koanf:"readHeaderTimeout" json:"readHeaderTimeout"`
	// ReadTimeout bounds how long a client may take to send the body of an
	// HTTP API request; a slower one gets 408.
	ReadTimeout Duration `koanf:"readTimeout" json:"readTimeout"`
	// IdleTimeout is how long an idle keep-alive HTTP connection is kept
	// open.
	IdleTimeout Duration `koanf:"idleTimeout" json:"idleTimeout"`
	// MaxHeaderBytes caps the size of an HTTP request's headers; larger
	// ones get 431.
	MaxHeaderBytes int `koanf:"maxHeaderBytes" json:"maxHeaderBytes"`
	// PingInterval is how often a WebSocket client is sent a ping. Zero
	// sends none (as Resgate).
	PingInterval Duration `koanf:"pingInterval" json:"pingInterval"`
	// PongTimeout is how long a WebSocket client may take to answer a ping
	// with a pong; then it is closed as dead.
	PongTimeout Duration `koanf:"pongTimeout" json:"pongTimeout"`
}

// Shutdown configures how resedge stops.
type Shutdown struct {
	// LameDuck is the window over which WebSocket clients are closed, one
	// after another, when resedge is stopped with SIGTERM: readiness goes
	// false and new connections are refused at once, and clients
	// reconnecting elsewhere arrive spread over the window rather than all
	// at once. Zero closes them all at once.
	LameDuck Duration `koanf:"lameDuck" json:"lameDuck"`
}

// Log configures logging.
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error.
	Level string `koanf:"level" json:"level"`
	// Format is auto (tint on a terminal, text otherwise), text, json or
	// tint.
	Format string `koanf:"format" json:"format"`
	// Trace logs every client and NATS message (Resgate's -V).
	Trace bool `koanf:"trace" json:"trace"`
}

// TLS is a TLS setting: a certificate and key file, or ACME. Exactly one of
// the two forms is used. Validate does not read the files.
type TLS struct {
	// CertFile and KeyFile are PEM files of the certificate chain and its
	// private key.
	CertFile string `koanf:"certFile" json:"certFile,omitempty"`
	KeyFile  string `koanf:"keyFile" json:"keyFile,omitempty"`
	// ACME obtains and renews certificates automatically.
	ACME *ACME `koanf:"acme" json:"acme,omitempty"`
	// MinVersion is the lowest TLS version accepted: "1.2" (also when
	// empty) or "1.3".
	MinVersion string `koanf:"minVersion" json:"minVersion,omitempty"`
}

// ACME configures automatic certificates from an ACME CA.
type ACME struct {
	// Domains are the names certificates are obtained for at start. A
	// leading "*." asks for a wildcard (which needs a DNS challenge). May
	// be empty with OnDemand.
	Domains []string `koanf:"domains" json:"domains"`
	// Email is the ACME account e-mail, for expiry notices.
	Email string `koanf:"email" json:"email,omitempty"`
	// CA is the ACME directory URL. Empty means Let's Encrypt production
	// (or staging, with Staging).
	CA string `koanf:"ca" json:"ca,omitempty"`
	// Staging uses Let's Encrypt's staging CA (untrusted certificates,
	// generous rate limits), for trying a setup out. Not with CA.
	Staging bool `koanf:"staging" json:"staging,omitempty"`
	// EAB is the External Account Binding some CAs (ZeroSSL, Google,
	// private CAs) require to create an account.
	EAB *EAB `koanf:"eab" json:"eab,omitempty"`
	// OnDemand, when set, obtains certificates during the TLS handshake
	// for names not in Domains that it allows.
	OnDemand *OnDemand `koanf:"onDemand" json:"onDemand,omitempty"`
	// DefaultServerName is the name whose certificate is served to a
	// client that sends no server name (SNI), such as one that connects
	// by IP address or an old client. Empty means the first domain that
	// is not a wildcard; with none, such a handshake fails.
	DefaultServerName string `koanf:"defaultServerName" json:"defaultServerName,omitempty"`
	// CARoots are PEM files of roots trusted for the ACME directory's TLS,
	// for private CAs.
	CARoots []string `koanf:"caRoots" json:"caRoots,omitempty"`
	// Storage is the directory for certificates and account keys. Empty
	// means $STATE_DIRECTORY/certmagic, or the user's data directory.
	Storage string `koanf:"storage" json:"storage,omitempty"`
	// AltHTTPPort and AltTLSALPNPort are the ports that receive HTTP-01 and
	// TLS-ALPN-01 challenges when ports 80 and 443 are forwarded to them.
	AltHTTPPort    int `koanf:"altHTTPPort" json:"altHTTPPort,omitempty"`
	AltTLSALPNPort int `koanf:"altTLSALPNPort" json:"altTLSALPNPort,omitempty"`
	// DisableHTTPChallenge and DisableTLSALPNChallenge turn a challenge
	// type off.
	DisableHTTPChallenge    bool `koanf:"disableHTTPChallenge" json:"disableHTTPChallenge,omitempty"`
	DisableTLSALPNChallenge bool `koanf:"disableTLSALPNChallenge" json:"disableTLSALPNChallenge,omitempty"`
}

// EAB is an ACME External Account Binding, given by the CA.
type EAB struct {
	// KeyID is the key identifier.
	KeyID string `koanf:"keyId" json:"keyId"`
	// MACKey is the HMAC key, base64url-encoded as the CA gives it.
	MACKey string `koanf:"macKey" json:"macKey"`
}

// OnDemand gates on-demand certificates: a name gets one only if it is in
// Allow or the Ask URL approves it, so that no client can make resedge
// order certificates for arbitrary names.
type OnDemand struct {
	// Allow lists the names allowed; "*.example.com" allows any one label
	// under example.com.
	Allow []string `koanf:"allow" json:"allow,omitempty"`
	// Ask is a URL asked about each other name, as Caddy's on-demand
	// "ask": GET <ask>?domain=<name>; a 2xx status allows it.
	Ask string `koanf:"ask" json:"ask,omitempty"`
}

// TLSRef is a listener's tls value: either Name, the name of an entry of
// Config.TLS, or Inline settings for this listener alone. In a file it is a
// string or an object.
type TLSRef struct {
	// Name names an entry of Config.TLS.
	Name string
	// Inline holds settings written in the listener itself.
	Inline *TLS
}

// MarshalJSON encodes the reference as the name, or the inline object.
func (r TLSRef) MarshalJSON() ([]byte, error) {
	if r.Inline != nil {
		return json.Marshal(r.Inline)
	}
	return json.Marshal(r.Name)
}

// Listener is one listener. Which fields apply depends on Kind: metrics and
// redirect listeners use only Kind, Address, MaxConnections and, for metrics,
// TLS; redirect listeners also RedirectTo.
type Listener struct {
	// Name is the listener's key in Config.Listeners.
	Name string `koanf:"-" json:"-"`
	// Kind is KindHTTP (also when empty), KindMetrics or KindRedirect.
	Kind string `koanf:"kind" json:"kind"`
	// Address is host:port (":8080" is every interface), or
	// SystemdPrefix+name for a socket passed by systemd.
	Address string `koanf:"address" json:"address"`
	// TLS, when set, makes the listener serve TLS.
	TLS *TLSRef `koanf:"tls" json:"tls,omitempty"`
	// WSPaths are the exact paths where WebSocket clients connect. Empty
	// means no WebSocket.
	WSPaths []string `koanf:"wsPaths" json:"wsPaths,omitempty"`
	// APIPath is the path prefix of the HTTP API, ending with '/'. Empty
	// means no HTTP API.
	APIPath string `koanf:"apiPath" json:"apiPath,omitempty"`
	// APIEncoding is "json" (also when empty) or "jsonflat".
	APIEncoding string `koanf:"apiEncoding" json:"apiEncoding,omitempty"`
	// AllowOrigin lists the allowed origins: "*" alone for any, or
	// scheme://host[:port] origins. Empty allows any.
	AllowOrigin []string `koanf:"allowOrigin" json:"allowOrigin,omitempty"`
	// HeaderAuth is the "rid.method" auth method called with the headers of
	// each HTTP API request. Empty means none.
	HeaderAuth string `koanf:"headerAuth" json:"headerAuth,omitempty"`
	// WSHeaderAuth is the "rid.method" auth method called with the headers
	// of each WebSocket upgrade request. Empty means none.
	WSHeaderAuth string `koanf:"wsHeaderAuth" json:"wsHeaderAuth,omitempty"`
	// PutMethod, DeleteMethod and PatchMethod are the call methods HTTP
	// PUT, DELETE and PATCH requests map to. Empty means not mapped.
	PutMethod    string `koanf:"putMethod" json:"putMethod,omitempty"`
	DeleteMethod string `koanf:"deleteMethod" json:"deleteMethod,omitempty"`
	PatchMethod  string `koanf:"patchMethod" json:"patchMethod,omitempty"`
	// WSCompression negotiates WebSocket permessage-deflate.
	WSCompression bool `koanf:"wsCompression" json:"wsCompression,omitempty"`
	// MaxConnections caps concurrent connections: WebSocket connections on
	// an http listener (an upgrade over it gets 503), TCP connections on
	// metrics and redirect listeners (more wait to be accepted). Zero is no
	// limit.
	MaxConnections int `koanf:"maxConnections" json:"maxConnections,omitempty"`
	// Resources are the resource name patterns (resproto.Pattern syntax)
	// exposed on this listener; a request for any other resource is denied
	// here. Empty exposes every resource.
	Resources []string `koanf:"resources" json:"resources,omitempty"`
	// RedirectTo, for a redirect listener, names the TLS listener whose
	// port the redirect targets. Empty means port 443.
	RedirectTo string `koanf:"redirectTo" json:"redirectTo,omitempty"`
	// ProxyProtocol, when set, reads the PROXY protocol header (v1 or v2)
	// that a TCP load balancer in front (HAProxy send-proxy, nginx
	// proxy_protocol, AWS NLB) puts before each connection, so that the
	// client's address, not the balancer's, is what services see in
	// header-auth requests and what logs show.
	ProxyProtocol *ProxyProtocol `koanf:"proxyProtocol" json:"proxyProtocol,omitempty"`
}

// ProxyProtocol configures the PROXY protocol on a listener.
type ProxyProtocol struct {
	// Allow lists the addresses (IPs or CIDR ranges) of the balancers
	// trusted to send the header. From them the header is used when
	// present (a balancer's health check may come without one); anyone
	// else's header is discarded and their own address kept, so that a
	// client cannot claim another address.
	Allow []string `koanf:"allow" json:"allow"`
}

// IsHTTP reports whether the listener serves WebSocket and HTTP API clients.
func (l *Listener) IsHTTP() bool { return l.Kind == KindHTTP || l.Kind == "" }

// SystemdName returns the socket name of a SystemdPrefix address, and
// whether the address is one.
func (l *Listener) SystemdName() (string, bool) {
	return strings.CutPrefix(l.Address, SystemdPrefix)
}

// ListenerNames returns the listener names in sorted order.
func (c *Config) ListenerNames() []string {
	names := make([]string, 0, len(c.Listeners))
	for n := range c.Listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ListenerTLS returns the TLS settings listener l uses: its inline settings,
// the Config.TLS entry it names, or nil for none (or an unknown name).
func (c *Config) ListenerTLS(l *Listener) *TLS {
	if l.TLS == nil {
		return nil
	}
	if l.TLS.Inline != nil {
		return l.TLS.Inline
	}
	return c.TLS[l.TLS.Name]
}

// Duration is a time.Duration written in a config as a number of
// milliseconds (as Resgate's requestTimeout) or as a Go duration string such
// as "3s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a Go duration string or a number of milliseconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// parseDuration parses a number of milliseconds or a Go duration string.
func parseDuration(s string) (Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return Duration(time.Duration(ms) * time.Millisecond), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return Duration(v), nil
}

// Default returns the configuration resedge runs with when nothing is
// configured: Resgate's defaults, one http listener named "default" on
// 0.0.0.0:8080 and an embedded NATS server.
func Default() *Config {
	c := &Config{
		NATS: NATS{
			URLs:           []string{},
			RootCAs:        []string{},
			BufferSize:     DefaultBufferSize,
			RequestTimeout: Duration(DefaultRequestTimeout),
			Outage:         OutageClose,
		},
		Engine: Engine{
			UnsubscribeDelay: Duration(DefaultUnsubscribeDelay),
			Limits: Limits{
				SubscriptionsPerResource:   DefaultSubscriptionsPerResource,
				SubscriptionsPerConnection: DefaultSubscriptionsPerConn,
				WriteQueue:                 DefaultWriteQueue,
				MaxMessageSize:             DefaultMaxMessageSize,
				WriteTimeout:               Duration(DefaultWriteTimeout),
				MaxBodySize:                DefaultMaxBodySize,
				ReadHeaderTimeout:          Duration(DefaultReadHeaderTimeout),
				ReadTimeout:                Duration(DefaultReadTimeout),
				IdleTimeout:                Duration(DefaultIdleTimeout),
				MaxHeaderBytes:             DefaultMaxHeaderBytes,
				PingInterval:               Duration(DefaultPingInterval),
				PongTimeout:                Duration(DefaultPongTimeout),
			},
		},
		Log:       Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Shutdown:  Shutdown{LameDuck: Duration(DefaultLameDuck)},
		Listeners: map[string]*Listener{},
	}
	l := DefaultListener(DefaultListenerName, DefaultAddress)
	c.Listeners[l.Name] = l
	return c
}

// DefaultListener returns an http listener with every default filled in:
// WebSocket at "/", the HTTP API at "/api/" in json, any origin, every
// resource.
func DefaultListener(name, address string) *Listener {
	return &Listener{
		Name:        name,
		Kind:        KindHTTP,
		Address:     address,
		WSPaths:     []string{DefaultWSPath},
		APIPath:     DefaultAPIPath,
		APIEncoding: DefaultAPIEncoding,
		AllowOrigin: []string{"*"},
		Resources:   []string{">"},
	}
}
