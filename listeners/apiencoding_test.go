package listeners

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/resedge/resedge/resproto"
)

// testResource is a resproto.Resource held in memory.
type testResource struct {
	rid   string
	err   error
	model map[string]resproto.Value
	coll  []resproto.Value
	refs  map[string]*testResource

	fields resproto.Fields // model sorted, on first use
}

func (r *testResource) RID() string        { return r.rid }
func (r *testResource) Err() error         { return r.err }
func (r *testResource) IsCollection() bool { return r.model == nil }
func (r *testResource) ModelValues() resproto.Fields {
	if r.fields == nil {
		r.fields = resproto.FieldsOf(r.model)
	}
	return r.fields
}
func (r *testResource) CollectionValues() []resproto.Value { return r.coll }
func (r *testResource) Ref(rid string) resproto.Resource {
	if ref := r.refs[rid]; ref != nil {
		return ref
	}
	return nil
}

// benchModel is a model of the size resbench's --fields 10 serves.
func benchModel() *testResource {
	m := map[string]resproto.Value{
		"t":    {Type: resproto.ValuePrimitive, Raw: json.RawMessage(`0`)},
		"name": {Type: resproto.ValuePrimitive, Raw: json.RawMessage(`"bench"`)},
	}
	for i := range 10 {
		m[fmt.Sprintf("s%d", i)] = resproto.Value{Type: resproto.ValuePrimitive, Raw: json.RawMessage(fmt.Sprintf(`"value-%d-of-the-bench-resource"`, i))}
		m[fmt.Sprintf("n%d", i)] = resproto.Value{Type: resproto.ValuePrimitive, Raw: json.RawMessage(fmt.Sprint(i*1000 + 7))}
	}
	return &testResource{rid: "bench.model", model: m}
}

// BenchmarkEncodeGET encodes the body of an HTTP GET of a model with 22
// primitive values, as every HTTP GET of a model does.
func BenchmarkEncodeGET(b *testing.B) {
	r := benchModel()
	e := jsonEncoder{apiPath: "/api/"}
	b.ReportAllocs()
	for b.Loop() {
		e.encodeGET(r)
	}
}

// TestEncodeGETModel: a model's keys come out sorted and quoted as
// encoding/json writes them, nested models (a reference, each with keys
// of its own) inside their parent's key order.
func TestEncodeGETModel(t *testing.T) {
	prim := func(raw string) resproto.Value {
		return resproto.Value{Type: resproto.ValuePrimitive, Raw: json.RawMessage(raw)}
	}
	inner := &testResource{rid: "a.inner", model: map[string]resproto.Value{"z": prim(`1`), "<k>": prim(`2`), "a": prim(`3`)}}
	outer := &testResource{rid: "a.outer", model: map[string]resproto.Value{
		"b":   prim(`"x"`),
		"ref": {Type: resproto.ValueReference, RID: "a.inner"},
		"a":   prim(`null`),
		"é":   prim(`true`),
		"c":   prim(`4`),
	}, refs: map[string]*testResource{"a.inner": inner}}
	for _, tc := range []struct {
		flat bool
		want string
	}{
		{false, `{"a":null,"b":"x","c":4,"ref":{"href":"/api/a/inner","model":{"\u003ck\u003e":2,"a":3,"z":1}},"é":true}`},
		{true, `{"a":null,"b":"x","c":4,"ref":{"\u003ck\u003e":2,"a":3,"z":1},"é":true}`},
	} {
		got := jsonEncoder{apiPath: "/api/", flat: tc.flat}.encodeGET(outer)
		if string(got) != tc.want {
			t.Errorf("flat=%v:\n got %s\nwant %s", tc.flat, got, tc.want)
		}
	}
	// The encoding matches encoding/json's of the same values.
	r := benchModel()
	m := map[string]json.RawMessage{}
	for k, v := range r.model {
		m[k] = v.Raw
	}
	want, _ := json.Marshal(m)
	if got := (jsonEncoder{apiPath: "/api/"}).encodeGET(r); string(got) != string(want) {
		t.Errorf("bench model:\n got %s\nwant %s", got, want)
	}
}
