package schema

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaResult is what schema validation found.
type schemaResult struct {
	issues []issue
	// rejected are the paths of the values the schema rejected.
	rejected [][]string
	// covered holds the paths with a problem, including the path of a
	// missing key; semantic problems there are duplicates.
	covered map[string]bool
}

// schemaIssues validates inst against sch and turns every leaf error into
// an issue with a message of its own (and a suggestion for a misspelt key
// or value).
func schemaIssues(s *schemas, sch *jsonschema.Schema, resgate bool, inst map[string]any) schemaResult {
	res := schemaResult{covered: map[string]bool{}}
	err := sch.Validate(any(inst))
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return res
	}
	root := s.root(resgate)
	var out []issue
	add := func(path []string, msg, sug string, effective []string) {
		out = append(out, issue{path: path, msg: msg, suggest: sug})
		if effective == nil {
			effective = path
		}
		res.covered[pathKey(effective)] = true
	}
	// reject marks a value that would not decode.
	reject := func(path []string) { res.rejected = append(res.rejected, path) }
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		path := e.InstanceLocation
		if k, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			// jsonschema v6.0.3 gives a propertyNames error an instance
			// location that later validation overwrites, so take the
			// object's path from the schema location instead.
			path = propertiesPath(e.SchemaURL)
			what := "name"
			switch {
			case len(path) == 1 && path[0] == "listeners":
				what = "listener name"
			case len(path) == 1 && path[0] == "tls":
				what = "TLS settings name"
			}
			p := appendPath(path, k.Property)
			msg := fmt.Sprintf("invalid %s %q", what, k.Property)
			if m, ok := s.lookup(s.def("name"), "errorMessage"); ok {
				msg += ": " + m.(string)
			}
			add(p, msg, "", nil)
			reject(p)
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		n := s.at(root, path)
		val, _ := valueAt(inst, path)
		custom, _ := s.lookup(n, "errorMessage")
		customMsg, _ := custom.(string)
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			known := s.keys(n)
			for _, prop := range k.Properties {
				p := appendPath(path, prop)
				sug := suggest(prop, known)
				if !resgate {
					sug = suggestKey(path, prop, known)
				}
				add(p, "unknown key", sug, nil)
				reject(p)
			}
		case *kind.Required:
			for _, m := range k.Missing {
				add(path, fmt.Sprintf("missing required key %q", m), "", appendPath(path, m))
			}
		case *kind.Type:
			msg := fmt.Sprintf("must be %s, got %s", typeList(k.Want), describe(val))
			if customMsg != "" {
				msg = fmt.Sprintf("%s, got %s", customMsg, describe(val))
			}
			add(path, msg, "", nil)
			reject(path)
		case *kind.Enum:
			want := make([]string, len(k.Want))
			var wantStr []string
			for i, w := range k.Want {
				want[i] = describe(w)
				if s, ok := w.(string); ok {
					wantStr = append(wantStr, s)
				}
			}
			sug := ""
			if s, ok := k.Got.(string); ok {
				sug = suggest(s, wantStr)
			}
			add(path, fmt.Sprintf("must be one of %s, got %s", strings.Join(want, ", "), describe(k.Got)), sug, nil)
		case *kind.Const:
			add(path, fmt.Sprintf("must be %s, got %s", describe(k.Want), describe(k.Got)), "", nil)
		case *kind.Minimum:
			add(path, fmt.Sprintf("must be at least %s, got %s", k.Want.RatString(), k.Got.RatString()), "", nil)
			reject(path)
		case *kind.Maximum:
			add(path, fmt.Sprintf("must be at most %s, got %s", k.Want.RatString(), k.Got.RatString()), "", nil)
			reject(path)
		case *kind.MinItems:
			msg := fmt.Sprintf("must have at least %d items", k.Want)
			if k.Want == 1 {
				msg = "must not be empty"
			}
			add(path, msg, "", nil)
		case *kind.MinLength:
			msg := fmt.Sprintf("must be at least %d characters long", k.Want)
			if k.Want == 1 {
				msg = "must not be empty"
			}
			add(path, msg, "", nil)
		case *kind.UniqueItems:
			i, j := k.Duplicates[0], k.Duplicates[1]
			dup, _ := valueAt(inst, appendPath(path, strconv.Itoa(j)))
			add(appendPath(path, strconv.Itoa(j)), fmt.Sprintf("duplicate of item %d (%s)", i, describe(dup)), "", nil)
		case *kind.Pattern:
			msg := fmt.Sprintf("%s does not match the pattern %q", describe(k.Got), k.Want)
			if m, ok := s.lookup(n, "patternErrorMessage"); ok {
				msg = fmt.Sprintf("%s, got %s", m, describe(k.Got))
			} else if customMsg != "" {
				msg = fmt.Sprintf("%s, got %s", customMsg, describe(k.Got))
			}
			add(path, msg, "", nil)
			reject(path)
		case *kind.FalseSchema:
			msg := "not allowed here"
			if len(path) == 3 && path[0] == "listeners" {
				parent, _ := valueAt(inst, path[:2])
				pm, _ := parent.(map[string]any)
				switch kd, _ := pm["kind"].(string); kd {
				case KindMetrics, KindRedirect:
					msg = fmt.Sprintf("not allowed on a %s listener", kd)
				default:
					msg = "only allowed on a redirect listener"
				}
			}
			add(path, msg, "", nil)
		default:
			add(path, e.ErrorKind.LocalizedString(message.NewPrinter(language.English)), "", nil)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return pathKey(out[i].path) < pathKey(out[j].path) })
	res.issues = out
	return res
}

// propertiesPath returns the instance path of the object a schema location
// inside nested "properties" applies to: "#/properties/listeners/propertyNames"
// gives ["listeners"].
func propertiesPath(schemaURL string) []string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	parts := strings.Split(strings.Trim(frag, "/"), "/")
	var out []string
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "properties" {
			out = append(out, parts[i+1])
			i++
		}
	}
	return out
}

// prune deletes the values at paths from inst; a path into a list deletes
// the whole list.
func prune(inst map[string]any, paths [][]string) {
	for _, path := range paths {
		var parent map[string]any
		var key string
		var v any = inst
	walk:
		for _, k := range path {
			switch t := v.(type) {
			case map[string]any:
				parent, key = t, k
				v = t[k]
			default:
				break walk
			}
		}
		if parent != nil {
			delete(parent, key)
		}
	}
}

// valueAt returns the value at path in inst.
func valueAt(inst any, path []string) (any, bool) {
	v := inst
	for _, k := range path {
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[k]
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// typeList names JSON schema types for a message: "a string or an
// object", "true, false or null".
func typeList(types []string) string {
	order := []string{"string", "integer", "number", "boolean", "array", "object", "null"}
	var names []string
	for _, t := range order {
		if !hasType(types, t) {
			continue
		}
		switch t {
		case "string":
			names = append(names, "a string")
		case "integer":
			names = append(names, "an integer")
		case "number":
			names = append(names, "a number")
		case "boolean":
			names = append(names, "true", "false")
		case "array":
			names = append(names, "a list")
		case "object":
			names = append(names, "an object")
		default:
			names = append(names, t)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// describe formats a value for a message: scalars as written in JSON,
// lists and objects by their type.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}
