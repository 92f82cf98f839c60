package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestConnectionLogLines: with trace on, every log line about a WebSocket
// connection or an HTTP API request (connect, each client message in and
// out, disconnect) names both the connection ID and the listener, so that
// an operator can follow one client through the log.
func TestConnectionLogLines(t *testing.T) {
	e := newEnv(t)
	a := listenerAt("pub", localAddr(t))
	cfg := e.config(a)
	cfg.Log.Trace = true
	buf := new(logBuffer)
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg, log)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	c := dial(t, "ws://"+a.Address+"/")
	c.Subscribe()
	c.WS.Close()
	resp, err := http.Get("http://" + a.Address + "/api/test/model")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	buf.waitFor(t, `"msg":"disconnected"`)

	cids := map[string]bool{}
	var connLines int
	for _, line := range bytes.Split([]byte(buf.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		// Client traffic is traced as "<-- …" (to the client) and "-->
		// …" (from it).
		isConn := msg == "connected" || msg == "disconnected" || strings.HasPrefix(msg, "<-- ") || strings.HasPrefix(msg, "--> ")
		cid, hasCID := rec["cid"].(string)
		if !isConn && !hasCID {
			continue
		}
		connLines++
		if !hasCID || cid == "" || rec["listener"] != "pub" {
			t.Errorf("log line without cid and listener: %s", line)
		}
		cids[cid] = true
	}
	// The WebSocket connection: connected, request in, reply out,
	// disconnected; the HTTP request: its request in, on a second cid.
	if connLines < 5 || len(cids) != 2 {
		t.Errorf("%d connection log lines over %d connections, want at least 5 over 2:\n%s", connLines, len(cids), buf.String())
	}
}
