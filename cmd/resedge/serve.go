package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/resedge/resedge/edge"
	"github.com/resedge/resedge/resproto"
	"github.com/resedge/resedge/schema"
)

// Shutdown limits. After a stop signal the listeners get drainTimeout to
// finish the HTTP requests in flight; if the whole shutdown takes longer
// than stopTimeout the process exits with an error. After SIGTERM, the lame
// duck window (shutdown.lameDuck) comes first and adds to both. systemd's
// TimeoutStopSec must be longer than stopTimeout plus the window.
const (
	drainTimeout = 5 * time.Second
	stopTimeout  = 10 * time.Second
)

// serve runs cfg until a stop signal or a failure, reloading on SIGHUP. It
// returns the exit code: 0 after a signalled stop, 1 after a failure.
func serve(cl *commandLine, cfg *schema.Config, stderr io.Writer) int {
	log, level, err := newLogger(stderr, cfg.Log.Format, isTerminal(os.Stderr), false, cfg.Log.Trace)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	setLevel(level, cfg.Log)
	slog.SetDefault(log)
	notify := newNotifier(log)

	// Signals are caught from the start, so that one arriving during
	// startup is handled once the server is up.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(stop)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("Starting resedge", "version", Version, "protocol", resproto.Protocol)
	log.Debug("Go runtime", "version", runtime.Version())

	// Sockets passed by systemd (socket activation). The environment is
	// cleared so that nothing started later takes them for its own.
	sockets := activation.Files(true)
	s := edge.New(cfg, log, edge.WithSockets(sockets), edge.WithVersion(Version))
	if err := s.Start(); err != nil {
		log.Error("Failed to start server", "error", err)
		notify.send("STATUS=Failed to start: " + oneLine(err))
		return 1
	}
	log.Info("Server ready")
	notify.send(sdReady, statusLine(cfg))
	stopWatchdog := notify.watchdog(s.Healthy)

	code := 0
	var lameDuck time.Duration
loop:
	for {
		select {
		case <-hup:
			notify.send(sdReloading())
			log.Info("Reloading configuration")
			next, err := loadConfig(cl, os.Environ(), func(w string) { log.Warn(w) })
			if err == nil {
				err = s.Reload(next) // counts itself in the reload metric
			} else {
				s.Metrics().Reload(false)
			}
			if err != nil {
				log.Error("Reload failed; still running the previous configuration", "error", err)
				notify.send(sdReady, "STATUS=Reload failed, running the previous configuration: "+oneLine(err))
				continue
			}
			cfg = next
			setLevel(level, cfg.Log)
			log.Info("Configuration reloaded")
			notify.send(sdReady, statusLine(cfg))
		case sig := <-stop:
			log.Info("Stopping server", "signal", sig.String())
			if sig == syscall.SIGTERM {
				// A supervisor's stop (systemd, Kubernetes): lame duck
				// first. An interactive stop is at once.
				lameDuck = cfg.Shutdown.LameDuck.D()
			}
			break loop
		case err := <-s.Failed():
			log.Error("Server failed, stopping", "error", err)
			code = 1
			break loop
		}
	}

	notify.send(sdStopping)
	stopWatchdog()
	// A second signal, or a shutdown that takes too long, ends the process
	// at once.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if lameDuck > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), lameDuck+time.Second)
			s.Drain(ctx, lameDuck)
			cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			log.Warn("Requests still in flight were cut off", "error", err)
		}
	}()
	select {
	case <-done:
	case sig := <-stop:
		log.Error("Forced exit on second signal", "signal", sig.String())
		return 1
	case <-time.After(stopTimeout + lameDuck):
		log.Error("Shutdown timed out", "timeout", stopTimeout+lameDuck)
		return 1
	}
	if code == 0 {
		log.Info("Server stopped")
	}
	return code
}

// setLevel sets the log level of l: trace implies debug, as Resgate's -V.
func setLevel(v *slog.LevelVar, l schema.Log) {
	lv := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[l.Level]
	if l.Trace {
		lv = slog.LevelDebug
	}
	v.Set(lv)
}

// statusLine is the systemd status of a running configuration.
func statusLine(cfg *schema.Config) string {
	n := len(cfg.Listeners)
	if n == 1 {
		return "STATUS=Serving 1 listener"
	}
	return fmt.Sprintf("STATUS=Serving %d listeners", n)
}
