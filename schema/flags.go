package schema

import (
	"flag"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Flag is one command-line flag that was given explicitly. Name is the flag
// name without dashes: a Resgate flag, long or short ("nats", "n", "DV"),
// or a config key path ("listeners.public.address"). Value is its text as
// given ("true" for a bare boolean flag). A repeatable flag (natsrootca,
// alloworigin) appears once per value.
type Flag struct {
	Name, Value string
}

// FlagsFromFlagSet returns the flags set explicitly on fs, in
// lexicographical order, for LoadOptions.Flags. A flag whose Value
// implements flag.Getter with a []string result gives one Flag per item.
func FlagsFromFlagSet(fs *flag.FlagSet) []Flag {
	var out []Flag
	fs.Visit(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if list, ok := g.Get().([]string); ok {
				for _, v := range list {
					out = append(out, Flag{Name: f.Name, Value: v})
				}
				return
			}
		}
		out = append(out, Flag{Name: f.Name, Value: f.Value.String()})
	})
	return out
}

// Value types of Resgate flags.
const (
	flagString = iota
	flagBool
	flagInt
	flagPort
	flagList
)

// resgateFlags are Resgate v1.8.0's flags by long name (plus resedge's
// --logformat), with their value types.
var resgateFlags = map[string]int{
	"nats": flagString, "addr": flagString, "port": flagPort, "wspath": flagString,
	"apipath": flagString, "reqtimeout": flagInt, "headauth": flagString,
	"wsheadauth": flagString, "metricsport": flagPort, "apiencoding": flagString,
	"putmethod": flagString, "deletemethod": flagString, "patchmethod": flagString,
	"wscompression": flagBool, "resetthrottle": flagInt, "referencethrottle": flagInt,
	"config": flagString, "tls": flagBool, "tlscert": flagString, "tlskey": flagString,
	"creds": flagString, "natscert": flagString, "natskey": flagString,
	"natsrootca": flagList, "alloworigin": flagList, "debug": flagBool,
	"trace": flagBool, "DV": flagBool, "logformat": flagString,
	"help": flagBool, "version": flagBool,
}

// shortFlags maps Resgate's short flag names to the long ones.
var shortFlags = map[string]string{
	"n": "nats", "i": "addr", "p": "port", "w": "wspath", "a": "apipath",
	"r": "reqtimeout", "u": "headauth", "t": "wsheadauth", "m": "metricsport",
	"c": "config", "D": "debug", "V": "trace", "h": "help", "v": "version",
}

// listenerFlags are the Resgate flags that set the http listener.
var listenerFlags = []string{
	"addr", "port", "wspath", "apipath", "apiencoding", "headauth", "wsheadauth",
	"alloworigin", "putmethod", "deletemethod", "patchmethod", "wscompression",
	"tls", "tlscert", "tlskey",
}

// flagSet holds the parsed LoadOptions.Flags.
type flagSet struct {
	// values are the Resgate flag values by long name, in order given.
	values map[string][]string
	// order lists the Resgate flag names in the order first given.
	order []string
	// paths are the config key path flags, in order given.
	paths []Flag
	// config is the value of -c/--config.
	config string
	issues []issue
}

func parseFlags(flags []Flag) *flagSet {
	f := &flagSet{values: map[string][]string{}}
	names := make([]string, 0, len(resgateFlags))
	for n := range resgateFlags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, fl := range flags {
		name := strings.TrimLeft(fl.Name, "-")
		if strings.Contains(name, ".") {
			f.paths = append(f.paths, Flag{Name: name, Value: fl.Value})
			continue
		}
		if long, ok := shortFlags[name]; ok {
			name = long
		}
		typ, ok := resgateFlags[name]
		if !ok {
			is := issue{msg: "unknown flag", at: &origin{flag: name}, noPath: true}
			if s := suggest(name, names); s != "" {
				is.suggest = "--" + s
			}
			f.issues = append(f.issues, is)
			continue
		}
		v := fl.Value
		bad := func(msg string) {
			f.issues = append(f.issues, issue{msg: msg, at: &origin{flag: name}, noPath: true})
		}
		switch typ {
		case flagBool:
			if v == "" {
				v = "true"
			}
			if _, err := strconv.ParseBool(v); err != nil {
				bad(fmt.Sprintf("invalid boolean value %q", v))
				continue
			}
		case flagInt:
			if _, err := strconv.Atoi(v); err != nil {
				bad(fmt.Sprintf("invalid value %q: must be a whole number", v))
				continue
			}
		case flagPort:
			p, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				bad(fmt.Sprintf("invalid value %q: must be a port number", v))
				continue
			}
			if p >= 1<<16 {
				what := "port"
				if name == "metricsport" {
					what = "metrics port"
				}
				bad(fmt.Sprintf("invalid %s %q: must be less than 65536", what, v))
				continue
			}
		}
		if name == "config" {
			f.config = v
			continue
		}
		if name == "help" || name == "version" {
			continue
		}
		if _, seen := f.values[name]; !seen {
			f.order = append(f.order, name)
		}
		if typ == flagList {
			f.values[name] = append(f.values[name], v)
		} else {
			f.values[name] = []string{v}
		}
	}
	return f
}

func (f *flagSet) has(name string) bool { _, ok := f.values[name]; return ok }

// last returns the last value given for a flag.
func (f *flagSet) last(name string) string {
	v := f.values[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (f *flagSet) bool(name string) bool {
	b, _ := strconv.ParseBool(f.last(name))
	return b
}

func (f *flagSet) int(name string) int {
	n, _ := strconv.Atoi(f.last(name))
	return n
}

// edit is a change the Resgate flags make to the merged configuration.
type edit struct {
	path  []string
	value any
	del   bool
	flag  string
}

// resgateEdits turns the Resgate flags into changes of the native
// configuration raw: shorthand for its single http listener (created as
// "default" when there is none) and its metrics listener (created as
// "metrics" for --metricsport). --addr sets the host of both, as Resgate
// serves metrics on the same address.
func resgateEdits(f *flagSet, raw map[string]any, hints resgateHints, warn func(string)) ([]edit, []issue) {
	var edits []edit
	var issues []issue
	put := func(src string, v any, path ...string) {
		edits = append(edits, edit{path: path, value: v, flag: src})
	}
	del := func(src string, path ...string) {
		edits = append(edits, edit{path: path, del: true, flag: src})
	}
	bad := func(src, msg string) {
		issues = append(issues, issue{msg: msg, at: &origin{flag: src}, noPath: true})
	}

	// NATS, engine and log.
	for _, name := range f.order {
		v := f.last(name)
		switch name {
		case "nats":
			put(name, toAny(splitList(v, ",")), "nats", "urls")
		case "creds", "natscert", "natskey":
			key := map[string]string{"creds": "creds", "natscert": "cert", "natskey": "key"}[name]
			if v == "" {
				del(name, "nats", key)
			} else {
				put(name, v, "nats", key)
			}
		case "natsrootca":
			put(name, toAny(f.values[name]), "nats", "rootCAs")
		case "reqtimeout":
			t := f.int(name)
			switch {
			case t < 0:
				bad(name, fmt.Sprintf("invalid request timeout %d: must be a positive number of milliseconds", t))
			case t == 0:
				put(name, int(DefaultRequestTimeout.Milliseconds()), "nats", "requestTimeout")
			default:
				put(name, requestTimeoutMS(t, warn), "nats", "requestTimeout")
			}
		case "resetthrottle":
			put(name, max(f.int(name), 0), "engine", "resetThrottle")
		case "referencethrottle":
			put(name, max(f.int(name), 0), "engine", "referenceThrottle")
		case "debug":
			if f.bool(name) {
				put(name, "debug", "log", "level")
			} else if lg, _ := raw["log"].(map[string]any); lg["level"] == "debug" {
				put(name, DefaultLogLevel, "log", "level")
			}
		case "trace":
			put(name, f.bool(name), "log", "trace")
		case "logformat":
			put(name, v, "log", "format")
		}
	}
	if f.has("DV") && f.bool("DV") {
		put("DV", "debug", "log", "level")
		put("DV", true, "log", "trace")
	}

	var given []string
	for _, n := range listenerFlags {
		if f.has(n) {
			given = append(given, n)
		}
	}
	if len(given) == 0 && !f.has("metricsport") {
		return edits, issues
	}
	listeners, _ := raw["listeners"].(map[string]any)
	var httpNames, metricsNames []string
	for name, v := range listeners {
		lm, _ := v.(map[string]any)
		switch lm["kind"] {
		case nil, KindHTTP:
			httpNames = append(httpNames, name)
		case KindMetrics:
			metricsNames = append(metricsNames, name)
		}
	}
	sort.Strings(httpNames)
	sort.Strings(metricsNames)

	// The http listener the flags are shorthand for.
	name := DefaultListenerName
	switch {
	case len(httpNames) == 1:
		name = httpNames[0]
	case len(httpNames) > 1 && contains(httpNames, DefaultListenerName):
	case len(httpNames) > 1:
		for _, fl := range given {
			bad(fl, fmt.Sprintf("sets a single http listener, but there are %d (%s); use --listeners.<name>.<key> instead", len(httpNames), strings.Join(httpNames, ", ")))
		}
		given = nil
	}
	current, _ := listeners[name].(map[string]any)
	if len(given) > 0 && current == nil {
		put(given[0], map[string]any{"kind": KindHTTP, "address": DefaultAddress}, "listeners", name)
	} else if _, present := raw["listeners"]; !present && f.has("metricsport") {
		// --metricsport alone: the default http listener is there too, as
		// when no listener is configured (Resgate's "-m 9100").
		put("metricsport", map[string]any{"kind": KindHTTP, "address": DefaultAddress}, "listeners", name)
	}
	lpath := func(k ...string) []string { return append([]string{"listeners", name}, k...) }

	host, port := "0.0.0.0", "8080"
	hostOK := true
	if a, ok := current["address"].(string); ok {
		h, p, err := net.SplitHostPort(a)
		if err != nil || strings.HasPrefix(a, SystemdPrefix) {
			hostOK = false
		} else {
			host, port = h, p
		}
	}
	addrFlag := ""
	if f.has("addr") && len(given) > 0 {
		v := f.last("addr")
		if v != "" && net.ParseIP(v) == nil {
			bad("addr", fmt.Sprintf("invalid addr %q: must be a valid IPv4 or IPv6 address", v))
		} else {
			host, addrFlag = v, "addr"
		}
	}
	portFlag := ""
	if f.has("port") && len(given) > 0 && f.int("port") > 0 {
		port, portFlag = f.last("port"), "port"
	}
	src := portFlag
	if src == "" {
		src = addrFlag
	}
	if src != "" {
		if !hostOK {
			bad(src, fmt.Sprintf("listener %q has address %q, which is not host:port", name, current["address"]))
		} else {
			put(src, net.JoinHostPort(host, port), lpath("address")...)
		}
	}

	for _, fl := range given {
		v := f.last(fl)
		switch fl {
		case "wspath":
			if v == "" {
				v = DefaultWSPath
			}
			put(fl, []any{v}, lpath("wsPaths")...)
		case "apipath":
			if v == "" {
				v = DefaultAPIPath
			}
			if !strings.HasSuffix(v, "/") {
				v += "/"
			}
			put(fl, v, lpath("apiPath")...)
		case "apiencoding":
			v = strings.ToLower(v)
			if v == "" {
				v = DefaultAPIEncoding
			}
			put(fl, v, lpath("apiEncoding")...)
		case "headauth", "wsheadauth", "putmethod", "deletemethod", "patchmethod":
			key := map[string]string{"headauth": "headerAuth", "wsheadauth": "wsHeaderAuth",
				"putmethod": "putMethod", "deletemethod": "deleteMethod", "patchmethod": "patchMethod"}[fl]
			if v == "" {
				del(fl, lpath(key)...)
			} else {
				put(fl, v, lpath(key)...)
			}
		case "alloworigin":
			put(fl, toAny(resgateOrigins(strings.Join(f.values[fl], ";"))), lpath("allowOrigin")...)
		case "wscompression":
			put(fl, f.bool(fl), lpath("wsCompression")...)
		}
	}

	// TLS: --tls turns it on or off; --tlscert and --tlskey set the files
	// of inline settings (and are ignored without TLS, as by Resgate).
	// httpTLS is the listener's TLS setting once the flags apply.
	httpTLS := current["tls"]
	if len(given) > 0 {
		tlsVal := current["tls"]
		ref, isRef := tlsVal.(string)
		inline, _ := tlsVal.(map[string]any)
		on := tlsVal != nil
		if f.has("tls") {
			on = f.bool("tls")
		}
		switch {
		case !on:
			if f.has("tls") && tlsVal != nil {
				del("tls", lpath("tls")...)
			}
			httpTLS = nil
		case isRef && (f.has("tlscert") || f.has("tlskey")):
			for _, fl := range []string{"tlscert", "tlskey"} {
				if f.has(fl) {
					bad(fl, fmt.Sprintf("listener %q uses the TLS settings %q; set tls.%s.%s instead", name, ref, ref, map[string]string{"tlscert": "certFile", "tlskey": "keyFile"}[fl]))
				}
			}
		case isRef:
		case f.has("tls") || f.has("tlscert") || f.has("tlskey"):
			cert, _ := inline["certFile"].(string)
			key, _ := inline["keyFile"].(string)
			if cert == "" {
				cert = hints.certFile
			}
			if key == "" {
				key = hints.keyFile
			}
			if f.has("tlscert") {
				cert = f.last("tlscert")
			}
			if f.has("tlskey") {
				key = f.last("tlskey")
			}
			src := "tlskey"
			if f.has("tls") {
				src = "tls"
			} else if f.has("tlscert") {
				src = "tlscert"
			}
			t := map[string]any{}
			for k, v := range inline {
				t[k] = v
			}
			delete(t, "certFile")
			delete(t, "keyFile")
			if cert != "" {
				t["certFile"] = cert
			}
			if key != "" {
				t["keyFile"] = key
			}
			put(src, t, lpath("tls")...)
			httpTLS = t
		}
	}

	// The metrics listener.
	mp := 0
	if f.has("metricsport") {
		mp = f.int("metricsport")
	}
	if mp > 0 || (addrFlag != "" && len(metricsNames) == 1) {
		mname := DefaultMetricsListenerName
		switch {
		case len(metricsNames) == 1:
			mname = metricsNames[0]
		case len(metricsNames) > 1:
			bad("metricsport", fmt.Sprintf("sets a single metrics listener, but there are %d (%s); use --listeners.<name>.address instead", len(metricsNames), strings.Join(metricsNames, ", ")))
			return edits, issues
		}
		mcur, _ := listeners[mname].(map[string]any)
		mhost, mport := host, "0"
		if a, ok := mcur["address"].(string); ok {
			if h, p, err := net.SplitHostPort(a); err == nil {
				mport = p
				if addrFlag == "" {
					mhost = h
				}
			}
		}
		src := "addr"
		if mp > 0 {
			mport, src = strconv.Itoa(mp), "metricsport"
		}
		if mcur == nil {
			m := map[string]any{"kind": KindMetrics, "address": net.JoinHostPort(mhost, mport)}
			// As Resgate: with TLS on, metrics are served over TLS too,
			// with the same certificate.
			switch t := httpTLS.(type) {
			case map[string]any:
				m["tls"] = maps.Clone(t)
			case string:
				m["tls"] = t
			}
			put(src, m, "listeners", mname)
		} else {
			put(src, net.JoinHostPort(mhost, mport), "listeners", mname, "address")
		}
	}
	return edits, issues
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
