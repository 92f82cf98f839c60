// Package edge runs resedge from one configuration: the NATS connection
// (or an embedded NATS server), one RES engine, and every listener of the
// configuration on that engine. It starts them, reloads a new configuration
// while running, and shuts down gracefully.
//
// # Reload
//
// A reload builds what changed off to the side and swaps it in only when
// all of it is ready, so a configuration that cannot be applied leaves the
// running one untouched (as Caddy and nats-server do). Listeners are
// compared by name, by what they are built from:
//
//   - unchanged listeners keep running: their connections stay open and
//     subscribed (a static certificate is read again and swapped in, so a
//     reload also picks up a renewed certificate);
//   - removed listeners stop: their WebSocket clients get a going-away
//     close frame, their HTTP requests in flight get a bounded time to end;
//   - added listeners start;
//   - changed listeners are stopped and started again with the new
//     settings. Their clients are closed and reconnect under the new rules
//     (origins, resources, auth). An address kept from the old
//     configuration keeps its socket, so the port stays open.
//
// NATS, engine and log format/trace settings cannot change while running:
// a reload that changes any of them is refused as a whole, naming them, and
// nothing is applied (as nats-server does). Applying the rest would leave
// the process running a configuration no file describes. log.level is the
// caller's to apply (it owns the logger).
//
// # Sockets
//
// A listener address is host:port, or "systemd:<name>" for the sockets
// systemd passed by socket activation under FileDescriptorName=<name>
// (WithSockets). A socket-activated listener removed by a reload stops
// accepting, but its socket stays open (systemd holds it), so a later reload
// can serve it again.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/metrics"
	"github.com/resedge/resedge/resproto"
	"github.com/resedge/resedge/schema"
	"github.com/resedge/resedge/tlsmgr"
)

// ReloadDrainTimeout bounds how long a reload waits for the HTTP requests in
// flight on the listeners it stops; requests still running then are cut
// off.
const ReloadDrainTimeout = 5 * time.Second

// Server runs one configuration. Create it with New, then Start it; Reload
// and Shutdown may be called from any goroutine, one at a time.
type Server struct {
	log       *slog.Logger
	inherited map[string][]*os.File
	// embeddedPort overrides the embedded NATS server port (tests).
	embeddedPort int
	// reconnectWait overrides the NATS reconnect backoff, min and max
	// (WithNATSReconnectWait).
	reconnectWait [2]time.Duration

	version string
	// tlsOpts configures tls, the certificate manager created by Start.
	tlsOpts tlsmgr.Options
	tls     *tlsmgr.Manager
	// metrics lives as long as the server: its counters go on across
	// reloads.
	metrics *metrics.Metrics
	// live is what Ready looks at, replaced whole by Start and Reload so
	// that Ready never waits for their lock.
	live atomic.Pointer[liveState]

	// mu serializes Start, Reload and Shutdown.
	mu       sync.Mutex
	cfg      *schema.Config
	nc       *nats.Conn
	embedded *server.Server
	engine   *resproto.Engine
	running  map[string]*listener
	started  bool

	// stopping is set under smu once shutdown begins, so that listeners
	// and NATS closing then are not reported as failures.
	smu      sync.Mutex
	stopping bool
	failed   chan error
}

// listener is a running listener.
type listener struct {
	name string
	spec *spec
	cert *tlsmgr.Cert // nil without TLS
	sock *socket
	svc  service
	done chan struct{} // closed when svc.Serve returns
	// stopping is set before the listener is stopped, so that its Serve
	// returning then is not a failure.
	stopping atomic.Bool
}

// liveState is the running NATS connection and listeners, for Ready.
type liveState struct {
	nc        *nats.Conn
	engine    *resproto.Engine
	listeners []*listener
}

// Option configures a Server.
type Option func(*Server)

// WithSockets gives the server the sockets systemd passed to the process
// (go-systemd's activation.Files). A listener with the address
// "systemd:<name>" serves the ones whose name is <name>.
func WithSockets(files []*os.File) Option {
	return func(s *Server) { s.inherited = inheritedSockets(files) }
}

// WithTLSOptions sets the options of the server's certificate manager
// (tests shorten its intervals). Its Logger and Expiry default to the
// server's logger and metrics.
func WithTLSOptions(o tlsmgr.Options) Option {
	return func(s *Server) { s.tlsOpts = o }
}

// WithVersion sets the version reported by the resgate_info metric.
func WithVersion(v string) Option {
	return func(s *Server) { s.version = v }
}

// New returns a server for cfg, a configuration schema.Load (or
// schema.Validate) accepted. Nothing runs until Start.
func New(cfg *schema.Config, log *slog.Logger, opts ...Option) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, cfg: cfg, running: map[string]*listener{}, failed: make(chan error, 1)}
	for _, o := range opts {
		o(s)
	}
	if s.version == "" {
		s.version = "dev"
	}
	s.metrics = metrics.New(s.version, resproto.Protocol)
	return s
}

// Metrics returns the server's metrics, served by its metrics listeners.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// publishLive makes the running listeners what Ready looks at. Call with
// mu held.
func (s *Server) publishLive() {
	st := &liveState{nc: s.nc, engine: s.engine}
	for _, name := range sortedKeys(s.running) {
		st.listeners = append(st.listeners, s.running[name])
	}
	s.live.Store(st)
}

// Ready returns nil while the server can serve clients: started and not
// shutting down (it is not ready from the moment Shutdown begins, while
// listeners drain), connected to NATS (not while it reconnects), and
// every listener serving. It is what a metrics listener's /readyz
// reports. It never blocks.
func (s *Server) Ready() error {
	st := s.live.Load()
	switch {
	case s.isStopping():
		return errors.New("shutting down")
	case st == nil:
		return errors.New("not started")
	case !st.nc.IsConnected():
		return errors.New("NATS not connected (" + st.nc.Status().String() + ")")
	case !st.engine.Online():
		return errors.New("NATS connection back, engine not serving yet")
	}
	for _, l := range st.listeners {
		select {
		case <-l.done:
			if !l.stopping.Load() {
				return fmt.Errorf("listener %q not serving", l.name)
			}
		default:
		}
	}
	return nil
}

// Start opens every listener's socket, connects to NATS (starting the
// embedded server when no URL is configured), starts the engine and serves
// every listener. If any of it fails, what was started is stopped and the
// error names the listener (or NATS) at fault. Sockets are opened first, so
// that a port in use fails at once, before connecting.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("edge: server already started")
	}
	specs := specsOf(s.cfg)
	opts := s.tlsOpts
	if opts.Logger == nil {
		opts.Logger = s.log
	}
	if opts.Expiry == nil {
		opts.Expiry = s.metrics
	}
	s.tls = tlsmgr.New(opts)
	ok := false
	defer func() {
		if !ok {
			s.tls.Close()
		}
	}()
	var pend []*listener
	abort := func() {
		for _, l := range pend {
			if l.sock != nil {
				l.sock.close()
			}
		}
	}
	for _, name := range s.cfg.ListenerNames() {
		l, err := s.prepare(name, specs[name], nil)
		if err != nil {
			abort()
			return err
		}
		pend = append(pend, l)
	}

	nc, embedded, err := connectNATS(s.cfg.NATS, s.embeddedPort, s.cfg.Log.Level == "debug", s.log, s.natsOptions()...)
	if err != nil {
		abort()
		return err
	}
	ecfg := engineConfig(s.cfg, s.log)
	ecfg.Observer = s.metrics
	eng, err := resproto.New(nc, ecfg)
	if err != nil {
		abort()
		closeNATS(nc, embedded)
		return fmt.Errorf("failed to start the engine: %w", err)
	}
	s.nc, s.embedded, s.engine = nc, embedded, eng
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		s.fail(errors.New("lost NATS connection"))
	})
	s.watchOutage(nc, eng)
	for _, l := range pend {
		if l.svc, err = s.newService(eng, l); err != nil {
			abort()
			eng.Close()
			closeNATS(nc, embedded)
			return fmt.Errorf("listener %q: %w", l.name, err)
		}
	}
	for _, l := range pend {
		s.serve(l)
	}
	// Listeners serve: ACME challenges can reach them.
	s.tls.Commit(certsOf(pend))
	ok = true
	s.started = true
	s.publishLive()
	s.warnUnusedSockets()
	return nil
}

// certsOf returns the certificates of listeners with TLS.
func certsOf(ls []*listener) []*tlsmgr.Cert {
	var certs []*tlsmgr.Cert
	for _, l := range ls {
		if l.cert != nil {
			certs = append(certs, l.cert)
		}
	}
	return certs
}

// prepare makes what a listener needs before it can serve: its certificate
// and its socket, taken from reuse when that holds one for its address.
// Errors name the listener.
func (s *Server) prepare(name string, sp *spec, reuse map[string]*socket) (*listener, error) {
	l := &listener{name: name, spec: sp, done: make(chan struct{})}
	if sp.tls != nil && sp.l.Kind != schema.KindRedirect {
		c, err := s.tls.Prepare(name, sp.tls)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", name, err)
		}
		l.cert = c
	}
	// Port 0 asks for any free port: a new one, not the old one.
	if sock, ok := reuse[sp.l.Address]; ok && !strings.HasSuffix(sp.l.Address, ":0") {
		delete(reuse, sp.l.Address)
		l.sock = sock
		return l, nil
	}
	sock, err := openSocket(sp.l.Address, s.inherited, s.log)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", name, err)
	}
	l.sock = sock
	return l, nil
}

// serve starts serving l.
func (s *Server) serve(l *listener) {
	s.running[l.name] = l
	scheme := "http"
	if l.cert != nil {
		scheme = "https"
	}
	s.log.Info(fmt.Sprintf("Listening on %s://%s", scheme, l.sock.Addr()), "listener", l.name, "kind", kindOf(&l.spec.l), "address", l.spec.l.Address)
	go func() {
		defer close(l.done)
		if err := l.svc.Serve(l.sock.view()); err != nil && !l.stopping.Load() {
			s.fail(fmt.Errorf("listener %q: %w", l.name, err))
		}
	}()
}

// stop shuts l down, waiting until ctx ends for its requests in flight,
// and closes its socket unless keepSocket.
func (s *Server) stop(ctx context.Context, l *listener, keepSocket bool) {
	l.stopping.Store(true)
	if !keepSocket {
		l.sock.close()
	}
	if err := l.svc.Shutdown(ctx); err != nil {
		s.log.Warn("Listener did not drain in time; requests still in flight were cut off", "listener", l.name, "error", err)
	}
	<-l.done
}

// Reload applies cfg, a configuration schema.Load accepted, in place of
// the running one (see the package documentation). It returns an error,
// and changes nothing, when cfg is invalid, changes settings that need a
// restart, or has a listener that cannot start (a port in use, a missing
// certificate…). It returns once removed and changed listeners have
// drained (at most ReloadDrainTimeout).
func (s *Server) Reload(cfg *schema.Config) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.isStopping() {
		return errors.New("edge: server not running")
	}
	defer func() { s.metrics.Reload(err == nil) }()
	if err := schema.Validate(cfg); err != nil {
		return err
	}
	if keys := restartKeys(s.cfg, cfg); len(keys) > 0 {
		return fmt.Errorf("%s cannot change while running; restart resedge to apply %s (nothing was changed)", strings.Join(keys, ", "), pluralIt(len(keys)))
	}
	specs := specsOf(cfg)

	// Sort the running listeners into kept and stopped; the sockets of
	// stopped ones may be taken over by new ones at the same address.
	var kept, stopped []*listener
	reuse := map[string]*socket{}
	for _, name := range sortedKeys(s.running) {
		l := s.running[name]
		if sp, ok := specs[name]; ok && reflect.DeepEqual(sp, l.spec) {
			kept = append(kept, l)
			continue
		}
		stopped = append(stopped, l)
		reuse[l.spec.l.Address] = l.sock
	}

	// Prepare: certificates, sockets, servers. Nothing running changes
	// until all of it has worked.
	var started []*listener
	abort := func() {
		for _, l := range started {
			if l.sock != nil && !isReused(l.sock, stopped) {
				l.sock.close()
			}
		}
	}
	// Kept listeners read their certificate files again (swapped in on
	// Commit): a reload picks up renewed certificates.
	var certs []*tlsmgr.Cert
	for _, l := range kept {
		if l.cert == nil {
			continue
		}
		c, err := s.tls.Prepare(l.name, l.spec.tls)
		if err != nil {
			return fmt.Errorf("listener %q: %w", l.name, err)
		}
		certs = append(certs, c)
	}
	for _, name := range cfg.ListenerNames() {
		if l := s.running[name]; l != nil && containsListener(kept, l) {
			continue
		}
		l, err := s.prepare(name, specs[name], reuse)
		if err != nil {
			abort()
			return err
		}
		started = append(started, l)
		if l.svc, err = s.newService(s.engine, l); err != nil {
			abort()
			return fmt.Errorf("listener %q: %w", name, err)
		}
	}

	// Apply. Stopped listeners drain concurrently; a socket handed over
	// stays open.
	ctx, cancel := context.WithTimeout(context.Background(), ReloadDrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range stopped {
		delete(s.running, l.name)
		handedOver := false
		for _, n := range started {
			handedOver = handedOver || n.sock == l.sock
		}
		s.log.Info("Stopping listener", "listener", l.name, "reason", reasonStopped(specs, l.name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stop(ctx, l, handedOver)
		}()
	}
	for _, l := range started {
		s.serve(l)
	}
	s.tls.Commit(append(certs, certsOf(started)...))
	s.publishLive()
	wg.Wait()
	s.cfg = cfg
	s.warnUnusedSockets()
	return nil
}

func reasonStopped(specs map[string]*spec, name string) string {
	if _, ok := specs[name]; ok {
		return "changed"
	}
	return "removed"
}

func isReused(sock *socket, stopped []*listener) bool {
	for _, l := range stopped {
		if l.sock == sock {
			return true
		}
	}
	return false
}

func containsListener(ls []*listener, l *listener) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// Shutdown stops the server: it stops accepting connections, sends every
// WebSocket client a going-away close frame, waits for HTTP requests in
// flight until ctx ends (then cuts them off), closes the engine and the
// NATS connection (draining it), and stops the embedded NATS server. It
// returns ctx's error if requests had to be cut off.
func (s *Server) Shutdown(ctx context.Context) error {
	s.smu.Lock()
	s.stopping = true
	s.smu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	// Client listeners stop accepting first, then drain. Metrics listeners
	// serve until they have drained, so that /readyz answers "not ready"
	// (Ready is false from the start of Shutdown) while they do.
	var clients, observers []*listener
	for _, name := range sortedKeys(s.running) {
		l := s.running[name]
		if l.spec.l.Kind == schema.KindMetrics {
			observers = append(observers, l)
		} else {
			clients = append(clients, l)
		}
	}
	for _, group := range [][]*listener{clients, observers} {
		for _, l := range group {
			l.stopping.Store(true)
			l.sock.close()
		}
		var wg sync.WaitGroup
		for _, l := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.stop(ctx, l, true)
			}()
		}
		wg.Wait()
	}
	s.running = map[string]*listener{}
	s.tls.Close()
	s.engine.Close()
	closeNATS(s.nc, s.embedded)
	return ctx.Err()
}

// Failed returns a channel that receives an error when the server can no
// longer serve: the NATS connection closed for good, or a listener stopped
// accepting. The process should then shut down (and its supervisor start
// it again). Nothing is sent once Shutdown has begun.
func (s *Server) Failed() <-chan error { return s.failed }

func (s *Server) fail(err error) {
	if s.isStopping() {
		return
	}
	select {
	case s.failed <- err:
	default:
	}
}

func (s *Server) isStopping() bool {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.stopping
}

// Healthy returns nil while the server works: started, not shutting down,
// its NATS connection not closed, and its engine answering. A NATS
// disconnection is not unhealthy: the connection comes back by itself, and
// a restart would not bring NATS back sooner. It is for a watchdog; it
// blocks if the engine is stuck.
func (s *Server) Healthy() error {
	s.mu.Lock()
	started, nc, eng := s.started, s.nc, s.engine
	s.mu.Unlock()
	switch {
	case !started || s.isStopping():
		return errors.New("not running")
	case nc.IsClosed():
		return errors.New("NATS connection closed")
	}
	eng.ConnCount() // takes the engine's lock: blocks if it is stuck
	return nil
}

// Listeners returns the addresses the running listeners are bound to, by
// listener name (the actual port for a ":0" address).
func (s *Server) Listeners() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.running))
	for name, l := range s.running {
		m[name] = l.sock.Addr().String()
	}
	return m
}

// warnUnusedSockets logs the sockets systemd passed that no listener
// serves: a socket unit enabled for a listener that is not configured.
func (s *Server) warnUnusedSockets() {
	used := map[string]bool{}
	for _, l := range s.running {
		if name, ok := l.spec.l.SystemdName(); ok {
			used[name] = true
		}
	}
	for _, name := range sortedKeys(s.inherited) {
		if !used[name] {
			s.log.Warn("Socket passed by systemd is not used by any listener", "name", name, "hint", "address: "+schema.SystemdPrefix+name)
		}
	}
}

// engineConfig is the engine configuration of cfg.
func engineConfig(cfg *schema.Config, log *slog.Logger) resproto.Config {
	e := cfg.Engine
	c := resproto.Config{
		RequestTimeout:    cfg.NATS.RequestTimeout.D(),
		ResetThrottle:     e.ResetThrottle,
		ReferenceThrottle: e.ReferenceThrottle,
		UnsubscribeDelay:  e.UnsubscribeDelay.D(),
		SubscriptionLimit: e.Limits.SubscriptionsPerResource,
		ResourceLimit:     e.Limits.SubscriptionsPerConnection,
		BufferSize:        cfg.NATS.BufferSize,
		ReplyMalformed:    e.ReplyMalformed,
		Trace:             cfg.Log.Trace,
		Logger:            log,
		Outage:            outageMode(cfg.NATS.Outage),
	}
	if c.UnsubscribeDelay == 0 {
		c.UnsubscribeDelay = -1 // resproto: negative evicts at once
	}
	return c
}

// restartKeys returns the settings that differ between a and b and cannot
// change while running: everything but listeners, TLS settings and the log
// level.
func restartKeys(a, b *schema.Config) []string {
	var keys []string
	diffKeys(reflect.ValueOf(a.NATS), reflect.ValueOf(b.NATS), "nats", &keys)
	diffKeys(reflect.ValueOf(a.Engine), reflect.ValueOf(b.Engine), "engine", &keys)
	if a.Log.Format != b.Log.Format {
		keys = append(keys, "log.format")
	}
	if a.Log.Trace != b.Log.Trace {
		keys = append(keys, "log.trace")
	}
	return keys
}

// diffKeys appends the key paths (from koanf tags) of the fields that
// differ between the structs a and b.
func diffKeys(a, b reflect.Value, path string, keys *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		p := path + "." + f.Tag.Get("koanf")
		if f.Type.Kind() == reflect.Struct {
			diffKeys(a.Field(i), b.Field(i), p, keys)
			continue
		}
		x, y := a.Field(i).Interface(), b.Field(i).Interface()
		if f.Type.Kind() == reflect.Slice && a.Field(i).Len() == 0 && b.Field(i).Len() == 0 {
			continue // nil and empty are the same list
		}
		if !reflect.DeepEqual(x, y) {
			*keys = append(*keys, p)
		}
	}
}

// closeNATS drains and closes nc, then stops the embedded server, if any.
func closeNATS(nc *nats.Conn, embedded *server.Server) {
	closed := make(chan struct{})
	var once sync.Once
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		once.Do(func() { close(closed) })
	})
	if nc.IsClosed() {
		once.Do(func() { close(closed) })
	} else if err := nc.Drain(); err != nil {
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(natsDrainTimeout + time.Second):
		nc.Close()
	}
	if embedded != nil {
		embedded.Shutdown()
		embedded.WaitForShutdown()
	}
}

func kindOf(l *schema.Listener) string {
	if l.Kind == "" {
		return schema.KindHTTP
	}
	return l.Kind
}

func pluralIt(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
