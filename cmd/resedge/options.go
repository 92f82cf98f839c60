package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/resedge/resedge/resproto"
)

// Version is the resedge release version printed by --version.
const Version = "0.1.0"

// Defaults applied to options left unset by both the config file and the
// command line. They match Resgate v1.8.0.
const (
	DefaultAddr           = "0.0.0.0"
	DefaultPort           = 8080
	DefaultWSPath         = "/"
	DefaultAPIPath        = "/api/"
	DefaultAPIEncoding    = "json"
	DefaultRequestTimeout = 3000 // milliseconds
	DefaultBufferSize     = 8192
	DefaultAllowOrigin    = "*"
	DefaultLogFormat      = "auto"
)

// usageText is printed by --help and after a command line error.
const usageText = `
Usage: resedge [options]

Server Options:
    -n, --nats <url>                 NATS Server URL; comma-separated list allowed
                                     (default: start an embedded NATS server on 127.0.0.1:4222)
    -i  --addr <host>                Bind to HOST address (default: 0.0.0.0)
    -p, --port <port>                HTTP port for client connections (default: 8080)
    -w, --wspath <path>              WebSocket path for clients (default: /)
    -a, --apipath <path>             Web resource path for clients (default: /api/)
    -r, --reqtimeout <milliseconds>  Timeout duration for NATS requests (default: 3000)
    -u, --headauth <method>          Resource method for header authentication
    -t, --wsheadauth <method>        Resource method for WebSocket header authentication
    -m, --metricsport <port>         HTTP port for OpenMetrics connections (default: disabled)
        --apiencoding <type>         Encoding for web resources: json, jsonflat (default: json)
        --putmethod <methodName>     Call method name mapped to HTTP PUT requests
        --deletemethod <methodName>  Call method name mapped to HTTP DELETE requests
        --patchmethod <methodName>   Call method name mapped to HTTP PATCH requests
        --wscompression              Enable WebSocket per message compression
        --resetthrottle <limit>      Limit on parallel requests sent in response to a system reset
        --referencethrottle <limit>  Limit on parallel requests sent when following resource references
    -c, --config <file>              Configuration file

Security Options:
        --tls                        Enable TLS for HTTP (default: false)
        --tlscert <file>             HTTP server certificate file
        --tlskey <file>              Private key for HTTP server certificate
        --creds <file>               NATS User Credentials file
        --natscert <file>            NATS Client certificate file
        --natskey <file>             NATS Client certificate key file
        --natsrootca <file>          NATS Root CA file(s)
        --alloworigin <origin>       Allowed origin(s): *, or <scheme>://<hostname>[:<port>] (default: *)

Logging Options:
    -D, --debug                      Enable debugging output
    -V, --trace                      Enable trace logging
    -DV                              Debug and trace
        --logformat <format>         Log format: auto, text, json, tint (default: auto,
                                     which is tint on a terminal and text otherwise)

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version

Configuration Documentation:         https://resgate.io/docs/get-started/configuration/
`

// errHelp and errVersion are returned by parseOptions when the command line
// asks for the usage text or the version instead of running the server.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// usageError is a command line error. The caller prints the usage text after
// the message, as Resgate does.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Options is the complete resedge configuration. The JSON keys are those of
// a Resgate v1.8.0 config file, so an existing file can be used unchanged.
// Unknown keys in a file are ignored.
type Options struct {
	// NATSURL is the NATS server URL, or a comma-separated list of them.
	// Empty means: start an embedded NATS server.
	NATSURL string `json:"natsUrl"`
	// NATSCreds is a NATS user credentials (JWT + NKey) file.
	NATSCreds string `json:"natsCreds"`
	// NATSCert and NATSKey are the client certificate and key files for
	// NATS mutual TLS. Both or neither must be set.
	NATSCert string `json:"natsCert"`
	NATSKey  string `json:"natsKey"`
	// NATSRootCAs are root CA files used to verify the NATS server.
	NATSRootCAs []string `json:"natsRootCAs"`
	// RequestTimeout is the NATS request timeout in milliseconds.
	RequestTimeout int `json:"requestTimeout"`
	// BufferSize is the capacity of the inbound NATS message channel.
	BufferSize int `json:"bufferSize"`
	// Debug enables debug logging.
	Debug bool `json:"debug"`
	// Trace enables tracing of every client and NATS message.
	Trace bool `json:"trace"`

	// Addr is the IP address to listen on. Nil means DefaultAddr; an empty
	// string means all interfaces.
	Addr *string `json:"addr"`
	// Port is the HTTP port for WebSocket and HTTP API clients.
	Port uint16 `json:"port"`
	// WSPath is the path where WebSocket connections are accepted.
	WSPath string `json:"wsPath"`
	// APIPath is the path prefix of the HTTP API. It always ends with '/'.
	APIPath string `json:"apiPath"`
	// APIEncoding is the HTTP API encoding: "json" or "jsonflat".
	APIEncoding string `json:"apiEncoding"`
	// HeaderAuth is the "rid.method" called to authenticate HTTP API
	// requests from their headers. Nil means none.
	HeaderAuth *string `json:"headerAuth"`
	// WSHeaderAuth is the "rid.method" called to authenticate a WebSocket
	// connection from the upgrade request headers. Nil means none.
	WSHeaderAuth *string `json:"wsHeaderAuth"`
	// MetricsPort is the OpenMetrics HTTP port. Zero disables metrics.
	MetricsPort uint16 `json:"metricsPort"`
	// AllowOrigin is "*" or a ';'-separated list of allowed origins.
	AllowOrigin *string `json:"allowOrigin"`
	// PutMethod, DeleteMethod and PatchMethod are the call methods that
	// HTTP PUT, DELETE and PATCH requests map to. Nil means not mapped.
	PutMethod    *string `json:"putMethod"`
	DeleteMethod *string `json:"deleteMethod"`
	PatchMethod  *string `json:"patchMethod"`
	// WSCompression enables permessage-deflate on WebSocket connections.
	WSCompression bool `json:"wsCompression"`
	// ResetThrottle caps concurrent requests after a system.reset; <= 0 is
	// no limit.
	ResetThrottle int `json:"resetThrottle"`
	// ReferenceThrottle caps concurrent requests while following the
	// references of a new subscription; <= 0 is no limit.
	ReferenceThrottle int `json:"referenceThrottle"`
	// TLS serves HTTP and WebSocket over TLS using CertFile and KeyFile.
	TLS      bool   `json:"tls"`
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`

	// LogFormat is the log output format: auto, text, json or tint. It is
	// a command line option only.
	LogFormat string `json:"-"`
	// ConfigFile is the path given with -c, if any.
	ConfigFile string `json:"-"`

	// Values derived by validation.

	// HeaderAuthRID and HeaderAuthMethod are HeaderAuth split at its last
	// dot.
	HeaderAuthRID    string `json:"-"`
	HeaderAuthMethod string `json:"-"`
	// WSHeaderAuthRID and WSHeaderAuthMethod are WSHeaderAuth split at its
	// last dot.
	WSHeaderAuthRID    string `json:"-"`
	WSHeaderAuthMethod string `json:"-"`

	// embeddedNATSPort overrides the embedded NATS server port (tests only).
	// Zero means embeddedNATSDefaultPort.
	embeddedNATSPort int
}

// flagValues holds the raw command line values before they are merged with
// the config file.
type flagValues struct {
	help, version, debugTrace                 bool
	config                                    string
	nats, addr, wsPath, apiPath               string
	port, metricsPort                         uint
	reqTimeout, resetThrottle, refThrottle    int
	headAuth, wsHeadAuth, apiEncoding         string
	putMethod, deleteMethod, patchMethod      string
	wsCompression, tls, debug, trace          bool
	tlsCert, tlsKey, creds, natsCert, natsKey string
	natsRootCAs, allowOrigin                  stringList
	logFormat                                 string
}

// stringList is a repeatable string flag.
type stringList []string

// String returns the values joined with ';'.
func (s *stringList) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ";")
}

// Set appends a value.
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// newFlagSet defines every command line flag on a new flag set bound to v.
// Flags with a short and a long name share one variable; the returned map
// gives each flag name its long form, so that Visit results can be merged.
func newFlagSet(v *flagValues) (*flag.FlagSet, map[string]string) {
	fs := flag.NewFlagSet("resedge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	canonical := make(map[string]string)

	define := func(names []string, def func(name string)) {
		for _, n := range names {
			def(n)
			canonical[n] = names[len(names)-1]
		}
	}
	str := func(p *string, names ...string) {
		define(names, func(n string) { fs.StringVar(p, n, "", "") })
	}
	boolean := func(p *bool, names ...string) {
		define(names, func(n string) { fs.BoolVar(p, n, false, "") })
	}
	uintf := func(p *uint, names ...string) {
		define(names, func(n string) { fs.UintVar(p, n, 0, "") })
	}
	intf := func(p *int, names ...string) {
		define(names, func(n string) { fs.IntVar(p, n, 0, "") })
	}
	list := func(p *stringList, name string) {
		define([]string{name}, func(n string) { fs.Var(p, n, "") })
	}

	boolean(&v.help, "h", "help")
	boolean(&v.version, "v", "version")
	str(&v.config, "c", "config")
	str(&v.nats, "n", "nats")
	str(&v.addr, "i", "addr")
	uintf(&v.port, "p", "port")
	str(&v.wsPath, "w", "wspath")
	str(&v.apiPath, "a", "apipath")
	intf(&v.reqTimeout, "r", "reqtimeout")
	str(&v.headAuth, "u", "headauth")
	str(&v.wsHeadAuth, "t", "wsheadauth")
	uintf(&v.metricsPort, "m", "metricsport")
	str(&v.apiEncoding, "apiencoding")
	str(&v.putMethod, "putmethod")
	str(&v.deleteMethod, "deletemethod")
	str(&v.patchMethod, "patchmethod")
	boolean(&v.wsCompression, "wscompression")
	intf(&v.resetThrottle, "resetthrottle")
	intf(&v.refThrottle, "referencethrottle")
	boolean(&v.tls, "tls")
	str(&v.tlsCert, "tlscert")
	str(&v.tlsKey, "tlskey")
	str(&v.creds, "creds")
	str(&v.natsCert, "natscert")
	str(&v.natsKey, "natskey")
	list(&v.natsRootCAs, "natsrootca")
	list(&v.allowOrigin, "alloworigin")
	boolean(&v.debug, "D", "debug")
	boolean(&v.trace, "V", "trace")
	boolean(&v.debugTrace, "DV")
	str(&v.logFormat, "logformat")
	return fs, canonical
}

// parseOptions parses the command line args (without the program name),
// merges them over the config file named by -c, if any, applies defaults and
// validates the result. A config file that does not exist is created from the
// result. Warnings, such as the deprecated seconds request timeout, are
// written to stderr.
//
// It returns errHelp or errVersion when --help or --version is given, a
// *usageError for command line mistakes, and another error for config file or
// validation problems.
func parseOptions(args []string, stderr io.Writer) (*Options, error) {
	var v flagValues
	flags, canonical := newFlagSet(&v)
	if err := flags.Parse(args); err != nil {
		return nil, &usageError{fmt.Sprintf("Error parsing command arguments: %s", err)}
	}
	if flags.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("Error parsing command arguments: unexpected argument %q", flags.Arg(0))}
	}
	if v.port >= 1<<16 {
		return nil, &usageError{fmt.Sprintf("Invalid port %q: must be less than 65536", strconv.FormatUint(uint64(v.port), 10))}
	}
	if v.metricsPort >= 1<<16 {
		return nil, &usageError{fmt.Sprintf("Invalid metrics port %q: must be less than 65536", strconv.FormatUint(uint64(v.metricsPort), 10))}
	}
	if v.help {
		return nil, errHelp
	}
	if v.version {
		return nil, errVersion
	}

	set := make(map[string]bool)
	flags.Visit(func(f *flag.Flag) { set[canonical[f.Name]] = true })

	opts := &Options{ConfigFile: v.config}
	writeConfig := false
	if v.config != "" {
		data, err := os.ReadFile(v.config)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			writeConfig = true
		case err != nil:
			return nil, fmt.Errorf("error loading config file %s: %s", v.config, unwrapPathError(err))
		default:
			if err := json.Unmarshal(data, opts); err != nil {
				return nil, fmt.Errorf("error parsing config file %s: %s", v.config, describeJSONError(data, err))
			}
		}
	}

	v.apply(opts, set)
	opts.setDefaults()

	// Resgate compatibility: a request timeout of 10 or less was once given
	// in seconds.
	if opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("invalid requestTimeout setting (%d)\n\tmust be a positive number of milliseconds", opts.RequestTimeout)
	}
	if opts.RequestTimeout <= 10 {
		fmt.Fprintf(stderr, "[DEPRECATED] Request timeout should be in milliseconds.\nChange your requestTimeout from %d to %d, and you won't be bothered anymore.\n", opts.RequestTimeout, opts.RequestTimeout*1000)
		opts.RequestTimeout *= 1000
	}

	if err := opts.validate(); err != nil {
		return nil, err
	}

	if writeConfig {
		data, err := json.MarshalIndent(opts, "", "\t")
		if err == nil {
			err = os.WriteFile(v.config, append(data, '\n'), 0o664)
		}
		if err != nil {
			// Resgate carries on when the file cannot be written; say so.
			fmt.Fprintf(stderr, "Warning: could not create config file %s: %s\n", v.config, unwrapPathError(err))
		}
	}
	return opts, nil
}

// apply copies every flag given on the command line into o, overriding the
// config file.
func (v *flagValues) apply(o *Options, set map[string]bool) {
	strPtr := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for name := range set {
		switch name {
		case "nats":
			o.NATSURL = v.nats
		case "addr":
			addr := v.addr
			o.Addr = &addr
		case "port":
			// As Resgate: 0 leaves the config file or default value.
			if v.port > 0 {
				o.Port = uint16(v.port)
			}
		case "wspath":
			o.WSPath = v.wsPath
		case "apipath":
			o.APIPath = v.apiPath
		case "reqtimeout":
			o.RequestTimeout = v.reqTimeout
		case "headauth":
			o.HeaderAuth = strPtr(v.headAuth)
		case "wsheadauth":
			o.WSHeaderAuth = strPtr(v.wsHeadAuth)
		case "metricsport":
			if v.metricsPort > 0 {
				o.MetricsPort = uint16(v.metricsPort)
			}
		case "apiencoding":
			o.APIEncoding = v.apiEncoding
		case "putmethod":
			o.PutMethod = strPtr(v.putMethod)
		case "deletemethod":
			o.DeleteMethod = strPtr(v.deleteMethod)
		case "patchmethod":
			o.PatchMethod = strPtr(v.patchMethod)
		case "wscompression":
			o.WSCompression = v.wsCompression
		case "resetthrottle":
			o.ResetThrottle = v.resetThrottle
		case "referencethrottle":
			o.ReferenceThrottle = v.refThrottle
		case "tls":
			o.TLS = v.tls
		case "tlscert":
			o.CertFile = v.tlsCert
		case "tlskey":
			o.KeyFile = v.tlsKey
		case "creds":
			o.NATSCreds = v.creds
		case "natscert":
			o.NATSCert = v.natsCert
		case "natskey":
			o.NATSKey = v.natsKey
		case "natsrootca":
			o.NATSRootCAs = append([]string(nil), v.natsRootCAs...)
		case "alloworigin":
			s := v.allowOrigin.String()
			o.AllowOrigin = &s
		case "debug":
			o.Debug = v.debug
		case "trace":
			o.Trace = v.trace
		case "logformat":
			o.LogFormat = v.logFormat
		}
	}
	// -DV is applied last so that it wins over -D=false or -V=false.
	if set["DV"] && v.debugTrace {
		o.Debug = true
		o.Trace = true
	}
}

// setDefaults fills in every value left unset.
func (o *Options) setDefaults() {
	if o.Addr == nil {
		addr := DefaultAddr
		o.Addr = &addr
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.WSPath == "" {
		o.WSPath = DefaultWSPath
	}
	if o.APIPath == "" {
		o.APIPath = DefaultAPIPath
	}
	if !strings.HasSuffix(o.APIPath, "/") {
		o.APIPath += "/"
	}
	if o.APIEncoding == "" {
		o.APIEncoding = DefaultAPIEncoding
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.NATSRootCAs == nil {
		o.NATSRootCAs = []string{}
	}
	if o.AllowOrigin == nil {
		origin := DefaultAllowOrigin
		o.AllowOrigin = &origin
	}
	if o.LogFormat == "" {
		o.LogFormat = DefaultLogFormat
	}
}

// validate checks the settings and fills in the derived fields. Error
// messages follow Resgate's wording.
func (o *Options) validate() error {
	if o.Addr != nil && *o.Addr != "" && net.ParseIP(*o.Addr) == nil {
		return fmt.Errorf("invalid addr setting (%s)\n\tmust be a valid IPv4 or IPv6 address", *o.Addr)
	}
	if o.MetricsPort == o.Port {
		return fmt.Errorf(`invalid metrics port "%d": must be different from API port ("%d")`, o.MetricsPort, o.Port)
	}
	if o.BufferSize < 0 {
		return fmt.Errorf("invalid bufferSize setting (%d)\n\tmust be a positive number", o.BufferSize)
	}

	var err error
	if o.HeaderAuthRID, o.HeaderAuthMethod, err = splitResourceMethod(o.HeaderAuth); err != nil {
		return fmt.Errorf("invalid headerAuth setting (%s)\n\tmust be a valid resource method", *o.HeaderAuth)
	}
	if o.WSHeaderAuthRID, o.WSHeaderAuthMethod, err = splitResourceMethod(o.WSHeaderAuth); err != nil {
		return fmt.Errorf("invalid wsHeaderAuth setting (%s)\n\tmust be a valid resource method", *o.WSHeaderAuth)
	}

	for _, m := range []struct {
		key string
		val *string
	}{{"putMethod", o.PutMethod}, {"deleteMethod", o.DeleteMethod}, {"patchMethod", o.PatchMethod}} {
		if m.val != nil && !resproto.IsValidRIDPart(*m.val) {
			return fmt.Errorf("invalid %s setting (%s)\n\tmust be a valid call method name", m.key, *m.val)
		}
	}

	switch enc := strings.ToLower(o.APIEncoding); enc {
	case "json", "jsonflat":
		o.APIEncoding = enc
	default:
		return fmt.Errorf("invalid apiEncoding setting (%s)\n\tmust be json or jsonflat", o.APIEncoding)
	}

	switch f := strings.ToLower(o.LogFormat); f {
	case "auto", "text", "json", "tint":
		o.LogFormat = f
	default:
		return &usageError{fmt.Sprintf("Invalid log format %q: must be auto, text, json or tint", o.LogFormat)}
	}

	if (o.NATSCert == "") != (o.NATSKey == "") {
		if o.NATSCert == "" {
			return errors.New("missing --natscert file option")
		}
		return errors.New("missing --natskey file option")
	}
	if o.TLS {
		if o.CertFile == "" {
			return errors.New("missing --tlscert file option")
		}
		if o.KeyFile == "" {
			return errors.New("missing --tlskey file option")
		}
	}
	return nil
}

// splitResourceMethod splits a "rid.method" setting at its last dot. The
// whole value must be a valid resource ID without a query. A nil value gives
// empty results and no error.
func splitResourceMethod(s *string) (rid, method string, err error) {
	if s == nil {
		return "", "", nil
	}
	v := *s
	i := strings.LastIndexByte(v, '.')
	if i < 0 || strings.IndexByte(v, '?') >= 0 || !resproto.IsValidRID(v) {
		return "", "", errors.New("invalid resource method")
	}
	return v[:i], v[i+1:], nil
}

// ListenAddr returns the host:port the HTTP listener binds to. IPv6
// addresses are bracketed.
func (o *Options) ListenAddr() string {
	host := DefaultAddr
	if o.Addr != nil {
		host = *o.Addr
	}
	return net.JoinHostPort(host, strconv.Itoa(int(o.Port)))
}

// unwrapPathError drops the operation and path from a file error, for
// messages that already name the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describeJSONError adds the line and column to a JSON syntax or type error.
func describeJSONError(data []byte, err error) string {
	var offset int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.As(err, &te):
		offset = te.Offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return err.Error()
	}
	line, col := 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %s", line, col, err)
}
