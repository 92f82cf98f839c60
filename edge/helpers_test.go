package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// timeout bounds every wait in these tests.
const timeout = 5 * time.Second

// env is a NATS server with a service answering for test.* resources.
type env struct {
	t   *testing.T
	ns  *natsserver.Server
	svc *nats.Conn
}

// newEnv starts a NATS server and a service: every test.* resource is a
// model {"n":1} that anyone may get.
func newEnv(t *testing.T) *env {
	t.Helper()
	ns := restest.RunNATS(t)
	svc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	reply := func(data string) nats.MsgHandler {
		return func(m *nats.Msg) { m.Respond([]byte(data)) }
	}
	if _, err := svc.Subscribe("get.test.>", reply(`{"result":{"model":{"n":1}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe("access.test.>", reply(`{"result":{"get":true}}`)); err != nil {
		t.Fatal(err)
	}
	svc.Flush()
	return &env{t: t, ns: ns, svc: svc}
}

// config returns a configuration on the env's NATS server with listeners.
func (e *env) config(ls ...*schema.Listener) *schema.Config {
	c := schema.Default()
	c.NATS.URLs = []string{e.ns.ClientURL()}
	c.Listeners = map[string]*schema.Listener{}
	for _, l := range ls {
		c.Listeners[l.Name] = l
	}
	return c
}

// event publishes a change event on test.model.
func (e *env) event(n int) {
	e.t.Helper()
	if err := e.svc.Publish("event.test.model.change", []byte(`{"values":{"n":`+strconv.Itoa(n)+`}}`)); err != nil {
		e.t.Fatal(err)
	}
	e.svc.Flush()
}

// start starts a server for cfg and stops it at the end of the test.
func (e *env) start(cfg *schema.Config) *Server {
	e.t.Helper()
	s := New(cfg, testLogger(e.t))
	if err := s.Start(); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// testLogger returns a logger whose output is shown if the test fails.
func testLogger(t *testing.T) *slog.Logger {
	log, buf := newTestLogger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", buf.String())
		}
	})
	return log
}

// listenerAt returns an http listener with defaults on addr.
func listenerAt(name, addr string) *schema.Listener { return schema.DefaultListener(name, addr) }

// localAddr returns 127.0.0.1 with a port that was free a moment ago.
func localAddr(t *testing.T) string { return restest.FreeAddr(t) }

// client is a WebSocket client (restest.WSClient).
type client = restest.WSClient

// dial connects a WebSocket client to url, failing the test if it cannot.
func dial(t *testing.T, url string) *client { return restest.DialWS(t, url) }

func tryDial(t *testing.T, url string) (*client, error) { return restest.TryDialWS(t, url) }

// writeCert writes a new self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths and the certificate's serial number.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "resedge test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, serial
}

// websocketDialerTLS dials wss:// URLs of servers with test certificates.
func websocketDialerTLS() *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: timeout}
}
