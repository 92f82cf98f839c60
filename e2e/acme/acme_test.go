// Package acme tests automatic HTTPS end to end: resedge (edge.Server,
// from a configuration) obtains certificates from a real ACME CA (pebble,
// in process) over real HTTP-01 and TLS-ALPN-01 challenges, on loopback,
// and serves WebSocket clients that trust only that CA's root; a real NATS
// server connects it to the service the test plays.
//
// The tests set pebble's environment knobs, so they do not run in
// parallel.
package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/edge"
	"github.com/resedge/resedge/internal/acmetest"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/schema"
	"github.com/resedge/resedge/tlsmgr"
)

// timeout bounds every wait for a certificate.
const timeout = 20 * time.Second

// gateway is resedge with automatic HTTPS in front of a NATS server and a
// service, and the CA it gets certificates from.
type gateway struct {
	t         *testing.T
	ca        *acmetest.CA
	svc       *nats.Conn
	s         *edge.Server
	https     string // the TLS listener's address
	http      string // the redirect listener's address
	logs      *restest.LogBuffer
	tlsPort   int
	httpPort  int
	dnsServer string
}

// setup starts NATS, a service (test.model is {"n":1}), a DNS server and
// pebble, and picks the listeners' ports, which pebble validates on.
func setup(t *testing.T, validity time.Duration, eab map[string]string) *gateway {
	t.Helper()
	ns := restest.RunNATS(t)
	svc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	reply := func(data string) nats.MsgHandler { return func(m *nats.Msg) { m.Respond([]byte(data)) } }
	svc.Subscribe("get.test.model", reply(`{"result":{"model":{"n":1}}}`))
	svc.Subscribe("access.test.>", reply(`{"result":{"get":true}}`))
	svc.Flush()
	g := &gateway{t: t, svc: svc, logs: &restest.LogBuffer{}, dnsServer: acmetest.StartDNS(t)}
	g.tlsPort, g.httpPort = restest.FreePort(t), restest.FreePort(t)
	g.https, g.http = acmetest.Addr(g.tlsPort), acmetest.Addr(g.httpPort)
	g.ca = acmetest.Start(t, acmetest.Options{HTTPPort: g.httpPort, TLSPort: g.tlsPort, DNS: g.dnsServer, Validity: validity, EAB: eab})
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("RESTEST_LOG") != "" {
			t.Logf("resedge log:\n%s", g.logs.String())
		}
	})
	return g
}

// acme returns ACME settings for pebble, with storage of the test's own.
func (g *gateway) acme(domains ...string) *schema.ACME {
	return &schema.ACME{
		Domains:        domains,
		Email:          "ops@resedge.test",
		CA:             g.ca.URL,
		CARoots:        []string{g.ca.APIRootFile},
		Storage:        acmetest.StorageDir(g.t),
		AltHTTPPort:    g.httpPort,
		AltTLSALPNPort: g.tlsPort,
	}
}

// config returns a configuration with an https listener on the TLS port
// using the TLS settings "auto", and a redirect listener on the HTTP port.
func (g *gateway) config(auto *schema.ACME) *schema.Config {
	c := schema.Default()
	c.NATS.URLs = []string{g.svc.ConnectedUrl()}
	c.TLS = map[string]*schema.TLS{"auto": {ACME: auto}}
	https := schema.DefaultListener("https", g.https)
	https.TLS = &schema.TLSRef{Name: "auto"}
	c.Listeners = map[string]*schema.Listener{
		"https": https,
		"http":  {Name: "http", Kind: schema.KindRedirect, Address: g.http, RedirectTo: "https"},
	}
	return c
}

// start validates and runs cfg.
func (g *gateway) start(cfg *schema.Config, opts tlsmgr.Options) {
	g.t.Helper()
	if err := schema.Validate(cfg); err != nil {
		g.t.Fatalf("invalid configuration: %v", err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g.s = edge.New(cfg, opts.Logger, edge.WithTLSOptions(opts))
	if err := g.s.Start(); err != nil {
		g.t.Fatalf("Start: %v", err)
	}
	g.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.s.Shutdown(ctx)
	})
}

// handshake connects to the TLS listener as host, trusting only the CA's
// root, and returns the certificate served.
func (g *gateway) handshake(host string) (*x509.Certificate, error) {
	// The handshake may wait for an on-demand certificate to be obtained.
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", g.https, &tls.Config{ServerName: host, RootCAs: g.ca.Roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitCert waits until the TLS listener serves host a certificate that
// verifies, and returns it.
func (g *gateway) waitCert(host string) *x509.Certificate {
	g.t.Helper()
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		cert, err := g.handshake(host)
		if err == nil {
			return cert
		}
		last = err
	}
	g.t.Fatalf("no valid certificate for %s after %s: %v", host, timeout, last)
	return nil
}

// expiryMetric returns the expiry metric of domain.
func (g *gateway) expiryMetric(domain string) float64 {
	mfs, err := g.s.Metrics().Registry().Gather()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "resedge_tls_certificate_expiry_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "domain" && l.GetValue() == domain {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestAutomaticHTTPS: resedge obtains a certificate for its hostname
// through each challenge type, answered by its own listeners (HTTP-01 by
// the redirect listener, TLS-ALPN-01 by the https listener), and a wss://
// client that trusts only the CA's root subscribes to a resource and gets
// its events. The expiry is logged and in the metric.
func TestAutomaticHTTPS(t *testing.T) {
	tests := []struct {
		name      string
		challenge string
		disable   func(*schema.ACME)
		// plain serves port 80 with an http listener instead of a
		// redirect one.
		plain bool
	}{
		{"HTTP-01", "http-01", func(a *schema.ACME) { a.DisableTLSALPNChallenge = true }, false},
		{"HTTP-01 on a plain http listener", "http-01", func(a *schema.ACME) { a.DisableTLSALPNChallenge = true }, true},
		{"TLS-ALPN-01", "tls-alpn-01", func(a *schema.ACME) { a.DisableHTTPChallenge = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := setup(t, 0, nil)
			host := "rt-" + strings.ToLower(tt.challenge) + ".resedge.test"
			a := g.acme(host)
			tt.disable(a)
			cfg := g.config(a)
			if tt.plain {
				cfg.Listeners["http"] = schema.DefaultListener("http", g.http)
			}
			g.start(cfg, tlsmgr.Options{})
			began := time.Now()
			cert := g.waitCert(host)
			t.Logf("certificate obtained through %s in %v", tt.challenge, time.Since(began).Round(time.Millisecond))
			if cert.DNSNames[0] != host {
				t.Fatalf("certificate for %v, want %s", cert.DNSNames, host)
			}
			logs := g.logs.String()
			if got := solved(logs); strings.Join(got, ",") != tt.challenge {
				t.Errorf("challenges tried: %v, want %s alone", got, tt.challenge)
			}
			if g.ca.Orders() != 1 {
				t.Errorf("%d ACME orders, want 1", g.ca.Orders())
			}
			if !strings.Contains(logs, `msg="Certificate obtained" component=tlsmgr domain=`+host) {
				t.Errorf("no log line for the certificate obtained")
			}
			if got := g.expiryMetric(host); got != float64(cert.NotAfter.Unix()) {
				t.Errorf("expiry metric %v, want %v", got, cert.NotAfter.Unix())
			}

			// A wss:// client that trusts only the CA's root.
			ws := g.dialWS(host)
			ws.send(`{"id":1,"method":"subscribe.test.model"}`)
			if m := ws.next(); !strings.Contains(m, `"id":1`) || !strings.Contains(m, `"n":1`) {
				t.Fatalf("subscribe reply %s", m)
			}
			g.svc.Publish("event.test.model.change", []byte(`{"values":{"n":2}}`))
			if m := ws.next(); !strings.Contains(m, `"event":"test.model.change"`) || !strings.Contains(m, `"n":2`) {
				t.Fatalf("event %s", m)
			}

			// The port 80 listener still serves what is not a challenge
			// as usual: a redirect, or a 404.
			resp, err := noRedirect.Get("http://" + g.http + "/.well-known/acme-challenge/unknown-token")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusMovedPermanently
			if tt.plain {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want {
				t.Errorf("unknown challenge token: %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

// solved returns the challenge types the ACME client tried, from its
// log.
func solved(logs string) []string {
	var types []string
	for _, m := range regexp.MustCompile(`msg="trying to solve challenge" .*challenge_type=(\S+)`).FindAllStringSubmatch(logs, -1) {
		types = append(types, m[1])
	}
	return uniq(types)
}

var noRedirect = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// TestRenewal: a certificate that comes close to expiry is renewed in the
// background and served in place of the old one, with its new expiry in
// the metric and the log. Certificates here live 10 s: with renewal
// checks every 250 ms, certmagic renews once a third of that is left.
func TestRenewal(t *testing.T) {
	g := setup(t, 10*time.Second, nil)
	host := "renew.resedge.test"
	g.start(g.config(g.acme(host)), tlsmgr.Options{RenewCheckInterval: 250 * time.Millisecond})
	first := g.waitCert(host)
	var renewed *x509.Certificate
	for deadline := time.Now().Add(timeout); renewed == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := g.handshake(host); err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = c
		}
	}
	if renewed == nil {
		t.Fatalf("certificate not renewed within %s (expires %s)", timeout, first.NotAfter)
	}
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate expires %s, not after the first's %s", renewed.NotAfter, first.NotAfter)
	}
	if !strings.Contains(g.logs.String(), `msg="Certificate renewed" component=tlsmgr domain=`+host) {
		t.Error("no log line for the renewal")
	}
	waitFor(t, "the metric to follow", func() bool { return g.expiryMetric(host) >= float64(renewed.NotAfter.Unix()) })
}

// TestOnDemand: a hostname that is neither configured nor allowed gets no
// certificate and causes no ACME order; an allowed one gets its
// certificate during its first handshake. Allowed by the allow-list or by
// the ask URL.
func TestOnDemand(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Query().Get("domain"))
		mu.Unlock()
		if r.URL.Query().Get("domain") != "shop.customers.resedge.test" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer ask.Close()
	tests := []struct {
		name             string
		onDemand         schema.OnDemand
		allowed, refused string
		wantAsked        []string
	}{
		{"allow-list", schema.OnDemand{Allow: []string{"*.tenants.resedge.test"}}, "acme.tenants.resedge.test", "evil.resedge.test", nil},
		{"ask URL", schema.OnDemand{Ask: ask.URL + "/allowed"}, "shop.customers.resedge.test", "evil.resedge.test", []string{"evil.resedge.test", "shop.customers.resedge.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			asked = nil
			mu.Unlock()
			g := setup(t, 0, nil)
			a := g.acme()
			a.OnDemand = &tt.onDemand
			a.DisableHTTPChallenge = true
			g.start(g.config(a), tlsmgr.Options{})

			if _, err := g.handshake(tt.refused); err == nil {
				t.Fatalf("%s got a certificate", tt.refused)
			}
			if n := g.ca.Orders(); n != 0 {
				t.Fatalf("%d ACME orders for a refused name, want none", n)
			}
			cert, err := g.handshake(tt.allowed)
			if err != nil {
				t.Fatalf("%s: %v", tt.allowed, err)
			}
			if cert.DNSNames[0] != tt.allowed || g.ca.Orders() != 1 {
				t.Fatalf("certificate for %v after %d orders; want %s after 1", cert.DNSNames, g.ca.Orders(), tt.allowed)
			}
			// Later handshakes use it: no new order.
			g.waitCert(tt.allowed)
			if _, err := g.handshake(tt.refused); err == nil || g.ca.Orders() != 1 {
				t.Fatalf("refused name: err %v, %d orders", err, g.ca.Orders())
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(uniq(asked), ",") != strings.Join(tt.wantAsked, ",") {
				t.Errorf("asked about %v, want %v", asked, tt.wantAsked)
			}
		})
	}
}

// TestSharedCertificate: two listeners whose settings name the same
// domain share one certificate: one order, the same certificate served on
// both.
func TestSharedCertificate(t *testing.T) {
	g := setup(t, 0, nil)
	host := "shared.resedge.test"
	cfg := g.config(g.acme(host))
	cfg.TLS["auto"].ACME.DisableHTTPChallenge = true
	second := schema.DefaultListener("second", acmetest.Addr(restest.FreePort(t)))
	second.TLS = &schema.TLSRef{Name: "auto"}
	cfg.Listeners["second"] = second
	g.start(cfg, tlsmgr.Options{})
	first := g.waitCert(host)
	c, err := tls.Dial("tcp", second.Address, &tls.Config{ServerName: host, RootCAs: g.ca.Roots})
	if err != nil {
		t.Fatalf("second listener: %v", err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(first.SerialNumber) != 0 {
		t.Errorf("second listener serves serial %v, want the shared %v", got, first.SerialNumber)
	}
	if g.ca.Orders() != 1 {
		t.Errorf("%d orders, want 1", g.ca.Orders())
	}
}

// TestNoSNI: a client that sends no server name (it dials the IP address)
// gets the certificate of the first domain; with defaultServerName, of
// that one — live after a reload. Without the default, certmagic would
// fail such handshakes.
func TestNoSNI(t *testing.T) {
	g := setup(t, 0, nil)
	a := g.acme("first.resedge.test", "second.resedge.test")
	a.DisableHTTPChallenge = true
	cfg := g.config(a)
	g.start(cfg, tlsmgr.Options{})
	g.waitCert("first.resedge.test")
	g.waitCert("second.resedge.test")

	// noSNI handshakes by IP address (Go sends no SNI for an IP) and
	// returns the name the certificate served verifies for.
	noSNI := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", g.https, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("handshake without SNI: %v", err)
		}
		defer c.Close()
		chain := c.ConnectionState().PeerCertificates
		leaf, inter := chain[0], x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		for _, name := range []string{"first.resedge.test", "second.resedge.test"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: g.ca.Roots, Intermediates: inter}); err == nil {
				return name
			}
		}
		t.Fatalf("certificate served without SNI verifies for neither domain: %v", leaf.DNSNames)
		return ""
	}
	if got := noSNI(); got != "first.resedge.test" {
		t.Errorf("without SNI: certificate of %s, want the first domain's", got)
	}

	next := g.config(a)
	b := *a
	b.DefaultServerName = "Second.resedge.test"
	next.TLS["auto"].ACME = &b
	if err := schema.Validate(next); err != nil {
		t.Fatal(err)
	}
	if err := g.s.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := noSNI(); got != "second.resedge.test" {
		t.Errorf("without SNI after setting defaultServerName: certificate of %s, want second.resedge.test", got)
	}
	if n := g.ca.Orders(); n != 2 {
		t.Errorf("%d orders, want 2 (the default server name orders nothing)", n)
	}
}

// TestReloadDomains: a reload that changes the domains obtains the new
// one and stops serving and renewing the old one, without restarting the
// listener's other clients... and a reload that keeps them orders nothing.
func TestReloadDomains(t *testing.T) {
	g := setup(t, 0, nil)
	a := g.acme("before.resedge.test")
	a.DisableHTTPChallenge = true
	cfg := g.config(a)
	g.start(cfg, tlsmgr.Options{})
	g.waitCert("before.resedge.test")

	if err := g.s.Reload(cfg); err != nil {
		t.Fatalf("Reload, unchanged: %v", err)
	}
	if n := g.ca.Orders(); n != 1 {
		t.Fatalf("%d orders after a reload that changed nothing, want 1", n)
	}

	next := g.config(a)
	b := *a
	b.Domains = []string{"after.resedge.test"}
	next.TLS["auto"].ACME = &b
	if err := g.s.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	g.waitCert("after.resedge.test")
	if _, err := g.handshake("before.resedge.test"); err == nil {
		t.Error("the removed domain is still served")
	}
	if g.expiryMetric("before.resedge.test") != 0 || g.expiryMetric("after.resedge.test") == 0 {
		t.Errorf("expiry metric: before %v, after %v; want only after", g.expiryMetric("before.resedge.test"), g.expiryMetric("after.resedge.test"))
	}
}

// TestExternalAccountBinding: a CA that requires an External Account
// Binding issues with the configured one.
func TestExternalAccountBinding(t *testing.T) {
	g := setup(t, 0, map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"})
	host := "eab.resedge.test"
	a := g.acme(host)
	a.DisableHTTPChallenge = true
	a.EAB = &schema.EAB{KeyID: "kid-1", MACKey: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}
	g.start(g.config(a), tlsmgr.Options{})
	if cert := g.waitCert(host); cert.DNSNames[0] != host {
		t.Fatalf("certificate for %v", cert.DNSNames)
	}
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// wsClient is a WebSocket client.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialWS connects to wss://host:port/ (dialing the TLS listener),
// trusting only the CA's root.
func (g *gateway) dialWS(host string) *wsClient {
	g.t.Helper()
	d := websocket.Dialer{
		TLSClientConfig: &tls.Config{RootCAs: g.ca.Roots},
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, g.https)
		},
		HandshakeTimeout: 5 * time.Second,
	}
	ws, _, err := d.Dial("wss://"+host+":"+strconv.Itoa(g.tlsPort)+"/", nil)
	if err != nil {
		g.t.Fatalf("wss dial: %v", err)
	}
	g.t.Cleanup(func() { ws.Close() })
	return &wsClient{t: g.t, ws: ws}
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message, compacted.
func (c *wsClient) next() string {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// waitFor polls cond until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
