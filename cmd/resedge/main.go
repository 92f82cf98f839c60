// Command resedge is a RES protocol gateway: a drop-in replacement for
// Resgate v1.8.0. It accepts Resgate's command line flags and config file,
// connects to NATS (or starts an embedded NATS server), and serves
// WebSocket clients.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
)

// Shutdown limits. After a stop signal the HTTP listener gets
// httpShutdownTimeout to close its connections; if the whole shutdown takes
// longer than stopTimeout the process exits with an error.
const (
	httpShutdownTimeout = 5 * time.Second
	stopTimeout         = 10 * time.Second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usageText)
		return 0
	case errors.Is(err, errVersion):
		printVersion(stdout)
		return 0
	case err != nil:
		fmt.Fprintln(stderr, err)
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprint(stderr, usageText)
		}
		return 1
	}

	log, _, err := newLogger(stderr, opts.LogFormat, isTerminal(os.Stderr), opts.Debug, opts.Trace)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	slog.SetDefault(log)

	if err := serve(opts, log); err != nil {
		var se *startError
		if errors.As(err, &se) {
			log.Error("Failed to start server", "error", se.err)
		} else {
			log.Error("Server stopped with an error", "error", err)
		}
		return 1
	}
	return 0
}

// startError marks an error that happened before the server was ready.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// printVersion writes the version lines in Resgate's layout.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "resedge  v%s\nprotocol v%s\n", Version, resproto.Protocol)
}

// serve runs the gateway until a stop signal arrives or a component fails.
// It returns nil after a clean, signalled shutdown, and a *startError when
// the server could not be started.
func serve(opts *Options, log *slog.Logger) error {
	// Signals are caught from the start, so that one arriving during
	// startup still gives a clean shutdown once the server is up.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(stop)

	log.Info("Starting resedge", "version", Version, "protocol", resproto.Protocol)
	log.Debug("Go runtime", "version", runtime.Version())
	logUnwiredOptions(opts, log)

	origins, err := listeners.ParseAllowOrigin(*opts.AllowOrigin)
	if err != nil {
		return &startError{fmt.Errorf("invalid allowOrigin setting (%s): %w", *opts.AllowOrigin, err)}
	}

	nc, embedded, err := connectNATS(opts, log)
	if err != nil {
		return &startError{err}
	}
	// natsClosed is closed when the NATS connection closes for any reason.
	natsClosed := make(chan struct{})
	prevClosed := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prevClosed != nil {
			prevClosed(c)
		}
		close(natsClosed)
	})
	closeNATS := func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		select {
		case <-natsClosed:
		case <-time.After(natsDrainTimeout + time.Second):
			nc.Close()
		}
		if embedded != nil {
			embedded.Shutdown()
			embedded.WaitForShutdown()
		}
	}

	eng, err := resproto.New(nc, resproto.Config{
		RequestTimeout:    time.Duration(opts.RequestTimeout) * time.Millisecond,
		ResetThrottle:     opts.ResetThrottle,
		ReferenceThrottle: opts.ReferenceThrottle,
		BufferSize:        opts.BufferSize,
		Logger:            log,
		Trace:             opts.Trace,
	})
	if err != nil {
		closeNATS()
		return &startError{fmt.Errorf("failed to start engine: %w", err)}
	}

	h, err := listeners.NewHTTP(eng, httpConfig(opts, origins, log))
	if err != nil {
		eng.Close()
		closeNATS()
		return &startError{fmt.Errorf("failed to create HTTP listener: %w", err)}
	}

	ln, scheme, err := listen(opts)
	if err != nil {
		eng.Close()
		closeNATS()
		return &startError{err}
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- h.Serve(ln) }()
	log.Info(fmt.Sprintf("Listening on %s://%s", scheme, opts.ListenAddr()))
	log.Info("Server ready")

	var runErr error
	select {
	case sig := <-stop:
		log.Info("Stopping server", "signal", sig.String())
	case err := <-serveErr:
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			err = errors.New("HTTP listener stopped unexpectedly")
		}
		runErr = fmt.Errorf("HTTP listener: %w", err)
	case <-natsClosed:
		runErr = errors.New("lost NATS connection")
	}

	// Shut down in reverse order of startup. A second signal, or a
	// shutdown that takes too long, ends the process at once.
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		log.Debug("Stopping HTTP listener")
		if err := h.Shutdown(ctx); err != nil {
			log.Warn("HTTP listener shutdown", "error", err)
		}
		log.Debug("Stopping engine")
		eng.Close()
		log.Debug("Closing NATS connection")
		closeNATS()
	}()
	select {
	case <-done:
	case sig := <-stop:
		return fmt.Errorf("forced exit on second signal (%s)", sig)
	case <-time.After(stopTimeout):
		return fmt.Errorf("shutdown timed out after %s", stopTimeout)
	}
	if runErr == nil {
		log.Info("Server stopped")
	}
	return runErr
}

// listen opens the HTTP listener on opts.ListenAddr, wrapped in TLS when
// opts.TLS is set, and returns it with the URL scheme to log.
func listen(opts *Options) (net.Listener, string, error) {
	addr := opts.ListenAddr()
	var cfg *tls.Config
	if opts.TLS {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("failed to load TLS certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
		}
		cfg = &tls.Config{
			Certificates: []tls.Certificate{cert},
			// WebSocket upgrades need HTTP/1.1.
			NextProtos: []string{"http/1.1"},
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	if cfg != nil {
		return tls.NewListener(ln, cfg), "https", nil
	}
	return ln, "http", nil
}

// httpConfig is the HTTP listener's configuration from the options.
func httpConfig(opts *Options, origins []string, log *slog.Logger) listeners.HTTPConfig {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	cfg := listeners.HTTPConfig{
		Name:          "default",
		WSPath:        opts.WSPath,
		APIPath:       opts.APIPath,
		AllowOrigin:   origins,
		WSCompression: opts.WSCompression,
		Logger:        log,
		APIEncoding:   opts.APIEncoding,
		PutMethod:     str(opts.PutMethod),
		DeleteMethod:  str(opts.DeleteMethod),
		PatchMethod:   str(opts.PatchMethod),
	}
	if opts.HeaderAuth != nil {
		cfg.HeaderAuth = &listeners.AuthMethod{RID: opts.HeaderAuthRID, Method: opts.HeaderAuthMethod}
	}
	if opts.WSHeaderAuth != nil {
		cfg.WSHeaderAuth = &listeners.AuthMethod{RID: opts.WSHeaderAuthRID, Method: opts.WSHeaderAuthMethod}
	}
	return cfg
}

// logUnwiredOptions logs at debug level the settings that are accepted and
// validated but have no effect yet.
func logUnwiredOptions(opts *Options, log *slog.Logger) {
	unwired := func(key string) {
		log.Debug("Setting accepted but not yet implemented; it takes effect in a later release", "setting", key)
	}
	if opts.MetricsPort != 0 {
		unwired("metricsPort")
	}
}
