package restest

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// WSTimeout bounds how long a WSClient waits for a message or a close: long
// enough for a real binary on a loaded machine.
const WSTimeout = 10 * time.Second

// WSClient is a bare WebSocket client of any gateway at a URL — an
// edge.Server, the resedge binary — for tests that do not run through a
// Session. Its reader decodes every message into Msgs.
type WSClient struct {
	t  testing.TB
	WS *websocket.Conn
	// Msgs receives every message the gateway sends, decoded.
	Msgs chan map[string]any
	// Closed is closed when the connection ends; Code is then the close
	// code received (0 when none was).
	Closed chan struct{}
	Code   int
	// NextID is the ID of the last request sent with Subscribe.
	NextID int
}

// DialWS connects to url, failing the test if it cannot.
func DialWS(t testing.TB, url string) *WSClient {
	t.Helper()
	c, err := TryDialWS(t, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// TryDialWS connects to url; a refused upgrade's error names its status.
// The connection is closed when the test ends.
func TryDialWS(t testing.TB, url string) (*WSClient, error) {
	return TryDialWSWith(t, &websocket.Dialer{HandshakeTimeout: WSTimeout}, url)
}

// TryDialWSWith is TryDialWS with a dialer of the caller's.
func TryDialWSWith(t testing.TB, d *websocket.Dialer, url string) (*WSClient, error) {
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			return nil, errors.New(err.Error() + " (status " + resp.Status + ")")
		}
		return nil, err
	}
	c := &WSClient{t: t, WS: ws, Msgs: make(chan map[string]any, 100), Closed: make(chan struct{})}
	t.Cleanup(func() { ws.Close() })
	go func() {
		defer close(c.Closed)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.Code = ce.Code
				}
				return
			}
			var m map[string]any
			json.Unmarshal(data, &m)
			c.Msgs <- m
		}
	}()
	return c, nil
}

// Subscribe subscribes to test.model and waits for the result.
func (c *WSClient) Subscribe() {
	c.t.Helper()
	c.NextID++
	if err := c.WS.WriteJSON(map[string]any{"id": c.NextID, "method": "subscribe.test.model"}); err != nil {
		c.t.Fatalf("subscribe: %v", err)
	}
	if m := c.Next(); m["id"] != float64(c.NextID) || m["result"] == nil {
		c.t.Fatalf("subscribe response: %v", m)
	}
}

// Next returns the next message, failing the test if the connection ends
// or none comes within WSTimeout.
func (c *WSClient) Next() map[string]any {
	c.t.Helper()
	select {
	case m := <-c.Msgs:
		return m
	case <-c.Closed:
		c.t.Fatalf("connection closed (code %d) while waiting for a message", c.Code)
	case <-time.After(WSTimeout):
		c.t.Fatal("no message")
	}
	return nil
}

// WantEvent waits for the change event of test.model setting n.
func (c *WSClient) WantEvent(n int) {
	c.t.Helper()
	data, _ := json.Marshal(c.Next())
	if string(data) != `{"data":{"values":{"n":`+strconv.Itoa(n)+`}},"event":"test.model.change"}` {
		c.t.Fatalf("want change event n=%d, got %s", n, data)
	}
}

// WantClosed waits for the gateway to close the connection with a
// going-away close frame.
func (c *WSClient) WantClosed() {
	c.t.Helper()
	select {
	case <-c.Closed:
		if c.Code != websocket.CloseGoingAway {
			c.t.Fatalf("closed with code %d, want %d (going away)", c.Code, websocket.CloseGoingAway)
		}
	case <-time.After(WSTimeout):
		c.t.Fatal("connection not closed")
	}
}
