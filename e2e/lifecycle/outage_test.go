package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// outageEnv is a nats-server child process, which the test kills and
// starts again, and a service on it that reconnects.
func outageEnv(t *testing.T) *restest.NATSProcess {
	t.Helper()
	ns := restest.StartNATSProcess(t)
	svc, err := nats.Connect(ns.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	for subject, reply := range map[string]string{
		"get.test.>":    `{"result":{"model":{"n":1}}}`,
		"access.test.>": `{"result":{"get":true}}`,
	} {
		reply := []byte(reply)
		if _, err := svc.Subscribe(subject, func(m *nats.Msg) { m.Respond(reply) }); err != nil {
			t.Fatal(err)
		}
	}
	svc.Flush()
	return ns
}

// TestOutageBinary: the resedge binary when the NATS server is killed. By
// default (close) it closes its clients with 1001, keeps running,
// reconnects once NATS is back and serves again; with --nats.outage exit
// it exits with code 1 and says why, as Resgate does. --nats takes a
// comma-separated list (here with a URL where nothing listens first).
func TestOutageBinary(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"close", "exit"} {
		t.Run(mode, func(t *testing.T) {
			ns := outageEnv(t)
			a := restest.FreeAddr(t)
			args := []string{"--nats", "nats://" + restest.FreeAddr(t) + "," + ns.URL(), "-i", "127.0.0.1", "-p", a[strings.LastIndexByte(a, ':')+1:]}
			if mode == "exit" {
				args = append(args, "--nats.outage", "exit")
			}
			p := start(t, args)
			c := dial(t, "ws://"+a+"/")
			c.Subscribe()

			ns.Kill()
			c.WantClosed()
			if mode == "exit" {
				if code := p.wait(); code != 1 {
					t.Fatalf("exit code %d, want 1", code)
				}
				for _, want := range []string{"lost NATS connection (nats.outage is exit)", `msg="Server failed, stopping"`} {
					if !strings.Contains(p.Logs(), want) {
						t.Fatalf("log lacks %q:\n%s", want, p.Logs())
					}
				}
				return
			}
			p.waitLog("NATS connection lost: closing every client", 1)
			ns.Start()
			p.waitLog("NATS connection back", 1)
			c = dial(t, "ws://"+a+"/")
			c.Subscribe()
			select {
			case <-p.done:
				t.Fatalf("resedge exited (code %d)", p.code)
			default:
			}
		})
	}
}
