package resproto

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// ValueType tells what kind of RES value a Value holds.
type ValueType byte

// Value types. Delete is only valid in model change events.
const (
	ValueInvalid ValueType = iota
	ValueDelete
	ValuePrimitive
	ValueReference
	ValueSoftReference
	ValueData
)

// Value is one property of a model or one item of a collection, kept as the
// compact JSON it was received as so that it is re-encoded verbatim.
type Value struct {
	Type ValueType
	// Raw is the compact JSON of the value as clients receive it. For a data
	// value wrapping a primitive, it is the primitive itself.
	Raw json.RawMessage
	// RID is the referenced resource ID for references and soft references.
	RID string
}

var deleteValue = Value{Type: ValueDelete, Raw: json.RawMessage(`{"action":"delete"}`)}

// Value decoding errors, with Resgate's messages.
var (
	errInvalidValue                 = internalError("invalid value")
	errInvalidValueEmptyRID         = internalError(`invalid value: resource references requires a non-empty "rid" value`)
	errInvalidValueAmbiguous        = internalError("invalid value: ambiguous value type")
	errInvalidValueObjectNotAllowed = internalError("invalid value: nested json object must be wrapped as a data value")
	errInvalidValueArrayNotAllowed  = internalError("invalid value: nested json array must be wrapped as a data value")
	errMissingResult                = internalError("response missing result")
	errInvalidResponse              = internalError("invalid service response")
)

// IsProper reports whether the value may be stored in a resource: a
// primitive, a reference, a soft reference or a data value.
func (v Value) IsProper() bool { return v.Type >= ValuePrimitive }

// Equal reports whether two values are the same in type and content.
func (v Value) Equal(w Value) bool {
	if v.Type != w.Type {
		return false
	}
	switch v.Type {
	case ValueReference, ValueSoftReference:
		return v.RID == w.RID
	case ValuePrimitive, ValueData:
		return bytes.Equal(v.Raw, w.Raw)
	}
	return true
}

// MarshalJSON writes the value as clients of protocol 1.2.1 or later see it.
func (v Value) MarshalJSON() ([]byte, error) { return v.Raw, nil }

type valueObject struct {
	RID    *string         `json:"rid"`
	Soft   bool            `json:"soft"`
	Action *string         `json:"action"`
	Data   json.RawMessage `json:"data"`
}

// UnmarshalJSON decodes and validates a RES value.
func (v *Value) UnmarshalJSON(data []byte) error {
	return v.decode(data, true)
}

// decode decodes and validates a RES value. With copyRaw false, a value
// already compact keeps data itself as its Raw (capacity cut to its
// length): for a decoder that copied the whole response once, so that a
// model's values share one allocation instead of one each.
func (v *Value) decode(data []byte, copyRaw bool) error {
	var raw json.RawMessage
	if !copyRaw && !hasJSONWhitespace(data) {
		raw = data[:len(data):len(data)]
	} else {
		raw = compactJSON(data)
	}
	*v = Value{Raw: raw}
	if len(raw) == 0 {
		return errInvalidValue
	}
	switch raw[0] {
	case '{':
		var o valueObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		switch {
		case o.RID != nil:
			if *o.RID == "" {
				return errInvalidValueEmptyRID
			}
			if o.Action != nil || o.Data != nil {
				return errInvalidValueAmbiguous
			}
			if !IsValidRID(*o.RID) {
				return internalError(`invalid value: resource reference rid "` + *o.RID + `" is invalid`)
			}
			v.RID = *o.RID
			if o.Soft {
				v.Type = ValueSoftReference
			} else {
				v.Type = ValueReference
			}
		case o.Action != nil:
			if o.Data != nil {
				return errInvalidValueAmbiguous
			}
			if *o.Action != "delete" {
				return internalError(`invalid value: unknown action "` + *o.Action + `"`)
			}
			v.Type = ValueDelete
		case o.Data != nil:
			if c := o.Data[0]; c == '{' || c == '[' {
				v.Type = ValueData
			} else {
				v.Raw = compactJSON(o.Data)
				v.Type = ValuePrimitive
			}
		default:
			return errInvalidValueObjectNotAllowed
		}
	case '[':
		return errInvalidValueArrayNotAllowed
	default:
		v.Type = ValuePrimitive
	}
	return nil
}

// legacyRaw is the value as clients older than protocol 1.2.1 see it: a soft
// reference as its RID string and a non-primitive data value as "[Data]".
func (v Value) legacyRaw() json.RawMessage {
	switch v.Type {
	case ValueSoftReference:
		b, _ := json.Marshal(v.RID)
		return b
	case ValueData:
		return json.RawMessage(`"[Data]"`)
	}
	return v.Raw
}

func compactJSON(data []byte) json.RawMessage {
	// Compacting only drops whitespace: without any, the result is a copy.
	if !hasJSONWhitespace(data) {
		return append(json.RawMessage(nil), data...)
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := json.Compact(&buf, data); err != nil {
		return append(json.RawMessage(nil), data...)
	}
	return buf.Bytes()
}

// Field is one property of a model.
type Field struct {
	Key   string
	Value Value
}

// Fields are a model's properties sorted by key, each key once. A sorted
// slice rather than a map: a cache holds a model per resource for as long
// as it is subscribed, and a map's table costs about 570 bytes even for a
// one-field model (eight 64-byte slots), where the slice costs 64 bytes a
// field; encoders also read the properties in key order without sorting.
type Fields []Field

// Get returns the value of the property key, if the model has it.
func (f Fields) Get(key string) (Value, bool) {
	i, ok := slices.BinarySearchFunc(f, key, func(e Field, k string) int { return strings.Compare(e.Key, k) })
	if !ok {
		return Value{}, false
	}
	return f[i].Value, true
}

// UnmarshalJSON decodes a JSON object of RES values; null leaves f as it
// is (nil: no model).
func (f *Fields) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	var m map[string]Value
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*f = FieldsOf(m)
	return nil
}

// FieldsOf returns the properties of m sorted by key; nil for a nil map.
func FieldsOf(m map[string]Value) Fields {
	if m == nil {
		return nil
	}
	f := make(Fields, 0, len(m))
	for k, v := range m {
		f = append(f, Field{k, v})
	}
	return sortFields(f)
}

// sortFields sorts properties appended in any order by key, keeping the
// last of any key given more than once (as a JSON decoder does), and
// returns the result.
func sortFields(f Fields) Fields {
	sorted := true
	for i := 1; i < len(f); i++ {
		if f[i-1].Key >= f[i].Key {
			sorted = false
			break
		}
	}
	if sorted {
		return f
	}
	// Sorted as a permutation of indexes, ties broken by position, then
	// applied in place: a stable sort of the 64-byte fields themselves
	// moves each many times (the sort was 6% of the CPU of a subscription
	// to a 42-field model, fetched from a service that sends its fields in
	// declaration order). Each entry carries its key's first 8 bytes as a
	// big-endian number, which orders most pairs of keys without comparing
	// the strings.
	type entry struct {
		prefix uint64
		i      int
	}
	var buf [64]entry
	idx := buf[:0]
	if len(f) > len(buf) {
		idx = make([]entry, 0, len(f))
	}
	for i := range f {
		var p [8]byte
		copy(p[:], f[i].Key)
		idx = append(idx, entry{binary.BigEndian.Uint64(p[:]), i})
	}
	slices.SortFunc(idx, func(a, b entry) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		if c := strings.Compare(f[a.i].Key, f[b.i].Key); c != 0 {
			return c
		}
		return a.i - b.i
	})
	// f[i] is to be what f[idx[i].i] is now: follow each cycle of the
	// permutation once, marking the places done with -1.
	for i := range idx {
		if idx[i].i < 0 {
			continue
		}
		tmp := f[i]
		j := i
		for {
			k := idx[j].i
			idx[j].i = -1
			if k == i {
				f[j] = tmp
				break
			}
			f[j] = f[k]
			j = k
		}
	}
	out := f[:0]
	for i := range f {
		if i+1 < len(f) && f[i+1].Key == f[i].Key {
			continue
		}
		out = append(out, f[i])
	}
	clear(f[len(out):])
	return out
}

// mergeFields returns old with the changes applied: a changed property
// set, one changed to a delete value removed. Both are sorted, so one pass
// keeps the result sorted.
func mergeFields(old, changes Fields) Fields {
	m := make(Fields, 0, len(old)+len(changes))
	i, j := 0, 0
	for i < len(old) || j < len(changes) {
		switch {
		case j == len(changes) || (i < len(old) && old[i].Key < changes[j].Key):
			m = append(m, old[i])
			i++
			continue
		case i < len(old) && old[i].Key == changes[j].Key:
			i++
		}
		if changes[j].Value.Type != ValueDelete {
			m = append(m, changes[j])
		}
		j++
	}
	return m
}

// Model is an immutable snapshot of a model's values. Its JSON is encoded
// once, on first use, and shared by every client.
type Model struct {
	Values Fields

	once, legacyOnce sync.Once
	json, legacyJSON []byte
}

// MarshalJSON returns the model as a JSON object with sorted keys.
func (m *Model) MarshalJSON() ([]byte, error) {
	m.once.Do(func() { m.json = encodeFields(m.Values, false) })
	return m.json, nil
}

// legacy returns the model encoded for clients older than protocol 1.2.1.
func (m *Model) legacy() json.RawMessage {
	m.legacyOnce.Do(func() { m.legacyJSON = encodeFields(m.Values, true) })
	return m.legacyJSON
}

// newLoadedModel makes the model of a get response, whose values it owns
// (they alias the copy of the response the decoder made). Its JSON is
// encoded at once, since the client that asked for it is about to need it,
// and the values are pointed into that JSON, which holds each of them
// verbatim: the decoder's copy is then garbage, and a cached model keeps
// its bytes once instead of twice.
func newLoadedModel(values Fields) *Model {
	m := &Model{Values: values}
	m.once.Do(func() {
		var buf [64]int
		var offs []int
		m.json, offs = encodeFieldsAt(values, false, buf[:0])
		repoint(m.json, offs, func(i int) *json.RawMessage { return &values[i].Value.Raw })
	})
	return m
}

// newLoadedCollection is newLoadedModel for a collection.
func newLoadedCollection(values []Value) *Collection {
	c := &Collection{Values: values}
	c.once.Do(func() {
		var buf [64]int
		var offs []int
		c.json, offs = encodeValueSliceAt(values, false, buf[:0])
		repoint(c.json, offs, func(i int) *json.RawMessage { return &values[i].Raw })
	})
	return c
}

// repoint points the raw JSON of value i, raw(i), at its copy in js, which
// starts at offs[i], with no capacity beyond it.
func repoint(js []byte, offs []int, raw func(i int) *json.RawMessage) {
	for i, off := range offs {
		r := raw(i)
		n := len(*r)
		*r = js[off : off+n : off+n]
	}
}

func encodeFields(fields Fields, legacy bool) []byte {
	b, _ := encodeFieldsAt(fields, legacy, nil)
	return b
}

// encodeFieldsAt encodes fields as a JSON object. With offs not nil, it
// also appends to offs where each value starts in the result, and returns
// it (not legacy).
func encodeFieldsAt(fields Fields, legacy bool, offs []int) ([]byte, []int) {
	size := 2
	for _, f := range fields {
		size += len(f.Key) + len(f.Value.Raw) + 4
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONString(buf, f.Key)
		buf = append(buf, ':')
		if legacy {
			buf = append(buf, f.Value.legacyRaw()...)
		} else {
			if offs != nil {
				offs = append(offs, len(buf))
			}
			buf = append(buf, f.Value.Raw...)
		}
	}
	return append(buf, '}'), offs
}

// Collection is an immutable snapshot of a collection's values, encoded
// once on first use.
type Collection struct {
	Values []Value

	once, legacyOnce sync.Once
	json, legacyJSON []byte
}

// MarshalJSON returns the collection as a JSON array.
func (c *Collection) MarshalJSON() ([]byte, error) {
	c.once.Do(func() { c.json = encodeValueSlice(c.Values, false) })
	return c.json, nil
}

func (c *Collection) legacy() json.RawMessage {
	c.legacyOnce.Do(func() { c.legacyJSON = encodeValueSlice(c.Values, true) })
	return c.legacyJSON
}

func encodeValueSlice(values []Value, legacy bool) []byte {
	b, _ := encodeValueSliceAt(values, legacy, nil)
	return b
}

// encodeValueSliceAt encodes values as a JSON array. With offs not nil, it
// also appends to offs where each value starts in the result, and returns
// it (not legacy).
func encodeValueSliceAt(values []Value, legacy bool, offs []int) ([]byte, []int) {
	size := 2
	for _, v := range values {
		size += len(v.Raw) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, v := range values {
		if i > 0 {
			buf = append(buf, ',')
		}
		if legacy {
			buf = append(buf, v.legacyRaw()...)
		} else {
			if offs != nil {
				offs = append(offs, len(buf))
			}
			buf = append(buf, v.Raw...)
		}
	}
	return append(buf, ']'), offs
}

// AppendJSONString appends s as a JSON string, escaping as encoding/json
// does (including HTML-sensitive characters), without its reflection for
// the common string of printable ASCII with nothing to escape. The HTTP
// API's encoder uses it too.
func AppendJSONString(buf []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
