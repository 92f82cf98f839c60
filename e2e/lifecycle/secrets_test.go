package lifecycle

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// TestSecretsNotLogged runs the binary at trace level (-DV) against a NATS
// server that requires a password given in the URL, and plays a flow that
// carries every secret a gateway sees: the URL password, a WebSocket
// upgrade's cookie and authorization header (which auth requests forward
// to services), a password in an auth request, and a token from a token
// event (which access requests carry). Then it stops the binary, and also
// runs it once with an invalid URL holding a password. None of the secrets
// may appear in anything it printed.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"URL password":  "URLPASS-s3cr3t",
		"cookie":        "COOKIE-s3cr3t",
		"authorization": "AUTHZ-s3cr3t",
		"password":      "PASSWORD-s3cr3t",
		"token":         "TOKEN-s3cr3t",
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Username: "gw", Password: secrets["URL password"]})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(timeout) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	port := ns.Addr().(interface{ String() string }).String()
	natsURL := "nats://gw:" + secrets["URL password"] + "@" + port
	svc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	tokenSeen := make(chan bool, 1)
	for subject, h := range map[string]nats.MsgHandler{
		"auth.test.login": func(m *nats.Msg) {
			var req struct {
				CID string `json:"cid"`
			}
			json.Unmarshal(m.Data, &req)
			svc.Publish("conn."+req.CID+".token", []byte(`{"token":{"user":"bob","key":"`+secrets["token"]+`"}}`))
			svc.Flush()
			m.Respond([]byte(`{"result":{"user":"bob"}}`))
		},
		"access.test.>": func(m *nats.Msg) {
			select {
			case tokenSeen <- strings.Contains(string(m.Data), secrets["token"]):
			default:
			}
			m.Respond([]byte(`{"result":{"get":true}}`))
		},
		"get.test.>": func(m *nats.Msg) { m.Respond([]byte(`{"result":{"model":{"n":1}}}`)) },
	} {
		if _, err := svc.Subscribe(subject, h); err != nil {
			t.Fatal(err)
		}
	}
	svc.Flush()

	a := restest.FreeAddr(t)
	p := start(t, []string{"--nats", natsURL, "-i", "127.0.0.1", "-p", a[strings.LastIndexByte(a, ':')+1:], "-DV"})
	d := websocket.Dialer{HandshakeTimeout: timeout}
	ws, _, err := d.Dial("ws://"+a+"/", http.Header{
		"Cookie":        {"session=" + secrets["cookie"]},
		"Authorization": {"Bearer " + secrets["authorization"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(timeout))
	for i, req := range []string{
		`{"id":1,"method":"version","params":{"protocol":"1.2.3"}}`,
		`{"id":2,"method":"auth.test.login","params":{"user":"bob","password":"` + secrets["password"] + `"}}`,
		`{"id":3,"method":"subscribe.test.model"}`,
	} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
		_, data, err := ws.ReadMessage()
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if err != nil || json.Unmarshal(data, &reply) != nil || reply.ID != i+1 || reply.Result == nil {
			t.Fatalf("reply to %s: %s %v", req, data, err)
		}
		if i == 1 {
			// The token event and the reply travel different roads.
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !<-tokenSeen {
		t.Fatal("the access request did not carry the token: the flow did not run")
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	logs := p.Logs()

	// An invalid URL holding a password is refused without showing it.
	bad := launch(t, []string{"--nats", "http://gw:" + secrets["URL password"] + "@127.0.0.1:1", "-p", "0"})
	if code := bad.wait(); code == 0 {
		t.Fatal("an invalid NATS URL was accepted")
	}
	logs += bad.Logs()

	for _, want := range []string{`auth.test.login`, `[redacted]`, `gw:xxxxx@`, `=>> conn.`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	for what, secret := range secrets {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("%s in the log: %s", what, line)
			}
		}
	}
}

// TestLameDuck: on SIGTERM the binary closes its WebSocket clients with a
// going-away frame spread over shutdown.lameDuck, refusing new connections
// from the start, and exits 0.
func TestLameDuck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := restest.FreeAddr(t)
	const window = 800 * time.Millisecond
	p := start(t, []string{"--nats", e.ns.ClientURL(), "-i", "127.0.0.1", "-p", a[strings.LastIndexByte(a, ':')+1:], "--shutdown.lameDuck", "800ms"})
	const n = 4
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, "ws://"+a+"/")
		clients[i].Subscribe()
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	p.waitLog("Lame duck", 1)
	refused(t, a)
	var last time.Duration
	for _, c := range clients {
		c.WantClosed()
		last = time.Since(start)
	}
	if last < window*(n-1)/n-100*time.Millisecond {
		t.Errorf("last client closed after %v: not spread over %v", last, window)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
