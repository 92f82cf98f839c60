package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// systemd notification states (sd_notify(3)).
const (
	sdReady    = daemon.SdNotifyReady    // started, or done reloading
	sdStopping = daemon.SdNotifyStopping // shutting down
)

// sdReloading is the start of a reload. systemd 253 and later want the
// monotonic time with it (for Type=notify-reload); older ones ignore it.
func sdReloading() string {
	return daemon.SdNotifyReloading + "\n" + strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n")
}

// notifier sends state notifications to systemd when it runs resedge as a
// Type=notify service (NOTIFY_SOCKET is set); otherwise it does nothing.
type notifier struct {
	log *slog.Logger
}

func newNotifier(log *slog.Logger) notifier { return notifier{log: log} }

// send sends the lines of one notification.
func (n notifier) send(lines ...string) {
	// The socket stays in the environment: there are more messages to
	// send.
	if _, err := daemon.SdNotify(false, strings.Join(lines, "\n")); err != nil {
		n.log.Warn("Failed to notify systemd", "error", err)
	}
}

// watchdog pings systemd's watchdog (WatchdogSec=) at half its interval,
// each time healthy returns nil; a stuck or failing server stops the pings
// and systemd restarts it. It returns a function that stops the pings.
func (n notifier) watchdog(healthy func() error) (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := healthy(); err != nil {
				n.log.Warn("Unhealthy, not pinging the systemd watchdog", "error", err)
				continue
			}
			n.send(daemon.SdNotifyWatchdog)
		}
	}()
	return func() { close(done) }
}

// oneLine joins the lines of a (multi-problem) error message, for a status
// line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
