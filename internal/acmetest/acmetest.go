// Package acmetest runs, for tests, a real ACME CA in process (pebble,
// Let's Encrypt's test CA) and a DNS server, both on 127.0.0.1, so that
// certificates are obtained over real HTTP-01 and TLS-ALPN-01 challenges
// without reaching the Internet.
//
// Start sets pebble's environment knobs with t.Setenv, so tests using it
// cannot run in parallel.
package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"github.com/resedge/resedge/internal/restest"
)

// Options configure a CA.
type Options struct {
	// HTTPPort and TLSPort are the ports the CA connects to, on the
	// address a name resolves to, for HTTP-01 and TLS-ALPN-01 challenges.
	HTTPPort, TLSPort int
	// Validity is how long certificates are valid. Zero means 90 days.
	Validity time.Duration
	// DNS is the address of the DNS server (over TCP) names are resolved
	// with; see StartDNS. Empty means the system's resolver.
	DNS string
	// EAB, when set, makes the CA require an External Account Binding
	// with one of these key IDs and base64url MAC keys.
	EAB map[string]string
}

// CA is a running pebble.
type CA struct {
	// URL is the ACME directory URL.
	URL string
	// APIRootFile is a PEM file of the certificate the directory is served
	// with, for acme.caRoots.
	APIRootFile string
	// Roots holds the root that issues certificates: what clients trust.
	Roots *x509.CertPool

	orders atomic.Int64
	logs   *restest.LogBuffer
}

// Orders returns how many ACME orders (new-order requests) the CA got.
func (c *CA) Orders() int { return int(c.orders.Load()) }

// Log returns what pebble logged.
func (c *CA) Log() string { return c.logs.String() }

// Start starts a CA for the test. Its log is shown if the test fails.
func Start(t testing.TB, o Options) *CA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random wait before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no rejected nonces: deterministic
	t.Setenv("PEBBLE_AUTHZREUSE", "0")      // every order solves a challenge
	c := &CA{logs: &restest.LogBuffer{}}
	logger := log.New(c.logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	for id, key := range o.EAB {
		if err := store.AddExternalAccountKeyByID(id, key); err != nil {
			t.Fatal(err)
		}
	}
	validity := uint64(o.Validity / time.Second)
	authority := ca.New(logger, store, "", "ecdsa", 0, 1,
		map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: validity}})
	validator := va.New(logger, o.HTTPPort, o.TLSPort, false, o.DNS, store)
	front := wfe.New(logger, store, validator, authority, nil, false, len(o.EAB) > 0, 0, 0)
	h := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/order-plz") {
			c.orders.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", c.logs.String())
		}
	})
	c.URL = srv.URL + "/dir"
	c.APIRootFile = filepath.Join(t.TempDir(), "pebble-api.pem")
	api := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(c.APIRootFile, api, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Roots = x509.NewCertPool()
	c.Roots.AddCert(authority.GetRootCert(0).Cert)
	return c
}

// StartDNS starts a DNS server on 127.0.0.1 (TCP, as pebble asks) that
// answers every A query with 127.0.0.1, and every other query with no
// record. It returns its address.
func StartDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// Addr returns 127.0.0.1:port.
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// StorageDir returns a new directory for certmagic's storage, removed when
// the test ends. Unlike t.TempDir it tolerates certmagic releasing an
// order's lock file a moment after the server has stopped (a cancelled
// obtain unlocks on its own goroutine): it waits, up to 5 s, for the
// locks directory to empty before removing the directory.
func StorageDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "resedge-acme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if entries, err := os.ReadDir(filepath.Join(dir, "locks")); err != nil || len(entries) == 0 {
				break
			}
		}
		for i := 0; i < 10; i++ { // a lock may still be deleted while RemoveAll runs
			if err := os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("removing ACME storage %s failed", dir)
	})
	return dir
}
