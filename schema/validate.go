package schema

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/resedge/resedge/resproto"
)

// Validate checks a configuration for what the schema cannot express:
// unique listener names and addresses, a metrics port different from every
// API port, TLS references that exist, well-formed origins, resource
// patterns, auth and call methods, addresses, URLs and ACME settings, and
// the fields each listener kind may use. Values Load fills in (listener
// defaults) are not filled in here; see Default and DefaultListener. It
// does not touch the file system. It returns nil or a *ValidationError.
func Validate(c *Config) error {
	issues := c.validate()
	if len(issues) == 0 {
		return nil
	}
	return &ValidationError{Problems: locate(issues, nil, nil)}
}

// validate returns the semantic problems of c.
func (c *Config) validate() []issue {
	v := &validator{c: c}
	v.nats()
	v.engine()
	v.log()
	tlsNames := make([]string, 0, len(c.TLS))
	for name := range c.TLS {
		tlsNames = append(tlsNames, name)
	}
	sort.Strings(tlsNames)
	for _, name := range tlsNames {
		if !nameRE.MatchString(name) {
			v.add(fmt.Sprintf("invalid TLS settings name %q: %s", name, nameRule), "tls", name)
			continue
		}
		if c.TLS[name] == nil {
			v.add("must be an object", "tls", name)
			continue
		}
		v.tls([]string{"tls", name}, c.TLS[name])
	}
	v.listeners()
	return v.issues
}

const nameRule = `use up to 64 letters, digits, "-" and "_", starting with a letter or digit`

type validator struct {
	c      *Config
	issues []issue
}

func (v *validator) add(msg string, path ...string) {
	v.issues = append(v.issues, issue{path: path, msg: msg})
}

func (v *validator) addSuggest(msg, sug string, path ...string) {
	v.issues = append(v.issues, issue{path: path, msg: msg, suggest: sug})
}

func (v *validator) atLeast(n, min int, path ...string) {
	if n < min {
		v.add(fmt.Sprintf("must be at least %d, got %d", min, n), path...)
	}
}

func (v *validator) nats() {
	n := &v.c.NATS
	for i, u := range n.URLs {
		if err := checkNATSURL(u); err != nil {
			v.add(fmt.Sprintf("invalid NATS URL %q: %s", redactURL(u), err), "nats", "urls", strconv.Itoa(i))
		}
	}
	if n.Cert != "" && n.Key == "" {
		v.add("missing key (cert is set)", "nats")
	}
	if n.Key != "" && n.Cert == "" {
		v.add("missing cert (key is set)", "nats")
	}
	if n.Creds != "" && n.NKeySeed != "" {
		v.add("use either creds or nkeySeed, not both", "nats")
	}
	v.atLeast(n.BufferSize, 1, "nats", "bufferSize")
	if n.RequestTimeout <= 0 {
		v.add("must be more than 0", "nats", "requestTimeout")
	}
	if n.Outage != "" { // "" is the default, close
		v.oneOf(n.Outage, []string{OutageClose, OutageResync, OutageExit}, "nats", "outage")
	}
}

func (v *validator) engine() {
	e := &v.c.Engine
	v.atLeast(e.ResetThrottle, 0, "engine", "resetThrottle")
	v.atLeast(e.ReferenceThrottle, 0, "engine", "referenceThrottle")
	if e.UnsubscribeDelay < 0 {
		v.add("must not be negative", "engine", "unsubscribeDelay")
	}
	v.atLeast(e.Limits.SubscriptionsPerResource, 1, "engine", "limits", "subscriptionsPerResource")
	v.atLeast(e.Limits.SubscriptionsPerConnection, 0, "engine", "limits", "subscriptionsPerConnection")
	v.atLeast(e.Limits.WriteQueue, 1, "engine", "limits", "writeQueue")
	v.atLeast(e.Limits.MaxMessageSize, 1, "engine", "limits", "maxMessageSize")
	if e.Limits.WriteTimeout <= 0 {
		v.add("must be more than 0", "engine", "limits", "writeTimeout")
	}
	v.atLeast(e.Limits.MaxBodySize, 1, "engine", "limits", "maxBodySize")
	v.atLeast(e.Limits.MaxHeaderBytes, 1, "engine", "limits", "maxHeaderBytes")
	for _, d := range []struct {
		key string
		v   Duration
	}{{"readHeaderTimeout", e.Limits.ReadHeaderTimeout}, {"readTimeout", e.Limits.ReadTimeout}, {"idleTimeout", e.Limits.IdleTimeout}, {"pongTimeout", e.Limits.PongTimeout}} {
		if d.v <= 0 {
			v.add("must be more than 0", "engine", "limits", d.key)
		}
	}
	if e.Limits.PingInterval < 0 {
		v.add("must not be negative", "engine", "limits", "pingInterval")
	}
	if v.c.Shutdown.LameDuck < 0 {
		v.add("must not be negative", "shutdown", "lameDuck")
	}
}

func (v *validator) log() {
	v.oneOf(v.c.Log.Level, []string{"debug", "info", "warn", "error"}, "log", "level")
	v.oneOf(v.c.Log.Format, []string{"auto", "text", "json", "tint"}, "log", "format")
}

func (v *validator) oneOf(got string, want []string, path ...string) {
	for _, w := range want {
		if got == w {
			return
		}
	}
	q := make([]string, len(want))
	for i, w := range want {
		q[i] = strconv.Quote(w)
	}
	v.addSuggest(fmt.Sprintf("must be one of %s, got %q", strings.Join(q, ", "), got), suggest(got, want), path...)
}

// tls checks TLS settings at path.
func (v *validator) tls(path []string, t *TLS) {
	sub := func(k ...string) []string { return append(append([]string(nil), path...), k...) }
	if t.MinVersion != "" {
		v.oneOf(t.MinVersion, []string{"1.2", "1.3"}, sub("minVersion")...)
	}
	if t.ACME != nil {
		if t.CertFile != "" || t.KeyFile != "" {
			v.add("use either certFile and keyFile, or acme, not both", path...)
		}
		a := t.ACME
		if len(a.Domains) == 0 && a.OnDemand == nil {
			v.add("must not be empty (unless onDemand is set)", sub("acme", "domains")...)
		}
		for i, d := range a.Domains {
			if !validDomain(d) {
				v.add(fmt.Sprintf("invalid domain name %q", d), sub("acme", "domains", strconv.Itoa(i))...)
			}
		}
		if d := a.DefaultServerName; d != "" {
			switch {
			case strings.HasPrefix(d, "*.") || !validDomain(d):
				v.add(fmt.Sprintf("invalid server name %q: must be a domain name, not a wildcard", d), sub("acme", "defaultServerName")...)
			case a.OnDemand == nil && !coveredBy(d, a.Domains):
				v.add(fmt.Sprintf("%q is not among the domains, so no certificate would be obtained for it", d), sub("acme", "defaultServerName")...)
			}
		}
		if a.Email != "" {
			if at := strings.IndexByte(a.Email, '@'); at <= 0 || at == len(a.Email)-1 || strings.ContainsAny(a.Email, " \t<>") {
				v.add(fmt.Sprintf("invalid e-mail address %q", a.Email), sub("acme", "email")...)
			}
		}
		if a.CA != "" {
			if u, err := url.Parse(a.CA); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.add(fmt.Sprintf("invalid ACME directory URL %q: must be an https:// URL", a.CA), sub("acme", "ca")...)
			}
			if a.Staging {
				v.add("use either ca or staging, not both", sub("acme")...)
			}
		}
		if a.EAB != nil {
			if a.EAB.KeyID == "" {
				v.add("must not be empty", sub("acme", "eab", "keyId")...)
			}
			if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(a.EAB.MACKey, "=")); err != nil || a.EAB.MACKey == "" {
				v.add("must be the base64url HMAC key the CA gave", sub("acme", "eab", "macKey")...)
			}
		}
		if od := a.OnDemand; od != nil {
			if len(od.Allow) == 0 && od.Ask == "" {
				v.add("needs allow or ask, so that not every name gets a certificate", sub("acme", "onDemand")...)
			}
			for i, d := range od.Allow {
				if !validDomain(d) {
					v.add(fmt.Sprintf("invalid domain name %q", d), sub("acme", "onDemand", "allow", strconv.Itoa(i))...)
				}
			}
			if od.Ask != "" {
				if u, err := url.Parse(od.Ask); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					v.add(fmt.Sprintf("invalid URL %q: must be an http:// or https:// URL", od.Ask), sub("acme", "onDemand", "ask")...)
				}
			}
		}
		for _, p := range []struct {
			n   int
			key string
		}{{a.AltHTTPPort, "altHTTPPort"}, {a.AltTLSALPNPort, "altTLSALPNPort"}} {
			if p.n < 0 || p.n > 65535 {
				v.add(fmt.Sprintf("must be a port number, got %d", p.n), sub("acme", p.key)...)
			}
		}
		if a.DisableHTTPChallenge && a.DisableTLSALPNChallenge {
			v.add("both challenge types are disabled", sub("acme")...)
		}
		return
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		v.add("needs certFile and keyFile, or acme", path...)
	case t.CertFile == "":
		v.add("missing certFile (keyFile is set)", path...)
	case t.KeyFile == "":
		v.add("missing keyFile (certFile is set)", path...)
	}
}

// hostPort is a parsed listener address.
type hostPort struct {
	host    string
	port    int
	systemd string
}

// wildcard reports whether the host is every interface.
func (a hostPort) wildcard() bool {
	return a.host == "" || a.host == "0.0.0.0" || a.host == "::" || a.host == "[::]"
}

// overlaps reports whether two addresses cannot both be listened on.
func (a hostPort) overlaps(b hostPort) bool {
	if a.systemd != "" || b.systemd != "" {
		return a.systemd != "" && a.systemd == b.systemd
	}
	if a.port == 0 || a.port != b.port {
		return false
	}
	return a.wildcard() || b.wildcard() || strings.EqualFold(a.host, b.host)
}

var systemdNameRE = regexp.MustCompile(`^[!-9;-~]{1,255}$`)

// parseAddress parses a listener address.
func parseAddress(s string) (hostPort, error) {
	if name, ok := strings.CutPrefix(s, SystemdPrefix); ok {
		if !systemdNameRE.MatchString(name) {
			return hostPort{}, fmt.Errorf(`invalid systemd socket name %q: use printable ASCII without spaces or ":"`, name)
		}
		return hostPort{systemd: name}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Errorf("must be host:port, :port or %s<name>", SystemdPrefix)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return hostPort{}, fmt.Errorf("invalid port %q", port)
	}
	if strings.ContainsAny(host, " /?#@") {
		return hostPort{}, fmt.Errorf("invalid host %q", host)
	}
	return hostPort{host: host, port: p}, nil
}

// httpOnly returns the http listener fields set on l, by key.
func httpOnly(l *Listener) []string {
	var set []string
	add := func(ok bool, k string) {
		if ok {
			set = append(set, k)
		}
	}
	add(len(l.WSPaths) > 0, "wsPaths")
	add(l.APIPath != "", "apiPath")
	add(l.APIEncoding != "", "apiEncoding")
	add(len(l.AllowOrigin) > 0, "allowOrigin")
	add(l.HeaderAuth != "", "headerAuth")
	add(l.WSHeaderAuth != "", "wsHeaderAuth")
	add(l.PutMethod != "", "putMethod")
	add(l.DeleteMethod != "", "deleteMethod")
	add(l.PatchMethod != "", "patchMethod")
	add(l.WSCompression, "wsCompression")
	add(len(l.Resources) > 0, "resources")
	return set
}

func (v *validator) listeners() {
	c := v.c
	names := c.ListenerNames()
	addrs := map[string]hostPort{}
	folded := map[string]string{}
	httpCount, unknownKind := 0, false
	for _, name := range names {
		l := c.Listeners[name]
		p := func(k ...string) []string { return append([]string{"listeners", name}, k...) }
		if !nameRE.MatchString(name) {
			v.add(fmt.Sprintf("invalid listener name %q: %s", name, nameRule), p()...)
			continue
		}
		f := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
		if other, dup := folded[f]; dup {
			v.add(fmt.Sprintf("same name as listener %q apart from case, \"-\" or \"_\"; names must differ in more (their environment variables would clash)", other), p()...)
		}
		folded[f] = name

		if l.Address == "" {
			v.add("must not be empty", p("address")...)
		} else if a, err := parseAddress(l.Address); err != nil {
			v.add(fmt.Sprintf("invalid address %q: %s", l.Address, err), p("address")...)
		} else {
			addrs[name] = a
		}
		v.atLeast(l.MaxConnections, 0, p("maxConnections")...)
		if pp := l.ProxyProtocol; pp != nil {
			if len(pp.Allow) == 0 {
				v.add("must not be empty: list the load balancers' addresses (IPs or CIDR ranges)", p("proxyProtocol", "allow")...)
			}
			for i, a := range pp.Allow {
				if !validIPOrCIDR(a) {
					v.add(fmt.Sprintf("invalid address %q: must be an IP address or a CIDR range", a), p("proxyProtocol", "allow", strconv.Itoa(i))...)
				}
			}
		}

		switch l.Kind {
		case "", KindHTTP:
			httpCount++
			v.httpListener(l, p)
		case KindMetrics, KindRedirect:
			for _, k := range httpOnly(l) {
				v.add(fmt.Sprintf("not allowed on a %s listener", l.Kind), p(k)...)
			}
			if l.Kind == KindRedirect && l.TLS != nil {
				v.add("not allowed on a redirect listener", p("tls")...)
			}
		default:
			v.oneOf(l.Kind, []string{KindHTTP, KindMetrics, KindRedirect}, p("kind")...)
			unknownKind = true
			continue
		}
		if l.Kind != KindRedirect && l.RedirectTo != "" {
			v.add("only allowed on a redirect listener", p("redirectTo")...)
		}
		if l.Kind == KindRedirect && l.RedirectTo != "" {
			t, ok := c.Listeners[l.RedirectTo]
			switch {
			case !ok:
				v.addSuggest(fmt.Sprintf("unknown listener %q", l.RedirectTo), suggest(l.RedirectTo, names), p("redirectTo")...)
			case !t.IsHTTP() || t.TLS == nil:
				v.add(fmt.Sprintf("listener %q is not an http listener with TLS", l.RedirectTo), p("redirectTo")...)
			}
		}
		if l.TLS != nil && l.Kind != KindRedirect {
			switch {
			case l.TLS.Inline != nil:
				v.tls(p("tls"), l.TLS.Inline)
			case c.TLS[l.TLS.Name] == nil:
				tlsNames := make([]string, 0, len(c.TLS))
				for n := range c.TLS {
					tlsNames = append(tlsNames, n)
				}
				v.addSuggest(fmt.Sprintf("unknown TLS settings %q", l.TLS.Name), suggest(l.TLS.Name, tlsNames), p("tls")...)
			}
		}
	}
	if httpCount == 0 && !unknownKind {
		v.add("at least one http listener is required", "listeners")
	}

	// Addresses in use twice.
	for j, b := range names {
		bj, ok := addrs[b]
		if !ok {
			continue
		}
		for _, a := range names[:j] {
			ai, ok := addrs[a]
			if !ok || !ai.overlaps(bj) {
				continue
			}
			la, lb := c.Listeners[a], c.Listeners[b]
			switch {
			case la.Kind == KindMetrics && lb.IsHTTP():
				v.add(fmt.Sprintf("metrics port %d must be different from the API port of listener %q", ai.port, b), "listeners", a, "address")
			case lb.Kind == KindMetrics && la.IsHTTP():
				v.add(fmt.Sprintf("metrics port %d must be different from the API port of listener %q", bj.port, a), "listeners", b, "address")
			case bj.systemd != "":
				v.add(fmt.Sprintf("socket %q is also used by listener %q", bj.systemd, a), "listeners", b, "address")
			default:
				v.add(fmt.Sprintf("port %d is also used by listener %q", bj.port, a), "listeners", b, "address")
			}
		}
	}

	v.acmeReachable(names, addrs)
}

func (v *validator) httpListener(l *Listener, p func(...string) []string) {
	seen := map[string]int{}
	for i, w := range l.WSPaths {
		if !strings.HasPrefix(w, "/") {
			v.add(fmt.Sprintf("must start with \"/\", got %q", w), p("wsPaths", strconv.Itoa(i))...)
		}
		if j, dup := seen[w]; dup {
			v.add(fmt.Sprintf("duplicate of item %d (%q)", j, w), p("wsPaths", strconv.Itoa(i))...)
		}
		seen[w] = i
	}
	if l.APIPath != "" && !strings.HasPrefix(l.APIPath, "/") {
		v.add(fmt.Sprintf("must start with \"/\", got %q", l.APIPath), p("apiPath")...)
	}
	if len(l.WSPaths) == 0 && l.APIPath == "" {
		v.add("serves neither WebSocket (wsPaths) nor the HTTP API (apiPath)", p()...)
	}
	if l.APIEncoding != "" {
		v.oneOf(l.APIEncoding, []string{"json", "jsonflat"}, p("apiEncoding")...)
	}
	for i, o := range l.AllowOrigin {
		ip := p("allowOrigin", strconv.Itoa(i))
		if o == "*" {
			if len(l.AllowOrigin) > 1 {
				v.add(`"*" must be the only origin`, ip...)
			}
			continue
		}
		if err := checkOrigin(o); err != nil {
			v.add(err.Error(), ip...)
		}
	}
	for _, m := range []struct{ key, val string }{{"headerAuth", l.HeaderAuth}, {"wsHeaderAuth", l.WSHeaderAuth}} {
		if m.val != "" && !validResourceMethod(m.val) {
			v.add(fmt.Sprintf("invalid resource method %q: must be <resource>.<method>, such as \"auth.header.login\"", m.val), p(m.key)...)
		}
	}
	for _, m := range []struct{ key, val string }{{"putMethod", l.PutMethod}, {"deleteMethod", l.DeleteMethod}, {"patchMethod", l.PatchMethod}} {
		if m.val != "" && !resproto.IsValidRIDPart(m.val) {
			v.add(fmt.Sprintf("invalid call method name %q", m.val), p(m.key)...)
		}
	}
	for i, r := range l.Resources {
		if !resproto.Pattern(r).IsValid() {
			v.add(fmt.Sprintf("invalid resource pattern %q: use dot-separated names, \"*\" for one part and a final \">\" for the rest", r), p("resources", strconv.Itoa(i))...)
		}
	}
}

// acmeReachable checks that a CA can validate each ACME listener: over
// TLS-ALPN-01 on its own port 443, or HTTP-01 on a plain listener on port
// 80, or through forwarded alternative ports. Socket-activated listeners
// may be on any port, so they are assumed to make it possible.
func (v *validator) acmeReachable(names []string, addrs map[string]hostPort) {
	plain80, unknown := false, false
	for _, n := range names {
		l, a := v.c.Listeners[n], addrs[n]
		if a.systemd != "" {
			unknown = true
		}
		if a.port == 80 && (l.Kind == KindRedirect || (l.IsHTTP() && l.TLS == nil)) {
			plain80 = true
		}
	}
	if unknown {
		return
	}
	for _, n := range names {
		l := v.c.Listeners[n]
		a, ok := addrs[n]
		t := v.c.ListenerTLS(l)
		if !ok || !l.IsHTTP() || t == nil || t.ACME == nil {
			continue
		}
		acme := t.ACME
		alpn := !acme.DisableTLSALPNChallenge && (a.port == 443 || acme.AltTLSALPNPort != 0)
		http01 := !acme.DisableHTTPChallenge && (plain80 || acme.AltHTTPPort != 0)
		if !alpn && !http01 {
			v.add("ACME cannot validate this listener: it needs port 443 (TLS-ALPN-01) or a plain listener on port 80 (HTTP-01); set acme.altTLSALPNPort or acme.altHTTPPort if a port is forwarded", "listeners", n, "tls")
		}
	}
}

// checkOrigin checks an allowOrigin entry as Resgate does:
// <scheme>://<host>[:<port>] and nothing more.
func checkOrigin(o string) error {
	if o == "" {
		return fmt.Errorf("must not be empty")
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("invalid origin %q: must be <scheme>://<host>[:<port>]", o)
	}
	return nil
}

// validResourceMethod reports whether s is "rid.method": a valid resource
// ID without a query, with at least two parts.
func validResourceMethod(s string) bool {
	return strings.IndexByte(s, '.') > 0 && !strings.Contains(s, "?") && resproto.IsValidRID(s)
}

// checkNATSURL checks a NATS server URL as nats.go reads it: a missing
// scheme means nats://.
func checkNATSURL(s string) error {
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme must be nats, tls, ws or wss")
	}
	if u.Hostname() == "" {
		return fmt.Errorf("missing host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q", p)
		}
	}
	return nil
}

// validIPOrCIDR reports whether s is an IP address or a CIDR range.
func validIPOrCIDR(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// coveredBy reports whether name is one of domains or matches a wildcard
// among them ("*.example.com" covers one label under example.com).
func coveredBy(name string, domains []string) bool {
	name = strings.ToLower(name)
	for _, d := range domains {
		d = strings.ToLower(d)
		if d == name {
			return true
		}
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if _, parent, found := strings.Cut(name, "."); found && parent == rest {
				return true
			}
		}
	}
	return false
}

var domainLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// validDomain reports whether d is a DNS name, optionally a wildcard
// "*.example.com".
func validDomain(d string) bool {
	d = strings.TrimPrefix(d, "*.")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if !domainLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}
