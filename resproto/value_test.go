package resproto

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
)

// decodeValue decodes data as a RES value the way the engine meets one:
// inside a model or collection.
func decodeValue(t *testing.T, data string) (Value, error) {
	t.Helper()
	var m map[string]Value
	errModel := json.Unmarshal([]byte(`{"v":`+data+`}`), &m)
	var c []Value
	errColl := json.Unmarshal([]byte(`[`+data+`]`), &c)
	if (errModel == nil) != (errColl == nil) {
		t.Fatalf("%s: decoded in a model with %v, in a collection with %v", data, errModel, errColl)
	}
	if errModel != nil {
		return Value{}, errModel
	}
	if !m["v"].Equal(c[0]) || string(m["v"].Raw) != string(c[0].Raw) {
		t.Fatalf("%s: decoded as %+v in a model, %+v in a collection", data, m["v"], c[0])
	}
	return c[0], nil
}

func TestValue_Unmarshal(t *testing.T) {
	tbl := []struct {
		data   string
		typ    ValueType
		raw    string // what clients get
		legacy string // what clients before protocol 1.2.1 get
		rid    string
	}{
		{`"foo"`, ValuePrimitive, `"foo"`, `"foo"`, ""},
		{`""`, ValuePrimitive, `""`, `""`, ""},
		{`42`, ValuePrimitive, `42`, `42`, ""},
		{`-1.5e3`, ValuePrimitive, `-1.5e3`, `-1.5e3`, ""},
		{`true`, ValuePrimitive, `true`, `true`, ""},
		{`false`, ValuePrimitive, `false`, `false`, ""},
		{`null`, ValuePrimitive, `null`, `null`, ""},
		{`"a\"b\u00e4"`, ValuePrimitive, `"a\"b\u00e4"`, `"a\"b\u00e4"`, ""},

		{`{"rid":"test.model"}`, ValueReference, `{"rid":"test.model"}`, `{"rid":"test.model"}`, "test.model"},
		{`{ "rid" : "test.model" , "soft" : false }`, ValueReference, `{"rid":"test.model","soft":false}`, `{"rid":"test.model","soft":false}`, "test.model"},
		{`{"rid":"test.model?q=a.b&c=*"}`, ValueReference, `{"rid":"test.model?q=a.b&c=*"}`, `{"rid":"test.model?q=a.b&c=*"}`, "test.model?q=a.b&c=*"},
		{`{"rid":"test.model","soft":true}`, ValueSoftReference, `{"rid":"test.model","soft":true}`, `"test.model"`, "test.model"},
		{`{"soft":true,"rid":"test.model"}`, ValueSoftReference, `{"soft":true,"rid":"test.model"}`, `"test.model"`, "test.model"},

		{`{"action":"delete"}`, ValueDelete, `{"action":"delete"}`, `{"action":"delete"}`, ""},

		{`{"data":12}`, ValuePrimitive, `12`, `12`, ""},
		{`{"data":"foo"}`, ValuePrimitive, `"foo"`, `"foo"`, ""},
		{`{"data":null}`, ValuePrimitive, `null`, `null`, ""},
		{`{"data":true}`, ValuePrimitive, `true`, `true`, ""},
		{`{"data":{"foo":["bar"]}}`, ValueData, `{"data":{"foo":["bar"]}}`, `"[Data]"`, ""},
		{`{"data":[{"foo":"bar"}]}`, ValueData, `{"data":[{"foo":"bar"}]}`, `"[Data]"`, ""},
		{`{"data":[]}`, ValueData, `{"data":[]}`, `"[Data]"`, ""},
		{`{"data":{}}`, ValueData, `{"data":{}}`, `"[Data]"`, ""},
		{`{ "data" : { "a" : [ 1 , 2 ] } }`, ValueData, `{"data":{"a":[1,2]}}`, `"[Data]"`, ""},
	}
	for _, l := range tbl {
		t.Run(l.data, func(t *testing.T) {
			v, err := decodeValue(t, l.data)
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if v.Type != l.typ || string(v.Raw) != l.raw || v.RID != l.rid {
				t.Fatalf("got type %d raw %s rid %q; want type %d raw %s rid %q", v.Type, v.Raw, v.RID, l.typ, l.raw, l.rid)
			}
			if got := string(v.legacyRaw()); got != l.legacy {
				t.Fatalf("legacy encoding %s, want %s", got, l.legacy)
			}
			if b, _ := v.MarshalJSON(); string(b) != l.raw {
				t.Fatalf("marshalled as %s, want %s", b, l.raw)
			}
			if want := l.typ != ValueDelete; v.IsProper() != want {
				t.Fatalf("IsProper() = %v, want %v", v.IsProper(), want)
			}
		})
	}
}

func TestValue_UnmarshalErrors(t *testing.T) {
	tbl := []struct {
		data string
		err  error  // the error, or nil to check msg only
		msg  string // the error message, when err is nil
	}{
		{`{"rid":""}`, errInvalidValueEmptyRID, ""},
		{`{"rid":"","soft":true}`, errInvalidValueEmptyRID, ""},
		{`{"rid":"test.model","action":"delete"}`, errInvalidValueAmbiguous, ""},
		{`{"rid":"test.model","data":1}`, errInvalidValueAmbiguous, ""},
		{`{"action":"delete","data":1}`, errInvalidValueAmbiguous, ""},
		{`{"action":"delete","data":null}`, errInvalidValueAmbiguous, ""},
		{`{"action":"remove"}`, nil, `Internal error: invalid value: unknown action "remove"`},
		{`{"rid":"test..model"}`, nil, `Internal error: invalid value: resource reference rid "test..model" is invalid`},
		{`{"rid":"test.*"}`, nil, `Internal error: invalid value: resource reference rid "test.*" is invalid`},
		{`{"rid":"?q=1"}`, nil, `Internal error: invalid value: resource reference rid "?q=1" is invalid`},
		{`{}`, errInvalidValueObjectNotAllowed, ""},
		{`{"foo":"bar"}`, errInvalidValueObjectNotAllowed, ""},
		{`{"rid":null}`, errInvalidValueObjectNotAllowed, ""},
		{`{"soft":true}`, errInvalidValueObjectNotAllowed, ""},
		{`{"action":null}`, errInvalidValueObjectNotAllowed, ""},
		{`[]`, errInvalidValueArrayNotAllowed, ""},
		{`["foo",42]`, errInvalidValueArrayNotAllowed, ""},
	}
	for _, l := range tbl {
		t.Run(l.data, func(t *testing.T) {
			_, err := decodeValue(t, l.data)
			if err == nil {
				t.Fatal("expected an error")
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInternalError {
				t.Fatalf("expected an internal error, got %#v", err)
			}
			if l.err != nil && err != l.err {
				t.Fatalf("expected %q, got %q", l.err, err)
			}
			if l.err == nil && err.Error() != l.msg {
				t.Fatalf("expected %q, got %q", l.msg, err)
			}
		})
	}
	// Values of the wrong JSON type in a value object fail to decode.
	for _, data := range []string{`{"rid":42}`, `{"rid":"a","soft":"yes"}`, `{"action":1}`} {
		t.Run(data, func(t *testing.T) {
			if _, err := decodeValue(t, data); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestValue_Equal(t *testing.T) {
	vals := map[string]string{
		"string":       `"foo"`,
		"string2":      `"bar"`,
		"int":          `42`,
		"null":         `null`,
		"ref":          `{"rid":"test.model"}`,
		"ref2":         `{"rid":"test.other"}`,
		"soft":         `{"rid":"test.model","soft":true}`,
		"delete":       `{"action":"delete"}`,
		"data":         `{"data":{"foo":1}}`,
		"data2":        `{"data":[1]}`,
		"dataPrim":     `{"data":42}`,
		"dataNull":     `{"data":null}`,
		"refSoftFalse": `{"rid":"test.model","soft":false}`,
		"dataSpaced":   `{"data": {"foo": 1}}`,
	}
	// Pairs that are equal besides each value with itself.
	equal := map[[2]string]bool{
		{"int", "dataPrim"}:     true,
		{"null", "dataNull"}:    true,
		{"ref", "refSoftFalse"}: true,
		{"data", "dataSpaced"}:  true,
		{"dataPrim", "int"}:     true,
		{"dataNull", "null"}:    true,
		{"refSoftFalse", "ref"}: true,
		{"dataSpaced", "data"}:  true,
	}
	decoded := map[string]Value{}
	for k, data := range vals {
		v, err := decodeValue(t, data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		decoded[k] = v
	}
	for a, va := range decoded {
		for b, vb := range decoded {
			want := a == b || equal[[2]string{a, b}]
			if got := va.Equal(vb); got != want {
				t.Errorf("%s.Equal(%s) = %v, want %v", vals[a], vals[b], got, want)
			}
		}
	}
}

func TestModel_MarshalJSON(t *testing.T) {
	var m Fields
	data := `{"z":1,"a":{"rid":"test.model","soft":true},"m":{"data":{"x":[1, 2]}},"<&>":"\u2028","ä":{"data":"p"},"":null,"q\"":{"rid":"b"}}`
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatal(err)
	}
	model := &Model{Values: m}
	b, err := model.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted and escaped as encoding/json does.
	want := `{"":null,"\u003c\u0026\u003e":"\u2028","a":{"rid":"test.model","soft":true},"m":{"data":{"x":[1,2]}},"q\"":{"rid":"b"},"z":1,"ä":"p"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	wantLegacy := `{"":null,"\u003c\u0026\u003e":"\u2028","a":"test.model","m":"[Data]","q\"":{"rid":"b"},"z":1,"ä":"p"}`
	if got := string(model.legacy()); got != wantLegacy {
		t.Fatalf("legacy got  %s\nwant %s", got, wantLegacy)
	}
	// Encoded once: later calls return the same bytes.
	if b2, _ := model.MarshalJSON(); &b2[0] != &b[0] {
		t.Fatal("model encoded twice")
	}
	if b, _ := (&Model{}).MarshalJSON(); string(b) != `{}` {
		t.Fatalf("empty model encoded as %s", b)
	}
}

func TestCollection_MarshalJSON(t *testing.T) {
	var c []Value
	if err := json.Unmarshal([]byte(`["foo", 42 ,{"rid":"a.b"},{"rid":"c","soft":true},{"data":[null]},{"data":false},null]`), &c); err != nil {
		t.Fatal(err)
	}
	coll := &Collection{Values: c}
	if b, _ := coll.MarshalJSON(); string(b) != `["foo",42,{"rid":"a.b"},{"rid":"c","soft":true},{"data":[null]},false,null]` {
		t.Fatalf("got %s", b)
	}
	if b := coll.legacy(); string(b) != `["foo",42,{"rid":"a.b"},"c","[Data]",false,null]` {
		t.Fatalf("legacy got %s", b)
	}
	if b, _ := (&Collection{}).MarshalJSON(); string(b) != `[]` {
		t.Fatalf("empty collection encoded as %s", b)
	}
}

// AppendJSONString writes a string exactly as encoding/json does.
func TestAppendJSONString_AsEncodingJSON(t *testing.T) {
	check := func(s string) bool {
		want, _ := json.Marshal(s)
		return string(AppendJSONString([]byte("x"), s)) == "x"+string(want)
	}
	for _, s := range []string{"", "plain", `q"b\s`, "<a&b>", "\x00\x1f\x7f", "ä\u2028\u2029", "\xff\xfe invalid", "tab\tnl\n"} {
		if !check(s) {
			t.Errorf("AppendJSONString(%q) = %s", s, AppendJSONString(nil, s))
		}
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
	bytesCheck := func(b []byte) bool { return check(string(b)) }
	if err := quick.Check(bytesCheck, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}

// Cases from Resgate's 17codec_test.go TestIsLegacyChangeEvent.
func TestIsLegacyChangeEvent(t *testing.T) {
	tbl := []struct {
		payload string
		legacy  bool
	}{
		{` [}`, false},
		{`"foo"`, false},
		{`{ "foo": "bar", "faz": 42 }`, true},
		{`{ "values": {"action": "delete"}, "faz": 42 }`, true},
		{`{ "values": {"rid": "example.bar"}, "faz": 42 }`, true},
		{`{ "values": {"foo": "bar"}, "faz": 42 }`, true},
		{`{ "foo": "bar" }`, true},
		{`{ "values": "bar" }`, true},
		{` { "values": "bar" }`, true},
		{"\t\r\n { \"values\": \"bar\" }", true},
		{`{ "values": { "foo": "bar" }}`, false},
		{`{ "values": { "foo": "bar", "faz": 42 }}`, false},
		{` { "values": { "foo": "bar" }}`, false},
		{`{ "values": { "action": "delete" }}`, false},
		{`{ "values": { "rid": "example.foo" }}`, false},
	}
	for _, l := range tbl {
		if got := isLegacyChangeEvent(json.RawMessage(l.payload)); got != l.legacy {
			t.Errorf("isLegacyChangeEvent(%s) = %v, want %v", l.payload, got, l.legacy)
		}
	}
}

// TestFields: a model's properties are kept sorted by key, each once, the
// last given winning as with a JSON object decoded into a map, and looked
// up by key.
func TestFields(t *testing.T) {
	v := func(raw string) Value { return Value{Type: ValuePrimitive, Raw: json.RawMessage(raw)} }
	for _, tt := range []struct {
		name string
		in   Fields
		want string // keys=raw, in order
	}{
		{"empty", Fields{}, ""},
		{"one", Fields{{"a", v("1")}}, "a=1"},
		{"sorted", Fields{{"a", v("1")}, {"b", v("2")}, {"c", v("3")}}, "a=1 b=2 c=3"},
		{"reversed", Fields{{"c", v("3")}, {"b", v("2")}, {"a", v("1")}}, "a=1 b=2 c=3"},
		{"twice, last wins", Fields{{"a", v("1")}, {"a", v("2")}}, "a=2"},
		{"twice among others", Fields{{"c", v("1")}, {"a", v("2")}, {"c", v("3")}, {"b", v("4")}, {"a", v("5")}, {"c", v("6")}}, "a=5 b=4 c=6"},
		{"byte order", Fields{{"ä", v("1")}, {"Z", v("2")}, {"a", v("3")}, {"", v("4")}}, "=4 Z=2 a=3 ä=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := sortFields(append(Fields(nil), tt.in...))
			var parts []string
			for _, f := range got {
				parts = append(parts, f.Key+"="+string(f.Value.Raw))
			}
			if s := strings.Join(parts, " "); s != tt.want {
				t.Fatalf("sorted to %q, want %q", s, tt.want)
			}
			for _, f := range got {
				if w, ok := got.Get(f.Key); !ok || string(w.Raw) != string(f.Value.Raw) {
					t.Errorf("Get(%q) = %s, %v", f.Key, w.Raw, ok)
				}
				if _, ok := got.Get(f.Key + "\x00"); ok {
					t.Errorf("Get(%q) found a key the model does not have", f.Key+"\x00")
				}
			}
			if _, ok := got.Get("missing"); ok {
				t.Error(`Get("missing") found it`)
			}
		})
	}
}

// TestSortFields_Random sorts random property lists — up to 150
// properties (past the sort's 64-entry stack buffer), keys from a small
// set so that many repeat, short and long — and checks each against a map with the
// properties set in order: every key once, in byte order, the last value
// given for it.
func TestSortFields_Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		n := rng.IntN(151)
		keys := 1 + rng.IntN(2*n+1)
		in := make(Fields, n)
		want := make(map[string]string)
		for i := range in {
			// Short keys, keys sharing their first 8 bytes or more, and
			// keys that differ from another only by trailing zero bytes
			// (equal in the sort's 8-byte prefix).
			k := []string{"k", "a_longer_prefix_", "k\x00", ""}[rng.IntN(4)] + strconv.Itoa(rng.IntN(keys))
			if rng.IntN(8) == 0 {
				k += "\x00"
			}
			raw := strconv.Itoa(i)
			in[i] = Field{Key: k, Value: Value{Type: ValuePrimitive, Raw: json.RawMessage(raw)}}
			want[k] = raw
		}
		got := sortFields(in)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d properties, want %d", round, len(got), len(want))
		}
		for i, f := range got {
			if i > 0 && got[i-1].Key >= f.Key {
				t.Fatalf("round %d: %q before %q", round, got[i-1].Key, f.Key)
			}
			if string(f.Value.Raw) != want[f.Key] {
				t.Fatalf("round %d: %s=%s, want the last given, %s", round, f.Key, f.Value.Raw, want[f.Key])
			}
		}
	}
}

// TestFields_UnmarshalJSON: null is no model, {} an empty one, and an
// object decodes to its properties sorted, as encoding/json's map would.
func TestFields_UnmarshalJSON(t *testing.T) {
	var nullModel Fields
	if err := json.Unmarshal([]byte(`null`), &nullModel); err != nil || nullModel != nil {
		t.Fatalf("null: %v, %v", nullModel, err)
	}
	var empty Fields
	if err := json.Unmarshal([]byte(`{}`), &empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("{}: %#v, %v", empty, err)
	}
	var m Fields
	if err := json.Unmarshal([]byte(`{"b":{"rid":"x.y"},"a":1,"b":2}`), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Key != "a" || string(m[0].Value.Raw) != "1" || m[1].Key != "b" || string(m[1].Value.Raw) != "2" || m[1].Value.Type != ValuePrimitive {
		t.Fatalf("got %+v", m)
	}
	var bad Fields
	if err := json.Unmarshal([]byte(`{"a":{"x":1}}`), &bad); err == nil {
		t.Fatal("a nested object decoded as a property")
	}
}

// TestMergeFields: changes applied to a model come out as a map would
// hold them, sorted: set, replaced, deleted, and deletes of keys the model
// lacks ignored.
func TestMergeFields(t *testing.T) {
	v := func(raw string) Value { return Value{Type: ValuePrimitive, Raw: json.RawMessage(raw)} }
	for _, tt := range []struct {
		name         string
		old, changes map[string]Value
	}{
		{"empty model", nil, map[string]Value{"b": v("1"), "a": v("2")}},
		{"no changes", map[string]Value{"a": v("1")}, nil},
		{"replace", map[string]Value{"a": v("1"), "b": v("2")}, map[string]Value{"b": v("3")}},
		{"add before, between, after", map[string]Value{"b": v("1"), "d": v("2")}, map[string]Value{"a": v("3"), "c": v("4"), "e": v("5")}},
		{"delete first, last, missing", map[string]Value{"a": v("1"), "b": v("2"), "c": v("3")}, map[string]Value{"a": deleteValue, "c": deleteValue, "z": deleteValue}},
		{"delete all, add one", map[string]Value{"a": v("1"), "b": v("2")}, map[string]Value{"a": deleteValue, "b": deleteValue, "c": v("3")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := map[string]Value{}
			for k, x := range tt.old {
				want[k] = x
			}
			for k, x := range tt.changes {
				if x.Type == ValueDelete {
					delete(want, k)
				} else {
					want[k] = x
				}
			}
			got := mergeFields(FieldsOf(tt.old), FieldsOf(tt.changes))
			wantFields := FieldsOf(want)
			if len(got) != len(wantFields) {
				t.Fatalf("got %+v, want %+v", got, wantFields)
			}
			for i := range got {
				if got[i].Key != wantFields[i].Key || !got[i].Value.Equal(wantFields[i].Value) {
					t.Fatalf("property %d: got %+v, want %+v", i, got[i], wantFields[i])
				}
			}
		})
	}
}

// TestNewLoadedModel: a get response's model and collection are encoded
// at once, as encodeFields and encodeValueSlice would, and each value then
// lies inside that JSON — the same bytes, the JSON's own memory, with no
// room to append into it.
func TestNewLoadedModel(t *testing.T) {
	res, err := decodeGetResponse([]byte(`{"result":{"model":{"z":"a b","a":{"rid":"x.y"},"m":{"data":[1, 2]},"d":{"data":7},"b":true,"c":null}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := encodeFields(res.Model, false)
	before := make([]string, len(res.Model))
	for i, f := range res.Model {
		before[i] = string(f.Value.Raw)
	}
	m := newLoadedModel(res.Model)
	got, _ := m.MarshalJSON()
	if string(got) != string(want) {
		t.Fatalf("model JSON %s, want %s", got, want)
	}
	for i, f := range m.Values {
		checkInside(t, f.Key, f.Value.Raw, before[i], got)
	}

	cres, err := decodeGetResponse([]byte(`{"result":{"collection":["a b",{"rid":"x.y","soft":true},{"data":{"k":1}},3]}}`))
	if err != nil {
		t.Fatal(err)
	}
	cwant := encodeValueSlice(cres.Collection, false)
	cbefore := make([]string, len(cres.Collection))
	for i, v := range cres.Collection {
		cbefore[i] = string(v.Raw)
	}
	c := newLoadedCollection(cres.Collection)
	cgot, _ := c.MarshalJSON()
	if string(cgot) != string(cwant) {
		t.Fatalf("collection JSON %s, want %s", cgot, cwant)
	}
	for i, v := range c.Values {
		checkInside(t, strconv.Itoa(i), v.Raw, cbefore[i], cgot)
	}
}

// checkInside checks that raw holds want and lies within js, full to its
// capacity, so that appending to it copies rather than writing into js.
func checkInside(t *testing.T, name string, raw json.RawMessage, want string, js []byte) {
	t.Helper()
	if string(raw) != want {
		t.Errorf("%s: value %s, want %s", name, raw, want)
	}
	inside := false
	for off := range js {
		if &js[off] == &raw[0] {
			inside = true
			break
		}
	}
	if !inside {
		t.Errorf("%s: value %s is not in the encoded JSON's memory", name, raw)
	}
	if cap(raw) != len(raw) {
		t.Errorf("%s: value has room to append (len %d, cap %d)", name, len(raw), cap(raw))
	}
}
