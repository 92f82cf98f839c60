package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsReadyLine is what "resbench nats-server" prints on stdout once it
// accepts connections.
const natsReadyLine = "nats-server ready"

// runNATSServer is the "nats-server" mode: a plain NATS server on
// 127.0.0.1, run by resbench as a child process so that its CPU is counted
// neither as the gateway's nor as the load generator's.
func runNATSServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resbench nats-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 4222, "port to listen on")
	host := fs.String("addr", "127.0.0.1", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := &server.Options{
		Host:   *host,
		Port:   *port,
		NoLog:  true,
		NoSigs: true,
		// Room for a gateway that falls behind in a fan-out burst: the
		// benchmark measures the gateway, not NATS's slow-consumer policy.
		MaxPending:    512 << 20,
		WriteDeadline: 30 * time.Second,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(stderr, "nats-server:", err)
		return 1
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(stderr, "nats-server: not ready after 10s")
		return 1
	}
	fmt.Fprintln(stdout, natsReadyLine)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}
