package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

func TestWebSocket_AllowOrigin(t *testing.T) {
	tbl := []struct {
		name    string
		allowed []string // nil: any
		origin  string
		ok      bool
	}{
		{"any origin with *", nil, "http://example.com", true},
		{"no origin header", []string{"http://allowed.com"}, "", true},
		{"null origin", []string{"http://allowed.com"}, "null", true},
		{"matching origin", []string{"http://allowed.com"}, "http://allowed.com", true},
		{"matching is case-insensitive", []string{"http://allowed.com"}, "HTTP://Allowed.COM", true},
		{"second of two origins", []string{"http://a.com", "https://b.com:8443"}, "https://b.com:8443", true},
		{"mismatching origin", []string{"http://allowed.com"}, "http://evil.com", false},
		{"port matters", []string{"http://allowed.com"}, "http://allowed.com:8080", false},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.AllowOrigin = l.allowed }))
			h := http.Header{}
			if l.origin != "" {
				h.Set("Origin", l.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", h)
			if l.ok {
				if err != nil {
					t.Fatalf("expected to connect, got %v", err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("expected the upgrade to be refused")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("expected 403, got %v", resp)
			}
		})
	}
}

func TestWebSocket_ParseAllowOrigin(t *testing.T) {
	tbl := []struct {
		in   string
		want []string
		err  bool
	}{
		{"*", nil, false},
		{"", nil, false},
		{"http://a.com", []string{"http://a.com"}, false},
		{"https://B.com;http://a.com:80", []string{"http://a.com:80", "https://b.com"}, false},
		{"http://a.com/", nil, true},
		{"http://a.com/path", nil, true},
		{"a.com", nil, true},
		{"http://a.com;", nil, true},
		{"*;http://a.com", nil, true},
		{"http://user@a.com", nil, true},
		{"http://a.com?x=1", nil, true},
	}
	for _, l := range tbl {
		got, err := listeners.ParseAllowOrigin(l.in)
		if l.err {
			if err == nil {
				t.Errorf("ParseAllowOrigin(%q): expected an error, got %v", l.in, got)
			}
			continue
		}
		if err != nil || strings.Join(got, ";") != strings.Join(l.want, ";") || (got == nil) != (l.want == nil) {
			t.Errorf("ParseAllowOrigin(%q) = %v, %v; want %v", l.in, got, err, l.want)
		}
	}
}

func TestWebSocket_Paths(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.WSPath = "/ws" }))
	c := s.ConnectWith(nil, "/ws")
	c.Version("1.2.3")

	// The root path is not the WebSocket path any more: 404 with a RES error.
	resp, err := http.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || string(body) != `{"code":"system.notFound","message":"Not found"}` {
		t.Fatalf("GET /: expected 404 system.notFound, got %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("expected a JSON content type, got %q", ct)
	}

	// A request target of "*" gets 400 (OPTIONS * is answered by net/http itself) and the connection closed.
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET * HTTP/1.1\r\nHost: " + s.Addr + "\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(restest.Timeout))
	raw, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(raw), "HTTP/1.1 400") || !strings.Contains(string(raw), "Connection: close") {
		t.Fatalf("GET *: expected 400 with Connection: close, got %q", raw)
	}
}

func TestWebSocket_Compression(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.WSCompression = true }))
	d := websocket.Dialer{EnableCompression: true}
	ws, resp, err := d.Dial("ws://"+s.Addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("expected permessage-deflate to be negotiated, got %q", ext)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"subscribe.test.model"}`))
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	long := strings.Repeat("compressible ", 200)
	reqs.BySubject(t, "get.test.model").RespondModel(map[string]any{"text": long})
	ws.SetReadDeadline(time.Now().Add(restest.Timeout))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !restest.JSONEqual(msg, map[string]any{"id": 1, "result": map[string]any{"models": map[string]any{"test.model": map[string]any{"text": long}}}}) {
		t.Fatalf("unexpected reply %s", msg)
	}
	// An event fanned out through a prepared message reaches the client too.
	s.Event("test.model", "custom", map[string]any{"text": long})
	_, msg, err = ws.ReadMessage()
	if err != nil || !restest.JSONEqual(msg, map[string]any{"event": "test.model.custom", "data": map[string]any{"text": long}}) {
		t.Fatalf("unexpected event %s (%v)", msg, err)
	}
}

func TestWebSocket_Shutdown_SendsGoingAway(t *testing.T) {
	s := restest.Start(t)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// Make sure the connection is registered before shutting down.
	ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`))
	ws.SetReadDeadline(time.Now().Add(restest.Timeout))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.HTTP.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("expected a going-away close frame, got %v", err)
	}
}

func TestWebSocket_MessageTooLarge_ClosesOnlyThatClient(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) { c.MaxMessageSize = 1024 }))
	other := s.Connect()
	other.Version("1.2.3")

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	big := `{"id":1,"method":"call.test.model.set","params":"` + strings.Repeat("x", 2000) + `"}`
	ws.WriteMessage(websocket.TextMessage, []byte(big))
	ws.SetReadDeadline(time.Now().Add(restest.Timeout))
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("expected close 1009 (message too big), got %v", err)
	}
	s.AssertNoRequest()
	// The other client is unaffected.
	other.Request("version", map[string]string{"protocol": "1.2.3"}).GetResponse().AssertResult(map[string]string{"protocol": resproto.Protocol})
	if !strings.Contains(s.Logs.String(), "client message too large") {
		t.Fatalf("expected a log line about the message size, got:\n%s", s.Logs.String())
	}
}
