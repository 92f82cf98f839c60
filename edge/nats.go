package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/batchconn"
	"github.com/resedge/resedge/schema"
	"github.com/resedge/resedge/tlsmgr"
)

// Embedded NATS server settings.
const (
	embeddedNATSHost        = "127.0.0.1"
	embeddedNATSDefaultPort = 4222
	embeddedNATSReady       = 10 * time.Second
)

// Reconnect backoff for an external NATS server: the delay doubles from
// reconnectMinDelay up to reconnectMaxDelay, with up to 20% jitter.
const (
	reconnectMinDelay = 250 * time.Millisecond
	reconnectMaxDelay = 5 * time.Second
)

// natsDrainTimeout bounds how long a drain on shutdown may take.
const natsDrainTimeout = 3 * time.Second

// connectNATS connects to the NATS servers of n. When n.URLs is empty it
// first starts an embedded NATS server on 127.0.0.1:embeddedPort (4222 when
// zero) and returns it as embedded; the caller shuts it down after closing
// nc. Connection events are logged to log with any URL credentials
// redacted. debug routes the embedded server's debug lines too. extra
// options apply after resedge's own to the connection to an external
// server (the reconnect backoff, or no reconnect at all).
func connectNATS(n schema.NATS, embeddedPort int, debug bool, log *slog.Logger, extra ...nats.Option) (nc *nats.Conn, embedded *server.Server, err error) {
	if len(n.URLs) == 0 {
		port := embeddedPort
		if port == 0 {
			port = embeddedNATSDefaultPort
		}
		embedded, err = startEmbeddedNATS(port, debug, log)
		if err != nil {
			return nil, nil, err
		}
		url := embedded.ClientURL()
		log.Info("Embedded NATS server started", "url", url)
		log.Info("Services can connect to " + url)
		nc, err = nats.Connect(url,
			nats.Name("resedge"),
			nats.InProcessServer(embedded),
			nats.MaxReconnects(-1),
			nats.DrainTimeout(natsDrainTimeout),
			nats.ErrorHandler(natsErrorHandler(log)),
		)
		if err != nil {
			embedded.Shutdown()
			return nil, nil, fmt.Errorf("failed to connect to the embedded NATS server at %s: %w", url, err)
		}
		log.Info("Connected to NATS", "url", url)
		return nc, embedded, nil
	}

	urls := strings.Join(n.URLs, ",")
	redacted := redactURLs(urls)
	log.Info("Connecting to NATS", "url", redacted)

	// current holds the redacted URL of the server last connected to, since
	// nats.Conn reports no URL while disconnected.
	var mu sync.Mutex
	current := redacted
	setCurrent := func(c *nats.Conn) {
		mu.Lock()
		defer mu.Unlock()
		if u := c.ConnectedUrl(); u != "" {
			current = redactURL(u)
		}
	}
	getCurrent := func() string {
		mu.Lock()
		defer mu.Unlock()
		return current
	}

	natsOpts := []nats.Option{
		nats.Name("resedge"),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		// No buffering while reconnecting: a request published then fails
		// at once instead of reaching a service long after its client got
		// an error (see resproto's outage handling).
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(natsDrainTimeout),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil {
				log.Warn("Disconnected from NATS", "url", getCurrent(), "error", redactError(err, urls))
			} else {
				log.Info("Disconnected from NATS", "url", getCurrent())
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			setCurrent(c)
			log.Info("Reconnected to NATS", "url", getCurrent())
		}),
		nats.ReconnectErrHandler(func(c *nats.Conn, err error) {
			log.Debug("NATS reconnect attempt failed", "url", getCurrent(), "error", redactError(err, urls))
		}),
		nats.ClosedHandler(func(c *nats.Conn) {
			log.Info("NATS connection closed", "url", getCurrent())
		}),
		nats.ErrorHandler(natsErrorHandler(log)),
	}
	// TLS and credentials (tlsmgr reads and checks their files first).
	secure, err := tlsmgr.NATSOptions(n)
	if err != nil {
		return nil, nil, fmt.Errorf("NATS connection settings: %w", err)
	}
	natsOpts = append(natsOpts, secure...)
	// Coalesce the writes to the server (see batchconn); nats.go runs TLS
	// over the connection it returns.
	natsOpts = append(natsOpts, nats.SetCustomDialer(&batchconn.Dialer{
		Dialer:       net.Dialer{Timeout: nats.DefaultTimeout},
		WriteTimeout: nats.DefaultFlusherTimeout,
	}))
	natsOpts = append(natsOpts, extra...)

	nc, err = nats.Connect(urls, natsOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to connect to NATS at %s: %s", redacted, redactError(tlsmgr.ExplainNATSError(err, n), urls))
	}
	setCurrent(nc)
	log.Info("Connected to NATS", "url", getCurrent())
	return nc, nil, nil
}

// natsErrorHandler logs asynchronous NATS errors, such as a slow consumer.
func natsErrorHandler(log *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil {
			log.Error("NATS error", "subject", sub.Subject, "error", err)
			return
		}
		log.Error("NATS error", "error", err)
	}
}

// reconnectDelay is the backoff for reconnect attempt number attempts
// (starting at 1): exponential, capped, with jitter so that many gateways
// do not reconnect in lockstep.
func reconnectDelay(attempts int) time.Duration {
	d := reconnectMinDelay
	for i := 1; i < attempts && d < reconnectMaxDelay; i++ {
		d *= 2
	}
	d = min(d, reconnectMaxDelay)
	return d + rand.N(d/5+1)
}

// startEmbeddedNATS starts a NATS server on 127.0.0.1:port with its log
// routed to log, and waits until it accepts connections.
func startEmbeddedNATS(port int, debug bool, log *slog.Logger) (*server.Server, error) {
	addr := net.JoinHostPort(embeddedNATSHost, strconv.Itoa(port))
	inUse := func() error {
		return fmt.Errorf("cannot start the embedded NATS server: port %d on %s is already in use; "+
			"to use the NATS server already running there, pass --nats nats://%s", port, embeddedNATSHost, addr)
	}

	// Probe the port first, so that a taken port gives a clear error
	// instead of a NATS server fatal log line and a timeout.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, inUse()
		}
		return nil, fmt.Errorf("cannot start the embedded NATS server on %s: %w", addr, err)
	}
	ln.Close()

	s, err := server.NewServer(&server.Options{
		ServerName: "resedge-embedded",
		Host:       embeddedNATSHost,
		Port:       port,
		NoSigs:     true,
		// The HTTP monitor, cluster and leaf node listeners stay off.
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create the embedded NATS server: %w", err)
	}
	nl := &natsServerLogger{log: log.With("component", "nats-server")}
	s.SetLogger(nl, debug, false)
	go s.Start()
	if !s.ReadyForConnections(embeddedNATSReady) {
		s.Shutdown()
		if nl.listenFailed() {
			return nil, inUse()
		}
		return nil, fmt.Errorf("the embedded NATS server on %s did not become ready within %s", addr, embeddedNATSReady)
	}
	return s, nil
}

// natsServerLogger routes the embedded NATS server's log to slog. Notices,
// debug and trace lines go to debug level; warnings and errors keep their
// level, since they signal real problems.
type natsServerLogger struct {
	log *slog.Logger

	mu        sync.Mutex
	listenErr bool
}

// Noticef logs a notice at debug level.
func (l *natsServerLogger) Noticef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// Warnf logs a warning.
func (l *natsServerLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// Fatalf logs an error. It does not exit: the embedded server stops and
// the caller reports the failure.
func (l *natsServerLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "Error listening on port") {
		l.mu.Lock()
		l.listenErr = true
		l.mu.Unlock()
	}
	l.log.Error(msg)
}

// Errorf logs an error.
func (l *natsServerLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}

// Debugf logs at debug level.
func (l *natsServerLogger) Debugf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// Tracef logs at debug level.
func (l *natsServerLogger) Tracef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// listenFailed reports whether the server failed to open its listener.
func (l *natsServerLogger) listenFailed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listenErr
}

// redactURLs redacts the credentials of every URL in a comma-separated list.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// redactURL hides the credentials in a URL's userinfo: the password of
// user:password, or the whole value when it is a single token. It works on
// URLs with or without a scheme and never fails.
func redactURL(u string) string {
	const mask = "xxxxx"
	head, userinfo, tail, ok := splitUserinfo(u)
	if !ok {
		return u
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return head + user + ":" + mask + tail
	}
	return head + mask + tail
}

// splitUserinfo splits u into the part before the userinfo (the scheme and
// "://", if any), the userinfo, and the rest starting at '@'. ok is false
// when u has no userinfo.
func splitUserinfo(u string) (head, userinfo, tail string, ok bool) {
	rest := u
	if i := strings.Index(u, "://"); i >= 0 {
		head, rest = u[:i+3], u[i+3:]
	}
	authEnd := strings.IndexAny(rest, "/?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	at := strings.LastIndexByte(rest[:authEnd], '@')
	if at < 0 {
		return "", "", "", false
	}
	return head, rest[:at], rest[at:], true
}

// redactError returns err's message with the credentials of the URLs in
// list masked, in case the NATS client quotes a URL or its userinfo.
func redactError(err error, list string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		r := redactURL(p)
		if r == p {
			continue
		}
		msg = strings.ReplaceAll(msg, p, r)
		if secret := urlSecret(p); len(secret) >= 3 {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return msg
}

// urlSecret returns the password, or the token, in a URL's userinfo.
func urlSecret(u string) string {
	_, userinfo, _, ok := splitUserinfo(u)
	if !ok {
		return ""
	}
	if _, pass, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return pass
	}
	return userinfo
}
