package resproto

// Fuzz targets. Their seed corpus runs as ordinary tests under go test; run
// one with, for instance:
//
//	go test -run x -fuzz FuzzClientMessage -fuzztime 20s ./resproto/

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// fuzzRIDSeeds are resource IDs and method strings, valid and not.
var fuzzRIDSeeds = []string{
	"example.model",
	"example.model?q=1&b=2",
	"a",
	"a.b.c.d.e",
	"example.users?limit=2",
	"example.model?",
	"example.{cid}",
	"x?y?z",
	"library.books.42?a.b*>",
	"~!@#$%^&()_+{}|:\"<,/;'[]\\=-`",
	"",
	".",
	"a.",
	".a",
	"a..b",
	"a b",
	"a.*",
	"a.>",
	"?q",
	"a.?q",
	"\x7f",
	"a\x00b",
	"a\tb",
	"ä.b",
	"a.b\n",
}

func FuzzIsValidRID(f *testing.F) {
	for _, s := range fuzzRIDSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rid string) {
		valid := IsValidRID(rid)
		name, q := SplitRID(rid)
		if strings.Contains(name, "?") {
			t.Fatalf("SplitRID(%q): name %q holds '?'", rid, name)
		}
		// SplitRID round trips.
		if strings.Contains(rid, "?") {
			if name+"?"+q != rid {
				t.Fatalf("SplitRID(%q) = %q, %q: does not round trip", rid, name, q)
			}
		} else if name != rid || q != "" {
			t.Fatalf("SplitRID(%q) = %q, %q without a '?'", rid, name, q)
		}
		// A RID is valid exactly when its name's parts all are.
		parts := strings.Split(name, ".")
		partsValid := name != ""
		for _, p := range parts {
			if !IsValidRIDPart(p) {
				partsValid = false
			}
		}
		if valid != partsValid {
			t.Fatalf("IsValidRID(%q) = %v, but its name parts %q valid: %v", rid, valid, parts, partsValid)
		}
		if !valid {
			return
		}
		// The name alone is a valid RID, and a pattern matching itself.
		if !IsValidRID(name) {
			t.Fatalf("IsValidRID(%q) but not its name %q", rid, name)
		}
		if p := Pattern(name); !p.IsValid() || !p.Matches(name) {
			t.Fatalf("valid name %q: as a pattern valid %v, matches itself %v", name, p.IsValid(), p.Matches(name))
		}
		// Any query keeps a valid name valid.
		if !IsValidRID(name + "?" + q + "?x y\x00") {
			t.Fatalf("valid name %q with a query is invalid", name)
		}
	})
}

func FuzzIsValidRIDPart(f *testing.F) {
	for _, s := range fuzzRIDSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := s != ""
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 33 || c > 126 || strings.IndexByte(".?*>", c) >= 0 {
				want = false
			}
		}
		if got := IsValidRIDPart(s); got != want {
			t.Fatalf("IsValidRIDPart(%q) = %v, want %v", s, got, want)
		}
		if want && !IsValidRID(s) {
			t.Fatalf("valid part %q is not a valid RID", s)
		}
	})
}

// refPatternMatch is a plain reference implementation of Pattern.Matches for
// valid patterns and names.
func refPatternMatch(pattern, name string) bool {
	pp, np := strings.Split(pattern, "."), strings.Split(name, ".")
	for i, part := range pp {
		if part == ">" {
			return len(np) > i
		}
		if i >= len(np) || (part != "*" && part != np[i]) {
			return false
		}
	}
	return len(pp) == len(np)
}

func FuzzPatternMatches(f *testing.F) {
	seeds := [][2]string{
		{"example.model", "example.model"},
		{"example.*", "example.model"},
		{"example.>", "example.model.sub"},
		{"example.>", "example"},
		{"*.model", "example.model"},
		{"*", "a"},
		{">", "a.b.c"},
		{"a.*.c", "a.b.c"},
		{"a.*.c", "a.b.d"},
		{"a.b", "a.b.c"},
		{"a.b.c", "a.b"},
		{"a.>.c", "a.b.c"},
		{"", "a"},
		{"a..b", "a..b"},
		{"a.", "a."},
		{"a.*", "a."},
		{"*.*", "a"},
		{"a?b", "a?b"},
		{"a.>", ""},
		{"example.model", "example.model?q"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p := Pattern(pattern)
		valid := p.IsValid()
		got := p.Matches(name)
		if !valid {
			return
		}
		// A valid pattern is a dot separated list of parts, each a valid
		// RID part, "*", or (last only) ">".
		for i, part := range strings.Split(pattern, ".") {
			if part != "*" && !(part == ">" && i == strings.Count(pattern, ".")) && !IsValidRIDPart(part) {
				t.Fatalf("Pattern(%q).IsValid() with part %q", pattern, part)
			}
		}
		if !IsValidRID(name) || strings.Contains(name, "?") {
			return
		}
		if want := refPatternMatch(pattern, name); got != want {
			t.Fatalf("Pattern(%q).Matches(%q) = %v, want %v", pattern, name, got, want)
		}
		// A pattern without wildcards matches exactly itself.
		if !strings.ContainsAny(pattern, "*>") && got != (pattern == name) {
			t.Fatalf("Pattern(%q).Matches(%q) = %v", pattern, name, got)
		}
	})
}

// fuzzValueSeeds are RES values as services send them, proper and not.
var fuzzValueSeeds = []string{
	`"foo"`,
	`42`,
	`-1.5e10`,
	`true`,
	`null`,
	`{"rid":"example.model"}`,
	`{"rid":"example.model","soft":true}`,
	`{"rid":"example.model?q=1","soft":false}`,
	`{"data":{"a":[1,2]}}`,
	`{"data":[1,{"b":null}]}`,
	`{"data":"wrapped"}`,
	`{"data":null}`,
	`{"action":"delete"}`,
	"  { \"rid\" : \"a.b\" ,\n \"soft\" : true }  ",
	`"\u003c\u00e4\ud83d\ude00"`,
	`{"rid":""}`,
	`{"rid":"a..b"}`,
	`{"rid":"a","data":1}`,
	`{"rid":"a","action":"delete"}`,
	`{"action":"delete","data":1}`,
	`{"action":"update"}`,
	`{"foo":"bar"}`,
	`{}`,
	`[1,2]`,
	`{"rid":1}`,
	`{"soft":true}`,
	`{"RID":"a"}`,
	`{"rid":"a","rid":"b"}`,
	`{"data":`,
	`nope`,
	``,
}

func FuzzValueUnmarshal(f *testing.F) {
	for _, s := range fuzzValueSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Value
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		if !v.Equal(v) {
			t.Fatalf("value of %q is not equal to itself", data)
		}
		if v.Type == ValueDelete {
			return
		}
		if !v.IsProper() {
			t.Fatalf("%q decoded without error to an improper value %+v", data, v)
		}
		raw, err := v.MarshalJSON()
		if err != nil || !json.Valid(raw) {
			t.Fatalf("%q re-marshals to invalid JSON %q (%v)", data, raw, err)
		}
		if !json.Valid(v.legacyRaw()) {
			t.Fatalf("%q: invalid legacy JSON %q", data, v.legacyRaw())
		}
		switch v.Type {
		case ValueReference, ValueSoftReference:
			if !IsValidRID(v.RID) {
				t.Fatalf("%q: reference to invalid RID %q", data, v.RID)
			}
		}
		// Decoding what clients receive gives the same value back.
		var w Value
		if err := json.Unmarshal(raw, &w); err != nil || !w.Equal(v) {
			t.Fatalf("%q: re-decoding %q gives %+v (%v), want %+v", data, raw, w, err, v)
		}
		// Models and collections holding it encode to valid JSON.
		m := &Model{Values: FieldsOf(map[string]Value{"k": v, "<\u2028\"": v})}
		c := &Collection{Values: []Value{v, v}}
		mj, _ := m.MarshalJSON()
		cj, _ := c.MarshalJSON()
		for _, b := range [][]byte{mj, m.legacy(), cj, c.legacy()} {
			if !json.Valid(b) {
				t.Fatalf("%q: model or collection encodes to invalid JSON %q", data, b)
			}
		}
	})
}

// fuzzResponseSeeds are service responses, well formed and not.
var fuzzResponseSeeds = []string{
	`{"result":{"model":{"a":1,"b":{"rid":"x.y"}}}}`,
	`{"result":{"collection":["a",{"rid":"x.y","soft":true},{"data":[1]}]}}`,
	`{"result":{"model":{},"query":"a=1"}}`,
	`{"result":{"get":true,"call":"set,foo"}}`,
	`{"result":{"get":false,"call":"*"},"meta":{"status":302,"header":{"location":["/x"],"Location":["/y"]}}}`,
	`{"result":null}`,
	`{"result":{"payload":1}}`,
	`{"resource":{"rid":"example.model"}}`,
	`{"result":{"rid":"example.new"}}`,
	`{"error":{"code":"system.notFound","message":"Not found"}}`,
	`{"error":{"code":"x.y","message":"m","data":{"a":1}},"meta":{"header":{"x":null}}}`,
	`{"result":{"events":[{"event":"add","data":{"idx":0,"value":"a"}},{"event":"remove","data":{"idx":1}}]}}`,
	`{"result":{"events":[]}}`,
	`{"result":{"events":[],"model":{}}}`,
	`{"result":{"model":{"a":{"action":"delete"}}}}`,
	`{"result":{"model":{"a":1},"collection":[]}}`,
	`{"result":{"model":{"a":[1]}}}`,
	`{"result":{"collection":[{"foo":1}]}}`,
	`{"resource":{"rid":""}}`,
	`{"resource":null,"result":1}`,
	`{"meta":{"status":"x"}}`,
	`{}`,
	`[]`,
	`null`,
	`{"result":`,
	``,
	`{"values":{"a":1}}`,
	`{"a":1}`,
}

func FuzzDecodeServiceResponses(f *testing.F) {
	for _, s := range fuzzResponseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if gr, err := decodeGetResponse(data); err == nil {
			if (gr.Model == nil) == (gr.Collection == nil) {
				t.Fatalf("get response %q: model %v and collection %v", data, gr.Model, gr.Collection)
			}
			for i, f := range gr.Model {
				checkProperValue(t, data, f.Value)
				if i > 0 && gr.Model[i-1].Key >= f.Key {
					t.Fatalf("get response %q: model keys %q, %q out of order or twice", data, gr.Model[i-1].Key, f.Key)
				}
			}
			for _, v := range gr.Collection {
				checkProperValue(t, data, v)
			}
		} else if ToError(err) == nil {
			t.Fatalf("get response %q: error without a RES error", data)
		}

		cr, err := decodeCallResponse(data)
		if err == nil {
			if cr == nil || (cr.RID == "" && cr.Result == nil) {
				t.Fatalf("call response %q: success without result or resource: %+v", data, cr)
			}
			if cr.RID != "" && !IsValidRID(cr.RID) {
				t.Fatalf("call response %q: invalid RID %q", data, cr.RID)
			}
			if cr.Result != nil {
				if _, err := legacyNewRID(cr.Result); err != nil && !IsCode(err, CodeInternalError) {
					t.Fatalf("legacy new %q: %v", cr.Result, err)
				}
			}
		}

		a := decodeAccessResponse(data)
		if a == nil {
			t.Fatalf("access response %q decodes to nil", data)
		}
		if a.Err == nil && a.CanGet() != nil && a.Get {
			t.Fatalf("access response %q: get allowed but CanGet fails", data)
		}
		_ = a.CanCall("set")
		if a.Meta != nil {
			for k := range a.Meta.Header {
				if k != textproto.CanonicalMIMEHeaderKey(k) {
					t.Fatalf("access response %q: header %q not canonical", data, k)
				}
			}
		}

		if qr, err := decodeQueryEventResponse(data); err == nil {
			if qr.Events != nil && (qr.Model != nil || qr.Collection != nil) {
				t.Fatalf("query response %q: events and a resource", data)
			}
			for _, f := range qr.Model {
				checkProperValue(t, data, f.Value)
			}
			for _, v := range qr.Collection {
				checkProperValue(t, data, v)
			}
		}

		_ = isLegacyChangeEvent(data)
	})
}

func checkProperValue(t *testing.T, data []byte, v Value) {
	t.Helper()
	if !v.IsProper() || !json.Valid(v.Raw) {
		t.Fatalf("response %q holds an improper value %+v", data, v)
	}
}

// fuzzTransport is a Transport that counts the replies it is sent.
type fuzzTransport struct {
	mu      sync.Mutex
	cond    *sync.Cond
	replies int
	msgs    int
}

func newFuzzTransport() *fuzzTransport {
	t := &fuzzTransport{}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *fuzzTransport) Send(m *Message) {
	if !json.Valid(m.Data) {
		panic("resproto sent invalid JSON to a client: " + string(m.Data))
	}
	t.mu.Lock()
	t.msgs++
	if !bytes.HasPrefix(m.Data, []byte(`{"event":`)) {
		t.replies++
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

func (t *fuzzTransport) Disconnect(string) {}

// waitReplies waits until n replies arrived, or for d at most.
func (t *fuzzTransport) waitReplies(n int, d time.Duration) bool {
	timedOut := false
	timer := time.AfterFunc(d, func() {
		t.mu.Lock()
		timedOut = true
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer timer.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.replies < n && !timedOut {
		t.cond.Wait()
	}
	return t.replies >= n
}

// startFuzzNATS starts an embedded NATS server and a small service on it
// that answers the engine's requests (and, on request, publishes events).
// It returns the server's URL.
func startFuzzNATS(tb testing.TB) string {
	tb.Helper()
	url := startTestNATS(tb)
	svc, err := nats.Connect(url)
	if err != nil {
		tb.Fatalf("service connect: %v", err)
	}
	tb.Cleanup(svc.Close)
	for _, subj := range []string{"access.>", "get.>", "call.>", "auth.>"} {
		if _, err := svc.Subscribe(subj, func(m *nats.Msg) { fuzzServe(svc, m) }); err != nil {
			tb.Fatalf("service subscribe: %v", err)
		}
	}
	svc.Flush()
	return url
}

// startFuzzEngine starts an engine on the NATS server at url. stop closes
// it and its NATS connection.
func startFuzzEngine(tb testing.TB, url string) (e *Engine, stop func()) {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatalf("engine connect: %v", err)
	}
	e, err = New(nc, Config{
		RequestTimeout:   2 * time.Second,
		UnsubscribeDelay: -1,
		ReplyMalformed:   true,
		Trace:            true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		nc.Close()
		tb.Fatalf("engine: %v", err)
	}
	nc.Flush()
	return e, func() {
		e.Close()
		nc.Close()
	}
}

// fuzzServe is the fuzz service. Resources:
//
//	fuzz.leaf          a model without references
//	fuzz.a, fuzz.b     models referencing each other
//	fuzz.missing       not found
//	fuzz.bad           an invalid model
//	fuzz.denied        no access
//	*col               collections with references
//	anything else      a model referencing fuzz.leaf
//
// Call methods: res and new (resource response), err, event (publish
// event.<name>.<params.event> with params.data), reset (publish system.reset
// with params), token (publish conn.<cid>.token with params); others echo
// their params. Auth methods publish a token event first.
func fuzzServe(nc *nats.Conn, m *nats.Msg) {
	var req struct {
		Params json.RawMessage `json:"params"`
		Query  string          `json:"query"`
		CID    string          `json:"cid"`
	}
	json.Unmarshal(m.Data, &req)
	typ, rest, _ := strings.Cut(m.Subject, ".")
	name, method := rest, ""
	if typ == "call" || typ == "auth" {
		if i := strings.LastIndexByte(rest, '.'); i >= 0 {
			name, method = rest[:i], rest[i+1:]
		}
	}
	respond := func(s string) { m.Respond([]byte(s)) }
	withQuery := func(result string) string {
		if req.Query == "" {
			return `{"result":` + result + `}`
		}
		q, _ := json.Marshal(req.Query)
		return `{"result":` + result[:len(result)-1] + `,"query":` + string(q) + `}}`
	}
	switch typ {
	case "access":
		switch name {
		case "fuzz.denied":
			respond(`{"result":{"get":false,"call":"nope"}}`)
		case "fuzz.missing":
			respond(`{"error":{"code":"system.notFound","message":"Not found"}}`)
		default:
			respond(`{"result":{"get":true,"call":"*"}}`)
		}
	case "get":
		switch {
		case name == "fuzz.leaf":
			respond(withQuery(`{"model":{"x":true,"s":"leaf"}}`))
		case name == "fuzz.a":
			respond(withQuery(`{"model":{"b":{"rid":"fuzz.b"},"n":1}}`))
		case name == "fuzz.b":
			respond(withQuery(`{"model":{"a":{"rid":"fuzz.a"},"soft":{"rid":"fuzz.leaf","soft":true}}}`))
		case name == "fuzz.missing":
			respond(`{"error":{"code":"system.notFound","message":"Not found"}}`)
		case name == "fuzz.bad":
			respond(`{"result":{"model":{"x":[1]}}}`)
		case strings.HasSuffix(name, "col"):
			respond(withQuery(`{"collection":["a",1,{"rid":"fuzz.leaf"},{"rid":"fuzz.a","soft":true},{"data":[1,2]},{"rid":"fuzz.leaf"}]}`))
		default:
			respond(withQuery(`{"model":{"leaf":{"rid":"fuzz.leaf"},"d":{"data":{"k":"v"}},"n":null}}`))
		}
	case "call", "auth":
		if typ == "auth" {
			nc.Publish("conn."+req.CID+".token", []byte(`{"token":{"user":"fuzz"},"tid":"t1"}`))
		}
		switch method {
		case "res", "new":
			respond(`{"resource":{"rid":"fuzz.leaf"}}`)
		case "err":
			respond(`{"error":{"code":"fuzz.error","message":"Fuzz error","data":[1]}}`)
		case "event":
			var p struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
			}
			if json.Unmarshal(req.Params, &p) == nil && IsValidRIDPart(p.Event) {
				nc.Publish("event."+name+"."+p.Event, p.Data)
			}
			respond(`{"result":null}`)
		case "reset":
			nc.Publish("system.reset", req.Params)
			respond(`{"result":null}`)
		case "tokenReset":
			nc.Publish("system.tokenReset", req.Params)
			respond(`{"result":null}`)
		case "token":
			nc.Publish("conn."+req.CID+".token", req.Params)
			respond(`{"result":null}`)
		default:
			if len(req.Params) == 0 {
				req.Params = json.RawMessage("null")
			}
			respond(`{"result":{"params":` + string(req.Params) + `}}`)
		}
	}
}

// fuzzClientSeeds are client messages; a seed may hold several, one per
// line, sent in order on one connection.
var fuzzClientSeeds = []string{
	`{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`,
	`{"id":1,"method":"subscribe.fuzz.thing"}`,
	`{"id":1,"method":"subscribe.fuzz.a"}` + "\n" + `{"id":2,"method":"unsubscribe.fuzz.a"}` + "\n" + `{"id":3,"method":"get.fuzz.b"}`,
	`{"id":1,"method":"version","params":{"protocol":"1.2.0"}}` + "\n" + `{"id":2,"method":"subscribe.fuzz.b"}`,
	`{"id":1,"method":"subscribe.fuzz.list.col?limit=2"}` + "\n" + `{"id":2,"method":"call.fuzz.list.col.event","params":{"event":"add","data":{"idx":0,"value":{"rid":"fuzz.a"}}}}` + "\n" + `{"id":3,"method":"call.fuzz.list.col.event","params":{"event":"remove","data":{"idx":2}}}`,
	`{"id":1,"method":"subscribe.fuzz.thing"}` + "\n" + `{"id":2,"method":"call.fuzz.thing.event","params":{"event":"change","data":{"values":{"leaf":{"action":"delete"},"x":{"rid":"fuzz.b"}}}}}`,
	`{"id":1,"method":"subscribe.fuzz.thing"}` + "\n" + `{"id":2,"method":"call.fuzz.thing.reset","params":{"resources":["fuzz.>"],"access":["*.*"]}}`,
	`{"id":1,"method":"auth.fuzz.auth.login","params":{"password":"x"}}` + "\n" + `{"id":2,"method":"subscribe.fuzz.a"}` + "\n" + `{"id":3,"method":"call.fuzz.x.token","params":{"token":null}}`,
	`{"id":1,"method":"call.fuzz.model.res"}` + "\n" + `{"id":2,"method":"new.fuzz.model","params":{"a":1}}`,
	`{"id":1,"method":"call.fuzz.model.set","params":{"a":1}}` + "\n" + `{"id":2,"method":"call.fuzz.model.err"}`,
	`{"id":1,"method":"subscribe.fuzz.{cid}"}` + "\n" + `{"id":2,"method":"unsubscribe.fuzz.{cid}","params":{"count":1}}`,
	`{"id":1,"method":"subscribe.fuzz.missing"}` + "\n" + `{"id":2,"method":"get.fuzz.bad"}` + "\n" + `{"id":3,"method":"subscribe.fuzz.denied"}` + "\n" + `{"id":4,"method":"call.fuzz.denied.set"}`,
	`{"id":1,"method":"subscribe.fuzz.b"}` + "\n" + `{"id":2,"method":"call.fuzz.a.event","params":{"event":"reaccess"}}` + "\n" + `{"id":3,"method":"call.fuzz.b.event","params":{"event":"delete"}}`,
	`{"id":1,"method":"subscribe.fuzz.q?a=1"}` + "\n" + `{"id":2,"method":"subscribe.fuzz.q?a=1"}` + "\n" + `{"id":3,"method":"unsubscribe.fuzz.q?a=1","params":{"count":2}}`,
	`{"id":1,"method":"auth.fuzz.auth.login"}` + "\n" + `{"id":2,"method":"call.fuzz.x.tokenReset","params":{"tids":["t1"],"subject":"auth.fuzz.auth.refresh"}}`,
	// Invalid.
	``,
	`{}`,
	`null`,
	`[]`,
	`{"id":-1,"method":"version"}`,
	`{"id":"1","method":"version"}`,
	`{"id":1}`,
	`{"id":1,"method":""}`,
	`{"id":1,"method":"subscribe"}`,
	`{"id":1,"method":"subscribe."}`,
	`{"id":1,"method":"subscribe.a..b"}`,
	`{"id":1,"method":"subscribe.a.*"}`,
	`{"id":1,"method":"call.fuzz"}`,
	`{"id":1,"method":"call.fuzz.model."}`,
	`{"id":1,"method":"call.fuzz.model.a?b"}`,
	`{"id":1,"method":"unsubscribe.fuzz.none","params":{"count":0}}`,
	`{"id":1,"method":"unsubscribe.fuzz.none","params":{"count":"x"}}`,
	`{"id":1,"method":"version","params":{"protocol":"2.0.0"}}`,
	`{"id":1,"method":"version","params":{"protocol":"1.-1.0"}}`,
	`{"id":1,"method":"version","params":[]}`,
	`{"id":1,"method":"foo.bar"}`,
	`{"id":18446744073709551615,"method":"get.fuzz.leaf","params":{"x":`,
	"{\"id\":1,\"method\":\"get.fuzz.\xff\"}",
	`{"id":1,"method":"subscribe.` + strings.Repeat("a", 5000) + `"}`,
}

func FuzzClientMessage(f *testing.F) {
	for _, s := range fuzzClientSeeds {
		f.Add([]byte(s))
	}
	url := startFuzzNATS(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := bytes.Split(data, []byte("\n"))
		if len(msgs) > 16 {
			msgs = msgs[:16]
		}
		// An engine of its own for each input, so that a failure does not
		// depend on what earlier inputs left in the cache.
		e, stop := startFuzzEngine(t, url)
		defer stop()
		tr := newFuzzTransport()
		c, err := e.NewConn(tr, &HTTPInfo{Host: "fuzz", RemoteAddr: "127.0.0.1:1", URI: "/"}, true)
		if err != nil {
			t.Fatalf("new conn: %v", err)
		}
		// With ReplyMalformed every message gets one reply, except a
		// subscribe or get whose subscription an unsubscribe in the same
		// input disposes while its access request is in flight: Resgate
		// never answers it either. So the replies are waited for a while,
		// not required.
		for _, m := range msgs {
			c.HandleMessage(m)
		}
		tr.waitReplies(len(msgs), 500*time.Millisecond)
		// What must hold is that the connection's queue is not stuck: its
		// disposal runs.
		c.Close()
		deadline := time.Now().Add(5 * time.Second)
		for e.ConnCount() > 0 {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("connection not disposed: deadlock?\n%s", buf)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
}
