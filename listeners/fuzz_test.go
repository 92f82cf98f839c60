package listeners

// Fuzz targets for what clients send the HTTP listener: API paths (resource
// IDs and queries) and whole HTTP API requests. Run one with, for instance:
//
//	go test -run x -fuzz FuzzAPIPath -fuzztime 30s ./listeners/

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/resproto"
)

var fuzzPathSeeds = []string{
	"/api/example/model",
	"/api/example/model?q=1&b=2",
	"/api//example/model",
	"/api/",
	"/api",
	"/api/a%2Fb/c",
	"/api/a%3Fb",
	"/api/a.b",
	"/api/a%2Eb",
	"/api/%zz",
	"/api/a/b/method",
	"/api/~!@$&'()*+,;=:",
	"/api/\x00",
	"/api/ä/ö",
	"/other/a",
}

// FuzzAPIPath: mapping a URL path to a resource ID (and method) never
// panics; a valid resource ID maps to a path that maps back to it; and the
// path a resource ID maps to is one the listener routes to the API.
func FuzzAPIPath(f *testing.F) {
	for _, s := range fuzzPathSeeds {
		f.Add(s, "/api/")
	}
	f.Add("/v1/x/y", "/v1/")
	f.Add("/x", "/")
	f.Fuzz(func(t *testing.T, target, prefix string) {
		if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
			return
		}
		path, query, _ := strings.Cut(target, "?")
		rid := pathToRID(path, query, prefix)
		prid, method := pathToRIDMethod(path, query, prefix)
		// A call's resource is the resource path without its last part.
		// (A part may hold an escaped '?', so the query is cut off by
		// what it is, not at the first '?'.)
		q := ""
		if query != "" {
			q = "?" + query
		}
		if rid != "" && prid != "" && strings.TrimSuffix(rid, q) != strings.TrimSuffix(prid, q)+"."+method {
			t.Fatalf("%q: resource %q, call on %q.%q", target, rid, prid, method)
		}
		// Round trip from valid resource IDs, whatever their query.
		for _, r := range []string{rid, prid} {
			if !resproto.IsValidRID(r) {
				continue
			}
			p := ridToPath(r, prefix)
			if !strings.HasPrefix(p, prefix) {
				t.Fatalf("ridToPath(%q, %q) = %q: outside the prefix", r, prefix, p)
			}
			if back := pathToRID(p, "", prefix); back != r {
				t.Fatalf("%q: ridToPath(%q) = %q maps back to %q", target, r, p, back)
			}
			if _, err := url.ParseRequestURI(p); err != nil {
				t.Fatalf("ridToPath(%q) = %q: not a request URI: %v", r, p, err)
			}
		}
	})
}

// FuzzAPIRequest: any HTTP API request (method, request target, headers,
// body) is answered, with a valid JSON body when there is one, without a
// panic. There are no services, so requests that pass the checks end in
// system.notFound.
func FuzzAPIRequest(f *testing.F) {
	for _, s := range []struct{ method, target, header, body string }{
		{"GET", "/api/example/model", "", ""},
		{"HEAD", "/api/example/model?q=1", "", ""},
		{"POST", "/api/example/model/set", "Content-Type: application/json", `{"a":1}`},
		{"POST", "/api/example/model/set", "", `{"a":`},
		{"POST", "/api/example/model/set", "", strings.Repeat("x", 300)},
		{"PUT", "/api/example/model", "", `1`},
		{"DELETE", "/api/example/model", "", ``},
		{"PATCH", "/api/example/model", "", `null`},
		{"OPTIONS", "/api/example/model", "Origin: http://a.example\nAccess-Control-Request-Method: PUT", ""},
		{"GET", "/api/example/model", "Origin: null", ""},
		{"GET", "/api/a.b", "", ""},
		{"GET", "/api/%zz", "", ""},
		{"GET", "/", "", ""},
		{"BREW", "/api/pot", "", ""},
		{"GET", "*", "", ""},
	} {
		f.Add(s.method, s.target, s.header, []byte(s.body))
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		f.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		f.Fatal("nats server not ready")
	}
	f.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(nc.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := resproto.New(nc, resproto.Config{RequestTimeout: time.Second, UnsubscribeDelay: -1, Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	h, err := NewHTTP(e, HTTPConfig{
		Name: "fuzz", Logger: log, MaxBodySize: 256, RequestWait: time.Second,
		PutMethod: "set", DeleteMethod: "delete", PatchMethod: "patch",
		AllowOrigin: []string{"http://a.example"}, Resources: []string{"example.>", "a.*"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") || !strings.HasPrefix(target, "/") && target != "*" {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{
			Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "fuzz", RemoteAddr: "127.0.0.1:1",
			Body: io.NopCloser(strings.NewReader(string(body))), ContentLength: int64(len(body)),
		}
		for _, line := range strings.Split(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				r.Header.Add(k, strings.TrimSpace(v))
			}
		}
		r = r.WithContext(t.Context())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		if res.StatusCode < 200 || res.StatusCode > 599 {
			t.Fatalf("%s %s: status %d", method, target, res.StatusCode)
		}
		b := w.Body.Bytes()
		if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && !json.Valid(b) {
			t.Fatalf("%s %s: invalid JSON body %q", method, target, b)
		}
	})
}
