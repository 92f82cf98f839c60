// Package app is what every example has in common, kept out of the way so
// that each example's main.go is only its RES service: the command line
// flags, the connection to NATS, and the small web server that serves the
// example's page together with the shared assets (the resclient browser
// bundle, the stylesheet and the page helpers).
package app

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	res "github.com/jirenius/go-res"
	"github.com/nats-io/nats.go"
)

// shared holds the files every page loads from /shared/: resclient.min.js is
// dist/resclient.min.js of the npm package resclient, at the version
// examples/package-lock.json pins (the browser tests check that the two are
// the same file; `npm run vendor` in examples/ copies it again).
//
//go:embed shared
var shared embed.FS

// Example describes one example program.
type Example struct {
	// Name is the example's directory name, such as "hello-world".
	Name string
	// Addr is the default address of the web page.
	Addr string
	// Web holds the page: index.html, app.js.
	Web fs.FS
	// Routes, if set, adds HTTP handlers next to the page (the JWT example
	// serves its login endpoint this way).
	Routes func(mux *http.ServeMux)
}

// Run parses the command line, serves the page and the RES service svc, and
// returns when the program is stopped with a signal. It exits the process
// on a start-up failure.
func Run(ex Example, svc *res.Service) {
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "NATS server URL (resedge's embedded NATS server by default)")
	addr := flag.String("addr", ex.Addr, "address to serve the web page on")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./examples/%s [flags]\n\nRuns the %s example service and serves its page.\n\n", ex.Name, ex.Name)
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix(ex.Name + " ")

	// The page first: -addr 127.0.0.1:0 picks a free port, so the address
	// printed below is the one that was really bound.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("cannot serve the page: %v", err)
	}
	pageURL := "http://" + ln.Addr().String() + "/"
	srv := &http.Server{Handler: Handler(ex), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("web server: %v", err)
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)

	nc, err := connectNATS(*natsURL, ex.Name, stop)
	if err != nil {
		log.Fatal(err)
	}
	if nc == nil { // stopped while waiting for NATS
		return
	}

	ready := make(chan struct{})
	svc.SetOnServe(func(*res.Service) { close(ready) })
	done := make(chan error, 1)
	go func() { done <- svc.Serve(nc) }()
	select {
	case <-ready:
	case err := <-done:
		log.Fatalf("service stopped before serving: %v", err)
	}
	// Make sure NATS has the service's subscriptions before anyone is
	// told to open the page.
	if err := nc.Flush(); err != nil {
		log.Fatalf("NATS flush: %v", err)
	}
	// The browser tests wait for this line.
	fmt.Printf("Ready: open %s in a browser (RES service on %s; the page talks to resedge on port 8080, or to ?gateway=ws://host:port)\n", pageURL, nc.ConnectedUrlRedacted())

	select {
	case <-stop:
	case err := <-done:
		if err != nil {
			log.Printf("service stopped: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = svc.Shutdown()
	nc.Close()
}

// Handler serves the example's page at / and the shared assets at /shared/.
func Handler(ex Example) http.Handler {
	mux := http.NewServeMux()
	sharedFS, err := fs.Sub(shared, "shared")
	if err != nil {
		panic(err)
	}
	mux.Handle("/shared/", http.StripPrefix("/shared/", http.FileServerFS(sharedFS)))
	mux.Handle("/", http.FileServerFS(ex.Web))
	if ex.Routes != nil {
		ex.Routes(mux)
	}
	return noCache(mux)
}

// noCache makes the browser revalidate every file: embedded files have no
// modification time, and an edited example should show at once.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// connectNATS connects to NATS, waiting for it while it is not there yet
// (resedge may be started after the example). Once connected, the
// connection reconnects forever, so a restarted resedge (and its embedded
// NATS server) finds the service again. It returns nil, nil when a stop
// signal arrives first.
func connectNATS(url, name string, stop <-chan os.Signal) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("resedge example " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}
	warned := false
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			if warned {
				log.Printf("connected to NATS at %s", url)
			}
			return nc, nil
		}
		if !errors.Is(err, nats.ErrNoServers) {
			return nil, fmt.Errorf("cannot connect to NATS at %s: %w", url, err)
		}
		if !warned {
			log.Printf("waiting for NATS at %s: is resedge running? Start it with `go run ./cmd/resedge` (or pass -nats URL)", url)
			warned = true
		}
		select {
		case <-stop:
			return nil, nil
		case <-time.After(time.Second):
		}
	}
}
