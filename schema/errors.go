package schema

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration, located where the value
// came from: a file (and line, when known), an environment variable or a
// command-line flag. A problem with a built-in default has no location.
type Problem struct {
	// File is the config file the value came from, if any.
	File string
	// Line and Column locate the key in File; zero when unknown.
	Line, Column int
	// Env is the environment variable the value came from, if any.
	Env string
	// Flag is the command-line flag (without dashes) the value came from,
	// if any.
	Flag string
	// Path is the key path, such as "listeners.public.wsPaths[0]". For a
	// Resgate config file it is the Resgate key, such as "allowOrigin".
	Path string
	// Message says what is wrong.
	Message string
	// Suggestion is the key or value probably meant, for a misspelt one.
	Suggestion string
}

// String formats the problem as "file:line: key.path: message (did you
// mean "x"?)", with "env NAME" or "flag --name" in place of the file for
// values from the environment or the command line.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		fmt.Fprintf(&b, "%s: ", p.File)
	case p.Env != "":
		fmt.Fprintf(&b, "env %s: ", p.Env)
	case p.Flag != "":
		fmt.Fprintf(&b, "flag --%s: ", p.Flag)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", p.Suggestion)
	}
	return b.String()
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	// Problems are ordered by file and line, then environment variables,
	// then flags, then problems without a location.
	Problems []Problem
}

// Error returns one line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// origin is where a value came from.
type origin struct {
	file      string
	line, col int
	env       string
	flag      string
	// display replaces the path in messages (the Resgate key a native
	// path was mapped from).
	display string
}

// issue is a problem before it is located: its path is an instance path.
type issue struct {
	path    []string
	msg     string
	suggest string
	// at, when set, is where the problem is; otherwise the origin of path
	// (or of its nearest ancestor with one) is used.
	at *origin
	// noPath leaves the key path out of the message.
	noPath bool
}

// origins maps instance paths to where their values came from.
type origins map[string]origin

func pathKey(path []string) string { return strings.Join(path, "\x1f") }

// set records o as the origin of path and forgets the origins of the
// values below it, which the new value replaced.
func (m origins) set(path []string, o origin) {
	k := pathKey(path)
	prefix := k + "\x1f"
	for x := range m {
		if strings.HasPrefix(x, prefix) {
			delete(m, x)
		}
	}
	m[k] = o
}

// find returns the origin of path or of its nearest ancestor.
func (m origins) find(path []string) (origin, bool) {
	for i := len(path); i >= 0; i-- {
		if o, ok := m[pathKey(path[:i])]; ok {
			return o, true
		}
	}
	return origin{}, false
}

// renderPath formats an instance path as "a.b[0].c", using the instance to
// tell array indexes from keys.
func renderPath(path []string, instance any) string {
	var b strings.Builder
	v := instance
	for i, k := range path {
		switch t := v.(type) {
		case []any:
			b.WriteString("[" + k + "]")
			if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(t) {
				v = t[i]
			} else {
				v = nil
			}
			continue
		case map[string]any:
			v = t[k]
		case nil:
			// No instance (Validate): list keys are known by name.
			if i > 0 && listKeys[path[i-1]] {
				if _, err := strconv.Atoi(k); err == nil {
					b.WriteString("[" + k + "]")
					continue
				}
			}
		default:
			v = nil
		}
		if strings.ContainsAny(k, ". \t[]\"") || k == "" {
			b.WriteString("[" + strconv.Quote(k) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	return b.String()
}

// listKeys are the keys whose values are lists.
var listKeys = map[string]bool{
	"urls": true, "rootCAs": true, "wsPaths": true, "allowOrigin": true,
	"resources": true, "domains": true, "caRoots": true,
}

// locate turns issues into problems, using the origins of their paths.
func locate(issues []issue, orig origins, instance any) []Problem {
	out := make([]Problem, 0, len(issues))
	seen := map[string]bool{}
	for _, is := range issues {
		o, ok := origin{}, false
		if is.at != nil {
			o, ok = *is.at, true
		} else {
			o, ok = orig.find(is.path)
		}
		p := Problem{Message: is.msg, Suggestion: is.suggest}
		if !is.noPath {
			p.Path = renderPath(is.path, instance)
		}
		if ok {
			p.File, p.Line, p.Column, p.Env, p.Flag = o.file, o.line, o.col, o.env, o.flag
			if o.display != "" && !is.noPath {
				p.Path = o.display
			}
		}
		if s := p.String(); !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	sortProblems(out)
	return out
}

// sortProblems orders problems by file and line, then environment, then
// flags, then the rest, keeping the order of equal ones.
func sortProblems(ps []Problem) {
	rank := func(p Problem) int {
		switch {
		case p.File != "":
			return 0
		case p.Env != "":
			return 1
		case p.Flag != "":
			return 2
		}
		return 3
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		switch {
		case a.File != b.File:
			return a.File < b.File
		case a.Line != b.Line:
			return a.Line < b.Line
		case a.Env != b.Env:
			return a.Env < b.Env
		case a.Flag != b.Flag:
			return a.Flag < b.Flag
		}
		return a.Path < b.Path
	})
}

// suggest returns the candidate closest to word by edit distance, ignoring
// case, if it is close enough to be a likely misspelling.
func suggest(word string, candidates []string) string {
	lw := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		d := levenshtein(lw, strings.ToLower(c))
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > 1+len([]rune(word))/4 || bestD >= len([]rune(word)) {
		return ""
	}
	return best
}

// levenshtein returns the edit distance between a and b, in runes, where
// swapping two adjacent runes counts as one edit (optimal string
// alignment).
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// keyHints name the key to use for keys people carry over from Resgate's
// flat config or guess from other tools, by the context they appear in.
var keyHints = map[string]map[string]string{
	"root": {
		"natsUrl":           "nats.urls",
		"natsCreds":         "nats.creds",
		"natsCert":          "nats.cert",
		"natsKey":           "nats.key",
		"natsRootCAs":       "nats.rootCAs",
		"requestTimeout":    "nats.requestTimeout",
		"bufferSize":        "nats.bufferSize",
		"debug":             "log.level",
		"trace":             "log.trace",
		"resetThrottle":     "engine.resetThrottle",
		"referenceThrottle": "engine.referenceThrottle",
		"addr":              "listeners.<name>.address",
		"port":              "listeners.<name>.address",
		"metricsPort":       "listeners.<name>.address",
		"wsPath":            "listeners.<name>.wsPaths",
		"apiPath":           "listeners.<name>.apiPath",
		"apiEncoding":       "listeners.<name>.apiEncoding",
		"headerAuth":        "listeners.<name>.headerAuth",
		"wsHeaderAuth":      "listeners.<name>.wsHeaderAuth",
		"allowOrigin":       "listeners.<name>.allowOrigin",
		"putMethod":         "listeners.<name>.putMethod",
		"deleteMethod":      "listeners.<name>.deleteMethod",
		"patchMethod":       "listeners.<name>.patchMethod",
		"wsCompression":     "listeners.<name>.wsCompression",
		"certFile":          "tls.<name>.certFile",
		"keyFile":           "tls.<name>.keyFile",
		"tlsCert":           "tls.<name>.certFile",
		"tlsKey":            "tls.<name>.keyFile",
		"listener":          "listeners",
	},
	"listener": {
		"addr":        "address",
		"port":        "address",
		"host":        "address",
		"listen":      "address",
		"metricsPort": "address",
		"certFile":    "tls",
		"keyFile":     "tls",
		"tlsCert":     "tls",
		"tlsKey":      "tls",
		"acme":        "tls",
		"wsPath":      "wsPaths",
		"origins":     "allowOrigin",
		"patterns":    "resources",
	},
	"tls": {
		"tlsCert": "certFile",
		"tlsKey":  "keyFile",
		"cert":    "certFile",
		"key":     "keyFile",
	},
}

// hintContext names the keyHints table for keys of the object at path.
func hintContext(path []string) string {
	switch {
	case len(path) == 0:
		return "root"
	case len(path) == 2 && path[0] == "listeners":
		return "listener"
	case len(path) == 2 && path[0] == "tls", len(path) == 3 && path[0] == "listeners" && path[2] == "tls":
		return "tls"
	}
	return ""
}

// suggestKey returns the key probably meant by an unknown key of the object
// at parent, whose known keys are known.
func suggestKey(parent []string, key string, known []string) string {
	if h, ok := keyHints[hintContext(parent)][key]; ok {
		return h
	}
	return suggest(key, known)
}
