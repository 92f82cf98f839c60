package resproto

// Benchmarks of the engine's hot paths, so that regressions show in review:
//
//	go test -run x -bench . -benchmem ./resproto/
//
// The engine benchmarks run on an embedded NATS server with a minimal
// service; what they time is the engine's own work (decoding, queues,
// encoding), not sockets: their transport only counts what it is sent.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

var (
	benchRequest       = []byte(`{"id":4711,"method":"call.bench.model.ping","params":{"a":1,"b":"two"}}`)
	benchAccessReply   = []byte(`{"result":{"get":true,"call":"*"}}`)
	benchGetReply      = []byte(`{"result":{"model":{"t":0,"name":"bench","ref":{"rid":"bench.other"},"data":{"data":{"x":[1,2]}}}}}`)
	benchCallReply     = []byte(`{"result":{"pong":true,"n":12345}}`)
	benchModelResource = "bench.model"
)

// BenchmarkDecodeClientRequest decodes a client request, as every message
// a client sends is.
func BenchmarkDecodeClientRequest(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r clientRequest
			if err := decodeClientRequest(benchRequest, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r clientRequest
			if err := json.Unmarshal(benchRequest, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeServiceResponses decodes the access, get and call
// responses of services.
func BenchmarkDecodeServiceResponses(b *testing.B) {
	b.Run("access", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a := decodeAccessResponse(benchAccessReply); a.Err != nil {
				b.Fatal(a.Err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeGetResponse(benchGetReply); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A 42-field model with its fields in declaration order, as a service
	// marshalling a struct sends it (resbench --fields 20): decoded, then
	// sorted by key.
	get42 := []byte(`{"result":{"model":{"t":0,"name":"bench"`)
	for i := range 20 {
		get42 = fmt.Appendf(get42, `,"s%d":"value %d of the bench resource","n%d":%d`, i, i, i, i*1000+7)
	}
	get42 = append(get42, "}}}"...)
	b.Run("get42", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := decodeGetResponse(get42); err != nil || len(r.Model) != 42 {
				b.Fatal(len(r.Model), err)
			}
		}
	})
	b.Run("call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeCallResponse(benchCallReply); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEventMessage encodes the client message of a change event, as
// done once per distinct payload of an event.
func BenchmarkEventMessage(b *testing.B) {
	changed := map[string]Value{
		"t":    {Type: ValuePrimitive, Raw: json.RawMessage(`1764000000000000000`)},
		"name": {Type: ValuePrimitive, Raw: json.RawMessage(`"bench"`)},
	}
	fields := FieldsOf(changed)
	b.ReportAllocs()
	for b.Loop() {
		eventMessage(benchModelResource, "change", changeEventData{Values: encodeFields(fields, false)})
	}
}

// BenchmarkResetDiff diffs a cached collection of 1,000 items against a
// fresh copy with a few items moved, removed and added, as a system.reset
// or a query event does.
func BenchmarkResetDiff(b *testing.B) {
	a := make([]Value, 1000)
	for i := range a {
		a[i] = Value{Type: ValuePrimitive, Raw: json.RawMessage(strconv.Itoa(i))}
	}
	c := append([]Value(nil), a...)
	c = append(c[:100], c[110:]...)
	c = append(c[:500], append([]Value{{Type: ValuePrimitive, Raw: json.RawMessage(`"new"`)}}, c[500:]...)...)
	c[900], c[901] = c[901], c[900]
	b.ReportAllocs()
	for b.Loop() {
		if len(diffCollection(a, c)) == 0 {
			b.Fatal("no difference found")
		}
	}
}

// benchTransport counts what a connection is sent.
type benchTransport struct {
	events  *eventCounter
	replies chan struct{}
}

// eventCounter counts the events sent to a set of n connections, and
// signals each time all of them got one more.
type eventCounter struct {
	n     int64
	count atomic.Int64
	round chan struct{}
}

func (t *benchTransport) Send(m *Message) {
	if len(m.Data) > 9 && string(m.Data[:9]) == `{"event":` {
		if ec := t.events; ec != nil && ec.count.Add(1)%ec.n == 0 {
			ec.round <- struct{}{}
		}
		return
	}
	t.replies <- struct{}{}
}

func (t *benchTransport) Disconnect(string) {}

// startBenchEngine starts an embedded NATS server, a service granting
// everything (bench.* resources are the model {"t":0,"name":"bench"}; every
// call answers {"pong":true}), and an engine; it returns the engine and the
// service's connection.
func startBenchEngine(b testing.TB) (*Engine, *nats.Conn) {
	b.Helper()
	url := startTestNATS(b)
	svc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	replies := map[string][]byte{
		"access.>": benchAccessReply,
		"get.>":    []byte(`{"result":{"model":{"t":0,"name":"bench"}}}`),
		"call.>":   []byte(`{"result":{"pong":true}}`),
	}
	for subj, reply := range replies {
		reply := reply
		if _, err := svc.Subscribe(subj, func(m *nats.Msg) { m.Respond(reply) }); err != nil {
			b.Fatal(err)
		}
	}
	svc.Flush()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(nc, Config{
		RequestTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(); nc.Close() })
	return e, svc
}

// request sends a client request on c and waits for its reply.
func benchRequestReply(b testing.TB, c *Conn, t *benchTransport, id int, method string) {
	c.HandleMessage([]byte(`{"id":` + strconv.Itoa(id) + `,"method":"` + method + `"}`))
	select {
	case <-t.replies:
	case <-time.After(10 * time.Second):
		b.Fatalf("no reply to %s", method)
	}
}

// BenchmarkEventFanout publishes change events on a model N connections
// subscribe to, and times the engine from the NATS message to the last
// connection's Send: the event applied to the cache once, encoded once,
// and passed through every connection's queue. ns/op is per event;
// ns/msg per delivered message.
func BenchmarkEventFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			e, svc := startBenchEngine(b)
			events := &eventCounter{n: int64(n), round: make(chan struct{}, 1)}
			for i := 0; i < n; i++ {
				t := &benchTransport{events: events, replies: make(chan struct{}, 1)}
				c, err := e.NewConn(t, nil, false)
				if err != nil {
					b.Fatal(err)
				}
				benchRequestReply(b, c, t, 1, "subscribe."+benchModelResource)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				svc.Publish("event."+benchModelResource+".change", []byte(`{"values":{"t":`+strconv.Itoa(i+1)+`}}`))
				select {
				case <-events.round:
				case <-time.After(10 * time.Second):
					b.Fatalf("event %d: %d delivered of %d", i, events.count.Load(), int64(n)*int64(i+1))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events.count.Load()), "ns/msg")
		})
	}
}

// benchConn starts a bench engine and returns a connection on it, with the
// transport its replies are counted on.
func benchConn(b *testing.B) (*Conn, *benchTransport) {
	e, _ := startBenchEngine(b)
	t := &benchTransport{replies: make(chan struct{}, 1)}
	c, err := e.NewConn(t, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	return c, t
}

// BenchmarkCachedGet answers get requests for a model the connection
// already subscribes to: decoded, served from the cache (access included),
// encoded, with no request to a service.
func BenchmarkCachedGet(b *testing.B) {
	c, t := benchConn(b)
	benchRequestReply(b, c, t, 1, "subscribe."+benchModelResource)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		benchRequestReply(b, c, t, i+2, "get."+benchModelResource)
	}
}

// BenchmarkCall makes call requests on a subscribed model: one NATS round
// trip to the service each, so it includes the embedded NATS server.
func BenchmarkCall(b *testing.B) {
	c, t := benchConn(b)
	benchRequestReply(b, c, t, 1, "subscribe."+benchModelResource)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		benchRequestReply(b, c, t, i+2, "call."+benchModelResource+".ping")
	}
}

// BenchmarkSubscribeUncached subscribes to a resource no one holds and
// unsubscribes: access and get requests to the service, the resource cached,
// the reply encoded, then released. It is the subscribe storm's path.
func BenchmarkSubscribeUncached(b *testing.B) {
	c, t := benchConn(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rid := "bench.m" + strconv.Itoa(i)
		benchRequestReply(b, c, t, 2*i+1, "subscribe."+rid)
		benchRequestReply(b, c, t, 2*i+2, "unsubscribe."+rid)
	}
}

// BenchmarkDisposeConns disconnects 20 connections holding 500 subscriptions
// each, to distinct resources, at once, as when a load balancer drops a
// group of clients, and times the engine from the Dispose calls to an
// empty cache: every subscription let go of, every resource evicted and its
// NATS subscription removed. ns/sub is per subscription.
func BenchmarkDisposeConns(b *testing.B) {
	const conns, subsPerConn = 20, 500
	e, _ := startBenchEngine(b)
	e.cache.cfg.UnsubscribeDelay = -1 // evicted as soon as unsubscribed
	names := func() int {
		e.cache.mu.Lock()
		defer e.cache.mu.Unlock()
		return len(e.cache.names)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Every subscribe request sent at once, then every reply waited
		// for, so that setting up takes a few round trips, not 10,000.
		cs := make([]*Conn, conns)
		ts := make([]*benchTransport, conns)
		for j := range cs {
			ts[j] = &benchTransport{replies: make(chan struct{}, subsPerConn)}
			c, err := e.NewConn(ts[j], nil, false)
			if err != nil {
				b.Fatal(err)
			}
			for k := 0; k < subsPerConn; k++ {
				c.HandleMessage([]byte(`{"id":` + strconv.Itoa(k+1) + `,"method":"subscribe.bench.d` + strconv.Itoa(j*subsPerConn+k) + `"}`))
			}
			cs[j] = c
		}
		for _, t := range ts {
			for k := 0; k < subsPerConn; k++ {
				select {
				case <-t.replies:
				case <-time.After(10 * time.Second):
					b.Fatalf("%d of %d subscriptions answered", k, subsPerConn)
				}
			}
		}
		if n := names(); n != conns*subsPerConn {
			b.Fatalf("%d resources cached, want %d", n, conns*subsPerConn)
		}
		b.StartTimer()
		for _, c := range cs {
			c.Dispose()
		}
		deadline := time.Now().Add(30 * time.Second)
		for names() > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d resources still cached", names())
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns*subsPerConn), "ns/sub")
}
