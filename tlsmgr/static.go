package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// staticKey identifies a static certificate: listeners naming the same
// files share one.
type staticKey struct{ certFile, keyFile string }

// static is a certificate read from files, swapped in place when they
// change so that connections are not closed.
type static struct {
	key staticKey
	cur atomic.Pointer[tls.Certificate]

	// Guarded by Manager.mu.
	sig       fileSig  // the files as last read (or tried)
	listeners []string // the listeners serving it, for logs
	names     []string // the names it is valid for, for the expiry metric
}

// loaded is the result of reading a static certificate's files.
type loaded struct {
	cert *tls.Certificate
	sig  fileSig
}

// fileSig tells whether files changed: their identity (a rename or a
// symlink switched to another file changes it), size and time.
type fileSig struct {
	cert, key fs.FileInfo
}

// statSig stats the files of k. A file that cannot be stat'ed has a nil
// entry.
func statSig(k staticKey) fileSig {
	var s fileSig
	s.cert, _ = os.Stat(k.certFile)
	s.key, _ = os.Stat(k.keyFile)
	return s
}

// same reports whether a and b describe the same files, unchanged.
func (a fileSig) same(b fileSig) bool {
	eq := func(x, y fs.FileInfo) bool {
		if x == nil || y == nil {
			return x == nil && y == nil
		}
		return os.SameFile(x, y) && x.Size() == y.Size() && x.ModTime().Equal(y.ModTime())
	}
	return eq(a.cert, b.cert) && eq(a.key, b.key)
}

// loadStatic reads a certificate chain and its key. Its errors say which
// file is wrong and how.
func loadStatic(k staticKey) (*loaded, error) {
	sig := statSig(k)
	certPEM, err := readFile("certificate", k.certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile("key", k.keyFile)
	if err != nil {
		return nil, err
	}
	if !containsPEM(certPEM, "CERTIFICATE") {
		return nil, fmt.Errorf("certificate file %s holds no PEM certificate", k.certFile)
	}
	if !containsPEM(keyPEM, "PRIVATE KEY") {
		if containsPEM(keyPEM, "CERTIFICATE") {
			return nil, fmt.Errorf("key file %s holds a certificate, not a private key (are certFile and keyFile swapped?)", k.keyFile)
		}
		return nil, fmt.Errorf("key file %s holds no PEM private key", k.keyFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("certificate file %s and key file %s do not match: the key is not the certificate's", k.certFile, k.keyFile)
		}
		return nil, fmt.Errorf("certificate file %s and key file %s: %w", k.certFile, k.keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate file %s: %w", k.certFile, err)
		}
	}
	return &loaded{cert: &c, sig: sig}, nil
}

// readFile reads a file, with an error naming what it is for.
func readFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s file %s does not exist", what, path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s file %s is not readable: permission denied", what, path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return nil, fmt.Errorf("%s file %s cannot be read: %w", what, path, err)
}

// containsPEM reports whether b holds a PEM block whose type ends with
// typ ("PRIVATE KEY" matches "EC PRIVATE KEY").
func containsPEM(b []byte, typ string) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if strings.HasSuffix(blk.Type, typ) {
			return true
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return false
		}
	}
}

// certNames returns the names a certificate is for: its DNS names, or
// its common name without any.
func certNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames
	}
	for _, ip := range leaf.IPAddresses {
		return []string{ip.String()}
	}
	if leaf.Subject.CommonName != "" {
		return []string{leaf.Subject.CommonName}
	}
	return nil
}

// pollStatic reads again the active static certificates whose files
// changed since they were last read. A certificate that fails to load is
// logged once per change and the previous one is kept.
func (m *Manager) pollStatic() {
	m.mu.Lock()
	var todo []*static
	for _, s := range m.statics {
		if s.listeners != nil && !statSig(s.key).same(s.sig) {
			todo = append(todo, s)
		}
	}
	m.mu.Unlock()
	for _, s := range todo {
		// The files as they were before the read: if they change while
		// they are read (the rest of a key written after a poll read it
		// empty), the next poll sees it. A signature taken after a failed
		// read would take the completed files for those that failed, and
		// never read them again.
		sig := statSig(s.key)
		l, err := m.loadFiles(s.key)
		m.mu.Lock()
		if err != nil {
			s.sig = sig
			m.log.Warn("Certificate files changed but cannot be loaded; still serving the previous certificate",
				"listeners", s.listeners, "error", err)
			m.mu.Unlock()
			continue
		}
		s.sig = l.sig
		s.cur.Store(l.cert)
		m.setStaticNames(s, certNames(l.cert.Leaf), l.cert.Leaf.NotAfter)
		m.mu.Unlock()
		m.log.Info("Certificate files changed; serving the new certificate",
			"listeners", s.listeners, "certFile", s.key.certFile, "names", certNames(l.cert.Leaf),
			"expires", l.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// setStaticNames records the names s serves and their expiry. Call with
// m.mu held.
func (m *Manager) setStaticNames(s *static, names []string, notAfter time.Time) {
	old := s.names
	s.names = names
	for _, n := range names {
		m.expiry(n, notAfter)
	}
	for _, n := range old {
		if !contains(names, n) {
			m.forget(n)
		}
	}
}

// warnExpiry logs a certificate that has expired or expires soon.
func (m *Manager) warnExpiry(listeners []string, leaf *x509.Certificate) {
	left := time.Until(leaf.NotAfter)
	switch {
	case left <= 0:
		m.log.Warn("Certificate has expired", "listeners", listeners, "names", certNames(leaf), "expired", leaf.NotAfter.UTC().Format(time.RFC3339))
	case left < staticExpiryWarning:
		m.log.Warn("Certificate expires soon", "listeners", listeners, "names", certNames(leaf), "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// staticExpiryWarning is how close to expiry a static certificate is
// warned about when it is loaded.
const staticExpiryWarning = 14 * 24 * time.Hour

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
