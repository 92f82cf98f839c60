package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema.json
var schemaJSON []byte

// schemaURL is the name the embedded schema is compiled under; it is the
// schema's $id.
const schemaURL = "https://github.com/resedge/resedge/schema/schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the configuration file,
// as embedded in the binary. The native format is the root schema; a
// Resgate config.json is described by "#/$defs/resgate". Editors can use it
// through "$schema" in a JSON file or "# yaml-language-server: $schema=…" in
// a YAML file. The caller may modify the returned slice.
func Schema() []byte { return bytes.Clone(schemaJSON) }

// compiled holds the schema compiled once, and its decoded form for
// navigation (key suggestions, environment variable mapping, defaults).
var compiled = sync.OnceValue(func() *schemas {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic(fmt.Sprintf("schema: embedded schema.json: %v", err))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		panic(fmt.Sprintf("schema: embedded schema.json: %v", err))
	}
	s := &schemas{
		native:  c.MustCompile(schemaURL),
		resgate: c.MustCompile(schemaURL + "#/$defs/resgate"),
	}
	if err := json.Unmarshal(schemaJSON, &s.doc); err != nil {
		panic(fmt.Sprintf("schema: embedded schema.json: %v", err))
	}
	return s
})

type schemas struct {
	native, resgate *jsonschema.Schema
	doc             map[string]any
}

// node is a schema object of the decoded schema document.
type node map[string]any

// root returns the root schema, or the Resgate schema.
func (s *schemas) root(resgate bool) node {
	if resgate {
		return s.def("resgate")
	}
	return node(s.doc)
}

// def returns the schema of "#/$defs/<name>".
func (s *schemas) def(name string) node {
	defs, _ := s.doc["$defs"].(map[string]any)
	n, _ := defs[name].(map[string]any)
	return n
}

// deref returns the schema n's $ref points to, or nil.
func (s *schemas) deref(n node) node {
	ref, _ := n["$ref"].(string)
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil
	}
	return s.def(name)
}

// lookup returns keyword k of n, following $ref when n lacks it.
func (s *schemas) lookup(n node, k string) (any, bool) {
	for i := 0; n != nil && i < 8; i++ {
		if v, ok := n[k]; ok {
			return v, true
		}
		n = s.deref(n)
	}
	return nil, false
}

// properties returns the named properties of n (with those of its $ref).
func (s *schemas) properties(n node) map[string]node {
	out := map[string]node{}
	for i := 0; n != nil && i < 8; i++ {
		if props, ok := n["properties"].(map[string]any); ok {
			for k, v := range props {
				if _, seen := out[k]; !seen {
					if m, ok := v.(map[string]any); ok {
						out[k] = m
					}
				}
			}
		}
		n = s.deref(n)
	}
	return out
}

// keys returns the sorted property names of n.
func (s *schemas) keys(n node) []string {
	props := s.properties(n)
	out := make([]string, 0, len(props))
	for k := range props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// additional returns n's additionalProperties schema when it is a schema
// (a map of named entries), else nil.
func (s *schemas) additional(n node) node {
	v, _ := s.lookup(n, "additionalProperties")
	m, _ := v.(map[string]any)
	return m
}

// items returns n's items schema, or nil.
func (s *schemas) items(n node) node {
	v, _ := s.lookup(n, "items")
	m, _ := v.(map[string]any)
	return m
}

// types returns the JSON types n allows.
func (s *schemas) types(n node) []string {
	v, ok := s.lookup(n, "type")
	if !ok {
		if _, isEnum := s.lookup(n, "enum"); isEnum {
			return []string{"string"}
		}
		return nil
	}
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// enum returns the string values of n's enum.
func (s *schemas) enum(n node) []string {
	v, _ := s.lookup(n, "enum")
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// child returns the schema of key k inside an object with schema n: a named
// property, or the additionalProperties schema of a map. For arrays, k is
// ignored and the items schema is returned.
func (s *schemas) child(n node, k string) node {
	if n == nil {
		return nil
	}
	if hasType(s.types(n), "array") {
		return s.items(n)
	}
	if c, ok := s.properties(n)[k]; ok {
		return c
	}
	return s.additional(n)
}

// at returns the schema of the value at path, or nil.
func (s *schemas) at(root node, path []string) node {
	n := root
	for _, k := range path {
		n = s.child(n, k)
		if n == nil {
			return nil
		}
	}
	return n
}

// isMap reports whether n is a map of named entries (listeners, tls).
func (s *schemas) isMap(n node) bool {
	return s.additional(n) != nil && len(s.properties(n)) == 0
}

// forbidden returns the listener properties a listener kind may not use:
// those its if/then branch sets to false.
func (s *schemas) forbidden(kind string) map[string]bool {
	out := map[string]bool{}
	allOf, _ := s.def("listener")["allOf"].([]any)
	for _, x := range allOf {
		cond, _ := x.(map[string]any)
		ifs, _ := cond["if"].(map[string]any)
		props, _ := ifs["properties"].(map[string]any)
		k, _ := props["kind"].(map[string]any)
		branch := "else"
		if k["const"] == kind {
			branch = "then"
		}
		then, _ := cond[branch].(map[string]any)
		tprops, _ := then["properties"].(map[string]any)
		for p, v := range tprops {
			if v == false {
				out[p] = true
			}
		}
	}
	return out
}

// defaults returns the "default" annotations of n's properties, and when
// nested is set those of the properties of its object properties.
// Properties without a default are left out.
func (s *schemas) defaults(n node, nested bool) map[string]any {
	out := map[string]any{}
	for k, p := range s.properties(n) {
		if v, ok := s.lookup(p, "default"); ok {
			out[k] = cloneValue(v)
		} else if nested && hasType(s.types(p), "object") && len(s.properties(p)) > 0 {
			if sub := s.defaults(p, true); len(sub) > 0 {
				out[k] = sub
			}
		}
	}
	return out
}

// listenerDefaults returns the defaults of a listener of the given kind.
func (s *schemas) listenerDefaults(kind string) map[string]any {
	d := s.defaults(s.def("listener"), false)
	for k := range s.forbidden(kind) {
		delete(d, k)
	}
	return d
}

func hasType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// cloneValue deep-copies a decoded JSON value.
func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = cloneValue(x)
		}
		return l
	case float64:
		if t == float64(int64(t)) {
			return int(t)
		}
	}
	return v
}
