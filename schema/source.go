package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"go.yaml.in/yaml/v3"
)

// Config file formats.
const (
	formatJSON = "json"
	formatYAML = "yaml"
	formatTOML = "toml"
)

// formatOf returns the format of a config file by its extension: .yaml and
// .yml are YAML, .toml is TOML, anything else is JSON (Resgate config files
// may have any name).
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return formatYAML
	case ".toml":
		return formatTOML
	}
	return formatJSON
}

// parsed is a config file read into a map, with the origin of every key and
// array item.
type parsed struct {
	m      map[string]any
	orig   origins
	issues []issue
}

// parseFile parses data in the given format. Syntax errors are returned as
// issues located in file; on a syntax error m is nil.
func parseFile(file, format string, data []byte) *parsed {
	p := &parsed{orig: origins{}}
	var err error
	switch format {
	case formatYAML:
		err = p.yaml(file, data)
	case formatTOML:
		err = p.toml(file, data)
	default:
		err = p.json(file, data)
	}
	if err != nil {
		p.m = nil
	}
	return p
}

// lineIndex converts byte offsets to lines and columns.
type lineIndex []int

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (idx lineIndex) pos(offset int) (line, col int) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i] > offset }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, offset - idx[i] + 1
}

var errSyntax = errors.New("syntax error")

// report records a problem that does not stop parsing, at o.
func (p *parsed) report(o origin, path []string, msg string) {
	p.issues = append(p.issues, issue{path: path, msg: msg, at: &o})
}

func (p *parsed) fail(file string, line, col int, msg string) error {
	p.issues = append(p.issues, issue{msg: msg, at: &origin{file: file, line: line, col: col}, noPath: true})
	return errSyntax
}

// --- JSON ---

type jsonWalker struct {
	file string
	dec  *json.Decoder
	idx  lineIndex
	p    *parsed
}

func (p *parsed) json(file string, data []byte) error {
	w := &jsonWalker{file: file, dec: json.NewDecoder(bytes.NewReader(data)), idx: newLineIndex(data), p: p}
	w.dec.UseNumber()
	tok, err := w.dec.Token()
	if err == io.EOF {
		p.m = map[string]any{}
		return nil
	}
	if err != nil {
		return w.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		line, col := w.idx.pos(int(w.dec.InputOffset()) - 1)
		return p.fail(file, line, col, "the configuration must be an object")
	}
	v, err := w.object(nil)
	if err != nil {
		return err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		line, col := w.idx.pos(int(w.dec.InputOffset()))
		return p.fail(file, line, col, "syntax error: data after the end of the configuration object")
	}
	p.m = v
	return nil
}

func (w *jsonWalker) syntax(err error) error {
	var se *json.SyntaxError
	off := int(w.dec.InputOffset())
	if errors.As(err, &se) {
		off = int(se.Offset)
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return w.p.fail(w.file, 0, 0, "syntax error: unexpected end of file")
	}
	line, col := w.idx.pos(max(off-1, 0))
	return w.p.fail(w.file, line, col, "syntax error: "+err.Error())
}

func (w *jsonWalker) here() origin {
	line, col := w.idx.pos(max(int(w.dec.InputOffset())-1, 0))
	return origin{file: w.file, line: line, col: col}
}

// object reads the members of an object whose '{' was read.
func (w *jsonWalker) object(path []string) (map[string]any, error) {
	m := map[string]any{}
	first := map[string]int{}
	for {
		tok, err := w.dec.Token()
		if err != nil {
			return nil, w.syntax(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return m, nil
		}
		key := tok.(string)
		o := w.here()
		if line, dup := first[key]; dup {
			w.p.report(o, appendPath(path, key), fmt.Sprintf("duplicate key (first at line %d)", line))
		}
		first[key] = o.line
		kp := appendPath(path, key)
		w.p.orig.set(kp, o)
		v, err := w.value(kp, false)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
}

// value reads one value. When record is set, the position of the value is
// the origin of path (array items); object members are located at their key.
func (w *jsonWalker) value(path []string, record bool) (any, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, w.syntax(err)
	}
	if record {
		w.p.orig[pathKey(path)] = w.here()
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return w.object(path)
		}
		list := []any{}
		for i := 0; w.dec.More(); i++ {
			v, err := w.value(appendPath(path, strconv.Itoa(i)), true)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		if _, err := w.dec.Token(); err != nil {
			return nil, w.syntax(err)
		}
		return list, nil
	case json.Number:
		return number(t), nil
	}
	return tok, nil
}

// number converts a JSON number to an int when it is one, else a float64.
func number(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return int(i)
	}
	f, _ := n.Float64()
	return f
}

func appendPath(path []string, k string) []string {
	out := make([]string, len(path)+1)
	copy(out, path)
	out[len(path)] = k
	return out
}

// --- YAML ---

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parsed) yaml(file string, data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			p.m = map[string]any{}
			return nil
		}
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return p.fail(file, line, 0, "syntax error: "+m[2])
		}
		return p.fail(file, 0, 0, "syntax error: "+strings.TrimPrefix(msg, "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			p.m = map[string]any{}
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		p.m = map[string]any{}
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return p.fail(file, root.Line, root.Column, "the configuration must be a mapping of keys to values")
	}
	v, err := p.yamlValue(file, root, nil, 0)
	if err != nil {
		return err
	}
	p.m = v.(map[string]any)
	return nil
}

func (p *parsed) yamlValue(file string, n *yaml.Node, path []string, depth int) (any, error) {
	if depth > 100 {
		return nil, p.fail(file, n.Line, n.Column, "syntax error: nesting too deep")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return p.yamlValue(file, n.Alias, path, depth+1)
	case yaml.MappingNode:
		m := map[string]any{}
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, p.fail(file, k.Line, k.Column, "syntax error: keys must be strings")
			}
			if k.Tag == "!!merge" {
				merged, err := p.yamlValue(file, v, path, depth+1)
				if err != nil {
					return nil, err
				}
				mm, ok := merged.(map[string]any)
				if !ok {
					return nil, p.fail(file, k.Line, k.Column, "syntax error: << must merge a mapping")
				}
				for mk, mv := range mm {
					if _, set := m[mk]; !set {
						m[mk] = mv
					}
				}
				continue
			}
			if line, dup := first[k.Value]; dup {
				p.report(origin{file: file, line: k.Line, col: k.Column}, appendPath(path, k.Value), fmt.Sprintf("duplicate key (first at line %d)", line))
			}
			first[k.Value] = k.Line
			kp := appendPath(path, k.Value)
			p.orig.set(kp, origin{file: file, line: k.Line, col: k.Column})
			val, err := p.yamlValue(file, v, kp, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			ip := appendPath(path, strconv.Itoa(i))
			p.orig[pathKey(ip)] = origin{file: file, line: item.Line, col: item.Column}
			v, err := p.yamlValue(file, item, ip, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, p.fail(file, n.Line, n.Column, "syntax error: "+strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return plain(v), nil
	}
	return nil, p.fail(file, n.Line, n.Column, "syntax error: unexpected YAML node")
}

// plain converts decoded scalars to the types the rest of the loader
// expects: int, float64, bool, string or nil.
func plain(v any) any {
	switch t := v.(type) {
	case nil, bool, string, float64, int:
		return v
	case int64:
		return int(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// --- TOML ---

func (p *parsed) toml(file string, data []byte) error {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return p.fail(file, line, col, "syntax error: "+de.Error())
		}
		return p.fail(file, 0, 0, "syntax error: "+err.Error())
	}
	if m == nil {
		m = map[string]any{}
	}
	p.m = normalize(m).(map[string]any)
	p.tomlPositions(file, data)
	return nil
}

// normalize converts TOML values to the loader's types.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case []map[string]any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = normalize(x)
		}
		return l
	}
	return plain(v)
}

// tomlPositions records the line of every key of a TOML document that
// toml.Unmarshal accepted.
func (p *parsed) tomlPositions(file string, data []byte) {
	var ps unstable.Parser
	ps.Reset(data)
	idx := newLineIndex(data)
	at := func(n *unstable.Node) origin {
		line, col := idx.pos(int(n.Raw.Offset))
		return origin{file: file, line: line, col: col}
	}
	var table []string
	arrays := map[string]int{}
	keyOf := func(n *unstable.Node) ([]string, *unstable.Node) {
		var parts []string
		var first *unstable.Node
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if first == nil {
				first = k
			}
			parts = append(parts, string(k.Data))
		}
		return parts, first
	}
	var walk func(n *unstable.Node, path []string)
	walk = func(n *unstable.Node, path []string) {
		switch n.Kind {
		case unstable.InlineTable:
			it := n.Children()
			for it.Next() {
				kv := it.Node()
				parts, first := keyOf(kv)
				kp := append(append([]string(nil), path...), parts...)
				if first != nil {
					p.orig[pathKey(kp)] = at(first)
				}
				walk(kv.Value(), kp)
			}
		case unstable.Array:
			it := n.Children()
			for i := 0; it.Next(); i++ {
				item := it.Node()
				ip := appendPath(path, strconv.Itoa(i))
				if item.Raw.Length > 0 {
					p.orig[pathKey(ip)] = at(item)
				}
				walk(item, ip)
			}
		}
	}
	for ps.NextExpression() {
		e := ps.Expression()
		switch e.Kind {
		case unstable.Table:
			parts, first := keyOf(e)
			table = parts
			if first != nil {
				p.orig[pathKey(table)] = at(first)
			}
		case unstable.ArrayTable:
			parts, first := keyOf(e)
			k := pathKey(parts)
			i := arrays[k]
			arrays[k] = i + 1
			table = appendPath(parts, strconv.Itoa(i))
			if first != nil {
				p.orig[pathKey(table)] = at(first)
				if i == 0 {
					p.orig[pathKey(parts)] = at(first)
				}
			}
		case unstable.KeyValue:
			parts, first := keyOf(e)
			kp := append(append([]string(nil), table...), parts...)
			if first != nil {
				p.orig[pathKey(kp)] = at(first)
			}
			walk(e.Value(), kp)
		}
	}
}
