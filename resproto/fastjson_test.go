package resproto

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
)

// fastJSONSeeds are inputs for FuzzFastJSON: the usual shapes, and the
// unusual ones each fast path must leave to encoding/json.
var fastJSONSeeds = []string{
	`{"id":1,"method":"subscribe.bench.model"}`,
	`{"id":2,"method":"call.bench.model.ping","params":{"a":[1,2,{"b":"}"}]}}`,
	` { "id" : 18446744073709551615 , "method" : "get.x" , "params" : null } `,
	`{"id":18446744073709551616,"method":"get.x"}`,
	`{"id":-1,"method":"get.x"}`,
	`{"id":1.0,"method":"get.x"}`,
	`{"id":1e2,"method":"get.x"}`,
	`{"id":"1","method":"get.x"}`,
	`{"id":null,"method":"get.x"}`,
	`{"id":1,"id":2,"method":"get.x"}`,
	`{"ID":1,"Method":"get.x"}`,
	`{"id":1,"method":"get.\u0078"}`,
	`{"id":1,"method":"get.ä"}`,
	`{"id":1,"method":null}`,
	`{"id":1,"method":5}`,
	`{"id":1,"method":"x","extra":{"id":7}}`,
	`{"id":1,"m\u0065thod":"x"}`,
	`{"id":1,"method":"x"`,
	`[1,2]`,
	`null`,
	`{}`,
	`"x"`,
	`{"result":{"get":true,"call":"*"}}`,
	`{"result":{"get":false,"call":"a,b"},"meta":{"status":302}}`,
	`{"result":{"get":null,"call":null}}`,
	`{"result":{"get":1}}`,
	`{"result":{"Get":true}}`,
	`{"result":null}`,
	`{"error":{"code":"system.accessDenied","message":"Access denied"}}`,
	`{"result":{"pong":true}}`,
	`{"result":null,"x":1}`,
	`{"resource":{"rid":"a.b"}}`,
	`{"result":{"model":{"t":0,"name":"bench"}}}`,
	`{"result":{"model":{"r":{"rid":"a.b"},"s":{"rid":"a.c","soft":true},"d":{"data":[1, 2]},"p":{"data":"x"}}}}`,
	`{"result":{"model":{"a":1,"a":2}}}`,
	`{"result":{"model":{"c":1,"a":2,"c":3,"b":{"rid":"x.y"},"a":5}}}`,
	`{"result":{"model":{"a":{"x":1}}}}`,
	`{"result":{"model":{"a":[1]}}}`,
	`{"result":{"model":{"a":{"rid":""}}}}`,
	`{"result":{"collection":[1,"two",{"rid":"c.d"},null, true]}}`,
	`{"result":{"collection":[]}}`,
	`{"result":{"model":{},"query":"a=1"}}`,
	`{"result":{"model":{},"query":null}}`,
	`{"result":{"model":{},"collection":[]}}`,
	`{"result":{"model":null}}`,
	`{"result":{"model":{"é":1}}}`,
	`{"result":{"model":{"a\n":1}}}`,
	`{"result":{"model":{"a":"  spaced  "}}}`,
	"{\"result\":{\"model\":{\"a\":\"\u2028<&>\"}}}",
}

// FuzzFastJSON checks the fast decoders against encoding/json: whenever a
// fast path accepts an input, its result must be what encoding/json gives.
func FuzzFastJSON(f *testing.F) {
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr clientRequest
		if fastClientRequest(data, &fr) {
			var jr clientRequest
			if err := json.Unmarshal(data, &jr); err != nil {
				t.Fatalf("client request %q: fast path accepted, encoding/json: %v", data, err)
			}
			if !reflect.DeepEqual(fr, jr) {
				t.Fatalf("client request %q: fast %+v, encoding/json %+v", data, fr, jr)
			}
		}

		if fa, ok := fastAccessResponse(data); ok {
			var r struct {
				Result *Access `json:"result"`
				Error  *Error  `json:"error"`
				Meta   *Meta   `json:"meta"`
			}
			if err := json.Unmarshal(data, &r); err != nil || r.Error != nil || r.Meta != nil || r.Result == nil {
				t.Fatalf("access %q: fast path accepted, encoding/json: %v %+v", data, err, r)
			}
			if !reflect.DeepEqual(fa, r.Result) {
				t.Fatalf("access %q: fast %+v, encoding/json %+v", data, fa, r.Result)
			}
		}

		if fc, ok := fastCallResponse(data); ok {
			var r struct {
				Result   json.RawMessage `json:"result"`
				Resource *struct {
					RID string `json:"rid"`
				} `json:"resource"`
				Error *Error `json:"error"`
				Meta  *Meta  `json:"meta"`
			}
			if err := json.Unmarshal(data, &r); err != nil || r.Error != nil || r.Meta != nil || r.Resource != nil || r.Result == nil {
				t.Fatalf("call %q: fast path accepted, encoding/json: %v %+v", data, err, r)
			}
			if !bytes.Equal(fc.Result, r.Result) || fc.RID != "" || fc.Meta != nil {
				t.Fatalf("call %q: fast %+v, encoding/json %s", data, fc, r.Result)
			}
		}

		if fg, ok := fastGetResponse(data); ok {
			var r struct {
				Result *getResult `json:"result"`
				Error  *Error     `json:"error"`
			}
			if err := json.Unmarshal(data, &r); err != nil || r.Error != nil || r.Result == nil {
				t.Fatalf("get %q: fast path accepted, encoding/json: %v %+v", data, err, r)
			}
			if (fg.Model == nil) != (r.Result.Model == nil) || (fg.Collection == nil) != (r.Result.Collection == nil) ||
				fg.Query != r.Result.Query || len(fg.Model) != len(r.Result.Model) || len(fg.Collection) != len(r.Result.Collection) {
				t.Fatalf("get %q: fast %+v, encoding/json %+v", data, fg, r.Result)
			}
			// The same properties in the same (sorted) order, the last
			// of a key given twice kept by both.
			for i, f := range fg.Model {
				if w := r.Result.Model[i]; !reflect.DeepEqual(f, w) {
					t.Fatalf("get %q: model property %d: fast %+v, encoding/json %+v", data, i, f, w)
				}
			}
			for i, v := range fg.Collection {
				if !reflect.DeepEqual(v, r.Result.Collection[i]) {
					t.Fatalf("get %q: item %d: fast %+v, encoding/json %+v", data, i, v, r.Result.Collection[i])
				}
			}
		}

		var buf bytes.Buffer
		want := append(json.RawMessage(nil), data...)
		if json.Compact(&buf, data) == nil {
			want = buf.Bytes()
		}
		if got := compactJSON(data); !bytes.Equal(got, want) {
			t.Fatalf("compactJSON(%q) = %q, want %q", data, got, want)
		}
	})
}

// TestFastJSONAccepts checks that the usual shapes do take the fast paths.
func TestFastJSONAccepts(t *testing.T) {
	var r clientRequest
	if !fastClientRequest([]byte(`{"id":7,"method":"call.a.b.c","params":{"x":1}}`), &r) || *r.ID != 7 || r.Method != "call.a.b.c" || string(r.Params) != `{"x":1}` {
		t.Errorf("client request: %+v", r)
	}
	if a, ok := fastAccessResponse([]byte(`{"result":{"get":true,"call":"*"}}`)); !ok || !a.Get || a.Call != "*" {
		t.Errorf("access: %+v %v", a, ok)
	}
	if c, ok := fastCallResponse([]byte(`{"result":{"pong":true}}`)); !ok || string(c.Result) != `{"pong":true}` {
		t.Errorf("call: %+v %v", c, ok)
	}
	g, ok := fastGetResponse([]byte(`{"result":{"model":{"t":0,"r":{"rid":"a.b"}}}}`))
	if !ok || len(g.Model) != 2 || g.Model[0].Key != "r" || g.Model[0].Value.Type != ValueReference || g.Model[1].Key != "t" || string(g.Model[1].Value.Raw) != "0" {
		t.Errorf("get: %+v %v", g, ok)
	}
}

// fastEncodeSeeds are raw JSON values for FuzzFastEncode: plain ones, and
// ones encoding/json rewrites (whitespace, HTML characters, U+2028).
var fastEncodeSeeds = []string{
	`{"a":1}`, `null`, `"x"`, `[1,2,{"b":true}]`, `{"a": 1}`, `"<b>&amp;"`,
	"\"\u2028\"", `{"k":"é"}`, ` 1 `, `{"a":{"b":[1,{"c":null}]}}`,
}

// FuzzFastEncode checks the fast encoders against json.Marshal: whenever a
// fast path takes an input, its bytes must be json.Marshal's.
func FuzzFastEncode(f *testing.F) {
	for i, s := range fastEncodeSeeds {
		f.Add([]byte(s), []byte(fastEncodeSeeds[(i+1)%len(fastEncodeSeeds)]), "a.b?q=<1>", "k\u00e9y")
	}
	f.Fuzz(func(t *testing.T, raw, raw2 []byte, query, key string) {
		if !json.Valid(raw) || !json.Valid(raw2) {
			return
		}
		check := func(what string, v any, got []byte, ok bool) {
			t.Helper()
			if !ok {
				return
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: fast path took %q, json.Marshal failed: %v", what, got, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: fast %s, json.Marshal %s", what, got, want)
			}
		}
		for _, params := range []any{nil, json.RawMessage(raw)} {
			for _, isHTTP := range []bool{false, true} {
				got, ok := fastEncodeRequest(params, json.RawMessage(raw2), query, key, isHTTP)
				check("request", serviceRequest{Params: params, Token: json.RawMessage(raw2), Query: query, CID: key, IsHTTP: isHTTP}, got, ok)
			}
		}
		// A set holds each resource once (rawByRID encodes through a map,
		// which would drop a repeated key).
		other := "b"
		if key == other {
			other = "c"
		}
		results := []any{
			json.RawMessage(raw),
			payloadResult{Payload: raw},
			&resourceSet{},
			&resourceSet{Models: rawByRID{{key, raw}, {other, raw2}}},
			&resourceSet{Models: rawByRID{{other, raw2}, {key, raw}}},
			&resourceSet{Models: rawByRID{{key, raw}}, Collections: rawByRID{{query, raw2}}},
			&resourceSet{Collections: rawByRID{{key, raw2}}},
			resourceResult{RID: key},
			resourceResult{RID: query, resourceSet: &resourceSet{}},
			resourceResult{RID: query, resourceSet: &resourceSet{Models: rawByRID{{key, raw}}}},
		}
		for _, r := range results {
			got, ok := fastMarshalResult(r)
			check("result", r, got, ok)
		}
	})
}

// TestFastEncodeAccepts checks that the usual shapes take the fast paths.
func TestFastEncodeAccepts(t *testing.T) {
	if b, ok := fastEncodeRequest(json.RawMessage(`{"a":1}`), json.RawMessage("null"), "", "cid1", false); !ok || string(b) != `{"params":{"a":1},"token":null,"cid":"cid1"}` {
		t.Errorf("request: %s %v", b, ok)
	}
	if b, ok := fastMarshalResult(&resourceSet{Models: rawByRID{{"b.m", []byte(`{"x":1}`)}, {"a.m", []byte(`{}`)}}}); !ok || string(b) != `{"models":{"a.m":{},"b.m":{"x":1}}}` {
		t.Errorf("resource set: %s %v", b, ok)
	}
	if b, ok := fastMarshalResult(payloadResult{Payload: []byte(`{"pong":true}`)}); !ok || string(b) != `{"payload":{"pong":true}}` {
		t.Errorf("payload: %s %v", b, ok)
	}
	// Whitespace inside strings is kept by encoding/json too.
	if b, ok := fastMarshalResult(json.RawMessage(`{"name":"Jane Doe","note":"a\tb c"}`)); !ok || string(b) != `{"name":"Jane Doe","note":"a\tb c"}` {
		t.Errorf("spaces in strings: %s %v", b, ok)
	}
}

// TestCIDHandler checks that a connection's logger writes what
// Logger.With("cid", …) would.
func TestCIDHandler(t *testing.T) {
	for _, group := range []string{"", "g"} {
		var a, b bytes.Buffer
		base := func(w *bytes.Buffer) *slog.Logger {
			l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}})).With("listener", "public")
			if group != "" {
				l = l.WithGroup(group)
			}
			return l
		}
		want := base(&a).With("cid", "c1")
		got := slog.New(&cidHandler{Handler: base(&b).Handler(), cid: "c1"})
		for _, l := range []*slog.Logger{want, got} {
			l.Info("one", "k", 1)
			l.With("x", "y").Debug("two", "k", 2)
			l.WithGroup("h").Error("three", "k", 3)
		}
		if a.String() != b.String() {
			t.Errorf("group %q:\n%s\nwant\n%s", group, b.String(), a.String())
		}
	}
}
