package resproto

import "strings"

// IsValidRID reports whether rid is a valid resource ID: dot-separated
// non-empty parts of printable ASCII (33–126) without '*' or '>', optionally
// followed by '?' and a query. The query may hold any characters.
func IsValidRID(rid string) bool {
	start := true
	for i := 0; i < len(rid); i++ {
		c := rid[i]
		if c == '?' {
			return !start
		}
		if c < 33 || c > 126 || c == '*' || c == '>' {
			return false
		}
		if c == '.' {
			if start {
				return false
			}
			start = true
		} else {
			start = false
		}
	}
	return !start
}

// IsValidRIDPart reports whether s is usable as one part of a resource ID, or
// as a method name: non-empty printable ASCII without '.', '?', '*' or '>'.
func IsValidRIDPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '?' || c == '*' || c == '>' || c == '.' {
			return false
		}
	}
	return true
}

// SplitRID splits a resource ID into its resource name and query. The query
// is empty when the RID has none.
func SplitRID(rid string) (name, query string) {
	if i := strings.IndexByte(rid, '?'); i >= 0 {
		return rid[:i], rid[i+1:]
	}
	return rid, ""
}

// Pattern is a resource name pattern as used in system.reset events: parts
// separated by dots where '*' matches exactly one part and a final '>'
// matches one or more parts.
type Pattern string

// IsValid reports whether the pattern is well formed.
func (p Pattern) IsValid() bool {
	s := string(p)
	if s == "" {
		return false
	}
	parts := strings.Split(s, ".")
	for i, part := range parts {
		switch {
		case part == "*":
		case part == ">":
			if i != len(parts)-1 {
				return false
			}
		case !IsValidRIDPart(part):
			return false
		}
	}
	return true
}

// Matches reports whether the resource name matches the pattern. An invalid
// pattern matches nothing.
func (p Pattern) Matches(name string) bool {
	if !p.IsValid() {
		return false
	}
	s := string(p)
	for {
		var part string
		i := strings.IndexByte(s, '.')
		if i < 0 {
			part, s = s, ""
		} else {
			part, s = s[:i], s[i+1:]
		}
		if part == ">" {
			return i < 0 && name != ""
		}
		if name == "" {
			return false
		}
		j := strings.IndexByte(name, '.')
		var np string
		if j < 0 {
			np, name = name, ""
		} else {
			np, name = name[:j], name[j+1:]
			if name == "" {
				return false
			}
		}
		if part != "*" && part != np {
			return false
		}
		if i < 0 {
			return j < 0
		}
		if j < 0 {
			return false
		}
	}
}
