package schema

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix starts the names of environment variables that set config
// keys.
const EnvPrefix = "RESEDGE_"

// resolveError says where a name stopped matching config keys.
type resolveError struct {
	// at is the path of the object whose keys did not match.
	at []string
	// key is the unmatched part; suggestion a key of at it may mean.
	key, suggestion string
	// rest are the segments after key.
	rest []string
}

// suggestion returns the full name (joined by sep) a misspelt name
// probably meant: the suggested key followed by the rest of the name when
// that resolves, else the suggested key alone.
func (r *resolver) suggestion(e *resolveError, sep string, name func([]string) string) string {
	if e.suggestion == "" {
		return ""
	}
	at := appendPath(e.at, e.suggestion)
	segs := make([]string, 0, len(at)+len(e.rest))
	for _, p := range at {
		if r.env {
			p = strings.ToUpper(strings.ReplaceAll(p, "-", "_"))
		}
		segs = append(segs, p)
	}
	if _, _, err := r.resolve(append(segs, e.rest...)); err == nil {
		return name(at) + sep + strings.Join(e.rest, sep)
	}
	return name(at)
}

// resolver maps environment variable names and flag names to config paths,
// guided by the schema and by the listener and TLS names already present.
type resolver struct {
	s   *schemas
	raw map[string]any
	// env selects environment variable rules: segments are the upper-case
	// parts between underscores, and one key may span several segments
	// (REQUESTTIMEOUT or REQUEST_TIMEOUT). Otherwise segments are the parts
	// of a dotted flag name, one key each, matched ignoring case.
	env bool
}

// resolve returns the config path segs name, and the schema of its value.
func (r *resolver) resolve(segs []string) ([]string, node, *resolveError) {
	return r.walk(r.s.root(false), r.raw, nil, segs)
}

func (r *resolver) walk(n node, cur any, path, segs []string) ([]string, node, *resolveError) {
	if len(segs) == 0 {
		if hasType(r.s.types(n), "object") && !hasType(r.s.types(n), "string") {
			return nil, nil, &resolveError{at: path, key: ""}
		}
		return path, n, nil
	}
	curMap, _ := cur.(map[string]any)
	if r.s.isMap(n) {
		child := r.s.additional(n)
		// An existing name first, the longest that fits.
		names := make([]string, 0, len(curMap))
		for k := range curMap {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool {
			return len(names[i]) > len(names[j]) || (len(names[i]) == len(names[j]) && names[i] < names[j])
		})
		var firstErr *resolveError
		for _, name := range names {
			k, ok := r.matchName(name, segs)
			if !ok {
				continue
			}
			p, leaf, err := r.walk(child, curMap[name], appendPath(path, name), segs[k:])
			if err == nil {
				return p, leaf, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			return nil, nil, firstErr
		}
		// A new name: the fewest segments that leave a valid key path.
		maxK := len(segs) - 1
		if !r.env {
			maxK = min(1, maxK)
		}
		for k := 1; k <= maxK; k++ {
			name := segs[0]
			if r.env {
				name = strings.ToLower(strings.Join(segs[:k], "_"))
			}
			p, leaf, err := r.walk(child, nil, appendPath(path, name), segs[k:])
			if err == nil {
				return p, leaf, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			return nil, nil, firstErr
		}
		return nil, nil, &resolveError{at: path, key: strings.Join(segs, "_")}
	}
	props := r.s.properties(n)
	if len(props) > 0 {
		keys := r.s.keys(n)
		var firstErr *resolveError
		for k := 1; k <= len(segs); k++ {
			if !r.env && k > 1 {
				break
			}
			want := strings.ToLower(strings.Join(segs[:k], ""))
			for _, key := range keys {
				if strings.ToLower(key) != want {
					continue
				}
				p, leaf, err := r.walk(props[key], curMap[key], appendPath(path, key), segs[k:])
				if err == nil {
					return p, leaf, nil
				}
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		if firstErr != nil {
			return nil, nil, firstErr
		}
		key := segs[0]
		return nil, nil, &resolveError{at: path, key: key, suggestion: suggest(key, keys), rest: segs[1:]}
	}
	return nil, nil, &resolveError{at: path, key: strings.Join(segs, "_")}
}

// matchName reports whether a listener or TLS name matches the first
// segments, and how many it spans. Names match ignoring case, with "-" and
// "_" alike in environment variable names.
func (r *resolver) matchName(name string, segs []string) (int, bool) {
	if !r.env {
		return 1, strings.EqualFold(name, segs[0])
	}
	want := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	parts := strings.Split(want, "_")
	if len(parts) > len(segs) {
		return 0, false
	}
	for i, p := range parts {
		if p != segs[i] {
			return 0, false
		}
	}
	return len(parts), true
}

// envName returns the environment variable for a config path.
func envName(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = strings.ToUpper(strings.ReplaceAll(p, "-", "_"))
	}
	return EnvPrefix + strings.Join(parts, "_")
}

// convert turns the text of an environment variable or flag into a value
// of the type the schema n wants. Text that does not convert stays a
// string, for the schema to report.
func (s *schemas) convert(n node, text string) any {
	types := s.types(n)
	if hasType(types, "array") {
		if t := strings.TrimSpace(text); strings.HasPrefix(t, "[") {
			var list []any
			if err := json.Unmarshal([]byte(t), &list); err == nil {
				for i, x := range list {
					if f, ok := x.(float64); ok && f == float64(int(f)) {
						list[i] = int(f)
					}
				}
				return list
			}
			return text
		}
		return toAny(splitList(text, ","))
	}
	if hasType(types, "integer") {
		if i, err := strconv.Atoi(strings.TrimSpace(text)); err == nil {
			return i
		}
	}
	if hasType(types, "number") {
		if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
			return f
		}
	}
	if hasType(types, "boolean") {
		if b, err := strconv.ParseBool(strings.TrimSpace(text)); err == nil {
			return b
		}
	}
	return text
}

// envVars returns the environment entries with EnvPrefix, sorted, as
// name and value.
func envVars(environ []string) [][2]string {
	var out [][2]string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvPrefix {
			continue
		}
		out = append(out, [2]string{name, val})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
