package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// An httpStep is an HTTP request to the gateway, or a WebSocket handshake
// (ws). Its transcript records the status code, the response headers
// except those that differ between runs, and the body as canonical JSON.
type httpStep struct {
	method string
	path   string // raw request target, sent as is
	header http.Header
	body   *string
	ws     bool
}

// hreq is an HTTP request step; headers are "Name: value" strings.
func hreq(method, path string, headers ...string) step {
	return step{http: &httpStep{method: method, path: path, header: parseHeaders(headers)}}
}

// hbody is an HTTP request step with a body.
func hbody(method, path, body string, headers ...string) step {
	st := hreq(method, path, headers...)
	st.http.body = &body
	return st
}

// wsDial is a WebSocket handshake step: the client closes the connection
// as soon as it is upgraded.
func wsDial(path string, headers ...string) step {
	return step{http: &httpStep{method: "WS", path: path, header: parseHeaders(headers), ws: true}}
}

func parseHeaders(hs []string) http.Header {
	h := http.Header{}
	for _, s := range hs {
		k, v, _ := strings.Cut(s, ": ")
		h.Add(k, v)
	}
	return h
}

func (h *httpStep) String() string {
	s := "http -> " + h.method + " " + h.path
	if len(h.header) > 0 {
		b, _ := json.Marshal(h.header)
		s += " " + string(b)
	}
	if h.body != nil {
		s += " body " + *h.body
	}
	return s + "\n"
}

// ignoredHeaders differ between runs, or between two correct responses.
var ignoredHeaders = map[string]bool{
	"Date":                 true,
	"Content-Length":       true, // bodies are compared as JSON
	"Sec-Websocket-Accept": true, // derived from the random key
}

// startHTTP sends the request in the background; quiet waits for it.
func (w *world) startHTTP(addr string, h *httpStep) {
	w.mu.Lock()
	w.httpPending++
	w.touch()
	w.mu.Unlock()
	go func() {
		var res string
		if h.ws {
			res = dialWS(addr, h)
		} else {
			var body []byte
			if h.body != nil {
				body = []byte(*h.body)
			}
			resp, err := restest.SendRawHTTP(addr, h.method, restest.RawHTTPRequest(addr, h.method, h.path, body, h.header))
			if err != nil {
				res = "error: " + err.Error()
			} else {
				res = renderHTTP(resp.StatusCode, resp.Header, resp.Body)
			}
		}
		w.mu.Lock()
		w.httpResults = append(w.httpResults, res)
		w.httpPending--
		w.touch()
		w.mu.Unlock()
	}()
}

func dialWS(addr string, h *httpStep) string {
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+h.path, h.header)
	if ws != nil {
		ws.Close()
	}
	if resp == nil {
		return "error: " + err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	return renderHTTP(resp.StatusCode, resp.Header, body)
}

func renderHTTP(status int, header http.Header, body []byte) string {
	keys := make([]string, 0, len(header))
	for k := range header {
		// resedge adds Allow to its 405 responses, as RFC 9110 requires;
		// Resgate sends none. A deliberate difference, left out here and
		// tested in e2e/http_post_test.go.
		if k == "Allow" && status == http.StatusMethodNotAllowed {
			continue
		}
		if !ignoredHeaders[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", status)
	for _, k := range keys {
		v, _ := json.Marshal(header[k])
		fmt.Fprintf(&b, "\n    %s: %s", k, v)
	}
	if len(body) > 0 {
		b.WriteString("\n    body " + canonicalJSON(body))
	}
	return b.String()
}

func (w *world) normalizeHTTP(s string) string {
	for cid, i := range w.cids {
		s = strings.ReplaceAll(s, cid, fmt.Sprintf("{cid:%d}", i))
	}
	return s
}

// publishToken publishes conn.<cid>.token with payload, cid being that of
// the request whose payload is data.
func publishToken(svc *nats.Conn, data []byte, payload string) {
	var r struct {
		CID string `json:"cid"`
	}
	if json.Unmarshal(data, &r) != nil || r.CID == "" {
		return
	}
	svc.Publish("conn."+r.CID+".token", []byte(payload))
	svc.Flush()
}
