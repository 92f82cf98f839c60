// Command testnats runs a NATS server on a given loopback port, for the
// examples' browser tests: they need NATS on a free port, and resedge's
// embedded server always takes 4222. It prints "NATS ready on <url>" once
// clients can connect, and stops on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", -1, "port to listen on (-1: any free port)")
	flag.Parse()

	ns, err := server.NewServer(&server.Options{
		Host:   "127.0.0.1",
		Port:   *port,
		NoLog:  true,
		NoSigs: true,
	})
	if err != nil {
		log.Fatalf("testnats: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("testnats: server not ready after 10s")
	}
	fmt.Printf("NATS ready on %s\n", ns.ClientURL())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	ns.Shutdown()
	ns.WaitForShutdown()
}
