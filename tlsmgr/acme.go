package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"github.com/resedge/resedge/schema"
)

// issuer is one set of ACME settings (everything but the domains) and the
// certmagic configurations obtaining certificates with them. Listeners
// whose settings differ only in their domains share it, and the names it
// manages are the union of theirs.
type issuer struct {
	key string
	ca  string

	// eager obtains the configured domains at once and renews them.
	eager *certmagic.Config
	acme  *certmagic.ACMEIssuer
	// demand, with on-demand TLS, obtains allowed names during
	// handshakes; listeners serve through it (it finds eager's
	// certificates in the shared cache).
	demand     *certmagic.Config
	demandACME *certmagic.ACMEIssuer
	policy     *policy

	// names are the domains managed since the last Commit: replaced whole
	// by Commit, read during handshakes and renewals.
	names atomic.Pointer[map[string]bool]
}

// domainsSnapshot returns the domains the issuer manages. The map must not
// be changed.
func (is *issuer) domainsSnapshot() map[string]bool { return *is.names.Load() }

// prepareACME returns the Cert of listener for ACME settings a, creating
// the issuer if no other listener uses the same settings.
func (m *Manager) prepareACME(listener string, a *schema.ACME, minVersion uint16) (*Cert, error) {
	settings := *a
	settings.Domains, settings.DefaultServerName = nil, "" // per listener
	b, _ := json.Marshal(settings)
	key := string(b)
	domains := make([]string, len(a.Domains))
	for i, d := range a.Domains {
		domains[i] = strings.ToLower(d)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("tlsmgr: closed")
	}
	is := m.issuers[key]
	if is == nil {
		var err error
		if is, err = m.newIssuer(key, &settings); err != nil {
			return nil, err
		}
		m.issuers[key] = is
	}
	get := is.eager.GetCertificate
	if is.demand != nil {
		get = is.demand.GetCertificate
	}
	get = withDefaultServerName(get, defaultServerName(a))
	return &Cert{listener: listener, issuer: is, domains: domains, cfg: serverConfig(minVersion, true, get)}, nil
}

// defaultServerName returns the name served to clients that send no SNI:
// the configured one, else the first domain that is not a wildcard, else
// "" (such handshakes fail, as certmagic has nothing to pick).
func defaultServerName(a *schema.ACME) string {
	if a.DefaultServerName != "" {
		return strings.ToLower(a.DefaultServerName)
	}
	for _, d := range a.Domains {
		if !strings.HasPrefix(d, "*.") {
			return strings.ToLower(d)
		}
	}
	return ""
}

// withDefaultServerName makes get answer a ClientHello without a server
// name as if it had asked for name. certmagic serves no certificate
// without SNI unless its configuration names a default, and its
// configuration is shared by the listeners that use the same ACME
// settings, which may each have domains of their own: so the default is
// applied here, per listener. Challenge handshakes (TLS-ALPN-01) always
// carry SNI and are not touched.
func withDefaultServerName(get func(*tls.ClientHelloInfo) (*tls.Certificate, error), name string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if name == "" {
		return get
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName != "" {
			return get(hello)
		}
		h := *hello
		h.ServerName = name
		return get(&h)
	}
}

// newIssuer builds the certmagic configurations of ACME settings a. Call
// with m.mu held.
func (m *Manager) newIssuer(key string, a *schema.ACME) (*issuer, error) {
	roots, err := loadRoots(a.CARoots)
	if err != nil {
		return nil, err
	}
	dir, err := storageDir(a.Storage, m.opts.Getenv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME storage directory %s cannot be created: %w", dir, err)
	}
	if m.cache == nil {
		m.cache = certmagic.NewCache(certmagic.CacheOptions{
			GetConfigForCert:   m.configForCert,
			RenewCheckInterval: m.opts.RenewCheckInterval,
			Logger:             m.zlog,
		})
	}
	cache := m.cache
	ca := a.CA
	switch {
	case ca == "" && a.Staging:
		ca = certmagic.LetsEncryptStagingCA
	case ca == "":
		ca = certmagic.LetsEncryptProductionCA
	}
	is := &issuer{key: key, ca: ca}
	is.names.Store(&map[string]bool{})
	storage := &certmagic.FileStorage{Path: dir}
	template := certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   a.Email,
		Agreed:                  true, // configuring a CA is agreeing to its terms; never prompt
		DisableHTTPChallenge:    a.DisableHTTPChallenge,
		DisableTLSALPNChallenge: a.DisableTLSALPNChallenge,
		AltHTTPPort:             a.AltHTTPPort,
		AltTLSALPNPort:          a.AltTLSALPNPort,
		TrustedRoots:            roots,
		Logger:                  m.zlog,
	}
	if a.EAB != nil {
		template.ExternalAccount = &acme.EAB{KeyID: a.EAB.KeyID, MACKey: a.EAB.MACKey}
	}
	newConfig := func(onDemand *certmagic.OnDemandConfig) (*certmagic.Config, *certmagic.ACMEIssuer) {
		cfg := certmagic.New(m.cache, certmagic.Config{
			Storage:  storage,
			OnDemand: onDemand,
			Logger:   m.zlog,
			OnEvent: func(ctx context.Context, event string, data map[string]any) error {
				m.onEvent(ctx, is, cache, storage, event, data)
				return nil
			},
		})
		iss := certmagic.NewACMEIssuer(cfg, template)
		cfg.Issuers = []certmagic.Issuer{iss}
		return cfg, iss
	}
	is.eager, is.acme = newConfig(nil)
	if a.OnDemand != nil {
		is.policy = &policy{allow: a.OnDemand.Allow, ask: a.OnDemand.Ask, client: m.opts.AskClient, managed: func(name string) bool { return is.domainsSnapshot()[name] }, log: m.log}
		is.demand, is.demandACME = newConfig(&certmagic.OnDemandConfig{DecisionFunc: is.policy.decide})
	}
	return is, nil
}

// configForCert routes a certificate to the configuration that maintains
// it: the issuer that manages its first name, else the on-demand issuer
// that allows it, else any issuer in use. certmagic calls it when it
// renews.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	active := *m.active.Load()
	if len(active) == 0 {
		return nil, errors.New("tlsmgr: no ACME settings in use")
	}
	var name string
	if len(c.Names) > 0 {
		name = strings.ToLower(c.Names[0])
	}
	for _, is := range active {
		if is.domainsSnapshot()[name] {
			return is.eager, nil
		}
	}
	for _, is := range active {
		if is.policy != nil && is.policy.allowed(name) {
			return is.demand, nil
		}
	}
	return active[0].eager, nil
}

// onEvent turns certmagic's events into logs and expiry metrics.
func (m *Manager) onEvent(ctx context.Context, is *issuer, cache *certmagic.Cache, storage certmagic.Storage, event string, data map[string]any) {
	switch event {
	case "cert_obtained":
		name, _ := data["identifier"].(string)
		renewal, _ := data["renewal"].(bool)
		path, _ := data["certificate_path"].(string)
		leaf, err := loadLeaf(ctx, storage, path)
		if err != nil {
			m.log.Warn("Cannot read the certificate just obtained", "domain", name, "error", err)
			return
		}
		msg := "Certificate obtained"
		if renewal {
			msg = "Certificate renewed"
		}
		m.log.Info(msg, "domain", name, "ca", is.ca, "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
		for _, n := range certNames(leaf) {
			m.expiry(n, leaf.NotAfter)
		}
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		if len(sans) == 0 {
			return
		}
		var leaf *x509.Certificate
		for _, c := range cache.AllMatchingCertificates(sans[0]) {
			if c.Leaf != nil && (leaf == nil || c.Leaf.NotAfter.After(leaf.NotAfter)) {
				leaf = c.Leaf
			}
		}
		if leaf == nil {
			return
		}
		m.log.Info("Serving certificate", "domains", sans, "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
		for _, n := range sans {
			m.expiry(n, leaf.NotAfter)
		}
	case "cert_failed":
		name, _ := data["identifier"].(string)
		renewal, _ := data["renewal"].(bool)
		err, _ := data["error"].(error)
		m.log.Error("Certificate could not be obtained; will retry", "domain", name, "renewal", renewal, "ca", is.ca, "error", err)
	}
}

// loadLeaf reads the leaf certificate of a PEM chain in storage.
func loadLeaf(ctx context.Context, storage certmagic.Storage, path string) (*x509.Certificate, error) {
	b, err := storage.Load(ctx, path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM certificate in " + path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// loadRoots reads CA root files into a pool; nil for none (the system's
// roots).
func loadRoots(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := readFile("CA root", f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA root file %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// storageDir returns the ACME storage directory: dir when set, else
// certmagic/ in systemd's state directory ($STATE_DIRECTORY, from
// StateDirectory=), else resedge/certmagic/ in the user's data directory
// ($XDG_DATA_HOME, or ~/.local/share).
func storageDir(dir string, getenv func(string) string) (string, error) {
	switch {
	case dir != "":
		return dir, nil
	case getenv("STATE_DIRECTORY") != "":
		// systemd lists one path per StateDirectory= entry, ':'-separated.
		first, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":")
		return filepath.Join(first, "certmagic"), nil
	case getenv("XDG_DATA_HOME") != "":
		return filepath.Join(getenv("XDG_DATA_HOME"), "resedge", "certmagic"), nil
	case getenv("HOME") != "":
		return filepath.Join(getenv("HOME"), ".local", "share", "resedge", "certmagic"), nil
	}
	return "", errors.New("no directory to keep ACME certificates in: set acme.storage (or run under systemd with StateDirectory=, or set HOME)")
}
