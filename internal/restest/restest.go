// Package restest runs a resedge engine end to end for tests: a real NATS
// server (the nats-server library on a random loopback port), the engine,
// an HTTP listener on a loopback port, WebSocket clients, and a service
// side that sees every request the gateway sends and answers it.
package restest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// Timeout is how long a test waits for something it expects.
const Timeout = 5 * time.Second

// Quiet is how long a test waits to be sure something does not happen.
const Quiet = 100 * time.Millisecond

// Session is one running gateway with its NATS server, service side and
// clients.
type Session struct {
	t      testing.TB
	NATS   *natsserver.Server
	NC     *nats.Conn // the gateway's connection
	SvcNC  *nats.Conn // the service side's connection
	Engine *resproto.Engine
	HTTP   *listeners.HTTP
	Addr   string // host:port of the HTTP listener
	Logs   *LogBuffer

	reqs    chan *Request
	svcSub  *nats.Subscription
	clients []*Client
	obs     *sessionObserver
}

// Option changes the configuration of a Session before it starts.
type Option func(*Config)

// Config is what a Session is started with.
type Config struct {
	Engine resproto.Config
	HTTP   listeners.HTTPConfig
	// NATS, when set, is a running NATS server the session uses instead of
	// starting its own. The session does not shut it down.
	NATS *natsserver.Server
	// NoService leaves out the service side's catch-all subscription, for
	// tests where a real service answers the gateway's requests. SvcNC is
	// still connected, for publishing; GetRequest fails.
	NoService bool
}

// WithEngine changes the engine configuration.
func WithEngine(f func(*resproto.Config)) Option { return func(c *Config) { f(&c.Engine) } }

// WithHTTP changes the listener configuration.
func WithHTTP(f func(*listeners.HTTPConfig)) Option { return func(c *Config) { f(&c.HTTP) } }

// WithNATS runs the session on an already running NATS server (see
// RunNATS) instead of a server of its own.
func WithNATS(ns *natsserver.Server) Option { return func(c *Config) { c.NATS = ns } }

// WithoutService starts the session without the catch-all service
// subscription, so that a real service on the same NATS server answers
// the gateway's requests.
func WithoutService() Option { return func(c *Config) { c.NoService = true } }

// RunNATS starts an embedded NATS server on a random loopback port.
func RunNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	return RunNATSAt(t, -1)
}

// RunNATSAt starts an embedded NATS server on a loopback port: port, or a
// random one if port is -1. A test that restarts a server on the same port
// takes it from FreePort, so that nothing else can take it in between.
func RunNATSAt(t testing.TB, port int) *natsserver.Server {
	t.Helper()
	opts := &natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: 8 << 20}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	// Poll in short steps: ReadyForConnections sleeps 25ms between checks
	// when given a longer wait, which would dominate a short test.
	for deadline := time.Now().Add(10 * time.Second); !ns.ReadyForConnections(time.Millisecond); {
		if time.Now().After(deadline) {
			t.Fatal("nats server not ready")
		}
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// Start starts a Session and registers its teardown with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Session {
	t.Helper()
	cfg := Config{
		Engine: resproto.Config{UnsubscribeDelay: -1, RequestTimeout: 3 * time.Second},
		HTTP:   listeners.HTTPConfig{Name: "test"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Session{t: t, reqs: make(chan *Request, 1024), Logs: &LogBuffer{}}
	if cfg.NATS != nil {
		s.NATS = cfg.NATS
	} else {
		s.NATS = RunNATS(t)
	}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(s.Logs, logSink()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Engine.Logger = log
	cfg.HTTP.Logger = log
	s.obs = &sessionObserver{Observer: cfg.Engine.Observer}
	if s.obs.Observer == nil {
		s.obs.Observer = noObserver{}
	}
	cfg.Engine.Observer = s.obs

	var err error
	if s.SvcNC, err = nats.Connect(s.NATS.ClientURL()); err != nil {
		t.Fatalf("service connect: %v", err)
	}
	if !cfg.NoService {
		s.svcSub, err = s.SvcNC.Subscribe(">", func(m *nats.Msg) {
			for _, p := range []string{"event.", "conn.", "system.", "_INBOX."} {
				if strings.HasPrefix(m.Subject, p) {
					return
				}
			}
			s.reqs <- &Request{s: s, Subject: m.Subject, Data: m.Data, Reply: m.Reply}
		})
		if err != nil {
			t.Fatalf("service subscribe: %v", err)
		}
		s.SvcNC.Flush()
	}

	if s.NC, err = nats.Connect(s.NATS.ClientURL(), nats.Name("resedge-test")); err != nil {
		t.Fatalf("gateway connect: %v", err)
	}
	if s.Engine, err = resproto.New(s.NC, cfg.Engine); err != nil {
		t.Fatalf("engine: %v", err)
	}
	s.NC.Flush()
	if s.HTTP, err = listeners.NewHTTP(s.Engine, cfg.HTTP); err != nil {
		t.Fatalf("listener: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go s.HTTP.Serve(ln)
	t.Cleanup(s.Close)
	return s
}

// logSink is where engine logs go besides the buffer: stderr when
// RESTEST_LOG is set, otherwise nowhere.
func logSink() io.Writer {
	if os.Getenv("RESTEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// Close stops everything the session started.
func (s *Session) Close() {
	for _, c := range s.clients {
		c.ws.Close()
	}
	ctx, cancel := contextWithTimeout(2 * time.Second)
	defer cancel()
	s.HTTP.Shutdown(ctx)
	s.Engine.Close()
	s.NC.Close()
	s.SvcNC.Close()
}

// LogBuffer collects log output for assertions.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; safe beside String and other writes.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Publish sends a raw NATS message from the service side.
func (s *Session) Publish(subject string, payload any) {
	s.t.Helper()
	var data []byte
	switch p := payload.(type) {
	case nil:
	case []byte:
		data = p
	case string:
		data = []byte(p)
	case json.RawMessage:
		data = p
	default:
		var err error
		if data, err = json.Marshal(p); err != nil {
			s.t.Fatalf("marshal event: %v", err)
		}
	}
	if err := s.SvcNC.Publish(subject, data); err != nil {
		s.t.Fatalf("publish %s: %v", subject, err)
	}
	s.SvcNC.Flush()
}

// Event publishes event.<rid>.<event> with payload.
func (s *Session) Event(rid, event string, payload any) {
	s.t.Helper()
	s.Publish("event."+rid+"."+event, payload)
}

// ConnEvent publishes conn.<cid>.<event> with payload.
//
// A connection event and a client's next request travel different roads
// (NATS and the WebSocket), so nothing orders them; ConnEvent returns once
// the engine has queued the event on the connection, so that a request
// sent afterwards sees its effect. It publishes a second connection event,
// for a connection that does not exist, behind the first: the engine's
// dispatcher takes NATS messages one at a time, in order, so once it has
// taken that one it is done with the first.
func (s *Session) ConnEvent(cid, event string, payload any) {
	s.t.Helper()
	taken := s.obs.connEvents.Load()
	s.Publish("conn."+cid+"."+event, payload)
	s.Publish("conn.restest-sync.sync", nil)
	deadline := time.Now().Add(Timeout)
	for s.obs.connEvents.Load() < taken+2 {
		if time.Now().After(deadline) {
			s.t.Fatalf("the engine did not take connection event %s of %s within %v", event, cid, Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// sessionObserver counts the connection events the engine's dispatcher
// has taken, for ConnEvent, and passes every call on to the Observer the
// test configured, if any.
type sessionObserver struct {
	resproto.Observer
	connEvents atomic.Int64
}

// NATSEvent implements resproto.Observer. The engine calls it as its
// dispatcher takes the event, before handling it.
func (o *sessionObserver) NATSEvent(kind string) {
	if kind == "conn" {
		o.connEvents.Add(1)
	}
	o.Observer.NATSEvent(kind)
}

// noObserver is the Observer of a session whose test configured none.
type noObserver struct{}

func (noObserver) ClientRequest(string)                     {}
func (noObserver) ClientError(string)                       {}
func (noObserver) NATSRequest(string, time.Duration, error) {}
func (noObserver) NATSEvent(string)                         {}
func (noObserver) CacheResources(int)                       {}
func (noObserver) CacheSubscriptions(int)                   {}

// SystemEvent publishes system.<event> with payload.
func (s *Session) SystemEvent(event string, payload any) {
	s.t.Helper()
	s.Publish("system."+event, payload)
}

// Serve makes the service side listen on subject (NATS wildcards allowed),
// queueing its requests for GetRequest. With WithoutService it lets a test
// listen on some subjects only, so that requests on others find no
// responders.
func (s *Session) Serve(subject string) {
	s.t.Helper()
	_, err := s.SvcNC.Subscribe(subject, func(m *nats.Msg) {
		s.reqs <- &Request{s: s, Subject: m.Subject, Data: m.Data, Reply: m.Reply}
	})
	if err != nil {
		s.t.Fatalf("service subscribe %s: %v", subject, err)
	}
	s.SvcNC.Flush()
}

// GetRequest returns the next request the gateway sent to a service.
func (s *Session) GetRequest() *Request {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(Timeout):
		s.t.Fatal("expected a service request, got none")
		return nil
	}
}

// GetRequests returns the next n requests, which may arrive in any order,
// keyed by subject.
func (s *Session) GetRequests(n int) Requests {
	s.t.Helper()
	rs := make(Requests, n)
	for i := 0; i < n; i++ {
		rs[i] = s.GetRequest()
	}
	return rs
}

// AssertNoRequest asserts the gateway sends no service request for a while.
func (s *Session) AssertNoRequest() {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		s.t.Fatalf("expected no service request, got %s: %s", r.Subject, r.Data)
	case <-time.After(Quiet):
	}
}

// Requests is a set of service requests arriving in no fixed order.
type Requests []*Request

// BySubject returns the request with subject, failing the test if none.
func (rs Requests) BySubject(t testing.TB, subject string) *Request {
	t.Helper()
	for _, r := range rs {
		if r.Subject == subject {
			return r
		}
	}
	subs := make([]string, len(rs))
	for i, r := range rs {
		subs[i] = r.Subject
	}
	t.Fatalf("expected a request on %s, got %v", subject, subs)
	return nil
}

// Request is one request a gateway sent to a service.
type Request struct {
	s       *Session
	Subject string
	Data    []byte
	Reply   string
}

// AssertSubject checks the request's subject.
func (r *Request) AssertSubject(subject string) *Request {
	r.s.t.Helper()
	if r.Subject != subject {
		r.s.t.Fatalf("expected request subject %s, got %s (%s)", subject, r.Subject, r.Data)
	}
	return r
}

// PathPayload returns the JSON value at a dot-separated path of the request
// payload, or nil.
func (r *Request) PathPayload(path string) any {
	var v any
	if err := json.Unmarshal(r.Data, &v); err != nil {
		r.s.t.Fatalf("request payload is not JSON: %s", r.Data)
	}
	if path == "" {
		return v
	}
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// AssertPathPayload checks the value at path in the request payload.
func (r *Request) AssertPathPayload(path string, expected any) *Request {
	r.s.t.Helper()
	got := r.PathPayload(path)
	if !JSONEqual(got, expected) {
		r.s.t.Fatalf("request %s: expected %s to be %s, got %s", r.Subject, path, Marshal(expected), Marshal(got))
	}
	return r
}

// AssertPathMissing checks that the request payload has no value at path.
func (r *Request) AssertPathMissing(path string) *Request {
	r.s.t.Helper()
	var v any
	json.Unmarshal(r.Data, &v)
	parts := strings.Split(path, ".")
	for i, p := range parts {
		m, ok := v.(map[string]any)
		if !ok {
			return r
		}
		var exists bool
		v, exists = m[p]
		if !exists {
			return r
		}
		if i == len(parts)-1 {
			r.s.t.Fatalf("request %s: expected no %s, got %s", r.Subject, path, Marshal(v))
		}
	}
	return r
}

// AssertPayload checks the whole payload.
func (r *Request) AssertPayload(expected any) *Request {
	r.s.t.Helper()
	if !JSONEqual(json.RawMessage(r.Data), expected) {
		r.s.t.Fatalf("request %s: expected payload %s, got %s", r.Subject, Marshal(expected), r.Data)
	}
	return r
}

// Respond sends a raw reply.
func (r *Request) Respond(data any) {
	r.s.t.Helper()
	var b []byte
	switch d := data.(type) {
	case []byte:
		b = d
	case string:
		b = []byte(d)
	default:
		var err error
		if b, err = json.Marshal(d); err != nil {
			r.s.t.Fatalf("marshal reply: %v", err)
		}
	}
	if err := r.s.SvcNC.Publish(r.Reply, b); err != nil {
		r.s.t.Fatalf("reply: %v", err)
	}
	r.s.SvcNC.Flush()
}

// RespondSuccess replies {"result":result}.
func (r *Request) RespondSuccess(result any) {
	r.s.t.Helper()
	r.Respond(map[string]any{"result": result})
}

// RespondResource replies {"resource":{"rid":rid}}.
func (r *Request) RespondResource(rid string) {
	r.s.t.Helper()
	r.Respond(map[string]any{"resource": map[string]string{"rid": rid}})
}

// RespondError replies {"error":err}.
func (r *Request) RespondError(err *resproto.Error) {
	r.s.t.Helper()
	r.Respond(map[string]any{"error": err})
}

// RespondModel replies to a get request with a model.
func (r *Request) RespondModel(model any) {
	r.s.t.Helper()
	r.RespondSuccess(map[string]any{"model": model})
}

// RespondCollection replies to a get request with a collection.
func (r *Request) RespondCollection(c any) {
	r.s.t.Helper()
	r.RespondSuccess(map[string]any{"collection": c})
}

// Client is a WebSocket client of the gateway.
type Client struct {
	s      *Session
	ws     *websocket.Conn
	mu     sync.Mutex
	nextID uint64
	msgs   chan map[string]any
	closed chan struct{}
}

// Connect opens a WebSocket client to the session's listener.
func (s *Session) Connect() *Client {
	s.t.Helper()
	return s.ConnectWith(nil, "")
}

// ConnectWith opens a WebSocket client with extra request headers, at path
// (default: the listener's WebSocket path "/").
func (s *Session) ConnectWith(h http.Header, path string) *Client {
	s.t.Helper()
	if path == "" {
		path = "/"
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("websocket dial: %v (status %d)", err, status)
	}
	c := &Client{s: s, ws: ws, msgs: make(chan map[string]any, 4096), closed: make(chan struct{})}
	s.clients = append(s.clients, c)
	go c.read()
	return c
}

func (c *Client) read() {
	defer close(c.closed)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			m = map[string]any{"_raw": string(data)}
		}
		m["_data"] = string(data)
		c.msgs <- m
	}
}

// Send writes a raw text frame.
func (c *Client) Send(data string) {
	c.s.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(data)); err != nil {
		c.s.t.Fatalf("client write: %v", err)
	}
}

// Request sends a request and returns a handle to its reply.
func (c *Client) Request(method string, params any) *ClientRequest {
	c.s.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, _ := json.Marshal(req)
	c.Send(string(b))
	return &ClientRequest{c: c, ID: id, Method: method}
}

// Version sends a version request for protocol and checks the reply.
func (c *Client) Version(protocol string) {
	c.s.t.Helper()
	c.Request("version", map[string]string{"protocol": protocol}).GetResponse().AssertResult(map[string]string{"protocol": resproto.Protocol})
}

// LocalAddr returns the client's end of the connection, host:port: what
// the gateway sees as the remote address.
func (c *Client) LocalAddr() string { return c.ws.LocalAddr().String() }

// Close closes the client's socket.
func (c *Client) Close() { c.ws.Close() }

// AssertClosed waits for the gateway to close the connection.
func (c *Client) AssertClosed() {
	c.s.t.Helper()
	deadline := time.After(Timeout)
	for {
		select {
		case <-c.closed:
			return
		case <-c.msgs:
		case <-deadline:
			c.s.t.Fatal("expected the connection to be closed")
		}
	}
}

// next returns the next message from the gateway.
func (c *Client) next() map[string]any {
	c.s.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.closed:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		c.s.t.Fatal("connection closed while waiting for a message")
	case <-time.After(Timeout):
		c.s.t.Fatal("expected a message from the gateway, got none")
	}
	return nil
}

// GetMsg returns the next raw message from the gateway.
func (c *Client) GetMsg() string {
	c.s.t.Helper()
	return c.next()["_data"].(string)
}

// GetEvent returns the next message, which must be an event.
func (c *Client) GetEvent() *ClientEvent {
	c.s.t.Helper()
	m := c.next()
	ev, ok := m["event"].(string)
	if !ok {
		c.s.t.Fatalf("expected an event, got %s", m["_data"])
	}
	data, hasData := m["data"]
	return &ClientEvent{c: c, Event: ev, Data: data, HasData: hasData, Raw: m["_data"].(string)}
}

// AssertNoMsg asserts nothing arrives for a while.
func (c *Client) AssertNoMsg() {
	c.s.t.Helper()
	select {
	case m := <-c.msgs:
		c.s.t.Fatalf("expected no message, got %s", m["_data"])
	case <-time.After(Quiet):
	}
}

// ClientEvent is an event received by a client.
type ClientEvent struct {
	c       *Client
	Event   string
	Data    any
	HasData bool
	Raw     string
}

// AssertEventName checks the event name (<rid>.<event>).
func (e *ClientEvent) AssertEventName(name string) *ClientEvent {
	e.c.s.t.Helper()
	if e.Event != name {
		e.c.s.t.Fatalf("expected event %s, got %s", name, e.Raw)
	}
	return e
}

// AssertData checks the event data.
func (e *ClientEvent) AssertData(expected any) *ClientEvent {
	e.c.s.t.Helper()
	if !JSONEqual(e.Data, expected) {
		e.c.s.t.Fatalf("event %s: expected data %s, got %s", e.Event, Marshal(expected), Marshal(e.Data))
	}
	return e
}

// ClientRequest is a request sent by a client.
type ClientRequest struct {
	c      *Client
	ID     uint64
	Method string
}

// GetResponse returns the reply to the request; it must be the next message.
func (r *ClientRequest) GetResponse() *ClientResponse {
	r.c.s.t.Helper()
	return r.reply(r.c.next())
}

// reply checks that m is the reply to r and makes its ClientResponse.
func (r *ClientRequest) reply(m map[string]any) *ClientResponse {
	r.c.s.t.Helper()
	id, ok := m["id"].(float64)
	if !ok || uint64(id) != r.ID {
		r.c.s.t.Fatalf("expected the reply to %s (id %d), got %s", r.Method, r.ID, m["_data"])
	}
	return r.response(m)
}

// GetResponseServing waits for the reply to r, which must be the client's
// next message, while answering the gateway's requests from replies as
// HTTPRequest.GetResponseServing does. It returns the reply and the
// subjects of the requests received, in order.
func (r *ClientRequest) GetResponseServing(replies map[string]string) (*ClientResponse, []string) {
	r.c.s.t.Helper()
	m, subjects, ok := serveUntil(r.c.s, replies, r.c.msgs)
	if !ok {
		r.c.s.t.Fatalf("%s: no reply (requests so far: %v)", r.Method, subjects)
	}
	return r.reply(m), subjects
}

// GetResponses returns the replies to requests of one client that may be
// answered in any order; they must be its next len(reqs) messages. The
// replies are in the order of reqs.
func GetResponses(reqs ...*ClientRequest) []*ClientResponse {
	if len(reqs) == 0 {
		return nil
	}
	c := reqs[0].c
	c.s.t.Helper()
	out := make([]*ClientResponse, len(reqs))
	for range reqs {
		m := c.next()
		id, _ := m["id"].(float64)
		i := slices.IndexFunc(reqs, func(r *ClientRequest) bool { return r.ID == uint64(id) })
		if i < 0 || out[i] != nil {
			c.s.t.Fatalf("expected a reply to one of %d requests, got %s", len(reqs), m["_data"])
		}
		out[i] = reqs[i].response(m)
	}
	return out
}

// response makes the ClientResponse of reply m.
func (r *ClientRequest) response(m map[string]any) *ClientResponse {
	_, hasResult := m["result"]
	resp := &ClientResponse{r: r, Result: m["result"], HasResult: hasResult, Raw: m["_data"].(string)}
	if e, ok := m["error"]; ok {
		b, _ := json.Marshal(e)
		resp.Error = &resproto.Error{}
		json.Unmarshal(b, resp.Error)
	}
	return resp
}

// ClientResponse is the gateway's reply to a client request.
type ClientResponse struct {
	r         *ClientRequest
	Result    any
	HasResult bool
	Error     *resproto.Error
	Raw       string
}

// AssertResult checks a successful result.
func (cr *ClientResponse) AssertResult(expected any) *ClientResponse {
	cr.r.c.s.t.Helper()
	if cr.Error != nil {
		cr.r.c.s.t.Fatalf("%s: expected a result, got error %s", cr.r.Method, cr.Raw)
	}
	if !JSONEqual(cr.Result, expected) {
		cr.r.c.s.t.Fatalf("%s: expected result %s, got %s", cr.r.Method, Marshal(expected), cr.Raw)
	}
	return cr
}

// AssertNoResult checks a success reply without a result (unsubscribe).
func (cr *ClientResponse) AssertNoResult() *ClientResponse {
	cr.r.c.s.t.Helper()
	if cr.Error != nil || cr.HasResult {
		cr.r.c.s.t.Fatalf("%s: expected success without result, got %s", cr.r.Method, cr.Raw)
	}
	return cr
}

// AssertError checks an error reply's code, and message if not empty.
func (cr *ClientResponse) AssertError(code string, message ...string) *ClientResponse {
	cr.r.c.s.t.Helper()
	if cr.Error == nil {
		cr.r.c.s.t.Fatalf("%s: expected error %s, got %s", cr.r.Method, code, cr.Raw)
	}
	if cr.Error.Code != code {
		cr.r.c.s.t.Fatalf("%s: expected error %s, got %s", cr.r.Method, code, cr.Raw)
	}
	if len(message) > 0 && cr.Error.Message != message[0] {
		cr.r.c.s.t.Fatalf("%s: expected error message %q, got %s", cr.r.Method, message[0], cr.Raw)
	}
	return cr
}

// AssertErrorEqual checks the whole error object.
func (cr *ClientResponse) AssertErrorEqual(expected *resproto.Error) *ClientResponse {
	cr.r.c.s.t.Helper()
	if cr.Error == nil || !JSONEqual(cr.Error, expected) {
		cr.r.c.s.t.Fatalf("%s: expected error %s, got %s", cr.r.Method, Marshal(expected), cr.Raw)
	}
	return cr
}

// JSONEqual compares two values by their JSON encoding.
func JSONEqual(a, b any) bool {
	var va, vb any
	if err := json.Unmarshal(mustJSON(a), &va); err != nil {
		return false
	}
	if err := json.Unmarshal(mustJSON(b), &vb); err != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func mustJSON(v any) []byte {
	switch x := v.(type) {
	case json.RawMessage:
		return x
	case []byte:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal: %v", err))
	}
	return b
}

// Marshal returns v as JSON text for messages.
func Marshal(v any) string { return string(mustJSON(v)) }

// CID returns the connection ID the gateway gave c, learned from the cid of
// an access request triggered by a subscribe on a throwaway RID.
func (c *Client) CID() string {
	c.s.t.Helper()
	req := c.Request("call.restest.cid.probe", nil)
	r := c.s.GetRequest()
	r.AssertSubject("access.restest.cid")
	cid, _ := r.PathPayload("cid").(string)
	r.RespondSuccess(map[string]any{"get": false})
	req.GetResponse().AssertError(resproto.CodeAccessDenied)
	if cid == "" {
		c.s.t.Fatal("no cid in access request")
	}
	return cid
}
