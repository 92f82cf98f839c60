package conformance

import (
	"bufio"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// TestMetricsMatchResgate runs Resgate and resedge with --metricsport, puts
// the same traffic through each (a WebSocket client subscribing, getting
// and calling, HTTP GETs and a POST), and scrapes both: every series
// Resgate exposes must be in resedge's output with the same type, and the
// resgate_* series must have the same values, so that dashboards and
// alerts built on Resgate's metrics work unchanged.
func TestMetricsMatchResgate(t *testing.T) {
	resgateBin, resedgeBin := binaries(t)
	scrapes := map[string]map[string]sample{}
	for _, g := range []struct{ name, bin string }{{"resgate", resgateBin}, {"resedge", resedgeBin}} {
		ns := restest.RunNATS(t)
		serveMetricsTraffic(t, ns.ClientURL())
		mport := restest.FreePort(t)
		gw := startGateway(t, g.name, g.bin, ns.ClientURL(), "--metricsport", strconv.Itoa(mport))
		maddr := "127.0.0.1:" + strconv.Itoa(mport)
		metricsTraffic(t, gw.addr)
		// The leaving client's close may take a moment longer to count
		// on a loaded machine: wait for it, up to 5 s.
		sc := scrapeOpenMetrics(t, maddr)
		for deadline := time.Now().Add(5 * time.Second); sc["resgate_ws_current_connections"].value != 1 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			sc = scrapeOpenMetrics(t, maddr)
		}
		scrapes[g.name] = sc
	}
	want, got := scrapes["resgate"], scrapes["resedge"]
	if len(want) < 10 {
		t.Fatalf("Resgate exposed only %d series", len(want))
	}
	var names []string
	for series := range want {
		names = append(names, series)
	}
	sort.Strings(names)
	for _, series := range names {
		w := want[series]
		g, ok := got[series]
		switch {
		case !ok:
			t.Errorf("series %s (%s) missing", series, w.typ)
		case g.typ != w.typ && !(w.typ == "info" && g.typ == "gauge"):
			// client_golang has no info type: an info family is a gauge
			// with the same sample, name_info = 1.
			t.Errorf("series %s: type %s, Resgate's is %s", series, g.typ, w.typ)
		case strings.HasPrefix(series, "resgate_") && !strings.HasPrefix(series, "resgate_info") &&
			!strings.Contains(series, "_created") && g.value != w.value:
			// _created samples are timestamps; every other resgate_*
			// value must match.
			t.Errorf("series %s = %v, Resgate's is %v", series, g.value, w.value)
		}
	}
}

// sample is one series of a scrape.
type sample struct {
	typ   string // the family's # TYPE
	value float64
}

// scrapeOpenMetrics gets /metrics from addr in the OpenMetrics format,
// which Resgate always serves, and returns its series keyed by name and
// labels, with label values that name versions replaced by "*".
func scrapeOpenMetrics(t *testing.T, addr string) map[string]sample {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics on %s: %s", addr, resp.Status)
	}
	out := map[string]sample{}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series := normalizeSeries(line[:i])
		name, _, _ := strings.Cut(series, "{")
		out[series] = sample{typ: familyType(types, name), value: v}
	}
	return out
}

// normalizeSeries sorts a series' labels and replaces version label
// values, which differ between the two programs, by "*".
func normalizeSeries(s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return s
	}
	parts := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == "version" {
			parts[i] = k + `="*"`
		}
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// familyType is the type of the family a sample name belongs to: OpenMetrics
// names counters' samples <family>_total and infos' <family>_info.
func familyType(types map[string]string, name string) string {
	if typ, ok := types[name]; ok {
		return typ
	}
	for _, suffix := range []string{"_total", "_info", "_created", "_bucket", "_count", "_sum"} {
		if typ, ok := types[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) {
			return typ
		}
	}
	return "?"
}

// serveMetricsTraffic plays a service on natsURL: test.model is readable
// and callable by anyone.
func serveMetricsTraffic(t *testing.T, natsURL string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	nc.Subscribe("access.test.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":{"get":true,"call":"*"}}`)) })
	nc.Subscribe("get.test.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":{"model":{"n":1}}}`)) })
	nc.Subscribe("call.test.>", func(m *nats.Msg) { m.Respond([]byte(`{"result":null}`)) })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// metricsTraffic is the same traffic for both gateways: a WebSocket client
// that stays connected and subscribed, a second one that leaves, and HTTP
// requests.
func metricsTraffic(t *testing.T, addr string) {
	t.Helper()
	roundTrip := func(ws *websocket.Conn, msg string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	stay, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stay.Close() })
	roundTrip(stay, `{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`)
	roundTrip(stay, `{"id":2,"method":"subscribe.test.a"}`)
	roundTrip(stay, `{"id":3,"method":"get.test.b"}`)
	roundTrip(stay, `{"id":4,"method":"call.test.a.do"}`)
	roundTrip(stay, `{"id":5,"method":"auth.test.a.login"}`)

	leave, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(leave, `{"id":1,"method":"subscribe.test.c"}`)
	roundTrip(leave, `{"id":2,"method":"unsubscribe.test.c"}`)
	leave.Close()

	for _, r := range []struct{ method, path string }{
		{"GET", "/api/test/a"},
		{"GET", "/api/test/d"},
		{"POST", "/api/test/a/do"},
		{"GET", "/api/nope/x"},
	} {
		req, _ := http.NewRequest(r.method, "http://"+addr+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Let the leaving connection's close and the cache's unsubscriptions
	// settle, in both, before the scrape.
	time.Sleep(300 * time.Millisecond)
}
