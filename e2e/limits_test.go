package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// waitLog waits until the session's log matches re, and returns the line.
func waitLog(t *testing.T, s *restest.Session, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(restest.Timeout)
	for {
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			if rx.MatchString(line) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s in:\n%s", re, s.Logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLimits_Keepalive: with pings on, a client that answers them (any
// client that reads: pongs are sent by the WebSocket layer) stays
// connected, while one that does not (a vanished peer) is closed once the
// pong timeout has passed, with a log line naming the connection and the
// listener.
func TestLimits_Keepalive(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) {
		// A pong timeout long enough that a live client's pongs always
		// make it, however loaded the machine.
		c.PingInterval = 100 * time.Millisecond
		c.PongTimeout = time.Second
	}))
	tests := []struct {
		name      string
		reads     bool
		wantAlive bool
	}{
		{"answers pings", true, true},
		{"dead peer", false, false},
	}
	type conn struct {
		ws     *websocket.Conn
		pings  chan struct{}
		closed chan error
	}
	conns := make([]conn, len(tests))
	for i, tt := range tests {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		c := conn{ws: ws, pings: make(chan struct{}, 100), closed: make(chan error, 1)}
		ws.SetPingHandler(func(data string) error {
			select {
			case c.pings <- struct{}{}:
			default:
			}
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		if tt.reads {
			go func() {
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						c.closed <- err
						return
					}
				}
			}()
		}
		conns[i] = c
	}
	s.WaitConnCount(len(tests))
	// The dead peer goes once its pong timeout has passed; meanwhile the
	// live client has answered several pings.
	s.WaitConnCount(1)
	for i, tt := range tests {
		c := conns[i]
		if !tt.wantAlive {
			continue
		}
		select {
		case err := <-c.closed:
			t.Fatalf("%s: closed: %v", tt.name, err)
		default:
		}
		if len(c.pings) < 3 {
			t.Errorf("%s: %d pings before the dead peer's 1s pong timeout, at a 100ms interval", tt.name, len(c.pings))
		}
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`)); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
	}
	line := waitLog(t, s, `client did not answer a ping`)
	for _, want := range []string{"listener=test", "cid=", "pongTimeout=1s"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	// The dead peer, reading at last, finds the going-away close frame, or
	// the connection reset when its pending pongs met a closed socket.
	dead := conns[1].ws
	dead.SetReadDeadline(time.Now().Add(restest.Timeout))
	for {
		_, _, err := dead.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && (ce.Code != websocket.CloseGoingAway || ce.Text != "keepalive timeout") {
			t.Fatalf("dead peer closed with %v, want 1001 keepalive timeout", err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("dead peer's connection still open")
		}
		break
	}
}

// TestLimits_HTTP: each HTTP limit, when hit, gets the client a clear
// status (or, for headers that never complete, a closed connection) and
// the gateway a log line, and leaves a WebSocket client of the same
// listener undisturbed.
func TestLimits_HTTP(t *testing.T) {
	const limit = 300 * time.Millisecond
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) {
		c.ReadHeaderTimeout = limit
		c.ReadTimeout = limit
		c.IdleTimeout = limit
		c.MaxHeaderBytes = 1024
		c.MaxBodySize = 16
	}))
	other := s.Connect()
	other.Version("1.2.3")
	tests := []struct {
		name string
		// send is written on a fresh TCP connection.
		send string
		// wantStatus is the start of the response's status line; empty
		// wants the connection closed without a response.
		wantStatus string
		// wantLog is a regular expression the log must match; empty for
		// none.
		wantLog string
		// idle: after the response, the kept-alive connection must be
		// closed once idle for IdleTimeout.
		idle bool
	}{
		{
			name:    "slow headers (slowloris)",
			send:    "GET /api/test/model HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
			wantLog: `level=WARN msg="HTTP connection closed: request headers not received in time" listener=test readHeaderTimeout=300ms`,
		},
		{
			name:       "slow body",
			send:       "POST /api/test/model/set HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"a\":",
			wantStatus: "HTTP/1.1 408 ",
			wantLog:    `msg="HTTP request body not received in time" listener=test readTimeout=300ms method=POST`,
		},
		{
			name:       "body too large",
			send:       "POST /api/test/model/set HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\n{\"a\":\"0123456789abcdef\"}",
			wantStatus: "HTTP/1.1 413 ",
			wantLog:    `msg="HTTP request body too large" listener=test maxBodySize=16 method=POST`,
		},
		{
			// net/http allows 4 KiB beyond MaxHeaderBytes.
			name:       "headers too large",
			send:       "GET /api/test/model HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 8<<10) + "\r\n\r\n",
			wantStatus: "HTTP/1.1 431 ",
		},
		{
			name:       "idle keep-alive connection",
			send:       "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: "HTTP/1.1 404 ",
			idle:       true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The clock starts before the dial: the gateway's header
			// timer starts after it.
			start := time.Now()
			// slack is how much sooner than the limit the close may come
			// by this test's clock.
			slack := 10 * time.Millisecond
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(restest.Timeout))
			br := bufio.NewReader(c)
			if tt.wantStatus != "" {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				if got := resp.Proto + " " + resp.Status; !strings.HasPrefix(got, tt.wantStatus) {
					t.Fatalf("status %q, want %q", got, tt.wantStatus)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// The idle timer started when the response was written,
				// a moment before it was read here.
				start, slack = time.Now(), limit/2
			}
			if tt.wantStatus == "" || tt.idle {
				// The gateway closes the connection after the limit.
				if n, err := br.Read(make([]byte, 1)); err == nil || n > 0 {
					t.Fatalf("connection not closed: read %d bytes, %v", n, err)
				} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("connection not closed")
				}
				if d := time.Since(start); d < limit-slack {
					t.Fatalf("closed after %v, before the %v limit", d, limit)
				}
			}
			if tt.wantLog != "" {
				waitLog(t, s, tt.wantLog)
			}
			s.AssertNoRequest()
			other.Version("1.2.3")
		})
	}
}

// TestLimits_SubscriptionsPerResource: over the limit of direct
// subscriptions to one resource, a subscribe gets Resgate's
// system.subscriptionLimitExceeded, logged with the connection and the
// listener; the connection and its other subscriptions go on.
func TestLimits_SubscriptionsPerResource(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.SubscriptionLimit = 2 }))
	c := s.Connect()
	c.Version("1.2.3")
	req := c.Request("subscribe.test.model", nil)
	rs := s.GetRequests(2)
	rs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	rs.BySubject(t, "get.test.model").RespondSuccess(map[string]any{"model": map[string]any{"n": 1}})
	req.GetResponse()
	c.Request("subscribe.test.model", nil).GetResponse()
	c.Request("subscribe.test.model", nil).GetResponse().AssertError("system.subscriptionLimitExceeded", "Subscription limit exceeded")
	line := waitLog(t, s, `msg="subscription limit exceeded"`)
	for _, want := range []string{"level=INFO", "listener=test", "cid=", "rid=test.model", "subscriptionsPerResource=2"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	// Unsubscribing one makes room again.
	c.Request("unsubscribe.test.model", nil).GetResponse().AssertNoResult()
	if resp := c.Request("subscribe.test.model", nil).GetResponse(); resp.Error != nil {
		t.Fatalf("subscribe after unsubscribe: %s", resp.Raw)
	}
}

// TestLimits_SubscriptionsPerConnection: a connection may subscribe
// directly to a limited number of distinct resources; the next new one
// gets system.subscriptionLimitExceeded, logged with the connection. A
// resource it already holds may be subscribed again, resources held
// through references do not count, and unsubscribing one makes room.
func TestLimits_SubscriptionsPerConnection(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.ResourceLimit = 2 }))
	c := s.Connect()
	// test.model.parent references test.model: one direct resource.
	fxSubscribe(t, s, c, "test.model.parent", false, "test.model").AssertResult(fxSet("test.model.parent", "test.model"))
	// test.model is held through the reference; subscribing to it directly
	// makes it the second.
	fxSubscribe(t, s, c, "test.model", true)
	c.Request("subscribe.test.collection", nil).GetResponse().AssertError("system.subscriptionLimitExceeded", "Subscription limit exceeded")
	c.Request("get.test.collection", nil).GetResponse().AssertError("system.subscriptionLimitExceeded", "Subscription limit exceeded")
	line := waitLog(t, s, `msg="resource limit exceeded: too many resources subscribed"`)
	for _, want := range []string{"level=INFO", "listener=test", "cid=", "resources=2", "subscriptionsPerConnection=2"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	// A resource already held directly counts once.
	if resp := c.Request("subscribe.test.model", nil).GetResponse(); resp.Error != nil {
		t.Fatalf("second subscription of a held resource: %s", resp.Raw)
	}
	// Unsubscribing test.model entirely (twice) makes room.
	c.Request("unsubscribe.test.model", map[string]any{"count": 2}).GetResponse().AssertNoResult()
	fxSubscribe(t, s, c, "test.collection", false).AssertResult(fxSet("test.collection"))
}

// TestDrain_ClosesClientsGradually: Drain sends every WebSocket client a
// going-away close frame, one after another spread over the window rather
// than all at once, and refuses new upgrades meanwhile.
func TestDrain_ClosesClientsGradually(t *testing.T) {
	s := restest.Start(t)
	const n = 5
	const window = 500 * time.Millisecond
	closedAt := make(chan time.Duration, n)
	var start time.Time
	started := make(chan struct{})
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		// A reply shows the connection is fully set up.
		ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`))
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _, err := ws.ReadMessage()
			<-started
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
				t.Errorf("closed with %v, want 1001", err)
			}
			closedAt <- time.Since(start)
		}()
	}
	s.WaitConnCount(n)
	start = time.Now()
	close(started)
	done := make(chan struct{})
	go func() {
		s.HTTP.Drain(context.Background(), window)
		close(done)
	}()
	var times []time.Duration
	next := func() {
		t.Helper()
		select {
		case d := <-closedAt:
			times = append(times, d)
		case <-time.After(restest.Timeout):
			t.Fatal("not every client closed")
		}
	}
	// New upgrades are refused from the moment draining begins, before
	// the first client is closed.
	next()
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade during drain: %v, want 503", err)
	}
	for range n - 1 {
		next()
	}
	<-done
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	// Client i is closed at window*i/n: the first at once, the last at
	// 400ms. Scheduling on a loaded machine only delays.
	if times[0] > window/2 {
		t.Errorf("first client closed after %v, want at once", times[0])
	}
	if last := times[n-1]; last < window*(n-1)/n-50*time.Millisecond {
		t.Errorf("last client closed after %v, want about %v: not spread over the window (%v)", last, window*(n-1)/n, times)
	}
	waitLog(t, s, `msg="Closing WebSocket clients gradually" listener=test clients=5 window=500ms`)
}

// TestLimits_WriteTimeout: a client that stops reading while it is sent
// more than its socket buffers hold is closed once a write has waited
// WriteTimeout, with a log line naming it; a client beside it still gets
// every event.
func TestLimits_WriteTimeout(t *testing.T) {
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) {
		c.WriteTimeout = 200 * time.Millisecond
		c.WriteQueue = 1 << 20 // only the timeout can close it
	}))
	other := s.Connect()
	req := other.Request("subscribe.test.model", nil)
	rs := s.GetRequests(2)
	rs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	rs.BySubject(t, "get.test.model").RespondSuccess(map[string]any{"model": map[string]any{"n": 0}})
	req.GetResponse()

	stalled := scDial(t, s, 4096)
	scSend(t, stalled, `{"id":1,"method":"subscribe.test.model"}`)
	acc := s.GetRequest().AssertSubject("access.test.model")
	cid, _ := acc.PathPayload("cid").(string)
	acc.RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()

	pad := strings.Repeat("x", 64<<10)
	const events = 200 // 12.5 MiB: more than socket buffers hold
	for i := range events {
		s.Event("test.model", "custom", map[string]any{"i": i, "pad": pad})
	}
	for i := range events {
		ev := other.GetEvent().AssertEventName("test.model.custom")
		if n, _ := ev.Data.(map[string]any)["i"].(float64); int(n) != i {
			t.Fatalf("other client: event %v, want %d", ev.Data.(map[string]any)["i"], i)
		}
	}
	line := waitLog(t, s, `msg="client write timed out, closing".*cid=`+cid)
	for _, want := range []string{"listener=test", "writeTimeout=200ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	s.WaitConnCount(1)
}
