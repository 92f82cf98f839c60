package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/pires/go-proxyproto"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
)

// proxyHeader returns the PROXY protocol header (version 1 or 2) of a
// connection from client to the gateway at addr.
func proxyHeader(t *testing.T, version byte, client, addr string) []byte {
	t.Helper()
	src, err := net.ResolveTCPAddr("tcp", client)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proxyproto.HeaderProxyFromAddrs(version, src, dst).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialWithHeader connects to addr and sends header (none if nil) first,
// as a load balancer does.
func dialWithHeader(t *testing.T, addr string, header []byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(header); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProxyProtocol: behind a TCP load balancer that speaks the PROXY
// protocol, services see the client's address (in the remoteAddr of
// header-auth requests) over HTTP, WebSocket and TLS, with either header
// version; a trusted balancer's connection without a header (a health
// check) is served with its own address; a header from a peer that is not
// trusted is discarded, so a client cannot claim another address.
func TestProxyProtocol(t *testing.T) {
	e := newEnv(t)
	remote := make(chan string, 10)
	for _, subject := range []string{"auth.test.http", "auth.test.ws"} {
		subject := subject
		if _, err := e.svc.Subscribe(subject, func(m *nats.Msg) {
			var req struct {
				RemoteAddr string `json:"remoteAddr"`
			}
			json.Unmarshal(m.Data, &req)
			remote <- subject + " " + req.RemoteAddr
			m.Respond([]byte(`{"result":null}`))
		}); err != nil {
			t.Fatal(err)
		}
	}
	e.svc.Flush()
	certFile, keyFile, _ := writeCert(t, t.TempDir())

	listenerWith := func(name string, allow ...string) *schema.Listener {
		l := listenerAt(name, localAddr(t))
		l.HeaderAuth, l.WSHeaderAuth = "test.http", "test.ws"
		l.ProxyProtocol = &schema.ProxyProtocol{Allow: allow}
		return l
	}
	trusted := listenerWith("trusted", "10.0.0.0/8", "127.0.0.1")
	untrusted := listenerWith("untrusted", "10.0.0.0/8")
	secure := listenerWith("secure", "127.0.0.0/8")
	secure.TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: certFile, KeyFile: keyFile}}
	cfg := e.config(trusted, untrusted, secure)
	if err := schema.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	e.start(cfg)

	// wantRemote waits for the auth request of subject and checks its
	// remote address: want exactly, or, if want is "self", an address of
	// the test's own (127.0.0.1 and some port).
	wantRemote := func(subject, want string) {
		t.Helper()
		select {
		case got := <-remote:
			addr := strings.TrimPrefix(got, subject+" ")
			switch {
			case addr == got:
				t.Fatalf("got the auth request %q, want %s", got, subject)
			case want == "self" && !strings.HasPrefix(addr, "127.0.0.1:"):
				t.Fatalf("%s: remoteAddr %q, want the test's own 127.0.0.1", subject, addr)
			case want != "self" && addr != want:
				t.Fatalf("%s: remoteAddr %q, want %q", subject, addr, want)
			}
		case <-time.After(timeout):
			t.Fatalf("no %s request", subject)
		}
	}
	// get sends an HTTP API GET over c and checks the answer.
	get := func(c net.Conn) {
		t.Helper()
		c.SetDeadline(time.Now().Add(timeout))
		io.WriteString(c, "GET /api/test/model HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("HTTP response: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP status %d, want 200", resp.StatusCode)
		}
	}

	tests := []struct {
		name    string
		l       *schema.Listener
		version byte // 0: no header
		want    string
	}{
		{"v1 header from a trusted balancer", trusted, 1, "203.0.113.7:40001"},
		{"v2 header from a trusted balancer", trusted, 2, "203.0.113.7:40001"},
		{"IPv6 client", trusted, 2, "[2001:db8::7]:40001"},
		{"no header (health check)", trusted, 0, "self"},
		{"header from a peer not trusted", untrusted, 1, "self"},
	}
	for _, tt := range tests {
		t.Run("HTTP/"+tt.name, func(t *testing.T) {
			var header []byte
			if tt.version != 0 {
				client := tt.want
				if client == "self" {
					client = "203.0.113.7:40001"
				}
				header = proxyHeader(t, tt.version, client, tt.l.Address)
			}
			get(dialWithHeader(t, tt.l.Address, header))
			wantRemote("auth.test.http", tt.want)
		})
	}

	t.Run("WebSocket", func(t *testing.T) {
		// The header, then the upgrade: the wsHeaderAuth request has the
		// client's address, and events reach the client (written on the
		// socket under the PROXY protocol wrapper).
		d := &websocket.Dialer{HandshakeTimeout: timeout, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialWithHeader(t, addr, proxyHeader(t, 1, "198.51.100.9:50000", addr)), nil
		}}
		c, err := restest.TryDialWSWith(t, d, "ws://"+trusted.Address+"/")
		if err != nil {
			t.Fatal(err)
		}
		wantRemote("auth.test.ws", "198.51.100.9:50000")
		c.Subscribe()
		for n := 2; n <= 4; n++ {
			e.event(n)
			c.WantEvent(n)
		}
	})

	t.Run("TLS after the header", func(t *testing.T) {
		raw := dialWithHeader(t, secure.Address, proxyHeader(t, 2, "192.0.2.44:443", secure.Address))
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
		get(c)
		wantRemote("auth.test.http", "192.0.2.44:443")
	})
}
