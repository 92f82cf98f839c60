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
		out = append(out, toLowerASCII(p))
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

// originAllowed reports whether a request's Origin header values pass, as
// Resgate decides: any origin when allowed is nil; no Origin header, or a
// first value of "null", always; otherwise the first value must match an
// allowed origin (see matchOrigin).
func originAllowed(allowed []string, origin []string) bool {
	if allowed == nil || len(origin) == 0 || origin[0] == "null" {
		return true
	}
	return matchOrigin(allowed, origin[0])
}

// matchOrigin reports whether origin equals one of the allowed (lower-cased)
// origins, ignoring the case of ASCII letters in origin.
func matchOrigin(allowed []string, origin string) bool {
	for _, a := range allowed {
		if len(a) != len(origin) {
			continue
		}
		i := 0
		for ; i < len(a); i++ {
			c := origin[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != a[i] {
				break
			}
		}
		if i == len(a) {
			return true
		}
	}
	return false
}

// toLowerASCII lower-cases the ASCII letters of s only, as Resgate does for
// allowed origins.
func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
