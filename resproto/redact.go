package resproto

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// redactedText replaces a secret in trace output.
const redactedText = "[redacted]"

// Trace output (Config.Trace) shows every client and NATS message, and
// those carry secrets: access, get, call and auth requests carry the
// connection's token; auth requests triggered by header authentication
// carry the client's HTTP headers (Cookie, Authorization); the params of an
// auth request are typically credentials; conn.<cid>.token events carry the
// token itself. redactTrace makes a message safe to log: it replaces, at
// any depth, the value of every key that names a secret (secretKey), every
// value of an HTTP header that may hold one (secretHeader), and the params
// of an auth request whole. A message that is not JSON is withheld, since
// what it holds cannot be told.
//
// It is for trace logging only. Most messages hold none of those keys and
// are traced verbatim; one that may is decoded and re-encoded, so its keys
// come out sorted.

// redactTrace returns data, a JSON message, with its secrets replaced.
// authRequest tells that data is the payload of an auth request (an
// auth.<rid>.<method> NATS request), whose params are redacted whole; a
// client request whose method starts with "auth." is recognized by itself.
func redactTrace(data []byte, authRequest bool) string {
	if !authRequest && !maySecret(data) {
		return string(data) // verbatim, as most messages
	}
	// Validated first: a decoder would stop at the first value and take
	// no notice of what follows it.
	if !json.Valid(data) {
		return "(" + strconv.Itoa(len(data)) + " bytes, not JSON: withheld)"
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "(" + strconv.Itoa(len(data)) + " bytes, not JSON: withheld)"
	}
	if m, ok := v.(map[string]any); ok {
		if method, _ := m["method"].(string); strings.HasPrefix(method, "auth.") {
			authRequest = true
		}
		if _, ok := m["params"]; ok && authRequest {
			m["params"] = redactedText
		}
	}
	v = redactValue(v, false)
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "(" + strconv.Itoa(len(data)) + " bytes: withheld)"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maySecret reports whether data may hold a secret: a key secretKey or
// secretHeader could match, a header map or an auth method. Other messages
// are traced verbatim.
func maySecret(data []byte) bool {
	lower := bytes.ToLower(data)
	for _, s := range []string{"token", "jwt", "pass", "pwd", "secret", "cookie", "auth", "key", "cred", "seed", "header"} {
		if bytes.Contains(lower, []byte(s)) {
			return true
		}
	}
	return false
}

// redactValue redacts v in place and returns it. inHeader tells that v is
// the value of a "header" key: an HTTP header map.
func redactValue(v any, inHeader bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch {
			case secretKey(k), inHeader && secretHeader(k):
				x[k] = redactedText
			case strings.EqualFold(k, "uri"):
				if u, ok := e.(string); ok {
					x[k] = RedactURI(u)
				}
			default:
				x[k] = redactValue(e, strings.EqualFold(k, "header") || strings.EqualFold(k, "headers"))
			}
		}
	case []any:
		for i, e := range x {
			x[i] = redactValue(e, false)
		}
	}
	return v
}

// secretKey reports whether a JSON object key names a secret wherever it
// appears.
func secretKey(k string) bool {
	switch strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(k)) {
	case "token", "accesstoken", "refreshtoken", "idtoken", "jwt",
		"password", "passwd", "pass", "pwd", "secret", "clientsecret",
		"cookie", "setcookie", "authorization", "proxyauthorization",
		"apikey", "credentials", "creds", "privatekey", "seed", "nkey":
		return true
	}
	return false
}

// secretHeader reports whether an HTTP header may carry a secret: its
// values are redacted in trace output.
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"auth", "cookie", "token", "secret", "key", "session", "password", "credential", "signature"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// RedactURI returns a request URI (path and query, as in an HTTP request
// line) fit for a log: the value of every query parameter whose name may
// stand for a secret (token=, access_token=, api_key=, sig=, …; the names
// secretKey and secretHeader know) is replaced by [redacted]. Browsers
// cannot set headers on a WebSocket upgrade, so clients often pass their
// token in the query string. The rest of the URI is kept byte for byte.
func RedactURI(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return uri
	}
	var b strings.Builder
	b.Grow(len(uri))
	b.WriteString(path)
	b.WriteByte('?')
	for i, param := range strings.Split(query, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(param, "=")
		if hasValue && secretParam(name) {
			b.WriteString(name)
			b.WriteString("=" + redactedText)
			continue
		}
		b.WriteString(param)
	}
	return b.String()
}

// secretParam reports whether a query parameter name, URL-escaped as
// received, may stand for a secret.
func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	n := strings.ToLower(name)
	return secretKey(n) || secretHeader(n) || n == "sig" || n == "code"
}
