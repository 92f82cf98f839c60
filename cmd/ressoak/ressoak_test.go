package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestSmoke builds ressoak and resedge and runs a short, small soak: every
// sample is taken, clients subscribe, unsubscribe and receive events, and
// no protocol error is seen.
func TestSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ressoak reads /proc")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/ressoak", "./cmd/resedge")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonFile := filepath.Join(dir, "report.json")
	cmd := exec.Command(filepath.Join(dir, "ressoak"), "-conns", "50", "-duration", "3s", "-resources", "10",
		"-action-every", "300ms", "-event-interval", "200ms", "-sample-every", "1s", "-json", jsonFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("ressoak: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("ressoak ran in %v:\n%s", time.Since(start).Round(time.Millisecond), stdout.String())
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if rep.ErrorTotal != 0 || rep.Failure != "" {
		t.Fatalf("%d protocol errors, failure %q: %v", rep.ErrorTotal, rep.Failure, rep.FirstErrs)
	}
	names := map[string]sample{}
	for _, s := range rep.Samples {
		names[s.Name] = s
		if s.Err != "" || s.Goroutines <= 0 || s.RSS <= 0 {
			t.Errorf("sample %+v", s)
		}
	}
	for _, n := range []string{"baseline", "start", "middle", "end", "after"} {
		if _, ok := names[n]; !ok {
			t.Errorf("no %s sample", n)
		}
	}
	// 50 connections: their goroutines show (one each, the read loop),
	// and go away with them. The gateway may run a short-lived goroutine
	// or two besides (a metrics scrape's keep-alive connection), at any
	// sample: allow for a few.
	if d := names["start"].Goroutines - names["baseline"].Goroutines; d < 45 {
		t.Errorf("goroutines grew by %d with 50 connections", d)
	}
	if d := names["after"].Goroutines - names["baseline"].Goroutines; d > 10 {
		t.Errorf("goroutines %d above baseline once the clients left", d)
	}
	for _, k := range []string{"subscribes", "unsubscribes", "eventsReceived"} {
		if rep.Totals[k] == 0 {
			t.Errorf("no %s: %v", k, rep.Totals)
		}
	}
	if rep.Totals["subscribes"] <= 100 {
		t.Errorf("%d subscribes: the clients did not act during the soak", rep.Totals["subscribes"])
	}
}

// TestChecks: what the clients count as protocol errors.
func TestChecks(t *testing.T) {
	sub := func(res int, seq int64) func(c *client) {
		return func(c *client) { c.subs[res] = &subState{seq: seq} }
	}
	tests := []struct {
		name  string
		setup func(c *client)
		msgs  []string
		want  func(k *counters) int64
	}{
		{"in order", sub(1, 5), []string{`{"event":"soak.r.1.change","data":{"values":{"seq":6}}}`, `{"event":"soak.r.1.change","data":{"values":{"seq":7}}}`}, nil},
		{"gap", sub(1, 5), []string{`{"event":"soak.r.1.change","data":{"values":{"seq":7}}}`}, func(k *counters) int64 { return k.seqGaps.Load() }},
		{"repeat", sub(1, 5), []string{`{"event":"soak.r.1.change","data":{"values":{"seq":5}}}`}, func(k *counters) int64 { return k.seqBackwards.Load() }},
		{"not subscribed", sub(1, 5), []string{`{"event":"soak.r.2.change","data":{"values":{"seq":1}}}`}, func(k *counters) int64 { return k.unexpectedEvents.Load() }},
		{"other event", sub(1, 5), []string{`{"event":"soak.r.1.remove","data":{"idx":0}}`}, func(k *counters) int64 { return k.unexpectedEvents.Load() }},
		{"malformed", sub(1, 5), []string{`{"event":"soak.r.1.change","data":{"values":{}}}`, `nope`}, func(k *counters) int64 { return k.malformed.Load() }},
		{"unknown reply", sub(1, 5), []string{`{"id":99,"result":null}`}, func(k *counters) int64 { return k.unknownReplies.Load() }},
		{"error reply", func(c *client) { c.pending[3] = pending{kind: reqSubscribe, res: 4} }, []string{`{"id":3,"error":{"code":"system.timeout","message":"Request timeout"}}`}, func(k *counters) int64 { return k.errorReplies.Load() }},
		{"subscribe then events", func(c *client) { c.pending[3] = pending{kind: reqSubscribe, res: 4} },
			[]string{`{"id":3,"result":{"models":{"soak.r.4":{"seq":10}}}}`, `{"event":"soak.r.4.change","data":{"values":{"seq":11}}}`}, nil},
		{"event after unsubscribe reply", func(c *client) {
			c.subs[4] = &subState{seq: 10, unsubscribed: true}
			c.pending[3] = pending{kind: reqUnsubscribe, res: 4}
		}, []string{`{"event":"soak.r.4.change","data":{"values":{"seq":11}}}`, `{"id":3,"result":null}`, `{"event":"soak.r.4.change","data":{"values":{"seq":12}}}`},
			func(k *counters) int64 { return k.unexpectedEvents.Load() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &counters{}
			c := &client{k: k, pending: map[uint64]pending{}, subs: map[int]*subState{}, ready: make(chan struct{}, 8)}
			tt.setup(c)
			for _, m := range tt.msgs {
				var msg message
				if err := json.Unmarshal([]byte(m), &msg); err != nil {
					k.malformed.Add(1)
					continue
				}
				if msg.ID != nil {
					c.reply(*msg.ID, &msg, []byte(m))
				} else {
					c.event(&msg, []byte(m))
				}
			}
			var want int64
			if tt.want != nil {
				want = tt.want(k)
				if want == 0 {
					t.Fatalf("the error was not counted where expected; total %d", k.protocolErrors())
				}
			}
			if got := k.protocolErrors(); got != want {
				t.Fatalf("%d protocol errors, want %d", got, want)
			}
		})
	}
}
