package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// scrape gets /metrics from addr in the Prometheus text format and returns
// each sample's value by series (name and labels as printed).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: timeout}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// metricsListener is a metrics listener on a free port.
func metricsListener(t *testing.T) *schema.Listener {
	return &schema.Listener{Name: "m", Kind: schema.KindMetrics, Address: localAddr(t)}
}

// TestMetrics: the metrics move with WebSocket connections, requests,
// events, errors, HTTP requests and reloads.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	a, ml := listenerAt("a", localAddr(t)), metricsListener(t)
	cfg := e.config(a, ml)
	s := e.start(cfg)
	before := scrape(t, ml.Address)

	c := dial(t, "ws://"+a.Address+"/")
	c.Subscribe()
	e.event(2)
	c.WantEvent(2)
	// An error: no service answers nope.* (system.notFound, no responders).
	c.NextID++
	c.WS.WriteJSON(map[string]any{"id": c.NextID, "method": "get.nope.x"})
	if m := c.Next(); m["error"] == nil {
		t.Fatalf("get.nope.x: %v", m)
	}
	c.NextID++
	c.WS.WriteJSON(map[string]any{"id": c.NextID, "method": "new.test.col"}) // counts as call
	c.Next()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, "http://"+a.Address+"/api/test/model", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A reload that works (a listener added) and one that does not (a NATS
	// setting changed).
	next := e.config(a, ml, listenerAt("b", localAddr(t)))
	if err := s.Reload(next); err != nil {
		t.Fatal(err)
	}
	bad := e.config(a, ml)
	bad.NATS.RequestTimeout = schema.Duration(7 * time.Second)
	if err := s.Reload(bad); err == nil {
		t.Fatal("reload changing nats.requestTimeout worked")
	}

	// A message is counted once written, which may be just after the
	// client has read it.
	delivered := `resedge_ws_messages_delivered_total{listener="a"}`
	waitFor(t, "4 messages delivered", func() bool { return scrape(t, ml.Address)[delivered]-before[delivered] >= 4 })
	after := scrape(t, ml.Address)
	for series, want := range map[string]float64{
		`resgate_ws_current_connections`:                                       1,
		`resgate_ws_connections_total`:                                         1,
		`resgate_ws_requests_total{method="subscribe"}`:                        1,
		`resgate_ws_requests_total{method="get"}`:                              1,
		`resgate_ws_requests_total{method="call"}`:                             1,
		`resgate_http_requests_total{method="GET"}`:                            2,
		`resedge_listener_connections{listener="a"}`:                           1,
		`resedge_listener_connections_total{listener="a"}`:                     1,
		`resedge_nats_events_total{type="resource"}`:                           1,
		`resedge_ws_messages_delivered_total{listener="a"}`:                    4, // subscribe reply, event, two errors
		`resedge_client_errors_total{code="system.accessDenied"}`:              1, // new.test.col: access without call
		`resedge_client_errors_total{code="system.notFound"}`:                  1,
		`resedge_http_requests_total{listener="a",method="GET",status="101"}`:  1,
		`resedge_http_requests_total{listener="a",method="GET",status="200"}`:  1,
		`resedge_http_requests_total{listener="a",method="HEAD",status="200"}`: 1,
		`resedge_config_reloads_total{result="success"}`:                       1,
		`resedge_config_reloads_total{result="failure"}`:                       1,
		`resedge_nats_request_timeouts_total{type="get"}`:                      0,
	} {
		if d := after[series] - before[series]; d != want {
			t.Errorf("%s moved by %v, want %v (before %v, after %v)", series, d, want, before[series], after[series])
		}
	}
	if after[`resedge_nats_requests_total{type="access"}`] < 2 {
		t.Errorf("access requests: %v, want at least 2", after[`resedge_nats_requests_total{type="access"}`])
	}
	if d := after[`resedge_nats_request_duration_seconds_count{type="get"}`]; d < 1 || d != after[`resedge_nats_requests_total{type="get"}`] {
		t.Errorf("get requests: histogram count %v, counter %v", d, after[`resedge_nats_requests_total{type="get"}`])
	}
	if after["resgate_cache_resources"] < 1 {
		t.Errorf("resgate_cache_resources = %v, want at least 1", after["resgate_cache_resources"])
	}
	if after["resgate_cache_subscriptions"] < 1 {
		t.Errorf("resgate_cache_subscriptions = %v, want at least 1", after["resgate_cache_subscriptions"])
	}

	// The connection closing brings the gauges back.
	c.WS.Close()
	waitFor(t, "connection gauges at 0", func() bool {
		m := scrape(t, ml.Address)
		return m["resgate_ws_current_connections"] == 0 && m[`resedge_listener_connections{listener="a"}`] == 0
	})
}

// TestMetricsResgateNames: every series Resgate v1.8.0 exposes is there,
// with its labels, and OpenMetrics is served to scrapers that ask for it.
func TestMetricsResgateNames(t *testing.T) {
	e := newEnv(t)
	ml := metricsListener(t)
	s := New(e.config(listenerAt("a", localAddr(t)), ml), testLogger(t), WithVersion("9.9.9"))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	req, _ := http.NewRequest("GET", "http://"+ml.Address+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want OpenMetrics", ct)
	}
	if !strings.HasSuffix(string(body), "# EOF\n") {
		t.Error("OpenMetrics body without # EOF")
	}
	m := scrape(t, ml.Address)
	want := []string{
		`resgate_info{protocol="1.2.3",version="9.9.9"}`,
		`go_memstats_sys_bytes`,
		`resgate_ws_current_connections`,
		`resgate_ws_connections_total`,
		`resgate_cache_resources`,
		`resgate_cache_subscriptions`,
	}
	for _, method := range []string{"get", "subscribe", "unsubscribe", "call", "auth"} {
		want = append(want, `resgate_ws_requests_total{method="`+method+`"}`)
	}
	for _, method := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		want = append(want, `resgate_http_requests_total{method="`+method+`"}`)
	}
	for _, series := range want {
		if _, ok := m[series]; !ok {
			t.Errorf("series %s missing", series)
		}
	}
	if m[`resgate_info{protocol="1.2.3",version="9.9.9"}`] != 1 {
		t.Error("resgate_info is not 1")
	}
	goInfo := false
	for series := range m {
		goInfo = goInfo || strings.HasPrefix(series, `go_info{version="go`)
	}
	if !goInfo {
		t.Error("go_info{version} missing")
	}
	if _, ok := m["process_resident_memory_bytes"]; !ok {
		t.Error("process collector missing")
	}
}

// TestReadyz: /readyz is 503 while NATS is away and 200 once a NATS server
// is back on the same port; it is 503 while listeners drain on Shutdown.
func TestReadyz(t *testing.T) {
	// The port is one the kernel never hands out on its own: while the
	// server is away, no outgoing connection can take it.
	natsPort := restest.FreePort(t)
	ns := restest.RunNATSAt(t, natsPort)
	cfg := schema.Default()
	cfg.NATS.URLs = []string{ns.ClientURL()}
	a, ml := listenerAt("a", localAddr(t)), metricsListener(t)
	cfg.Listeners = map[string]*schema.Listener{"a": a, "m": ml}
	s := New(cfg, testLogger(t))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	wantReady := func(status int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("/readyz %d", status), func() bool { return readyz(t, ml.Address) == status })
	}
	// natsState checks the NATS connection metrics.
	natsState := func(connected, disconnects float64) {
		t.Helper()
		m := scrape(t, ml.Address)
		if m["resedge_nats_connected"] != connected || m["resedge_nats_disconnects_total"] != disconnects {
			t.Errorf("resedge_nats_connected %v, resedge_nats_disconnects_total %v; want %v, %v",
				m["resedge_nats_connected"], m["resedge_nats_disconnects_total"], connected, disconnects)
		}
	}
	wantReady(200)
	if s.Ready() != nil {
		t.Fatal(s.Ready())
	}
	natsState(1, 0)

	ns.Shutdown()
	ns.WaitForShutdown()
	wantReady(503)
	natsState(0, 1)
	if got := get(t, ml.Address, "/healthz"); got != 200 {
		t.Errorf("/healthz while NATS is away: %d", got)
	}

	// A NATS server back on the same port.
	ns2 := restest.RunNATSAt(t, natsPort)
	wantReady(200)
	natsState(1, 1)

	// Draining: a slow HTTP request keeps listener a draining, while the
	// metrics listener still answers.
	svc, err := nats.Connect(ns2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svc.Subscribe("access.slow.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":{"get":true}}`)) })
	reached := make(chan struct{}, 1)
	svc.Subscribe("get.slow.>", func(m *nats.Msg) {
		reached <- struct{}{}
		time.Sleep(time.Second)
		m.Respond([]byte(`{"result":{"model":{"slow":true}}}`))
	})
	svc.Flush()
	done := make(chan int, 1)
	go func() { done <- get(t, a.Address, "/api/slow/model") }()
	select { // the request reaches the service
	case <-reached:
	case <-time.After(timeout):
		t.Fatal("the HTTP request never reached the service")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	// While the slow request drains (a second), /readyz turns 503.
	wantReady(503)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != 200 {
		t.Errorf("request drained with %d", got)
	}
}

func readyz(t *testing.T, addr string) int { return get(t, addr, "/readyz") }

// get returns the status of GET path on addr, or 0 if the request fails.
func get(t *testing.T, addr, path string) int {
	resp, err := (&http.Client{Timeout: timeout}).Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds, for at most 15s (NATS reconnects back
// off up to 5s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
