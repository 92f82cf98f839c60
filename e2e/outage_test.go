package e2e

// NATS outages, clusters and scale-out, with nats-server child processes
// that are killed (SIGKILL) and started again on the same ports, and
// gateways run as edge.Server, as the resedge binary runs them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/edge"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// outageWait bounds every wait in these tests.
const outageWait = 10 * time.Second

// outageSvc is a service whose resources a test changes while NATS is
// away (so that no event tells the gateways): test.model, a model;
// test.collection, a collection; test.secret, a model whose access can be
// revoked; test.private, a model for clients with a token, which auth
// request test.user.login sets.
type outageSvc struct {
	t  *testing.T
	nc *nats.Conn

	mu     sync.Mutex
	model  map[string]any
	coll   []any
	denied map[string]bool
	gets   map[string]int
}

func newOutageSvc(t *testing.T, urls ...string) *outageSvc {
	t.Helper()
	return newOutageSvcModel(t, map[string]any{"a": 1.0, "b": "x", "c": true}, urls...)
}

// newOutageSvcModel is newOutageSvc serving model as test.model from its
// first request on.
func newOutageSvcModel(t *testing.T, model map[string]any, urls ...string) *outageSvc {
	t.Helper()
	s := &outageSvc{
		t:      t,
		model:  model,
		coll:   []any{"one", "two", "three"},
		denied: map[string]bool{},
		gets:   map[string]int{},
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("service"), nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s.nc = nc
	handle := func(subject string, h func(m *nats.Msg) any) {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			b, _ := json.Marshal(h(m))
			m.Respond(b)
		}); err != nil {
			t.Fatal(err)
		}
	}
	handle("get.test.>", func(m *nats.Msg) any {
		s.mu.Lock()
		defer s.mu.Unlock()
		rid := strings.TrimPrefix(m.Subject, "get.")
		s.gets[rid]++
		switch rid {
		case "test.model":
			// Copies: the reply is encoded after the lock is released.
			return map[string]any{"result": map[string]any{"model": maps.Clone(s.model)}}
		case "test.collection":
			return map[string]any{"result": map[string]any{"collection": slices.Clone(s.coll)}}
		}
		return map[string]any{"result": map[string]any{"model": map[string]any{"rid": rid}}}
	})
	handle("access.test.>", func(m *nats.Msg) any {
		s.mu.Lock()
		defer s.mu.Unlock()
		rid := strings.TrimPrefix(m.Subject, "access.")
		var req struct {
			Token json.RawMessage `json:"token"`
		}
		json.Unmarshal(m.Data, &req)
		if s.denied[rid] || (rid == "test.private" && (len(req.Token) == 0 || string(req.Token) == "null")) {
			return map[string]any{"error": map[string]any{"code": "system.accessDenied", "message": "Access denied"}}
		}
		return map[string]any{"result": map[string]any{"get": true, "call": "*"}}
	})
	handle("auth.test.user.login", func(m *nats.Msg) any {
		var req struct {
			CID string `json:"cid"`
		}
		json.Unmarshal(m.Data, &req)
		// The token event goes out before the reply, so the gateway holding
		// the connection applies it first (whichever NATS node it is on).
		nc.Publish("conn."+req.CID+".token", []byte(`{"token":{"user":"u"}}`))
		return map[string]any{"result": nil}
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

// change changes test.model and publishes the change event.
func (s *outageSvc) change(values map[string]any) {
	s.t.Helper()
	s.mu.Lock()
	for k, v := range values {
		s.model[k] = v
	}
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"values": values})
	if err := s.nc.Publish("event.test.model.change", b); err != nil {
		s.t.Fatal(err)
	}
	s.nc.Flush()
}

// set replaces the service's data without any event, as a change made
// while the gateways cannot hear of it.
func (s *outageSvc) set(model map[string]any, coll []any, denied ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.model, s.coll = model, coll
	for _, rid := range denied {
		s.denied[rid] = true
	}
}

// reset publishes a system.reset of every test resource.
func (s *outageSvc) reset() {
	s.t.Helper()
	if err := s.nc.Publish("system.reset", []byte(`{"resources":["test.>"]}`)); err != nil {
		s.t.Fatal(err)
	}
	s.nc.Flush()
}

// getCount returns how many get requests for rid the service answered.
func (s *outageSvc) getCount(rid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[rid]
}

// waitConnected waits until the service is connected to NATS again.
func (s *outageSvc) waitConnected() {
	s.t.Helper()
	waitUntil(s.t, "service connected to NATS", s.nc.IsConnected)
	if err := s.nc.FlushTimeout(outageWait); err != nil {
		s.t.Fatal(err)
	}
}

// waitReachable waits until the service's subscriptions have reached every
// node of urls: a request sent through each node finds a responder. In a
// cluster, interest travels over routes some time after the service
// subscribes (or fails over), and a request through a node it has not yet
// reached gets "no responders", which the gateway answers with
// system.notFound.
func (s *outageSvc) waitReachable(urls ...string) {
	s.t.Helper()
	for _, u := range urls {
		probe, err := nats.Connect(u, nats.Name("probe"), nats.NoReconnect())
		if err != nil {
			s.t.Fatalf("probe %s: %v", u, err)
		}
		defer probe.Close()
		waitUntil(s.t, "service reachable through "+u, func() bool {
			_, err := probe.Request("access.test.probe", []byte(`{}`), time.Second)
			return err == nil
		})
	}
}

// gateway is a resedge instance: edge.Server with an http and a metrics
// listener on free ports.
type gateway struct {
	t    *testing.T
	srv  *edge.Server
	logs *restest.LogBuffer
	ws   string // ws://…/
	api  string // http://…/api/
	rdy  string // http://…/readyz
}

func startGateway(t *testing.T, outage string, urls ...string) *gateway {
	t.Helper()
	return startGatewayWith(t, nil, outage, urls...)
}

// startGatewayWith is startGateway with a change to the configuration
// (nil: none).
func startGatewayWith(t *testing.T, change func(*schema.Config), outage string, urls ...string) *gateway {
	t.Helper()
	cfg := schema.Default()
	cfg.NATS.URLs = urls
	if outage != "" {
		cfg.NATS.Outage = outage
	}
	cfg.Listeners = map[string]*schema.Listener{
		"public":  schema.DefaultListener("public", fmt.Sprintf("127.0.0.1:%d", restest.FreePort(t))),
		"metrics": {Name: "metrics", Kind: schema.KindMetrics, Address: fmt.Sprintf("127.0.0.1:%d", restest.FreePort(t))},
	}
	if change != nil {
		change(cfg)
	}
	if err := schema.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	logs := &restest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := edge.New(cfg, log, edge.WithNATSReconnectWait(20*time.Millisecond, 100*time.Millisecond))
	if err := s.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	addrs := s.Listeners()
	return &gateway{
		t:    t,
		srv:  s,
		logs: logs,
		ws:   "ws://" + addrs["public"] + "/",
		api:  "http://" + addrs["public"] + "/api/",
		rdy:  "http://" + addrs["metrics"] + "/readyz",
	}
}

// outages returns how many times the gateway's engine was told NATS was
// lost, and how many times that it was back.
func (g *gateway) outages() (lost, back int) {
	l := g.logs.String()
	return strings.Count(l, "NATS connection lost"), strings.Count(l, "NATS connection back")
}

// waitOutages waits until the gateway has seen lost and back outage
// transitions.
func (g *gateway) waitOutages(lost, back int) {
	g.t.Helper()
	waitUntil(g.t, fmt.Sprintf("%d NATS losses and %d returns", lost, back), func() bool {
		l, b := g.outages()
		return l >= lost && b >= back
	})
}

// readyz returns the status of GET /readyz.
func (g *gateway) readyz() int {
	resp, err := http.Get(g.rdy)
	if err != nil {
		g.t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits until the gateway is ready (want) or not.
func (g *gateway) waitReady(want bool) {
	g.t.Helper()
	waitUntil(g.t, fmt.Sprintf("gateway ready=%v", want), func() bool { return (g.srv.Ready() == nil) == want })
}

// apiGet does GET on the HTTP API and returns the status and the body.
func (g *gateway) apiGet(path string) (int, string) {
	g.t.Helper()
	resp, err := http.Get(g.api + path)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(outageWait)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oclient is a WebSocket client that keeps the resources it subscribed to
// up to date by applying the events it gets, as a RES client library does.
type oclient struct {
	t      *testing.T
	name   string
	ws     *websocket.Conn
	msgs   chan map[string]any
	closed chan struct{}
	code   int // close code, once closed
	nextID int
	queued []map[string]any // events read while waiting for a reply

	models map[string]map[string]any
	colls  map[string][]any
	gone   map[string]string // rid → unsubscribe reason code
}

func dialOClient(t *testing.T, name, url string) (*oclient, error) {
	d := websocket.Dialer{HandshakeTimeout: outageWait}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return nil, &dialError{status: resp.StatusCode, body: string(b), err: err}
		}
		return nil, err
	}
	c := &oclient{
		t: t, name: name, ws: ws, msgs: make(chan map[string]any, 1000), closed: make(chan struct{}),
		models: map[string]map[string]any{}, colls: map[string][]any{}, gone: map[string]string{},
	}
	t.Cleanup(func() { ws.Close() })
	go func() {
		defer close(c.closed)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.code = ce.Code
				}
				return
			}
			var m map[string]any
			json.Unmarshal(data, &m)
			c.msgs <- m
		}
	}()
	return c, nil
}

type dialError struct {
	status int
	body   string
	err    error
}

func (e *dialError) Error() string { return fmt.Sprintf("%v (status %d: %s)", e.err, e.status, e.body) }

func mustDial(t *testing.T, name, url string) *oclient {
	t.Helper()
	c, err := dialOClient(t, name, url)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, url, err)
	}
	return c
}

// read returns the next message, failing if the connection closes.
func (c *oclient) read(wait time.Duration) (map[string]any, bool) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m, true
	case <-c.closed:
		c.t.Fatalf("%s: connection closed (code %d)", c.name, c.code)
	case <-time.After(wait):
	}
	return nil, false
}

// request sends a request and returns its result or error, keeping the
// events that come first for nextEvent.
func (c *oclient) request(method string, params any) (result any, rerr map[string]any) {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if err := c.ws.WriteJSON(req); err != nil {
		c.t.Fatalf("%s: %s: %v", c.name, method, err)
	}
	deadline := time.Now().Add(outageWait)
	for {
		m, ok := c.read(time.Until(deadline))
		if !ok {
			c.t.Fatalf("%s: no reply to %s", c.name, method)
		}
		if m["id"] == float64(id) {
			if e, ok := m["error"].(map[string]any); ok {
				return nil, e
			}
			return m["result"], nil
		}
		c.queued = append(c.queued, m)
	}
}

// subscribe subscribes to rid and stores the resources of the reply.
func (c *oclient) subscribe(rid string) {
	c.t.Helper()
	res, err := c.request("subscribe."+rid, nil)
	if err != nil {
		c.t.Fatalf("%s: subscribe %s: %v", c.name, rid, err)
	}
	r := res.(map[string]any)
	if ms, ok := r["models"].(map[string]any); ok {
		for id, m := range ms {
			c.models[id] = m.(map[string]any)
		}
	}
	if cs, ok := r["collections"].(map[string]any); ok {
		for id, col := range cs {
			c.colls[id] = col.([]any)
		}
	}
}

// wantError sends a request that must fail with code, and returns how long
// the reply took.
func (c *oclient) wantError(method, code string) time.Duration {
	c.t.Helper()
	start := time.Now()
	_, err := c.request(method, nil)
	if err == nil || err["code"] != code {
		c.t.Fatalf("%s: %s: got error %v, want %s", c.name, method, err, code)
	}
	return time.Since(start)
}

// nextEvent returns the next event within wait, or nil.
func (c *oclient) nextEvent(wait time.Duration) map[string]any {
	c.t.Helper()
	if len(c.queued) > 0 {
		m := c.queued[0]
		c.queued = c.queued[1:]
		return m
	}
	m, _ := c.read(wait)
	return m
}

// apply applies an event to the client's copy of the resources.
func (c *oclient) apply(ev map[string]any) {
	c.t.Helper()
	name, _ := ev["event"].(string)
	i := strings.LastIndexByte(name, '.')
	rid, kind := name[:i], name[i+1:]
	data, _ := ev["data"].(map[string]any)
	switch kind {
	case "change":
		for k, v := range data["values"].(map[string]any) {
			if d, ok := v.(map[string]any); ok && d["action"] == "delete" {
				delete(c.models[rid], k)
			} else {
				c.models[rid][k] = v
			}
		}
	case "add":
		idx := int(data["idx"].(float64))
		col := c.colls[rid]
		col = append(col[:idx], append([]any{data["value"]}, col[idx:]...)...)
		c.colls[rid] = col
	case "remove":
		idx := int(data["idx"].(float64))
		c.colls[rid] = append(c.colls[rid][:idx:idx], c.colls[rid][idx+1:]...)
	case "unsubscribe":
		reason, _ := data["reason"].(map[string]any)
		c.gone[rid], _ = reason["code"].(string)
		delete(c.models, rid)
		delete(c.colls, rid)
	default:
		c.t.Fatalf("%s: unexpected event %v", c.name, ev)
	}
}

// applyUntil applies events until the client's resources equal want's
// (compared on want's resource IDs and on what is gone), then checks that
// no further event comes within quiet.
func (c *oclient) applyUntil(want *oclient, quiet time.Duration) {
	c.t.Helper()
	same := func() bool {
		for rid, m := range want.models {
			if !reflect.DeepEqual(c.models[rid], m) {
				return false
			}
		}
		for rid, col := range want.colls {
			if !reflect.DeepEqual(c.colls[rid], col) {
				return false
			}
		}
		for rid := range want.gone {
			if _, ok := c.gone[rid]; !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(outageWait)
	var got []string
	defer func() { c.t.Logf("%s: resynchronized by %d events: %s", c.name, len(got), strings.Join(got, ", ")) }()
	for !same() {
		ev := c.nextEvent(time.Until(deadline))
		if ev != nil {
			b, _ := json.Marshal(ev)
			got = append(got, string(b))
		}
		if ev == nil {
			c.t.Fatalf("%s: resources never became what a new subscriber gets:\n have models %v collections %v gone %v\n want models %v collections %v gone %v",
				c.name, c.models, c.colls, c.gone, want.models, want.colls, want.gone)
		}
		c.apply(ev)
	}
	if ev := c.nextEvent(quiet); ev != nil {
		c.t.Fatalf("%s: unexpected event after resync: %v", c.name, ev)
	}
}

// wantClosed waits for the server to close the connection with code.
func (c *oclient) wantClosed(code int) {
	c.t.Helper()
	select {
	case <-c.closed:
		if c.code != code {
			c.t.Fatalf("%s: closed with code %d, want %d", c.name, c.code, code)
		}
	case <-time.After(outageWait):
		c.t.Fatalf("%s: connection not closed", c.name)
	}
}

// isOpen reports whether the server has not closed the connection.
func (c *oclient) isOpen() bool {
	select {
	case <-c.closed:
		return false
	default:
		return true
	}
}

// wantChange waits for the change event of test.model setting a to v.
func (c *oclient) wantChange(v float64) {
	c.t.Helper()
	ev := c.nextEvent(outageWait)
	if ev == nil {
		c.t.Fatalf("%s: no change event a=%v", c.name, v)
	}
	data, _ := json.Marshal(ev)
	if want := fmt.Sprintf(`{"data":{"values":{"a":%v}},"event":"test.model.change"}`, v); string(data) != want {
		c.t.Fatalf("%s: got %s, want %s", c.name, data, want)
	}
	c.apply(ev)
}

// TestOutageClose: by default, losing NATS closes every WebSocket client
// with 1001 (going away), answers upgrades and HTTP API requests with 503
// and /readyz with 503; once NATS is back the gateway serves again, from
// an empty cache: a resource changed during the outage is served as it is
// now, not as it was cached.
func TestOutageClose(t *testing.T) {
	ns := restest.StartNATSProcess(t)
	svc := newOutageSvc(t, ns.URL())
	gw := startGateway(t, "", ns.URL()) // the default mode
	gw.waitReady(true)

	c := mustDial(t, "client", gw.ws)
	c.subscribe("test.model")
	if st, body := gw.apiGet("test/model"); st != 200 || !strings.Contains(body, `"a":1`) {
		t.Fatalf("GET before the outage: %d %s", st, body)
	}

	ns.Kill()
	start := time.Now()
	c.wantClosed(websocket.CloseGoingAway)
	gw.waitOutages(1, 0)
	t.Logf("client closed %v after the NATS server was killed", time.Since(start).Round(time.Millisecond))
	gw.waitReady(false)
	if st := gw.readyz(); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", st)
	}
	_, err := dialOClient(t, "during", gw.ws)
	var de *dialError
	if !errors.As(err, &de) || de.status != http.StatusServiceUnavailable {
		t.Errorf("WebSocket upgrade during the outage: %v, want status 503", err)
	}
	if st, body := gw.apiGet("test/model"); st != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"system.serviceUnavailable"`) {
		t.Errorf("GET during the outage: %d %s, want 503 system.serviceUnavailable", st, body)
	}

	// Changed while no gateway can hear of it.
	svc.set(map[string]any{"a": 2.0}, nil)

	ns.Start()
	start = time.Now()
	gw.waitOutages(1, 1)
	gw.waitReady(true)
	t.Logf("ready again %v after the NATS server restarted", time.Since(start).Round(time.Millisecond))
	svc.waitConnected()
	if st := gw.readyz(); st != http.StatusOK {
		t.Errorf("/readyz after the outage: %d, want 200", st)
	}
	if st, body := gw.apiGet("test/model"); st != 200 || body != `{"a":2}` {
		t.Errorf("GET after the outage: %d %s, want 200 {\"a\":2}", st, body)
	}
	c2 := mustDial(t, "reconnected", gw.ws)
	c2.subscribe("test.model")
	if want := map[string]any{"a": 2.0}; !reflect.DeepEqual(c2.models["test.model"], want) {
		t.Fatalf("after the outage: %v, want %v (stale cache?)", c2.models["test.model"], want)
	}
	svc.change(map[string]any{"a": 3.0})
	c2.wantChange(3)
}

// TestOutageResync: with nats.outage resync, a client subscribed through
// the outage keeps its connection; its requests during the outage fail at
// once with system.serviceUnavailable; when NATS is back it gets the
// changes made meanwhile as ordinary events (change, add, remove, and an
// unsubscribe for access revoked), and ends with exactly what a new
// subscriber gets. Events flow again afterwards.
func TestOutageResync(t *testing.T) {
	ns := restest.StartNATSProcess(t)
	svc := newOutageSvc(t, ns.URL())
	gw := startGateway(t, schema.OutageResync, ns.URL())
	gw.waitReady(true)

	c := mustDial(t, "client", gw.ws)
	for _, rid := range []string{"test.model", "test.collection", "test.secret"} {
		c.subscribe(rid)
	}
	svc.change(map[string]any{"a": 5.0})
	c.wantChange(5)

	ns.Kill()
	gw.waitOutages(1, 0)
	gw.waitReady(false)
	if st := gw.readyz(); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", st)
	}
	// Requests fail at once, not after the request timeout (3s).
	for _, m := range []string{"get.test.other", "call.test.model.set", "subscribe.test.another"} {
		if d := c.wantError(m, "system.serviceUnavailable"); d > time.Second {
			t.Errorf("%s failed after %v, want at once", m, d)
		}
	}
	if st, body := gw.apiGet("test/model"); st != http.StatusServiceUnavailable || !strings.Contains(body, "system.serviceUnavailable") {
		t.Errorf("GET during the outage: %d %s, want 503", st, body)
	}

	// Changed while no gateway can hear of it: a changed, b deleted, d
	// added; the collection edited at both ends and in the middle; access
	// to test.secret revoked.
	svc.set(map[string]any{"a": 6.0, "c": true, "d": "new"}, []any{"zero", "one", "three", "four"}, "test.secret")

	ns.Start()
	gw.waitOutages(1, 1)
	gw.waitReady(true)
	svc.waitConnected()
	// A new subscriber on a gateway of its own, with nothing cached.
	gw2 := startGateway(t, schema.OutageResync, ns.URL())
	fresh := mustDial(t, "fresh", gw2.ws)
	fresh.subscribe("test.model")
	fresh.subscribe("test.collection")
	if _, err := fresh.request("subscribe.test.secret", nil); err == nil || err["code"] != "system.accessDenied" {
		t.Fatalf("fresh subscribe test.secret: %v, want system.accessDenied", err)
	}
	fresh.gone["test.secret"] = "system.accessDenied"

	c.applyUntil(fresh, 200*time.Millisecond)
	if c.gone["test.secret"] != "system.accessDenied" {
		t.Errorf("test.secret unsubscribed with %q, want system.accessDenied", c.gone["test.secret"])
	}
	if !c.isOpen() {
		t.Fatal("client connection lost")
	}
	svc.change(map[string]any{"a": 7.0})
	c.wantChange(7)
	fresh.wantChange(7)
	if !reflect.DeepEqual(c.models["test.model"], fresh.models["test.model"]) {
		t.Fatalf("after a live event: %v, fresh %v", c.models["test.model"], fresh.models["test.model"])
	}
}

// TestOutageResyncServiceLate: a service that comes back after the
// gateway (here: it starts answering gets late) is waited for: the
// resync retries instead of taking "no responders" for a deletion.
func TestOutageResyncServiceLate(t *testing.T) {
	ns := restest.StartNATSProcess(t)
	svc := newOutageSvc(t, ns.URL())
	gw := startGateway(t, schema.OutageResync, ns.URL())
	gw.waitReady(true)
	c := mustDial(t, "client", gw.ws)
	c.subscribe("test.model")

	ns.Kill()
	gw.waitOutages(1, 0)
	svc.nc.Close() // the service is gone too
	ns.Start()
	gw.waitOutages(1, 1)
	time.Sleep(300 * time.Millisecond) // a few resync attempts get no responders
	// The new model is in place before the service subscribes: a resync
	// attempt may reach it at once.
	svc2 := newOutageSvcModel(t, map[string]any{"a": 2.0}, ns.URL())

	ev := c.nextEvent(outageWait)
	if ev == nil || ev["event"] != "test.model.change" {
		t.Fatalf("got %v, want a change event of test.model (not a delete)", ev)
	}
	c.apply(ev)
	if want := map[string]any{"a": 2.0}; !reflect.DeepEqual(c.models["test.model"], want) {
		t.Fatalf("after the resync: %v, want %v", c.models["test.model"], want)
	}
	if n := svc2.getCount("test.model"); n != 1 {
		t.Errorf("the late service answered %d gets, want 1", n)
	}
	if !strings.Contains(gw.logs.String(), "resync: no reply from the service; trying again") {
		t.Error("the resync never retried: the service was not away when it began")
	}
}

// TestClusterScaleOut: two gateways on a three-node NATS cluster, each
// given every node's URL, with two clients each. Every event, a
// system.reset and conn token events reach the clients of both gateways.
// Then the node each gateway is connected to is killed, in turn: in
// resync mode no client loses its connection and all end with the data
// changed meanwhile; in close mode the clients of the gateway that lost
// its node are closed with 1001 and can reconnect at once (the gateway
// failed over to another node), while the others stay.
func TestClusterScaleOut(t *testing.T) {
	for _, mode := range []string{schema.OutageResync, schema.OutageClose} {
		t.Run(mode, func(t *testing.T) {
			nodes := restest.StartNATSCluster(t, 3)
			urls := make([]string, len(nodes))
			for i, n := range nodes {
				urls[i] = n.URL()
			}
			svc := newOutageSvc(t, urls...)
			svc.waitReachable(urls...)
			gws := []*gateway{startGateway(t, mode, urls...), startGateway(t, mode, urls...)}
			var clients []*oclient
			byGW := map[*oclient]*gateway{}
			for i, gw := range gws {
				gw.waitReady(true)
				for j := range 2 {
					c := mustDial(t, fmt.Sprintf("gw%d-client%d", i+1, j+1), gw.ws)
					c.subscribe("test.model")
					clients = append(clients, c)
					byGW[c] = gw
				}
			}
			// Events reach every client of every gateway.
			for v := 1; v <= 3; v++ {
				svc.change(map[string]any{"a": float64(10 + v)})
				for _, c := range clients {
					c.wantChange(float64(10 + v))
				}
			}
			// So does a system.reset.
			svc.set(map[string]any{"a": 20.0, "b": "x", "c": true}, []any{})
			svc.reset()
			for _, c := range clients {
				c.wantChange(20)
			}
			// And a token event, to whichever gateway holds the connection.
			for _, c := range clients {
				c.wantError("subscribe.test.private", "system.accessDenied")
				if _, err := c.request("auth.test.user.login", nil); err != nil {
					t.Fatalf("%s: login: %v", c.name, err)
				}
				c.subscribe("test.private")
			}

			// Kill a node a gateway is connected to, twice.
			for round := 1; round <= 2; round++ {
				var victim *restest.NATSProcess
				for _, n := range nodes {
					if n.ClientCount("resedge") > 0 {
						victim = n
						break
					}
				}
				if victim == nil {
					t.Fatal("no node has a gateway connection")
				}
				affected := victim.ClientCount("resedge")
				backBefore := make([]int, len(gws))
				for i, gw := range gws {
					_, backBefore[i] = gw.outages()
				}
				getsBefore := svc.getCount("test.model")
				t.Logf("round %d: killing %s (%d of the 2 gateways on it)", round, victim.Name, affected)
				start := time.Now()
				victim.Kill()
				// Wait until the gateways on it are back, on another node.
				hit := map[*gateway]bool{}
				waitUntil(t, "gateways back on another node", func() bool {
					for i, gw := range gws {
						if _, b := gw.outages(); b > backBefore[i] {
							hit[gw] = true
						}
					}
					return len(hit) == affected
				})
				for _, gw := range gws {
					gw.waitReady(true)
				}
				t.Logf("round %d: gateways serving again %v after the kill", round, time.Since(start).Round(time.Millisecond))
				svc.waitConnected()
				var live []string
				for _, n := range nodes {
					if n != victim {
						live = append(live, n.URL())
					}
				}
				svc.waitReachable(live...)
				switch mode {
				case schema.OutageResync:
					// No client lost. The resync's get requests reach the
					// service after the gateways' event subscriptions were
					// sent again, so events find them.
					for _, c := range clients {
						if !c.isOpen() {
							t.Fatalf("%s: connection lost", c.name)
						}
					}
					waitUntil(t, "resync get requests", func() bool { return svc.getCount("test.model") >= getsBefore+affected })
				case schema.OutageClose:
					// The clients of a gateway that lost its node are
					// closed; they reconnect to the same gateway, which
					// serves again. The others stay.
					for i, c := range clients {
						if !hit[byGW[c]] {
							if !c.isOpen() {
								t.Fatalf("%s: closed, but its gateway kept its node", c.name)
							}
							continue
						}
						c.wantClosed(websocket.CloseGoingAway)
						nc := mustDial(t, c.name+"-again", byGW[c].ws)
						nc.subscribe("test.model")
						byGW[nc] = byGW[c]
						clients[i] = nc
					}
				}
				// Every client, kept or new, gets the next event.
				next := float64(30 + round)
				svc.change(map[string]any{"a": next})
				for _, c := range clients {
					c.wantChange(next)
				}
				victim.Start()
				for _, n := range nodes {
					n.WaitRoutes(len(nodes) - 1)
				}
			}
		})
	}
}
