package e2e

import (
	"net/http"
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// htAllowOrigin starts sessions with a Resgate allowOrigin setting.
func htAllowOrigin(t *testing.T, setting string) restest.Option {
	origins, err := listeners.ParseAllowOrigin(setting)
	if err != nil {
		t.Fatal(err)
	}
	return restest.WithHTTP(func(c *listeners.HTTPConfig) { c.AllowOrigin = origins })
}

func htHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestHTTPOptions_AllowOrigin(t *testing.T) {
	tbl := []struct {
		origin      string // "" for no Origin header
		allowOrigin string
		acao        string // expected Access-Control-Allow-Origin; "" for none
		vary        bool
	}{
		{"http://localhost", "*", "*", false},
		{"http://localhost", "http://localhost", "http://localhost", true},
		{"https://resgate.io", "http://localhost;https://resgate.io", "https://resgate.io", true},
		// A preflight from a disallowed origin still gets 200: the
		// browser refuses on the Allow-Origin it gets, the first allowed.
		{"http://example.com", "http://localhost;https://resgate.io", "http://localhost", true},
		{"", "*", "*", false},
		{"", "http://localhost", "", false},
		{"null", "http://localhost", "", false},
	}
	for _, l := range tbl {
		t.Run(l.allowOrigin+" "+l.origin, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, htAllowOrigin(t, l.allowOrigin))
			h := http.Header{}
			if l.origin != "" {
				h.Set("Origin", l.origin)
			}
			resp := s.HTTPRequest("OPTIONS", "/api/test/model", nil, h).GetResponse().
				AssertResponse(http.StatusOK, nil).
				AssertHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS, POST").
				AssertHeader("Access-Control-Allow-Credentials").
				AssertHeader("Content-Type")
			if l.acao == "" {
				resp.AssertHeader("Access-Control-Allow-Origin")
			} else {
				resp.AssertHeader("Access-Control-Allow-Origin", l.acao)
			}
			if l.vary {
				resp.AssertHeader("Vary", "Origin")
			} else {
				resp.AssertHeader("Vary")
			}
			s.AssertNoRequest()
		})
	}
}

func TestHTTPOptions_RequestHeadersAndMethods(t *testing.T) {
	tbl := []struct {
		name    string
		opts    []restest.Option
		reqHdrs []string
		allowH  string
		methods string
	}{
		{"one header", nil, []string{"Content-Type"}, "Content-Type", "GET, HEAD, OPTIONS, POST"},
		{"two headers", nil, []string{"X-PINGOTHER", "Content-Type"}, "X-PINGOTHER, Content-Type", "GET, HEAD, OPTIONS, POST"},
		{"three headers", nil, []string{"X-PINGOTHER", "Content-Type", "Authorization"}, "X-PINGOTHER, Content-Type, Authorization", "GET, HEAD, OPTIONS, POST"},
		{"no headers", nil, nil, "", "GET, HEAD, OPTIONS, POST"},
		{"mapped methods", []restest.Option{htMapAll("set", "remove", "update")}, nil, "", "GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH"},
		{"delete mapped", []restest.Option{htMapAll("", "remove", "")}, nil, "", "GET, HEAD, OPTIONS, POST, DELETE"},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, l.opts...)
			h := http.Header{}
			for _, v := range l.reqHdrs {
				h.Add("Access-Control-Request-Headers", v)
			}
			resp := s.HTTPRequest("OPTIONS", "/api/test/model", nil, h).GetResponse().
				AssertResponse(http.StatusOK, nil).
				AssertHeader("Access-Control-Allow-Methods", l.methods)
			if l.allowH == "" {
				resp.AssertHeader("Access-Control-Allow-Headers")
			} else {
				resp.AssertHeader("Access-Control-Allow-Headers", l.allowH)
			}
		})
	}
}

// TestHTTPOptions_AnyAPIPath: OPTIONS is answered for any path under the
// API prefix, even one that maps to no resource.
func TestHTTPOptions_AnyAPIPath(t *testing.T) {
	s := restest.Start(t)
	for _, p := range []string{"/api/", "/api/test.model", "/api/test/model/", "/api/x/y/z/method"} {
		s.HTTPRequest("OPTIONS", p, nil, nil).GetResponse().AssertResponse(http.StatusOK, nil)
	}
	s.HTTPRequest("OPTIONS", "/other", nil, nil).GetResponse().AssertError(http.StatusNotFound, resproto.ErrNotFound)
}

func TestHTTPOptions_HeaderAuth_AllowCredentials(t *testing.T) {
	s := restest.Start(t, htHeaderAuth("vault.method"))
	s.HTTPRequest("OPTIONS", "/api/test/model", nil, nil).GetResponse().
		AssertResponse(http.StatusOK, nil).
		AssertHeader("Access-Control-Allow-Credentials", "true").
		AssertHeader("Access-Control-Allow-Origin", "*")
	// No auth request for a preflight.
	s.AssertNoRequest()
}

// TestHTTP_CORS covers the CORS headers of GET and POST, and the refusal
// of a disallowed origin.
func TestHTTP_CORS(t *testing.T) {
	model := rqRaw(rqModel)
	tbl := []struct {
		origin      string
		allowOrigin string
		status      int
		acao        string
		vary        bool
	}{
		{"http://localhost", "*", http.StatusOK, "*", false},
		{"http://localhost", "http://localhost", http.StatusOK, "http://localhost", true},
		{"HTTP://LocalHost", "http://localhost", http.StatusOK, "HTTP://LocalHost", true},
		{"https://resgate.io", "http://localhost;https://resgate.io", http.StatusOK, "https://resgate.io", true},
		{"http://example.com", "http://localhost;https://resgate.io", http.StatusForbidden, "http://localhost", true},
		{"http://localhost:8080", "http://localhost", http.StatusForbidden, "http://localhost", true},
		{"", "*", http.StatusOK, "*", false},
		{"", "http://localhost", http.StatusOK, "", false},
		{"null", "http://localhost", http.StatusOK, "", false},
	}
	for _, method := range []string{"GET", "POST"} {
		for _, l := range tbl {
			t.Run(method+" "+l.allowOrigin+" "+l.origin, func(t *testing.T) {
				t.Parallel()
				s := restest.Start(t, htAllowOrigin(t, l.allowOrigin))
				h := http.Header{}
				if l.origin != "" {
					h.Set("Origin", l.origin)
				}
				path := "/api/test/model"
				if method == "POST" {
					path += "/method"
				}
				replies := map[string]string{
					"access.test.model":      `{"result":{"get":true,"call":"*"}}`,
					"get.test.model":         `{"result":{"model":` + rqModel + `}}`,
					"call.test.model.method": `{"result":` + rqModel + `}`,
				}
				resp, subjects := s.HTTPRequest(method, path, nil, h).GetResponseServing(replies)
				if l.status == http.StatusOK {
					resp.AssertResponse(http.StatusOK, model)
				} else {
					resp.AssertError(http.StatusForbidden, &resproto.Error{Code: resproto.CodeForbidden, Message: "Forbidden origin"})
					if len(subjects) > 0 {
						t.Fatalf("expected no service request, got %v", subjects)
					}
				}
				resp.AssertHeader("Access-Control-Allow-Credentials")
				if l.acao == "" {
					resp.AssertHeader("Access-Control-Allow-Origin")
				} else {
					resp.AssertHeader("Access-Control-Allow-Origin", l.acao)
				}
				if l.vary {
					resp.AssertHeader("Vary", "Origin")
				} else {
					resp.AssertHeader("Vary")
				}
			})
		}
	}
}

// TestHTTPOptions_CurlPreflight is a browser's preflight as curl sends it.
func TestHTTPOptions_CurlPreflight(t *testing.T) {
	s := restest.Start(t, htAllowOrigin(t, "https://app.example.com;http://localhost:3000"), htMapAll("set", "", ""))
	resp := s.Curl("-X", "OPTIONS",
		"-H", "Origin: http://localhost:3000",
		"-H", "Access-Control-Request-Method: PUT",
		"-H", "Access-Control-Request-Headers: content-type,authorization",
		"/api/test/model").GetResponse()
	resp.AssertResponse(http.StatusOK, nil).
		AssertHeader("Access-Control-Allow-Origin", "http://localhost:3000").
		AssertHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS, POST, PUT").
		AssertHeader("Access-Control-Allow-Headers", "content-type,authorization").
		AssertHeader("Vary", "Origin")
	resp = s.Curl("-H", "Origin: http://evil.example.com", "/api/test/model").GetResponse()
	resp.AssertError(http.StatusForbidden, &resproto.Error{Code: resproto.CodeForbidden, Message: "Forbidden origin"}).
		AssertHeader("Access-Control-Allow-Origin", "http://localhost:3000")
	s.AssertNoRequest()
}
