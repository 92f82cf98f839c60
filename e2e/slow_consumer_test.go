package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/listeners"
)

// scDial opens a bare WebSocket connection to the session. rcvBuf, when
// positive, shrinks the socket's kernel receive buffer before the
// handshake, so that a client that never reads stalls the gateway's
// writes after little data.
func scDial(t *testing.T, s *restest.Session, rcvBuf int) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		HandshakeTimeout: restest.Timeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			conn, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if rcvBuf > 0 {
				if err := conn.(*net.TCPConn).SetReadBuffer(rcvBuf); err != nil {
					conn.Close()
					return nil, err
				}
			}
			return conn, nil
		},
	}
	ws, _, err := d.Dial("ws://"+s.Addr+"/", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// scSend writes a text frame.
func scSend(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("client write: %v", err)
	}
}

// scRead reads one message within the test timeout.
func scRead(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(restest.Timeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	return string(data)
}

// A client that never reads must not hold up the events to other clients:
// every write to it goes through its own bounded queue. Once its kernel
// socket buffers are full and the queue overflows, it is closed as a slow
// consumer, and the overflow is logged.
//
// Not parallel: it moves a lot of data, and would slow down the tests
// running beside it.
func TestSlowConsumer_DoesNotDelayOthersAndIsClosed(t *testing.T) {
	const (
		fast      = 100
		events    = 300
		size      = 64 << 10
		queueSize = 16
		batchSize = 8
	)
	s := restest.Start(t, restest.WithHTTP(func(c *listeners.HTTPConfig) {
		c.WriteQueue = queueSize
		// Long enough that only the queue overflow can close the slow
		// client within the test, and a write blocked on it would show.
		c.WriteTimeout = time.Minute
	}))

	// The fast clients subscribe to test.model.
	clients := make([]*websocket.Conn, fast)
	for i := range clients {
		clients[i] = scDial(t, s, 0)
		scSend(t, clients[i], `{"id":1,"method":"subscribe.test.model"}`)
	}
	for _, r := range s.GetRequests(fast + 1) {
		switch r.Subject {
		case "access.test.model":
			r.RespondSuccess(map[string]any{"get": true})
		case "get.test.model":
			r.RespondModel(map[string]any{"name": "model"})
		default:
			t.Fatalf("unexpected request %s", r.Subject)
		}
	}
	for _, ws := range clients {
		if msg := scRead(t, ws); !strings.HasPrefix(msg, `{"result":`) {
			t.Fatalf("expected a subscribe result, got %s", msg)
		}
	}

	// The slow client subscribes too, and then never reads.
	slow := scDial(t, s, 4096)
	scSend(t, slow, `{"id":1,"method":"subscribe.test.model"}`)
	acc := s.GetRequest().AssertSubject("access.test.model")
	slowCID, _ := acc.PathPayload("cid").(string)
	acc.RespondSuccess(map[string]any{"get": true})
	s.AssertNoRequest()

	// Each fast client checks that it gets every event, in order, and
	// counts them.
	var wg sync.WaitGroup
	errs := make(chan error, fast)
	counts := make([]atomic.Int64, fast)
	prefix := []byte(`{"event":"test.model.custom","data":{"seq":`)
	for i, ws := range clients {
		wg.Add(1)
		go func(i int, ws *websocket.Conn) {
			defer wg.Done()
			head := make([]byte, len(prefix)+8)
			for seq := 0; seq < events; seq++ {
				ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, r, err := ws.NextReader()
				if err != nil {
					errs <- fmt.Errorf("client %d, event %d: %v", i, seq, err)
					return
				}
				n, _ := io.ReadFull(r, head)
				want := append(append([]byte(nil), prefix...), strconv.Itoa(seq)+","...)
				if !bytes.HasPrefix(head[:n], want) {
					errs <- fmt.Errorf("client %d: expected event %d, got %s…", i, seq, head[:n])
					return
				}
				rest, _ := io.Copy(io.Discard, r)
				if got := int64(n) + rest; got < size {
					errs <- fmt.Errorf("client %d, event %d: message of %d bytes", i, seq, got)
					return
				}
				counts[i].Add(1)
			}
		}(i, ws)
	}

	// The events go out in batches no larger than the write queue, each
	// once the fast clients have had the one before: they keep up, while
	// the slow client falls further behind with every batch.
	pad := strings.Repeat("x", size)
	start := time.Now()
	var slowest time.Duration
	closedAt := -1 // events sent when the slow client was seen closed
	for seq := 0; seq < events; {
		batch := time.Now()
		for end := min(seq+batchSize, events); seq < end; seq++ {
			s.Event("test.model", "custom", `{"seq":`+strconv.Itoa(seq)+`,"pad":"`+pad+`"}`)
		}
		for i := range counts {
			for counts[i].Load() < int64(seq) {
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
				if time.Since(batch) > restest.Timeout {
					t.Fatalf("client %d got %d of the first %d events within %v", i, counts[i].Load(), seq, restest.Timeout)
				}
				time.Sleep(time.Millisecond)
			}
		}
		slowest = max(slowest, time.Since(batch))
		if closedAt < 0 && strings.Contains(s.Logs.String(), "closing slow consumer") {
			closedAt = seq
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	elapsed := time.Since(start)
	t.Logf("%d clients got %d events of %d KiB in %v, the slowest batch of %d in %v", fast, events, size>>10, elapsed, batchSize, slowest)

	// The slow client was closed for its full queue, and only it, once its
	// kernel buffers had taken what they could: far more than the queue.
	if closedAt < 0 {
		t.Fatalf("slow client not closed after %d events", events)
	}
	if closedAt < 2*queueSize {
		t.Fatalf("slow client closed after %d events: before its socket buffers were full", closedAt)
	}
	t.Logf("slow client closed after %d events", closedAt)
	logs := s.Logs.String()
	var closed []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "closing slow consumer") {
			closed = append(closed, line)
		}
	}
	if len(closed) != 1 || !strings.Contains(closed[0], "cid="+slowCID) || !strings.Contains(closed[0], "level=WARN") {
		t.Fatalf("expected one slow consumer warning for cid %s, got %q", slowCID, closed)
	}
	// Its engine connection goes away with the socket.
	deadline := time.Now().Add(restest.Timeout)
	for !strings.Contains(s.Logs.String(), "msg=disconnected listener=test cid="+slowCID) {
		if time.Now().After(deadline) {
			t.Fatalf("slow client %s not disconnected:\n%s", slowCID, s.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The slow client's socket is closed: once the gateway's end is gone,
	// what the client sends is refused. (Its kernel buffers still hold
	// events it never read; with its tiny receive window the rest would
	// come only by zero-window probes, so the test does not read them.)
	deadline = time.Now().Add(restest.Timeout)
	for {
		slow.SetWriteDeadline(time.Now().Add(restest.Timeout))
		if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"id":2,"method":"version"}`)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow client: connection still open")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The others are still served.
	s.Event("test.model", "custom", `{"seq":-1}`)
	for _, ws := range clients[:3] {
		if msg := scRead(t, ws); msg != `{"event":"test.model.custom","data":{"seq":-1}}` {
			t.Fatalf("expected the last event, got %.80s", msg)
		}
	}
}
