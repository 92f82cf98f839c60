package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
)

// get returns the status and body of a GET on the session's listener.
func get(t *testing.T, s *restest.Session, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// upgrade tries a WebSocket upgrade at path and returns the HTTP status
// (101 when it succeeded; the connection is closed at the end of the test).
func upgrade(t *testing.T, s *restest.Session, path string) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+path, nil)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return resp.StatusCode
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return resp.StatusCode
}

// TestListenerOptions_WSPaths: a listener serves WebSocket clients on each
// of its paths, and nowhere else.
func TestListenerOptions_WSPaths(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.WSPaths = []string{"/ws", "/v2/ws"} }))
	for _, p := range []string{"/ws", "/v2/ws"} {
		c := s.ConnectWith(nil, p)
		c.Version("1.2.3")
	}
	if status := upgrade(t, s, "/"); status != http.StatusNotFound {
		t.Fatalf("upgrade at /: status %d, want 404", status)
	}
}

// TestListenerOptions_NoWebSocketNoAPI: a listener can serve the HTTP API
// only, or WebSocket only; the other's paths are 404.
func TestListenerOptions_NoWebSocketNoAPI(t *testing.T) {
	apiOnly := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.NoWebSocket = true }))
	if status := upgrade(t, apiOnly, "/"); status != http.StatusNotFound {
		t.Fatalf("API only: upgrade status %d, want 404", status)
	}
	wsOnly := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.NoAPI = true }))
	wsOnly.Connect().Version("1.2.3")
	if status, body := get(t, wsOnly, "/api/test/model"); status != http.StatusNotFound || body != `{"code":"system.notFound","message":"Not found"}` {
		t.Fatalf("WebSocket only: GET /api/test/model = %d %s, want 404 system.notFound", status, body)
	}
	wsOnly.AssertNoRequest()
}

// TestListenerOptions_MaxConnections: over the cap, WebSocket upgrades get
// 503 and a log line; a slot freed is usable again; HTTP API requests are
// not counted.
func TestListenerOptions_MaxConnections(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.MaxConnections = 2 }))
	a := s.Connect()
	a.Version("1.2.3")
	b := s.Connect()
	b.Version("1.2.3")
	for range 3 {
		if status := upgrade(t, s, "/"); status != http.StatusServiceUnavailable {
			t.Fatalf("third connection: status %d, want 503", status)
		}
	}
	if n := strings.Count(s.Logs.String(), "connection limit reached"); n != 1 {
		t.Errorf("%d log lines about the limit, want 1 (rate-limited):\n%s", n, s.Logs.String())
	}

	// HTTP API requests still work.
	req := s.HTTPRequest("GET", "/api/test/model", nil, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").RespondModel(map[string]any{"n": 1})
	req.GetResponse().AssertStatus(http.StatusOK)

	// A client leaving frees its slot.
	a.Close()
	deadline := time.Now().Add(restest.Timeout)
	for upgrade(t, s, "/") != http.StatusSwitchingProtocols {
		if time.Now().After(deadline) {
			t.Fatal("the slot of a closed connection was not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
