package resproto

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// jsonScanSeeds are texts valid and not, for the scanner tests: every
// token kind, each broken in the ways a scanner can get wrong.
var jsonScanSeeds = []string{
	``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e5x`, `+1`, `-01`, `123456789012345678901234567890`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `nulll`, `True`,
	`""`, `"`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\u00e9"`, `"\u00e"`, `"\u00eg"`, `"\x"`, "\"a\tb\"", "\"\x7f\"", "\"\xff\xfe\"", "\"\u2028\"",
	`{}`, `{`, `}`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a"}`, `{"a":}`, `{"a" : 1 , "b" : [ ] }`, `{1:2}`, `{"a":1 "b":2}`,
	`[]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[{"a":[{"b":null}]}]`, `[}`, `{]`,
	` {"a": "x y"} `, "\t[\n1\r]\n", `1 2`, `{} {}`, `"a" "b"`, `{"a":"<&>"}`,
	`{"result":{"model":{"t":0,"name":"bench","s0":"value 0 of the bench resource"}}}`,
}

// TestValidJSON: validJSON agrees with json.Valid on the seeds and at the
// nesting limit.
func TestValidJSON(t *testing.T) {
	for _, s := range jsonScanSeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", s, got, want)
		}
	}
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			s := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got, want := validJSON(s), json.Valid(s); got != want {
				t.Errorf("depth %d of %s: validJSON %v, json.Valid %v", depth, open, got, want)
			}
		}
	}
}

// FuzzValidJSON: validJSON agrees with json.Valid on any input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range jsonScanSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

// FuzzPlainJSON: on valid JSON, plainJSON is true exactly when
// encoding/json writes the text as a json.RawMessage unchanged, and
// hasJSONWhitespace exactly when compacting changes it.
func FuzzPlainJSON(f *testing.F) {
	for _, s := range jsonScanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		out, err := json.Marshal(json.RawMessage(b))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := plainJSON(b), bytes.Equal(out, b); got != want {
			t.Fatalf("plainJSON(%q) = %v; json.Marshal gives %q", b, got, out)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatal(err)
		}
		if got, want := hasJSONWhitespace(b), !bytes.Equal(c.Bytes(), b); got != want {
			t.Fatalf("hasJSONWhitespace(%q) = %v; json.Compact gives %q", b, got, c.Bytes())
		}
	})
}

// BenchmarkValidJSON: the scanner and json.Valid on a call result of
// resbench --fields 20 (about 1.3 KB), and plainJSON's check of it.
func BenchmarkValidJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"result":{"pong":true`)
	for i := range 20 {
		sb.WriteString(`,"s` + string(rune('a'+i)) + `":"value of the bench resource, with spaces","n":12345`)
	}
	sb.WriteString(`}}`)
	data := []byte(sb.String())
	for _, c := range []struct {
		name  string
		valid func([]byte) bool
	}{{"validJSON", validJSON}, {"json.Valid", json.Valid}, {"plainJSON", plainJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if !c.valid(data) {
					b.Fatal("false")
				}
			}
		})
	}
}
