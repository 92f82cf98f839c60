package edge

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/acmetest"
	"github.com/resedge/resedge/schema"
)

// TestACMEListener: a listener with ACME settings starts and serves TLS
// (offering acme-tls/1 for TLS-ALPN-01) while its certificate is being
// obtained in the background; a plain listener passes requests that are
// not pending ACME challenges to its usual routes. (Obtaining certificates
// from a real CA is tested in e2e/acme.)
func TestACMEListener(t *testing.T) {
	e := newEnv(t)
	plain := listenerAt("plain", localAddr(t))
	auto := listenerAt("auto", localAddr(t))
	auto.TLS = &schema.TLSRef{Inline: &schema.TLS{ACME: &schema.ACME{
		Domains: []string{"rt.resedge.test"},
		CA:      "https://127.0.0.1:1/directory", // nothing there: the order keeps failing
		Storage: acmetest.StorageDir(t),
		// HTTP-01 on the plain listener's port.
		AltHTTPPort: port(t, plain.Address),
	}}}
	cfg := e.config(plain, auto)
	if err := schema.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if err := Verify(cfg); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	log, logs := newTestLogger()
	s := New(cfg, log)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Shutdown(t.Context())
	logs.waitFor(t, `msg="Managing certificates" component=tlsmgr domains=[rt.resedge.test]`)

	for _, protos := range [][]string{{"http/1.1"}, {"acme-tls/1"}} {
		c, err := tls.Dial("tcp", auto.Address, &tls.Config{ServerName: "rt.resedge.test", NextProtos: protos, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Fatalf("%v: a certificate before any was obtained", protos)
		}
		if !strings.Contains(err.Error(), "remote error: tls") {
			t.Errorf("%v: %v, want a TLS alert from the listener", protos, err)
		}
	}

	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + plain.Address + "/.well-known/acme-challenge/unknown")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "system.notFound") {
		t.Errorf("not a pending challenge: %d %s, want the listener's own 404", resp.StatusCode, body)
	}
}

// TestCertificateExpiryMetric: the expiry of a static certificate is in
// the resedge_tls_certificate_expiry_timestamp_seconds metric, by name,
// from start and after a reload brings a new certificate.
func TestCertificateExpiryMetric(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	l := listenerAt("secure", localAddr(t))
	l.TLS = &schema.TLSRef{Inline: &schema.TLS{CertFile: certFile, KeyFile: keyFile}}
	cfg := e.config(l)
	s := e.start(cfg)
	expiry := func() string {
		rec := httptest.NewRecorder()
		s.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, `resedge_tls_certificate_expiry_timestamp_seconds{domain="127.0.0.1"}`) {
				return strings.Fields(line)[1]
			}
		}
		return ""
	}
	first := expiry()
	if first == "" {
		t.Fatal("no expiry metric for 127.0.0.1")
	}
	time.Sleep(1100 * time.Millisecond) // a later NotAfter, to the second
	writeCert(t, dir)
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := expiry(); got == first || got == "" {
		t.Errorf("expiry after a new certificate: %s, was %s", got, first)
	}
}

// port returns the port of a host:port address.
func port(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}
