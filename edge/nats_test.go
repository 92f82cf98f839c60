package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// logBuffer collects log output (restest.LogBuffer) and can wait for a
// line.
type logBuffer struct{ restest.LogBuffer }

// waitFor polls until the log contains s or the timeout passes.
func (b *logBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q:\n%s", s, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// startTestServer starts a NATS server on a random port, optionally
// requiring a user and password.
func startTestServer(t *testing.T, user, pass string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Username: user, Password: pass,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("test NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// roundTrip checks that a message published on nc reaches a subscriber on
// a separate TCP connection to url, as a service would use.
func roundTrip(t *testing.T, nc *nats.Conn, url string) {
	t.Helper()
	svc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("service connection to %s: %v", url, err)
	}
	defer svc.Close()
	if _, err := svc.Subscribe("get.test.model", func(m *nats.Msg) { m.Respond([]byte(`{"result":{}}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request("get.test.model", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if string(msg.Data) != `{"result":{}}` {
		t.Fatalf("response = %q", msg.Data)
	}
}

func TestConnectNATSEmbedded(t *testing.T) {
	port := restest.FreePort(t)
	log, logs := newTestLogger()
	nc, embedded, err := connectNATS(schema.NATS{}, port, false, log)
	if err != nil {
		t.Fatalf("connectNATS: %v", err)
	}
	if embedded == nil {
		t.Fatal("no embedded server returned")
	}
	defer func() {
		nc.Close()
		embedded.Shutdown()
		embedded.WaitForShutdown()
	}()

	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if embedded.ClientURL() != url {
		t.Errorf("embedded URL = %s, want %s", embedded.ClientURL(), url)
	}
	for _, want := range []string{"level=INFO msg=\"Embedded NATS server started\"", "Services can connect to " + url} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// The embedded server's own log lines are at debug level.
	if !strings.Contains(logs.String(), "level=DEBUG msg=\"Starting nats-server\" component=nats-server") {
		t.Errorf("embedded server log not routed at debug level:\n%s", logs.String())
	}
	roundTrip(t, nc, url)
}

func TestConnectNATSEmbeddedPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	log, _ := newTestLogger()
	nc, embedded, err := connectNATS(schema.NATS{}, port, false, log)
	if err == nil {
		nc.Close()
		embedded.Shutdown()
		t.Fatal("want an error for a port in use")
	}
	for _, want := range []string{
		fmt.Sprintf("port %d", port),
		"already in use",
		fmt.Sprintf("--nats nats://127.0.0.1:%d", port),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestConnectNATSExternal(t *testing.T) {
	const secret = "s3cr3tpw"
	s := startTestServer(t, "gw", secret)
	addr := s.Addr().(*net.TCPAddr)
	url := fmt.Sprintf("nats://gw:%s@127.0.0.1:%d", secret, addr.Port)

	log, logs := newTestLogger()
	nc, embedded, err := connectNATS(schema.NATS{URLs: []string{url}}, restest.FreePort(t), false, log) // the port must stay unused
	if err != nil {
		t.Fatalf("connectNATS: %v", err)
	}
	defer nc.Close()
	if embedded != nil {
		t.Fatal("an embedded server was started although a URL was given")
	}
	logs.waitFor(t, "Connected to NATS")
	roundTrip(t, nc, url)

	// Losing the server is logged, without the password, and the client
	// keeps trying to reconnect.
	s.Shutdown()
	logs.waitFor(t, "Disconnected from NATS")
	if nc.IsClosed() {
		t.Error("connection closed after a disconnect; it should reconnect forever")
	}
	out := logs.String()
	if strings.Contains(out, secret) {
		t.Errorf("log contains the NATS password:\n%s", out)
	}
	if !strings.Contains(out, "gw:xxxxx@127.0.0.1") {
		t.Errorf("log lacks the redacted URL:\n%s", out)
	}
}

func TestConnectNATSCommaList(t *testing.T) {
	s := startTestServer(t, "", "")
	urls := []string{fmt.Sprintf("nats://127.0.0.1:%d", restest.FreePort(t)), s.ClientURL()}
	log, _ := newTestLogger()
	nc, _, err := connectNATS(schema.NATS{URLs: urls}, 0, false, log)
	if err != nil {
		t.Fatalf("connectNATS(%q): %v", urls, err)
	}
	defer nc.Close()
	if nc.ConnectedUrl() != s.ClientURL() {
		t.Errorf("connected to %s, want %s", nc.ConnectedUrl(), s.ClientURL())
	}
}

func TestConnectNATSFailure(t *testing.T) {
	port := restest.FreePort(t)
	url := fmt.Sprintf("nats://user:hunter22@127.0.0.1:%d", port)
	log, logs := newTestLogger()
	_, _, err := connectNATS(schema.NATS{URLs: []string{url}}, 0, false, log)
	if err == nil {
		t.Fatal("want a connection error")
	}
	want := fmt.Sprintf("failed to connect to NATS at nats://user:xxxxx@127.0.0.1:%d", port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if strings.Contains(err.Error()+logs.String(), "hunter22") {
		t.Errorf("password leaked: error %q, log:\n%s", err, logs.String())
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://user:pass@host:4222", "nats://user:xxxxx@host:4222"},
		{"nats://token@host:4222", "nats://xxxxx@host:4222"},
		{"nats://host:4222", "nats://host:4222"},
		{"tls://u:p@h:4443/path?x=1", "tls://u:xxxxx@h:4443/path?x=1"},
		{"user:pass@host:4222", "user:xxxxx@host:4222"},
		{"nats://u:p@ss@host", "nats://u:xxxxx@host"},
		{"nats://u:@host", "nats://u:xxxxx@host"},
		{"host:4222", "host:4222"},
		{"nats://host/a@b", "nats://host/a@b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	list := "nats://a:1@h1:4222, nats://tok@h2:4222,nats://h3:4222"
	if got, want := redactURLs(list), "nats://a:xxxxx@h1:4222,nats://xxxxx@h2:4222,nats://h3:4222"; got != want {
		t.Errorf("redactURLs = %q, want %q", got, want)
	}
}

func TestRedactError(t *testing.T) {
	list := "nats://bob:topsecret@h1:4222,nats://mytoken@h2:4222"
	err := errors.New("dial nats://bob:topsecret@h1:4222 failed; auth mytoken rejected; pw topsecret")
	got := redactError(err, list)
	if strings.Contains(got, "topsecret") || strings.Contains(got, "mytoken") {
		t.Errorf("redactError left a secret: %q", got)
	}
	if !strings.Contains(got, "nats://bob:xxxxx@h1:4222") {
		t.Errorf("redactError = %q, want the redacted URL", got)
	}
}

func TestReconnectDelay(t *testing.T) {
	prev := time.Duration(0)
	for attempt := 1; attempt <= 20; attempt++ {
		d := reconnectDelay(attempt)
		if d < reconnectMinDelay || d > reconnectMaxDelay+reconnectMaxDelay/5 {
			t.Fatalf("attempt %d: delay %s out of range", attempt, d)
		}
		if d < prev*5/6 {
			t.Errorf("attempt %d: delay %s shrank from %s", attempt, d, prev)
		}
		prev = d
	}
	if d := reconnectDelay(100); d < reconnectMaxDelay {
		t.Errorf("delay after many attempts = %s, want at least %s", d, reconnectMaxDelay)
	}
}
