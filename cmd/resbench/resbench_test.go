package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSmoke builds resbench, resceiling and resedge, runs every scenario
// once in a tiny configuration against resedge and the ceiling, and checks
// that the report parses and its numbers are sane.
func TestSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resbench reads /proc")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/resbench", "./cmd/resceiling", "./cmd/resedge")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonFile := filepath.Join(dir, "out.json")
	scenarios := "fanout20,storm,call,httpget,memory"
	cmd := exec.Command(filepath.Join(dir, "resbench"),
		"--gateway", "resedge="+filepath.Join(dir, "resedge")+" --nats {nats} --addr {addr} --port {port}",
		"--ceiling",
		"--rounds", "1", "--duration", "400ms", "--warmup", "100ms", "--settle", "100ms",
		"--scenarios", scenarios,
		"--storm-clients", "4", "--call-clients", "4", "--http-clients", "2", "--memory-conns", "200",
		// Payloads with extra fields: the call and httpget scenarios check
		// that the result and the body are the service's, and the ceiling
		// gets the model as its --body.
		"--fields", "3",
		"--json", jsonFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("resbench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("resbench ran in %v:\n%s", time.Since(start).Round(time.Millisecond), stdout.String())

	for _, want := range []string{"== fanout20:", "== storm:", "== call:", "== httpget:", "== memory:", "resedge/ceiling", "msg/s", "cached req/s", "KiB/conn"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text output lacks %q", want)
		}
	}

	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON output: %v", err)
	}
	if rep.Failed != 0 || len(rep.Runs) != 10 {
		t.Fatalf("got %d runs, %d failed; want 10, 0", len(rep.Runs), rep.Failed)
	}
	for _, r := range rep.Runs {
		if len(r.Metrics) == 0 {
			t.Errorf("%s %s: no metrics", r.Scenario, r.Target)
		}
		for k, v := range r.Metrics {
			f := float64(v)
			switch {
			case k == "KiB/conn":
				// RSS growth over a few hundred connections is within
				// what the collector hands back to the OS between the two
				// readings, so in this tiny run it can come out negative;
				// only its being a number is checked here.
				if math.IsNaN(f) || math.IsInf(f, 0) {
					t.Errorf("%s %s: %s = %v", r.Scenario, r.Target, k, f)
				}
			case strings.HasSuffix(k, "errors"):
				if f != 0 {
					t.Errorf("%s %s: %s = %v", r.Scenario, r.Target, k, f)
				}
			case strings.HasSuffix(k, "cpu %") || strings.HasPrefix(k, "cpu µs/") || strings.Contains(k, " cpu µs/"):
				// CPU is read in 10 ms clock ticks: a short window may
				// see none.
				if math.IsNaN(f) || f < 0 {
					t.Errorf("%s %s: %s = %v", r.Scenario, r.Target, k, f)
				}
			default:
				if math.IsNaN(f) || f <= 0 {
					t.Errorf("%s %s: %s = %v, want > 0", r.Scenario, r.Target, k, f)
				}
			}
		}
	}
	// Every rate scenario measures the NATS server's CPU too, and the CPU
	// of all processes per operation includes the gateway's.
	for _, r := range rep.Runs {
		if r.Scenario == "memory" {
			continue
		}
		n := 0
		for k, v := range r.Metrics {
			prefix, unit, ok := strings.Cut(k, "all cpu µs/")
			if !ok {
				continue
			}
			n++
			if _, ok := r.Metrics[prefix+"nats cpu %"]; !ok {
				t.Errorf("%s %s: %q without %q", r.Scenario, r.Target, k, prefix+"nats cpu %")
			}
			if gw := float64(r.Metrics[prefix+"cpu µs/"+unit]); float64(v) < gw {
				t.Errorf("%s %s: %s = %v, below the gateway's own %v", r.Scenario, r.Target, k, float64(v), gw)
			}
		}
		if n == 0 {
			t.Errorf("%s %s: no all cpu µs metric", r.Scenario, r.Target)
		}
	}
	if len(rep.Scenarios) != 5 {
		t.Fatalf("got %d scenario summaries, want 5", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		for _, m := range s.Metrics {
			if m.Targets["resedge"].N != 1 || m.Targets["ceiling"].N != 1 {
				t.Errorf("%s %s: summary %+v", s.Name, m.Metric, m.Targets)
			}
		}
	}
}

// TestPayloads: the payloads are JSON with the extra fields asked for,
// the call result is the object inside the call response, and the
// default ceiling command carries the model as one --body word.
func TestPayloads(t *testing.T) {
	for _, n := range []int{0, 3} {
		p := newPayloads(n)
		var model, reply, params map[string]any
		for _, c := range []struct {
			b []byte
			v *map[string]any
		}{{p.model, &model}, {p.callParams, &params}, {p.callReply, &reply}} {
			if err := json.Unmarshal(c.b, c.v); err != nil {
				t.Fatalf("fields %d: %s: %v", n, c.b, err)
			}
		}
		var get struct {
			Result struct{ Model map[string]any }
		}
		if err := json.Unmarshal(p.modelReply, &get); err != nil || !reflect.DeepEqual(get.Result.Model, model) {
			t.Errorf("fields %d: get response %s does not hold the model %s", n, p.modelReply, p.model)
		}
		var result map[string]any
		if err := json.Unmarshal(p.callResult(), &result); err != nil || !reflect.DeepEqual(result, reply["result"]) {
			t.Errorf("fields %d: callResult %s, response %s", n, p.callResult(), p.callReply)
		}
		if len(model) != 2+2*n || len(params) != 1+2*n || len(result) != 1+2*n {
			t.Errorf("fields %d: %d, %d, %d fields", n, len(model), len(params), len(result))
		}
		o, err := parseFlags([]string{"--ceiling", "--fields", strconv.Itoa(n)}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		words, err := expandCommand(o.targets[0].Command, "nats://127.0.0.1:1", 1)
		if err != nil {
			t.Fatal(err)
		}
		hasBody := len(words) >= 2 && words[len(words)-2] == "--body" && words[len(words)-1] == string(p.model)
		if hasBody != (n > 0) {
			t.Errorf("fields %d: ceiling command %q", n, words)
		}
	}
	if _, err := parseFlags([]string{"--ceiling", "--fields", "-1"}, io.Discard); err == nil {
		t.Error("--fields -1: no error")
	}
}

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"a b  c", []string{"a", "b", "c"}},
		{`/bin/x --nats {nats} -p {port}`, []string{"/bin/x", "--nats", "{nats}", "-p", "{port}"}},
		{`'a b' "c d" e\ f`, []string{"a b", "c d", "e f"}},
		{`"a\"b" 'c\d' ''`, []string{`a"b`, `c\d`, ""}},
	} {
		got, err := splitCommand(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "  ", `'a`, `"a`, `a\`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q): no error", bad)
		}
	}
	got, err := expandCommand("x --nats {nats} --addr {addr} --port {port}", "nats://127.0.0.1:1", 42)
	if want := []string{"x", "--nats", "nats://127.0.0.1:1", "--addr", "127.0.0.1", "--port", "42"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("expandCommand = %q, %v; want %q", got, err, want)
	}
}

func TestParseT(t *testing.T) {
	for in, want := range map[string]int64{
		`{"event":"bench.model.change","data":{"values":{"t":1700000000123456789}}}`: 1700000000123456789,
		`{"values":{"t":42}}`: 42,
	} {
		if got, ok := parseT([]byte(in)); !ok || got != want {
			t.Errorf("parseT(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{`{"name":"bench"}`, `{"t":}`, `{"t":"x"}`} {
		if _, ok := parseT([]byte(in)); ok {
			t.Errorf("parseT(%s): ok", in)
		}
	}
}

func TestStats(t *testing.T) {
	s := summarize([]float64{3, math.NaN(), 1, 2})
	if s.Median != 2 || s.Min != 1 || s.Max != 3 || s.N != 3 {
		t.Errorf("summarize = %+v", s)
	}
	if s := summarize([]float64{4, 1, 2, 3}); s.Median != 2.5 {
		t.Errorf("even median = %v", s.Median)
	}
	if s := summarize([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("empty summarize = %+v", s)
	}
	samples := []int64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	m := map[string]float64{}
	latencyMetrics(m, "x ", samples)
	if m["x p50 ms"] != 5e-6 || m["x p99 ms"] != 10e-6 {
		t.Errorf("latencyMetrics = %v", m)
	}
	for v, want := range map[float64]string{412345: "412k", 41234: "41.2k", 1234: "1234", 12.345: "12.3", 0.012345: "0.0123", 0: "0", 12345678: "12.3M", math.NaN(): "-"} {
		if got := formatNum(v); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", v, got, want)
		}
	}
	for in, want := range map[string]int{"1k": 1000, "5k": 5000, "20": 20} {
		if got, err := parseCount(in); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v", in, got, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"--gateway", "a=x --port {port}", "--ceiling", "--ceiling-cmd", "c --port {port}", "--rounds", "2"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.targets) != 2 || o.targets[0].Name != "a" || o.targets[1].Name != "ceiling" || o.rounds != 2 {
		t.Errorf("targets %+v rounds %d", o.targets, o.rounds)
	}
	for _, bad := range [][]string{
		{},
		{"--gateway", "noequals"},
		{"--gateway", "a=x", "--gateway", "a=y"},
		{"--gateway", "ceiling=x", "--ceiling"},
		{"--gateway", "a=x", "--rounds", "0"},
	} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
	if _, err := scenarioByName("fanout"); err == nil {
		t.Error("scenario fanout: no error")
	}
	if s, err := scenarioByName("fanout5k"); err != nil || !strings.Contains(s.desc, "5000") {
		t.Errorf("fanout5k: %v", err)
	}
}
