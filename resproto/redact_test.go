package resproto

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactTrace(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		authRequest bool
		want        string
	}{
		{"no secret: verbatim", `{"result":{"model":{"b":1,"a":"x"}},"id":3}`, false, `{"result":{"model":{"b":1,"a":"x"}},"id":3}`},
		{"token of a request", `{"token":{"user":"u","exp":1},"cid":"c1"}`, false, `{"cid":"c1","token":"[redacted]"}`},
		{"token event", `{"token":"abc","tid":"t1"}`, false, `{"tid":"t1","token":"[redacted]"}`},
		{"null token stays redacted", `{"token":null}`, false, `{"token":"[redacted]"}`},
		{"auth request params", `{"params":{"user":"u","pin":1234},"cid":"c"}`, true, `{"cid":"c","params":"[redacted]"}`},
		{"client auth request", `{"id":1,"method":"auth.user.login","params":{"name":"u","code":"x"}}`, false, `{"id":1,"method":"auth.user.login","params":"[redacted]"}`},
		{"client call params kept, password key not", `{"id":1,"method":"call.user.set","params":{"name":"u","Password":"p"}}`, false, `{"id":1,"method":"call.user.set","params":{"Password":"[redacted]","name":"u"}}`},
		{"headers", `{"header":{"Cookie":["a=b"],"Authorization":["Bearer x"],"X-Session-Id":["s"],"Accept":["*/*"]}}`, false, `{"header":{"Accept":["*/*"],"Authorization":"[redacted]","Cookie":"[redacted]","X-Session-Id":"[redacted]"}}`},
		{"nested in arrays", `{"result":{"collection":[{"data":{"api_key":"k","n":1}}]}}`, false, `{"result":{"collection":[{"data":{"api_key":"[redacted]","n":1}}]}}`},
		{"big numbers kept", `{"token":1,"n":12345678901234567890}`, false, `{"n":12345678901234567890,"token":"[redacted]"}`},
		{"no HTML escaping", `{"token":1,"s":"<a&b>"}`, false, `{"s":"<a&b>","token":"[redacted]"}`},
		{"uri of a header auth request", `{"header":{},"uri":"/ws?lang=en&token=abc&sig=x"}`, true, `{"header":{},"uri":"/ws?lang=en&token=[redacted]&sig=[redacted]"}`},
		{"not JSON", `{"token":"abc"`, false, `(14 bytes, not JSON: withheld)`},
		{"trailing data", `{"a":1} {"token":"x"}`, false, `(21 bytes, not JSON: withheld)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactTrace([]byte(tt.data), tt.authRequest); got != tt.want {
				t.Errorf("redactTrace(%s) =\n %s\nwant\n %s", tt.data, got, tt.want)
			}
		})
	}
}

// FuzzRedactTrace: redaction never panics, gives valid JSON for valid JSON
// (or a withheld note), and never lets the value of a token or password
// key through.
func FuzzRedactTrace(f *testing.F) {
	for _, s := range []string{
		`{"token":{"a":"SECRETVALUE1"}}`,
		`{"header":{"Cookie":["SECRETVALUE1"]},"params":{"password":"SECRETVALUE1"}}`,
		`{"id":1,"method":"auth.a.b","params":"SECRETVALUE1"}`,
		`[{"PassWord":"SECRETVALUE1"}]`,
		`"plain"`, `null`, `{`, ``, `{"a":[1,2,{"b":{"jwt":"SECRETVALUE1"}}]}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, authRequest bool) {
		got := redactTrace(data, authRequest)
		if !json.Valid(data) {
			if got != string(data) && !strings.HasSuffix(got, "withheld)") {
				t.Fatalf("invalid JSON %q traced as %q", data, got)
			}
			return
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("%q redacted to invalid JSON %q", data, got)
		}
		// Every value under a secret key is the redaction mark, and so are
		// an auth request's params.
		var out any
		if err := json.Unmarshal([]byte(got), &out); err != nil {
			t.Fatalf("%q redacted to %q: %v", data, got, err)
		}
		if m, ok := out.(map[string]any); ok && authRequest {
			if p, ok := m["params"]; ok && p != redactedText {
				t.Fatalf("%q: auth params not redacted in %q", data, got)
			}
		}
		if k, ok := unredacted(out); ok {
			t.Fatalf("%q redacted to %q: key %q not redacted", data, got, k)
		}
	})
}

// unredacted returns a key secretKey matches whose value, somewhere in v,
// is not the redaction mark.
func unredacted(v any) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if secretKey(k) && e != redactedText {
				return k, true
			}
			if k, ok := unredacted(e); ok {
				return k, true
			}
		}
	case []any:
		for _, e := range x {
			if k, ok := unredacted(e); ok {
				return k, true
			}
		}
	}
	return "", false
}

func TestRedactURI(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"/api/test/model", "/api/test/model"},
		{"/ws?", "/ws?"},
		{"/api/test/model?start=0&limit=10", "/api/test/model?start=0&limit=10"},
		{"/ws?token=abc", "/ws?token=[redacted]"},
		{"/ws?access_token=abc&lang=en", "/ws?access_token=[redacted]&lang=en"},
		{"/ws?lang=en&API-Key=k&x=1", "/ws?lang=en&API-Key=[redacted]&x=1"},
		{"/ws?session%5Fid=s", "/ws?session%5Fid=[redacted]"},
		{"/cb?code=c&state=s", "/cb?code=[redacted]&state=s"},
		{"/ws?token", "/ws?token"},
		{"/ws?token=&a=b=c", "/ws?token=[redacted]&a=b=c"},
		{"/ws?a&&b=1", "/ws?a&&b=1"},
	}
	for _, tt := range tests {
		if got := RedactURI(tt.uri); got != tt.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}
