package tlsmgr

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/resedge/resedge/schema"
	"go.uber.org/zap"
)

// DefaultPollInterval is how often static certificate files are checked
// for changes.
const DefaultPollInterval = 10 * time.Second

// ExpiryRecorder records when the certificate served for a domain
// expires; a zero time means it is no longer served. *metrics.Metrics
// implements it.
type ExpiryRecorder interface {
	CertExpiry(domain string, notAfter time.Time)
}

// Options configure a Manager. The zero value is usable.
type Options struct {
	// Logger receives the manager's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Expiry, when set, is told the expiry of every certificate served.
	Expiry ExpiryRecorder
	// PollInterval is how often the files of static certificates are
	// checked for changes. Zero means DefaultPollInterval; negative turns
	// polling off (certificates are then read again only by Commit).
	PollInterval time.Duration
	// RenewCheckInterval is how often automatic certificates are checked
	// for renewal. Zero means certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
	// Getenv reads the environment, for the default ACME storage
	// directory. Nil means os.Getenv.
	Getenv func(string) string
	// AskClient sends on-demand "ask" requests. Nil means a client with a
	// 10 s timeout.
	AskClient *http.Client
}

// Manager gives listeners their certificates: static ones, read from
// files and read again when the files change, and automatic ones,
// obtained and renewed from an ACME CA by certmagic. Listeners whose
// settings name the same files, or the same ACME settings, share one
// certificate; one certmagic cache serves every automatic certificate.
//
// A configuration is applied in two steps, so that a reload can be
// abandoned halfway: Prepare reads what one listener needs and returns
// its Cert, then Commit makes a set of Certs the ones in use (starting
// ACME management for new names and stopping it for names no longer
// used). The methods are safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	zlog *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the poller has stopped

	mu      sync.Mutex
	closed  bool
	statics map[staticKey]*static
	issuers map[string]*issuer
	cache   *certmagic.Cache
	// active is the issuers in use, for challenges and routing; read
	// without mu.
	active atomic.Pointer[[]*issuer]

	// loadFiles is loadStatic, for pollStatic; a test replaces it to
	// change the files while they are read.
	loadFiles func(staticKey) (*loaded, error)
}

// New returns a Manager. It starts polling static certificate files; Close
// stops it.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.AskClient == nil {
		opts.AskClient = &http.Client{Timeout: 10 * time.Second}
	}
	log := opts.Logger.With("component", "tlsmgr")
	m := &Manager{
		opts:      opts,
		log:       log,
		zlog:      newZapLogger(log),
		done:      make(chan struct{}),
		statics:   map[staticKey]*static{},
		issuers:   map[string]*issuer{},
		loadFiles: loadStatic,
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.active.Store(&[]*issuer{})
	go m.poll()
	return m
}

// poll checks static certificate files until Close.
func (m *Manager) poll() {
	defer close(m.done)
	if m.opts.PollInterval < 0 {
		<-m.ctx.Done()
		return
	}
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.pollStatic()
		}
	}
}

// Close stops polling, certificate maintenance and any ACME operation in
// progress. Certs keep serving what they hold.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	cache := m.cache
	m.mu.Unlock()
	m.cancel()
	if cache != nil {
		cache.Stop()
	}
	<-m.done
}

// Cert is one listener's certificates: a static certificate or an ACME
// issuer's, with the listener's TLS settings.
type Cert struct {
	listener string
	cfg      *tls.Config

	static *static
	staged *loaded // what Prepare read, served from Commit on

	issuer  *issuer
	domains []string
}

// TLSConfig returns the server TLS configuration of the listener. It
// stays valid across Commits: a renewed or reloaded certificate is served
// through it.
func (c *Cert) TLSConfig() *tls.Config { return c.cfg }

// Prepare reads what listener needs to serve TLS settings t: the
// certificate and key files, or the ACME settings (CA roots, storage
// directory). Nothing changes for running listeners until Commit. Errors
// say which file or setting is wrong.
func (m *Manager) Prepare(listener string, t *schema.TLS) (*Cert, error) {
	minVersion, err := parseMinVersion(t.MinVersion)
	if err != nil {
		return nil, err
	}
	if t.ACME != nil {
		return m.prepareACME(listener, t.ACME, minVersion)
	}
	k := staticKey{t.CertFile, t.KeyFile}
	l, err := loadStatic(k)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("tlsmgr: closed")
	}
	s := m.statics[k]
	if s == nil {
		// A new certificate serves from the start: its listener is not
		// serving yet.
		s = &static{key: k, sig: l.sig}
		s.cur.Store(l.cert)
		m.statics[k] = s
	}
	c := &Cert{listener: listener, static: s, staged: l}
	c.cfg = serverConfig(minVersion, false, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return s.cur.Load(), nil
	})
	return c, nil
}

// Commit makes certs the certificates in use, replacing those of the last
// Commit: static certificates serve what Prepare read, ACME management
// starts for names not managed yet (in the background: listeners must be
// serving for challenges to reach them) and stops for names no longer
// used. Certs from Prepare calls that are not committed are dropped.
func (m *Manager) Commit(certs []*Cert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}

	// Static certificates.
	users := map[*static][]string{}
	for _, c := range certs {
		if c.static == nil {
			continue
		}
		users[c.static] = append(users[c.static], c.listener)
		if c.staged != nil {
			c.static.cur.Store(c.staged.cert)
			c.static.sig = c.staged.sig
			c.staged = nil
		}
	}
	for k, s := range m.statics {
		ls, used := users[s]
		if !used {
			delete(m.statics, k)
			s.listeners = nil
			for _, n := range s.names {
				m.forget(n)
			}
			continue
		}
		sort.Strings(ls)
		s.listeners = slices.Compact(ls)
		leaf := s.cur.Load().Leaf
		m.setStaticNames(s, certNames(leaf), leaf.NotAfter)
		m.warnExpiry(s.listeners, leaf)
	}

	// ACME issuers: the names each one manages now.
	want := map[*issuer]map[string]bool{}
	for _, c := range certs {
		if c.issuer == nil {
			continue
		}
		set := want[c.issuer]
		if set == nil {
			set = map[string]bool{}
			want[c.issuer] = set
		}
		for _, d := range c.domains {
			set[d] = true
		}
	}
	var active []*issuer
	for key, is := range m.issuers {
		if _, used := want[is]; !used {
			delete(m.issuers, key)
			continue
		}
		active = append(active, is)
	}
	sort.Slice(active, func(i, j int) bool { return active[i].key < active[j].key })
	managed := map[string]bool{}
	for _, is := range active {
		for d := range want[is] {
			managed[d] = true
		}
	}

	// Stop managing names no issuer manages any more.
	old := *m.active.Load()
	var drop []certmagic.SubjectIssuer
	for _, is := range old {
		for d := range is.domainsSnapshot() {
			if !managed[d] {
				drop = append(drop, certmagic.SubjectIssuer{Subject: d})
				m.forget(d)
			}
		}
	}
	if len(drop) > 0 && m.cache != nil {
		m.cache.RemoveManaged(drop)
	}

	// Route before managing: maintenance asks which config a name has.
	var start []*issuer
	var adds [][]string
	for _, is := range active {
		var add []string
		had := is.domainsSnapshot()
		for d := range want[is] {
			if !had[d] {
				add = append(add, d)
			}
		}
		sort.Strings(add)
		names := want[is]
		is.names.Store(&names)
		start = append(start, is)
		adds = append(adds, add)
	}
	m.active.Store(&active)
	for _, is := range active {
		if is.policy != nil && !slices.Contains(old, is) {
			m.log.Info("On-demand certificates enabled", "allow", is.policy.allow, "ask", redactQuery(is.policy.ask), "ca", is.ca)
		}
	}
	for i, is := range start {
		if len(adds[i]) == 0 {
			continue
		}
		m.log.Info("Managing certificates", "domains", adds[i], "ca", is.ca)
		if err := is.eager.ManageAsync(m.ctx, adds[i]); err != nil {
			m.log.Error("Cannot manage certificates", "domains", adds[i], "error", err)
		}
	}
}

// HandleHTTPChallenge answers r if it is an ACME HTTP-01 challenge of one
// of the issuers in use, and reports whether it did. Plain HTTP listeners
// call it first (listeners.ChallengeSolver).
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !certmagic.LooksLikeHTTPChallenge(r) {
		return false
	}
	for _, is := range *m.active.Load() {
		if is.acme.HandleHTTPChallenge(w, r) {
			return true
		}
		if is.demandACME != nil && is.demandACME.HandleHTTPChallenge(w, r) {
			return true
		}
	}
	return false
}

// expiry records when the certificate for domain expires. Call with m.mu
// held, or from certmagic's events.
func (m *Manager) expiry(domain string, notAfter time.Time) {
	if m.opts.Expiry != nil {
		m.opts.Expiry.CertExpiry(domain, notAfter)
	}
}

// forget removes domain from the expiry metric unless a static
// certificate in use still serves it. Call with m.mu held.
func (m *Manager) forget(domain string) {
	if m.opts.Expiry == nil {
		return
	}
	for _, s := range m.statics {
		if s.listeners != nil && contains(s.names, domain) {
			return
		}
	}
	m.opts.Expiry.CertExpiry(domain, time.Time{})
}

// Check reports what would keep TLS settings t from serving, without
// side effects: certificate and key files that cannot be loaded, or
// ACME CA roots that cannot be read and a storage directory that cannot
// be chosen.
func Check(t *schema.TLS, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	if _, err := parseMinVersion(t.MinVersion); err != nil {
		return err
	}
	if t.ACME == nil {
		_, err := loadStatic(staticKey{t.CertFile, t.KeyFile})
		return err
	}
	if _, err := loadRoots(t.ACME.CARoots); err != nil {
		return err
	}
	_, err := storageDir(t.ACME.Storage, getenv)
	return err
}

// modernSuites are the TLS 1.2 cipher suites offered: forward secret
// AEADs only. (TLS 1.3 suites are not configurable and all modern.)
var modernSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverConfig is a listener's TLS configuration: TLS 1.2 or later,
// modern suites, ALPN http/1.1 (WebSocket upgrades need HTTP/1.1; no h2),
// plus acme-tls/1 for TLS-ALPN-01 challenges when acme.
func serverConfig(minVersion uint16, acme bool, get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	c := &tls.Config{
		MinVersion:     minVersion,
		CipherSuites:   modernSuites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: get,
	}
	if acme {
		c.NextProtos = append(c.NextProtos, "acme-tls/1")
	}
	return c
}

// parseMinVersion parses a minVersion setting.
func parseMinVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("minVersion %q: must be \"1.2\" or \"1.3\"", v)
}
