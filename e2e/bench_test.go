package e2e

// Benchmarks on real connections: an embedded NATS server, the engine, the
// WebSocket listener, and lean gorilla WebSocket clients. A plain nats.go
// subscription plays the service. They run only with -bench:
//
//	go test -run x -bench . -benchtime 2s ./e2e/

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

const benchTimeout = 30 * time.Second

// benchSession starts the gateway with a service that grants full access
// to everything, serves bench.model as {"n":-1} and answers every call
// with {"pong":true}.
func benchSession(b *testing.B) *restest.Session {
	b.Helper()
	s := restest.Start(b, restest.WithoutService())
	sub := func(subject string, reply []byte) {
		if _, err := s.SvcNC.Subscribe(subject, func(m *nats.Msg) { m.Respond(reply) }); err != nil {
			b.Fatalf("service subscribe %s: %v", subject, err)
		}
	}
	sub("access.>", []byte(`{"result":{"get":true,"call":"*"}}`))
	sub("get.bench.model", []byte(`{"result":{"model":{"n":-1,"name":"bench"}}}`))
	sub("call.>", []byte(`{"result":{"pong":true}}`))
	if err := s.SvcNC.Flush(); err != nil {
		b.Fatalf("service flush: %v", err)
	}
	return s
}

// benchClient is a bare WebSocket client.
type benchClient struct {
	ws     *websocket.Conn
	nextID uint64
}

func dialBench(b *testing.B, s *restest.Session) *benchClient {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	c := &benchClient{ws: ws}
	b.Cleanup(func() { ws.Close() })
	mustResult(b, "version", c.request("version", `{"protocol":"1.2.3"}`))
	return c
}

// request sends a request and reads until its reply, which it returns.
// Events read on the way are dropped. Errors are returned as the reply text.
func (c *benchClient) request(method, params string) []byte {
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	msg := `{"id":` + id + `,"method":"` + method + `"`
	if params != "" {
		msg += `,"params":` + params
	}
	msg += `}`
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return []byte("write: " + err.Error())
	}
	suffix := []byte(`"id":` + id + `}`)
	c.ws.SetReadDeadline(time.Now().Add(benchTimeout))
	defer c.ws.SetReadDeadline(time.Time{})
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return []byte("read: " + err.Error())
		}
		if bytes.HasSuffix(data, suffix) {
			return data
		}
	}
}

// mustResult fails unless reply is a success.
func mustResult(b *testing.B, what string, reply []byte) {
	b.Helper()
	if !bytes.HasPrefix(reply, []byte(`{"result":`)) && !bytes.HasPrefix(reply, []byte(`{"id":`)) {
		b.Fatalf("%s: %s", what, reply)
	}
}

// BenchmarkFanout1000 measures one change event reaching 1,000 WebSocket
// clients subscribed to the same model: each iteration publishes one event
// from the service side and waits until every client has read it.
func BenchmarkFanout1000(b *testing.B) {
	const clients = 1000
	s := benchSession(b)

	conns := make([]*benchClient, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/", nil)
			if err != nil {
				errs <- fmt.Errorf("dial %d: %w", i, err)
				return
			}
			c := &benchClient{ws: ws}
			conns[i] = c
			if r := c.request("version", `{"protocol":"1.2.3"}`); !bytes.HasPrefix(r, []byte(`{"result":`)) {
				errs <- fmt.Errorf("version %d: %s", i, r)
				return
			}
			if r := c.request("subscribe.bench.model", ""); !bytes.HasPrefix(r, []byte(`{"result":{"models":`)) {
				errs <- fmt.Errorf("subscribe %d: %s", i, r)
			}
		}(i)
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.ws.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	// Readers: count the change events, and signal when the count reaches
	// the current target.
	var got, want atomic.Int64
	var bad atomic.Value
	reached := make(chan struct{}, 1)
	prefix := []byte(`{"event":"bench.model.change","data":{"values":{"n":`)
	for _, c := range conns {
		go func(ws *websocket.Conn) {
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if !bytes.HasPrefix(data, prefix) {
					bad.CompareAndSwap(nil, string(data))
				}
				if got.Add(1) == want.Load() {
					reached <- struct{}{}
				}
			}
		}(c.ws)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want.Store(int64(clients) * int64(i+1))
		payload := []byte(`{"values":{"n":` + strconv.Itoa(i) + `}}`)
		if err := s.SvcNC.Publish("event.bench.model.change", payload); err != nil {
			b.Fatalf("publish: %v", err)
		}
		select {
		case <-reached:
		case <-time.After(benchTimeout):
			b.Fatalf("event %d: %d of %d messages received", i, got.Load()-int64(clients)*int64(i), clients)
		}
	}
	b.StopTimer()
	if v := bad.Load(); v != nil {
		b.Fatalf("unexpected message: %s", v)
	}
	b.ReportMetric(float64(clients)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkCallRoundTrip measures a call from one client, one at a time:
// the gateway asks the service for access, then sends the call, and the
// client gets the reply (two NATS round trips per call).
func BenchmarkCallRoundTrip(b *testing.B) {
	s := benchSession(b)
	c := dialBench(b, s)
	mustResult(b, "warm-up call", c.request("call.bench.model.ping", `{"x":1}`))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.request("call.bench.model.ping", `{"x":1}`); !bytes.HasPrefix(r, []byte(`{"result":{"payload":{"pong":true}}`)) {
			b.Fatalf("call: %s", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkCallRoundTripSubscribed is BenchmarkCallRoundTrip on a resource
// the client is subscribed to, whose access the gateway has cached: one
// NATS round trip per call.
func BenchmarkCallRoundTripSubscribed(b *testing.B) {
	s := benchSession(b)
	c := dialBench(b, s)
	mustResult(b, "subscribe", c.request("subscribe.bench.model", ""))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.request("call.bench.model.ping", `{"x":1}`); !bytes.HasPrefix(r, []byte(`{"result":{"payload":{"pong":true}}`)) {
			b.Fatalf("call: %s", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkCallRoundTrip64Clients runs calls from 64 clients at once, each
// waiting for its reply before the next call.
func BenchmarkCallRoundTrip64Clients(b *testing.B) {
	const clients = 64
	s := benchSession(b)
	conns := make([]*benchClient, clients)
	for i := range conns {
		conns[i] = dialBench(b, s)
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, c := range conns {
		wg.Add(1)
		go func(c *benchClient) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if r := c.request("call.bench.model.ping", `{"x":1}`); !bytes.HasPrefix(r, []byte(`{"result":{"payload":{"pong":true}}`)) {
					failed.CompareAndSwap(nil, string(r))
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	if v := failed.Load(); v != nil {
		b.Fatalf("call: %s", v)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkSubscribeCached measures a subscribe and unsubscribe of a model
// the gateway has cached (another client holds it): an access request to
// the service, and the model from the cache.
func BenchmarkSubscribeCached(b *testing.B) {
	s := benchSession(b)
	keeper := dialBench(b, s)
	mustResult(b, "keeper subscribe", keeper.request("subscribe.bench.model", ""))
	c := dialBench(b, s)
	want := []byte(`{"result":{"models":{"bench.model":{"n":-1,"name":"bench"}}}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.request("subscribe.bench.model", ""); !bytes.HasPrefix(r, want) {
			b.Fatalf("subscribe: %s", r)
		}
		if r := c.request("unsubscribe.bench.model", ""); !bytes.HasPrefix(r, []byte(`{"id":`)) {
			b.Fatalf("unsubscribe: %s", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subs/s")
}
