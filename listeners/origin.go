package listeners

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// ParseAllowOrigin parses Resgate's allowOrigin setting: "*" for any origin,
// or a ';'-separated list of scheme://host[:port] origins. It returns nil for
// "*" (any origin) and the lower-cased, sorted list otherwise.
func ParseAllowOrigin(s string) ([]string, error) {
	if s == "" || s == "*" {
		return nil, nil
	}
	parts := strings.Split(s, ";")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p == "*" {
			return nil, fmt.Errorf("invalid allowOrigin %q: '*' must stand alone", s)
		}
		if err := checkOrigin(p); err != nil {
			return nil, fmt.Errorf("invalid allowOrigin %q: %w", s, err)
		}
		out = append(out, strings.ToLower(p))
	}
	sort.Strings(out)
	return out, nil
}

func checkOrigin(o string) error {
	if o == "" {
		return fmt.Errorf("empty origin")
	}
	u, err := url.Parse(o)
	if err != nil {
		return fmt.Errorf("origin %q: %w", o, err)
	}
	if u.Scheme == "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("origin %q is not of the form <scheme>://<host>[:<port>]", o)
	}
	if strings.HasSuffix(o, "/") {
		return fmt.Errorf("origin %q must not end with '/'", o)
	}
	return nil
}

// originAllowed reports whether a request's Origin header passes: any origin
// when allowed is nil, a missing or "null" origin always, otherwise an ASCII
// case-insensitive match.
func originAllowed(allowed []string, origin string) bool {
	if allowed == nil || origin == "" || origin == "null" {
		return true
	}
	for _, a := range allowed {
		if strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}
