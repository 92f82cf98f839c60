package schema

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// resgateKeys are the keys of a Resgate v1.8.0 config file, plus tlsCert
// and tlsKey, the names Resgate's README gives certFile and keyFile (Resgate
// itself ignores them; resedge reads them as aliases).
var resgateKeys = map[string]bool{
	"natsUrl": true, "natsCreds": true, "natsCert": true, "natsKey": true,
	"natsRootCAs": true, "requestTimeout": true, "bufferSize": true,
	"debug": true, "trace": true, "addr": true, "port": true, "wsPath": true,
	"apiPath": true, "metricsPort": true, "apiEncoding": true,
	"headerAuth": true, "wsHeaderAuth": true, "allowOrigin": true,
	"putMethod": true, "deleteMethod": true, "patchMethod": true,
	"tls": true, "certFile": true, "keyFile": true, "tlsCert": true,
	"tlsKey": true, "wsCompression": true, "resetThrottle": true,
	"referenceThrottle": true,
}

// nativeKeys are the top-level keys only a resedge config has.
var nativeKeys = map[string]bool{"nats": true, "engine": true, "log": true, "listeners": true}

// IsResgate reports whether a decoded config file is a Resgate config: it
// has no key of resedge's own format (nats, engine, log, listeners, or tls
// as an object), and at least one Resgate key (tls only as a boolean).
func IsResgate(m map[string]any) bool {
	for k := range m {
		if nativeKeys[k] {
			return false
		}
	}
	if v, ok := m["tls"]; ok {
		if _, isBool := v.(bool); !isBool && v != nil {
			return false
		}
	}
	for k := range m {
		if resgateKeys[k] && k != "tls" {
			return true
		}
	}
	_, isBool := m["tls"].(bool)
	return isBool
}

// resgateConfig is Resgate v1.8.0's config file, with its JSON keys and the
// same null and zero-value semantics (it is decoded with encoding/json, as
// Resgate does).
type resgateConfig struct {
	NatsURL           string   `json:"natsUrl"`
	NatsCreds         string   `json:"natsCreds"`
	NatsCert          string   `json:"natsCert"`
	NatsKey           string   `json:"natsKey"`
	NatsRootCAs       []string `json:"natsRootCAs"`
	RequestTimeout    int      `json:"requestTimeout"`
	BufferSize        int      `json:"bufferSize"`
	Debug             bool     `json:"debug"`
	Trace             bool     `json:"trace"`
	Addr              *string  `json:"addr"`
	Port              uint16   `json:"port"`
	WSPath            string   `json:"wsPath"`
	APIPath           string   `json:"apiPath"`
	MetricsPort       uint16   `json:"metricsPort"`
	APIEncoding       string   `json:"apiEncoding"`
	HeaderAuth        *string  `json:"headerAuth"`
	WSHeaderAuth      *string  `json:"wsHeaderAuth"`
	AllowOrigin       *string  `json:"allowOrigin"`
	PutMethod         *string  `json:"putMethod"`
	DeleteMethod      *string  `json:"deleteMethod"`
	PatchMethod       *string  `json:"patchMethod"`
	TLS               bool     `json:"tls"`
	CertFile          string   `json:"certFile"`
	KeyFile           string   `json:"keyFile"`
	WSCompression     bool     `json:"wsCompression"`
	ResetThrottle     int      `json:"resetThrottle"`
	ReferenceThrottle int      `json:"referenceThrottle"`

	// The README's aliases of CertFile and KeyFile; never written.
	TLSCert string `json:"tlsCert,omitempty"`
	TLSKey  string `json:"tlsKey,omitempty"`
}

// setDefault fills unset values as Resgate's SetDefault does, except
// natsUrl: empty means resedge's embedded NATS server.
func (r *resgateConfig) setDefault() {
	if r.RequestTimeout == 0 {
		r.RequestTimeout = int(DefaultRequestTimeout.Milliseconds())
	}
	if r.NatsRootCAs == nil {
		r.NatsRootCAs = []string{}
	}
	if r.BufferSize == 0 {
		r.BufferSize = DefaultBufferSize
	}
	if r.Addr == nil {
		a := "0.0.0.0"
		r.Addr = &a
	}
	if r.Port == 0 {
		r.Port = 8080
	}
	if r.WSPath == "" {
		r.WSPath = DefaultWSPath
	}
	if r.APIPath == "" {
		r.APIPath = DefaultAPIPath
	}
	if r.APIEncoding == "" {
		r.APIEncoding = DefaultAPIEncoding
	}
	if r.AllowOrigin == nil {
		o := "*"
		r.AllowOrigin = &o
	}
}

// applyFlags sets the values of Resgate flags, as Resgate's Init does
// before it writes a missing config file.
func (r *resgateConfig) applyFlags(f *flagSet) {
	strPtr := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	for _, name := range f.order {
		v := f.last(name)
		switch name {
		case "nats":
			r.NatsURL = v
		case "creds":
			r.NatsCreds = v
		case "natscert":
			r.NatsCert = v
		case "natskey":
			r.NatsKey = v
		case "natsrootca":
			r.NatsRootCAs = append([]string{}, f.values[name]...)
		case "reqtimeout":
			r.RequestTimeout, _ = strconv.Atoi(v)
		case "debug":
			r.Debug = f.bool(name)
		case "trace":
			r.Trace = f.bool(name)
		case "addr":
			r.Addr = &v
		case "port":
			if p, _ := strconv.Atoi(v); p > 0 && p < 1<<16 {
				r.Port = uint16(p)
			}
		case "metricsport":
			if p, _ := strconv.Atoi(v); p > 0 && p < 1<<16 {
				r.MetricsPort = uint16(p)
			}
		case "wspath":
			r.WSPath = v
		case "apipath":
			r.APIPath = v
		case "apiencoding":
			r.APIEncoding = v
		case "headauth":
			r.HeaderAuth = strPtr(v)
		case "wsheadauth":
			r.WSHeaderAuth = strPtr(v)
		case "alloworigin":
			s := strings.Join(f.values[name], ";")
			r.AllowOrigin = &s
		case "putmethod":
			r.PutMethod = strPtr(v)
		case "deletemethod":
			r.DeleteMethod = strPtr(v)
		case "patchmethod":
			r.PatchMethod = strPtr(v)
		case "tls":
			r.TLS = f.bool(name)
		case "tlscert":
			r.CertFile = v
		case "tlskey":
			r.KeyFile = v
		case "wscompression":
			r.WSCompression = f.bool(name)
		case "resetthrottle":
			r.ResetThrottle, _ = strconv.Atoi(v)
		case "referencethrottle":
			r.ReferenceThrottle, _ = strconv.Atoi(v)
		}
	}
	if f.bool("DV") {
		r.Debug, r.Trace = true, true
	}
}

// resgateFile returns the content of a new Resgate config file made of the
// defaults and the given Resgate flags, as Resgate writes when -c names a
// missing file.
func resgateFile(f *flagSet) []byte {
	var r resgateConfig
	r.applyFlags(f)
	r.setDefault()
	data, _ := json.MarshalIndent(r, "", "\t")
	return append(data, '\n')
}

// resgateMapping records, for each native path a Resgate key was mapped to,
// that key.
type resgateMapping map[string]string

// hints carries Resgate file values the native form drops but later Resgate
// flags may use: certFile and keyFile of a file with tls false.
type resgateHints struct {
	certFile, keyFile string
}

// toNative maps a Resgate config to the native format: a listener named
// "default" with every listener setting, a metrics listener named "metrics"
// when metricsPort is set, and the NATS, engine and log settings.
func (r *resgateConfig) toNative(warn func(string)) (map[string]any, resgateMapping, resgateHints, []issue) {
	var issues []issue
	from := resgateMapping{}
	bad := func(key, msg string) {
		issues = append(issues, issue{path: []string{key}, msg: msg})
	}
	set := func(m map[string]any, path []string, v any, key string) {
		for _, k := range path[:len(path)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		m[path[len(path)-1]] = v
		from[pathKey(path)] = key
	}
	out := map[string]any{}
	p := func(s ...string) []string { return s }

	set(out, p("nats", "urls"), toAny(splitList(r.NatsURL, ",")), "natsUrl")
	if r.NatsCreds != "" {
		set(out, p("nats", "creds"), r.NatsCreds, "natsCreds")
	}
	if r.NatsCert != "" {
		set(out, p("nats", "cert"), r.NatsCert, "natsCert")
	}
	if r.NatsKey != "" {
		set(out, p("nats", "key"), r.NatsKey, "natsKey")
	}
	if r.NatsRootCAs != nil {
		set(out, p("nats", "rootCAs"), toAny(r.NatsRootCAs), "natsRootCAs")
	}
	switch t := r.RequestTimeout; {
	case t < 0:
		bad("requestTimeout", fmt.Sprintf("must be a positive number of milliseconds, got %d", t))
	case t == 0:
	default:
		set(out, p("nats", "requestTimeout"), requestTimeoutMS(t, warn), "requestTimeout")
	}
	switch {
	case r.BufferSize < 0:
		bad("bufferSize", fmt.Sprintf("must be a positive number, got %d", r.BufferSize))
	case r.BufferSize > 0:
		set(out, p("nats", "bufferSize"), r.BufferSize, "bufferSize")
	}
	if r.Debug {
		set(out, p("log", "level"), "debug", "debug")
	}
	if r.Trace {
		set(out, p("log", "trace"), true, "trace")
	}
	if r.ResetThrottle > 0 {
		set(out, p("engine", "resetThrottle"), r.ResetThrottle, "resetThrottle")
	}
	if r.ReferenceThrottle > 0 {
		set(out, p("engine", "referenceThrottle"), r.ReferenceThrottle, "referenceThrottle")
	}

	l := func(k string) []string { return p("listeners", DefaultListenerName, k) }
	host := "0.0.0.0"
	if r.Addr != nil {
		host = *r.Addr
		if host != "" && net.ParseIP(host) == nil {
			bad("addr", fmt.Sprintf("invalid addr %q: must be a valid IPv4 or IPv6 address", host))
		}
	}
	port := r.Port
	if port == 0 {
		port = 8080
	}
	addrKey := "port"
	if r.Port == 0 {
		addrKey = "addr"
	}
	set(out, l("kind"), KindHTTP, "")
	set(out, l("address"), net.JoinHostPort(host, strconv.Itoa(int(port))), addrKey)
	wsPath := r.WSPath
	if wsPath == "" {
		wsPath = DefaultWSPath
	}
	set(out, l("wsPaths"), []any{wsPath}, "wsPath")
	apiPath := r.APIPath
	if apiPath == "" {
		apiPath = DefaultAPIPath // as Resgate's SetDefault
	}
	if !strings.HasSuffix(apiPath, "/") {
		apiPath += "/"
	}
	set(out, l("apiPath"), apiPath, "apiPath")
	enc := strings.ToLower(r.APIEncoding)
	if enc == "" {
		enc = DefaultAPIEncoding
	}
	set(out, l("apiEncoding"), enc, "apiEncoding")
	for _, s := range []struct {
		key, native string
		v           *string
	}{
		{"headerAuth", "headerAuth", r.HeaderAuth},
		{"wsHeaderAuth", "wsHeaderAuth", r.WSHeaderAuth},
		{"putMethod", "putMethod", r.PutMethod},
		{"deleteMethod", "deleteMethod", r.DeleteMethod},
		{"patchMethod", "patchMethod", r.PatchMethod},
	} {
		if s.v != nil {
			set(out, l(s.native), *s.v, s.key)
		}
	}
	origins := []string{"*"}
	if r.AllowOrigin != nil {
		origins = resgateOrigins(*r.AllowOrigin)
	}
	set(out, l("allowOrigin"), toAny(origins), "allowOrigin")
	if r.WSCompression {
		set(out, l("wsCompression"), true, "wsCompression")
	}
	set(out, l("resources"), []any{">"}, "")

	cert, certKey := r.CertFile, "certFile"
	if r.TLSCert != "" {
		if cert != "" && cert != r.TLSCert {
			bad("tlsCert", fmt.Sprintf("conflicts with certFile %q", cert))
		}
		cert, certKey = r.TLSCert, "tlsCert"
	}
	key, keyKey := r.KeyFile, "keyFile"
	if r.TLSKey != "" {
		if key != "" && key != r.TLSKey {
			bad("tlsKey", fmt.Sprintf("conflicts with keyFile %q", key))
		}
		key, keyKey = r.TLSKey, "tlsKey"
	}
	if r.TLS {
		set(out, l("tls"), map[string]any{}, "tls")
		if cert != "" {
			set(out, p("listeners", DefaultListenerName, "tls", "certFile"), cert, certKey)
		}
		if key != "" {
			set(out, p("listeners", DefaultListenerName, "tls", "keyFile"), key, keyKey)
		}
	}

	if r.MetricsPort > 0 {
		set(out, p("listeners", DefaultMetricsListenerName), map[string]any{
			"kind":    KindMetrics,
			"address": net.JoinHostPort(host, strconv.Itoa(int(r.MetricsPort))),
		}, "metricsPort")
		if r.TLS {
			// Resgate serves its metrics over TLS too, with the same
			// certificate.
			m := func(k string) []string { return p("listeners", DefaultMetricsListenerName, "tls", k) }
			set(out, p("listeners", DefaultMetricsListenerName, "tls"), map[string]any{}, "tls")
			if cert != "" {
				set(out, m("certFile"), cert, certKey)
			}
			if key != "" {
				set(out, m("keyFile"), key, keyKey)
			}
		}
	}
	return out, from, resgateHints{certFile: cert, keyFile: key}, issues
}

// requestTimeoutMS applies Resgate's rule that a request timeout of 10 or
// less is in seconds, with Resgate's deprecation warning.
func requestTimeoutMS(t int, warn func(string)) int {
	if t > 0 && t <= 10 {
		warn(fmt.Sprintf("[DEPRECATED] Request timeout should be in milliseconds.\nChange your requestTimeout from %d to %d, and you won't be bothered anymore.", t, t*1000))
		return t * 1000
	}
	return t
}

// resgateOrigins splits Resgate's ';'-separated allowOrigin, lower-cased
// and sorted as Resgate does.
func resgateOrigins(s string) []string {
	parts := strings.Split(s, ";")
	for i, o := range parts {
		parts[i] = strings.ToLower(o)
	}
	sort.Strings(parts)
	return parts
}

// splitList splits s at sep, trims spaces and drops empty items.
func splitList(s, sep string) []string {
	out := []string{}
	for _, x := range strings.Split(s, sep) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// FromResgate converts the content of a Resgate v1.8.0 config.json into a
// Config, applying defaults and validating it as Load does. The result is
// one http listener named "default" (and a metrics listener named "metrics"
// when metricsPort is set). Warnings, such as Resgate's deprecation of a
// requestTimeout in seconds, go to warn when it is not nil.
func FromResgate(data []byte, warn func(string)) (*Config, error) {
	return load(LoadOptions{Warn: warn}, &fileInput{name: "config.json", data: data, format: formatJSON, forceResgate: true})
}

// decodeResgate decodes a validated Resgate map as encoding/json would
// decode the file into Resgate's Config.
func decodeResgate(m map[string]any) (*resgateConfig, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var r resgateConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
