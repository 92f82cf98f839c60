package tlsmgr

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/schema"
)

// TestStaticErrors: a certificate that cannot be served is refused with an
// error naming the file and what is wrong with it.
func TestStaticErrors(t *testing.T) {
	dir := t.TempDir()
	good := newCert(t, time.Hour, "a.example")
	other := newCert(t, time.Hour, "b.example")
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, b []byte) string {
		if err := os.WriteFile(path(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path(name)
	}
	cert, key := write("cert.pem", good.certPEM), write("key.pem", good.keyPEM)
	otherKey := write("other-key.pem", other.keyPEM)
	garbage := write("garbage.pem", []byte("not PEM at all\n"))
	if err := os.Mkdir(path("dir.pem"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert, key string
		want      string
	}{
		{"missing certificate", path("none.pem"), key, "certificate file " + path("none.pem") + " does not exist"},
		{"missing key", cert, path("none.pem"), "key file " + path("none.pem") + " does not exist"},
		{"unreadable certificate", path("dir.pem"), key, "certificate file " + path("dir.pem") + " cannot be read: is a directory"},
		{"not PEM", garbage, key, "certificate file " + garbage + " holds no PEM certificate"},
		{"key not PEM", cert, garbage, "key file " + garbage + " holds no PEM private key"},
		{"swapped", key, cert, "certificate file " + key + " holds no PEM certificate"},
		{"certificate as key", cert, cert, "key file " + cert + " holds a certificate, not a private key (are certFile and keyFile swapped?)"},
		{"mismatched", cert, otherKey, "certificate file " + cert + " and key file " + otherKey + " do not match: the key is not the certificate's"},
	}
	m := New(Options{PollInterval: -1})
	defer m.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &schema.TLS{CertFile: tt.cert, KeyFile: tt.key}
			_, err := m.Prepare("public", ts)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Prepare error = %v\nwant %s", err, tt.want)
			}
			if err := Check(ts, nil); err == nil || err.Error() != tt.want {
				t.Errorf("Check error = %v\nwant %s", err, tt.want)
			}
		})
	}
	if _, err := m.Prepare("public", &schema.TLS{CertFile: cert, KeyFile: key}); err != nil {
		t.Errorf("Prepare of a good pair: %v", err)
	}
}

// TestStaticReload: a certificate whose files change is served without a
// restart, found by polling; files that do not load are logged once and
// the previous certificate keeps serving; Commit (a SIGHUP reload) reads
// the files at once.
func TestStaticReload(t *testing.T) {
	log, logs := testLogger(t)
	exp := &expiries{}
	m := New(Options{Logger: log, Expiry: exp, PollInterval: 20 * time.Millisecond})
	defer m.Close()
	certFile, keyFile, first, c := servePublic(t, m)
	addr := serveTLS(t, c.TLSConfig())
	if got := servedSerial(t, addr); got.Cmp(first.serial) != 0 {
		t.Fatalf("serves serial %v, want %v", got, first.serial)
	}
	if got, _ := exp.get("rt.example"); !got.Equal(first.notAfter) {
		t.Errorf("expiry %v, want %v", got, first.notAfter)
	}

	// Replaced in place: polled.
	second := newCert(t, 2*time.Hour, "rt.example")
	second.write(t, certFile, keyFile)
	waitFor(t, "the new certificate", func() bool { return servedSerial(t, addr).Cmp(second.serial) == 0 })
	waitFor(t, "the new expiry", func() bool { got, _ := exp.get("rt.example"); return got.Equal(second.notAfter) })

	// Half written (a new certificate, the old key): logged once, old
	// certificate kept. (A poll between the two writes above may have
	// warned already: count from here.)
	warned := strings.Count(logs.String(), "cannot be loaded")
	// The certificate file is replaced by a rename, so that no poll reads
	// it truncated, half way through the write (a different broken state,
	// rightly warned of again).
	third := newCert(t, 3*time.Hour, "rt.example")
	tmp := certFile + ".new"
	if err := os.WriteFile(tmp, third.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, certFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the warning", func() bool { return strings.Count(logs.String(), "cannot be loaded") > warned })
	time.Sleep(100 * time.Millisecond) // several polls
	if n := strings.Count(logs.String(), "cannot be loaded") - warned; n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	if got := servedSerial(t, addr); got.Cmp(second.serial) != 0 {
		t.Fatalf("after a half-written update: serves %v, want the previous %v", got, second.serial)
	}
	// The key follows: the pair loads.
	if err := os.WriteFile(keyFile, third.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the completed certificate", func() bool { return servedSerial(t, addr).Cmp(third.serial) == 0 })

	// Replaced by rename, as certbot and Kubernetes do.
	fourth := newCert(t, 4*time.Hour, "rt.example")
	dir := t.TempDir()
	fourth.write(t, filepath.Join(dir, "c"), filepath.Join(dir, "k"))
	if err := os.Rename(filepath.Join(dir, "k"), keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "c"), certFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renamed certificate", func() bool { return servedSerial(t, addr).Cmp(fourth.serial) == 0 })
}

// TestStaticCommit: without polling, Prepare reads the files and Commit
// serves what it read, for every listener sharing them; an uncommitted
// Prepare changes nothing.
func TestStaticCommit(t *testing.T) {
	m := New(Options{PollInterval: -1})
	defer m.Close()
	certFile, keyFile := files(t)
	first := newCert(t, time.Hour, "rt.example")
	first.write(t, certFile, keyFile)
	ts := &schema.TLS{CertFile: certFile, KeyFile: keyFile}
	a, err := m.Prepare("a", ts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Prepare("b", ts)
	if err != nil {
		t.Fatal(err)
	}
	m.Commit([]*Cert{a, b})
	addrA, addrB := serveTLS(t, a.TLSConfig()), serveTLS(t, b.TLSConfig())

	second := newCert(t, time.Hour, "rt.example")
	second.write(t, certFile, keyFile)
	if _, err := m.Prepare("a", ts); err != nil { // a reload that is abandoned
		t.Fatal(err)
	}
	if got := servedSerial(t, addrA); got.Cmp(first.serial) != 0 {
		t.Fatalf("an uncommitted Prepare changed the certificate")
	}
	a2, err := m.Prepare("a", ts)
	if err != nil {
		t.Fatal(err)
	}
	m.Commit([]*Cert{a2, b})
	for _, addr := range []string{addrA, addrB} {
		if got := servedSerial(t, addr); got.Cmp(second.serial) != 0 {
			t.Errorf("%s serves %v after Commit, want %v", addr, got, second.serial)
		}
	}
}

// TestTLSDefaults: TLS 1.2 or later (1.3 with minVersion "1.3"), modern
// suites only, ALPN http/1.1 (and acme-tls/1 for ACME).
func TestTLSDefaults(t *testing.T) {
	certFile, keyFile := files(t)
	newCert(t, time.Hour, "rt.example").write(t, certFile, keyFile)
	m := New(Options{PollInterval: -1, Getenv: func(string) string { return "" }})
	defer m.Close()
	tests := []struct {
		name       string
		tls        *schema.TLS
		minVersion uint16
		protos     []string
	}{
		{"static", &schema.TLS{CertFile: certFile, KeyFile: keyFile}, tls.VersionTLS12, []string{"http/1.1"}},
		{"static, 1.3", &schema.TLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3"}, tls.VersionTLS13, []string{"http/1.1"}},
		{"ACME", &schema.TLS{MinVersion: "1.2", ACME: &schema.ACME{Domains: []string{"rt.example"}, Storage: t.TempDir()}}, tls.VersionTLS12, []string{"http/1.1", "acme-tls/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := m.Prepare("l", tt.tls)
			if err != nil {
				t.Fatal(err)
			}
			cfg := c.TLSConfig()
			if cfg.MinVersion != tt.minVersion || strings.Join(cfg.NextProtos, ",") != strings.Join(tt.protos, ",") {
				t.Errorf("MinVersion %x, NextProtos %v; want %x, %v", cfg.MinVersion, cfg.NextProtos, tt.minVersion, tt.protos)
			}
			for _, id := range cfg.CipherSuites {
				for _, bad := range tls.InsecureCipherSuites() {
					if id == bad.ID {
						t.Errorf("insecure suite %s offered", bad.Name)
					}
				}
			}
		})
	}

	// A TLS 1.1 client is refused; a TLS 1.2 one is not, unless 1.3 is
	// the minimum.
	c12, _ := m.Prepare("l", &schema.TLS{CertFile: certFile, KeyFile: keyFile})
	c13, _ := m.Prepare("l", &schema.TLS{CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3"})
	for _, tt := range []struct {
		cfg     *tls.Config
		version uint16
		ok      bool
	}{
		{c12.TLSConfig(), tls.VersionTLS11, false},
		{c12.TLSConfig(), tls.VersionTLS12, true},
		{c13.TLSConfig(), tls.VersionTLS12, false},
		{c13.TLSConfig(), tls.VersionTLS13, true},
	} {
		addr := serveTLS(t, tt.cfg)
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tt.version, MaxVersion: tt.version})
		if (err == nil) != tt.ok {
			t.Errorf("server min %x, client %x: error %v, want ok=%v", tt.cfg.MinVersion, tt.version, err, tt.ok)
		}
		if err == nil {
			conn.Close()
		}
	}
}

// TestStorageDir: ACME storage defaults to systemd's state directory, else
// the user's data directory.
func TestStorageDir(t *testing.T) {
	tests := []struct {
		name, set string
		env       map[string]string
		want      string
		err       string
	}{
		{"configured", "/srv/acme", map[string]string{"STATE_DIRECTORY": "/var/lib/resedge"}, "/srv/acme", ""},
		{"systemd", "", map[string]string{"STATE_DIRECTORY": "/var/lib/resedge:/var/lib/other", "HOME": "/root"}, "/var/lib/resedge/certmagic", ""},
		{"XDG", "", map[string]string{"XDG_DATA_HOME": "/home/u/.data", "HOME": "/home/u"}, "/home/u/.data/resedge/certmagic", ""},
		{"home", "", map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/resedge/certmagic", ""},
		{"nothing", "", nil, "", "set acme.storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := storageDir(tt.set, func(k string) string { return tt.env[k] })
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("storageDir = %q, %v; want %q, %q", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestCheckACME: Check reports unreadable CA roots and a missing storage
// directory, and creates nothing.
func TestCheckACME(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "roots.pem")
	os.WriteFile(notPEM, []byte("x"), 0o600)
	tests := []struct {
		name string
		acme schema.ACME
		env  map[string]string
		want string
	}{
		{"fine", schema.ACME{Domains: []string{"a.example"}}, map[string]string{"HOME": filepath.Join(dir, "home")}, ""},
		{"missing roots", schema.ACME{Domains: []string{"a.example"}, CARoots: []string{"/nonexistent/ca.pem"}, Storage: dir}, nil, "CA root file /nonexistent/ca.pem does not exist"},
		{"roots not PEM", schema.ACME{Domains: []string{"a.example"}, CARoots: []string{notPEM}, Storage: dir}, nil, "CA root file " + notPEM + " holds no PEM certificate"},
		{"no storage", schema.ACME{Domains: []string{"a.example"}}, nil, "set acme.storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(&schema.TLS{ACME: &tt.acme}, func(k string) string { return tt.env[k] })
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Check = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "home")); err == nil {
		t.Error("Check created the storage directory")
	}
}

// TestStaticPollDuringWrite: when a poll reads a key file that its writer
// has truncated and finishes writing during the read, the poll warns and
// keeps the previous certificate, and the next poll serves the completed
// pair: what a poll remembers of the files is how they were before it read
// them, not after.
func TestStaticPollDuringWrite(t *testing.T) {
	log, logs := testLogger(t)
	m := New(Options{Logger: log, PollInterval: -1}) // polled by the test
	defer m.Close()
	certFile, keyFile, first, _ := servePublic(t, m)
	serving := func() string {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.statics[staticKey{certFile, keyFile}].cur.Load().Leaf.SerialNumber.String()
	}

	second := newCert(t, 2*time.Hour, "rt.example")
	if err := os.WriteFile(certFile, second.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, nil, 0o600); err != nil { // truncated, about to be written
		t.Fatal(err)
	}
	finished := false
	m.loadFiles = func(k staticKey) (*loaded, error) {
		l, err := loadStatic(k)
		if !finished { // the writer finishes while the poll reads
			finished = true
			if werr := os.WriteFile(keyFile, second.keyPEM, 0o600); werr != nil {
				t.Error(werr)
			}
		}
		return l, err
	}
	m.pollStatic()
	if !strings.Contains(logs.String(), "holds no PEM private key") {
		t.Fatalf("no warning for the empty key file; log:\n%s", logs.String())
	}
	if got := serving(); got != first.serial.String() {
		t.Fatalf("after the failed read: serves %s, want the previous %s", got, first.serial)
	}
	m.pollStatic()
	if got := serving(); got != second.serial.String() {
		t.Errorf("after the next poll: serves %s, want the completed %s", got, second.serial)
	}
}

// servePublic writes a certificate for rt.example to new files and has m
// serve it on the listener "public".
func servePublic(t *testing.T, m *Manager) (certFile, keyFile string, first testCert, c *Cert) {
	t.Helper()
	certFile, keyFile = files(t)
	first = newCert(t, time.Hour, "rt.example")
	first.write(t, certFile, keyFile)
	c, err := m.Prepare("public", &schema.TLS{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	m.Commit([]*Cert{c})
	return certFile, keyFile, first, c
}
