package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/resedge/resedge/schema"
)

// Version is the resedge release version printed by --version.
const Version = "0.1.0"

// usageText is printed by --help and after a command line error.
const usageText = `
Usage: resedge [options]               Run the gateway (the same as "resedge run")
       resedge run [options]
       resedge config validate FILE...  Check config files; print every problem
       resedge config schema            Print the config file's JSON Schema
       resedge config init [FILE]       Write a commented starting config
       resedge version                  Show version

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
    -c, --config <file>              Configuration file: YAML (.yaml, .yml), TOML (.toml)
                                     or JSON; a Resgate config.json works unchanged
        --<key.path> <value>         Set any configuration key, such as
                                     --listeners.default.address=:9000 (see: resedge config schema)

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

Environment: RESEDGE_<KEY_PATH>=<value> sets a configuration key (RESEDGE_NATS_URLS=...).
Precedence: flags, then environment, then the config file, then defaults.
Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop gracefully.
`

// errHelp and errVersion are returned by parseCommandLine when the command
// line asks for the usage text or the version instead of running the
// server.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// usageError is a command line error. The caller prints the usage text after
// the message, as Resgate does.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// flagValues holds the command line values. They are read back through
// the flag set (schema.FlagsFromFlagSet), apart from the few checked here.
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

// Get returns the values, one schema.Flag each (see
// schema.FlagsFromFlagSet).
func (s *stringList) Get() any { return []string(*s) }

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

// newFlagSet defines Resgate's command line flags (and --logformat) on a
// new flag set bound to v. Flags with a short and a long name share one
// variable, so both report the value given last.
func newFlagSet(v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("resedge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	define := func(names []string, def func(name string)) {
		for _, n := range names {
			def(n)
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
	return fs
}

// commandLine is a parsed run command line.
type commandLine struct {
	// flags are the flags given, for schema.Load: the Resgate flags (with
	// -c/--config), then the config key path flags in the order given.
	flags []schema.Flag
}

// parseCommandLine parses the arguments of the run command (without the
// program and command names): Resgate's flags, plus config key paths such
// as --listeners.public.address=:8443 (or with the value as the next
// argument).
//
// It returns errHelp or errVersion when --help or --version is given, and a
// *usageError for command line mistakes. The values are checked later, by
// schema.Load.
func parseCommandLine(args []string) (*commandLine, error) {
	rest, keys, err := splitKeyFlags(args)
	if err != nil {
		return nil, err
	}
	var v flagValues
	flags := newFlagSet(&v)
	if err := flags.Parse(rest); err != nil {
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
	return &commandLine{flags: append(schema.FlagsFromFlagSet(flags), keys...)}, nil
}

// splitKeyFlags takes the config key path flags (names with a dot) out of
// args, which Go's flag package would refuse.
func splitKeyFlags(args []string) (rest []string, keys []schema.Flag, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), keys, nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !strings.Contains(name, ".") {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, nil, &usageError{fmt.Sprintf("Error parsing command arguments: flag needs an argument: -%s", name)}
			}
			i++
			value = args[i]
		}
		keys = append(keys, schema.Flag{Name: name, Value: value})
	}
	return rest, keys, nil
}

// loadConfig loads the configuration the command line, the environment
// and the config file give, in schema.Load's layers. Warnings go to warn.
// It is called again, with the same arguments, on every reload.
func loadConfig(cl *commandLine, env []string, warn func(string)) (*schema.Config, error) {
	return schema.Load(schema.LoadOptions{Env: env, Flags: cl.flags, Warn: warn})
}
