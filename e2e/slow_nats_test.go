package e2e

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// burstUntilDropped publishes bursts of change events of test.model, each
// adding a key of its own (so that a client that misses one lacks its key
// for good), until the gateway reports that NATS dropped messages to it (a
// slow consumer: a 1-message inbound buffer cannot keep up with a burst),
// and returns the service's model then.
func burstUntilDropped(t *testing.T, svc *outageSvc, gw *gateway) map[string]any {
	t.Helper()
	const burst, rounds = 2000, 10
	v := 0
	for round := 0; !strings.Contains(gw.logs.String(), "slow consumer"); round++ {
		if round == rounds {
			t.Fatalf("NATS dropped no message in %d bursts of %d events into a 1-message buffer", rounds, burst)
		}
		svc.mu.Lock()
		for range burst {
			v++
			key := "k" + strconv.Itoa(v)
			svc.model[key] = float64(v)
			b, _ := json.Marshal(map[string]any{"values": map[string]any{key: v}})
			if err := svc.nc.Publish("event.test.model.change", b); err != nil {
				svc.mu.Unlock()
				t.Fatal(err)
			}
		}
		svc.mu.Unlock()
		if err := svc.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return maps.Clone(svc.model)
}

// TestNATSSlowConsumer: when NATS drops messages to the gateway because
// its inbound buffer (nats.bufferSize) is full, events may have been
// missed. Resgate stops; resedge resynchronizes its cache instead: the
// client keeps its connection and ends with the service's data, and later
// events reach it. In exit mode it stops, as Resgate does.
func TestNATSSlowConsumer(t *testing.T) {
	oneMessage := func(c *schema.Config) { c.NATS.BufferSize = 1 }

	for _, mode := range []string{schema.OutageClose, schema.OutageResync} {
		t.Run(mode+" mode resyncs", func(t *testing.T) {
			ns := restest.StartNATSProcess(t)
			svc := newOutageSvc(t, ns.URL())
			gw := startGatewayWith(t, oneMessage, mode, ns.URL())
			c := mustDial(t, "client", gw.ws)
			c.subscribe("test.model")

			model := burstUntilDropped(t, svc, gw)
			want := &oclient{models: map[string]map[string]any{"test.model": model}}
			c.applyUntil(want, 300*time.Millisecond)
			if !c.isOpen() {
				t.Fatal("the client lost its connection")
			}
			if !strings.Contains(gw.logs.String(), "resynchronizing cached resources") {
				t.Error("no resync logged")
			}
			if n := slowConsumerMetric(t, gw); n < 1 {
				t.Errorf("resedge_nats_slow_consumer_total %v, want at least 1", n)
			}
			svc.change(map[string]any{"a": -1.0})
			c.wantChange(-1)
		})
	}

	t.Run("exit", func(t *testing.T) {
		ns := restest.StartNATSProcess(t)
		svc := newOutageSvc(t, ns.URL())
		gw := startGatewayWith(t, oneMessage, schema.OutageExit, ns.URL())
		c := mustDial(t, "client", gw.ws)
		c.subscribe("test.model")
		burstUntilDropped(t, svc, gw)
		select {
		case err := <-gw.srv.Failed():
			if !strings.Contains(err.Error(), "slow consumer") {
				t.Fatalf("failed with %v, want a slow consumer", err)
			}
		case <-time.After(outageWait):
			t.Fatal("the gateway did not fail on a slow consumer in exit mode")
		}
	})
}

// slowConsumerMetric returns resedge_nats_slow_consumer_total from the
// gateway's metrics listener.
func slowConsumerMetric(t *testing.T, gw *gateway) float64 {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(gw.rdy, "readyz") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "resedge_nats_slow_consumer_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no resedge_nats_slow_consumer_total in the metrics:\n%s", b)
	return 0
}
