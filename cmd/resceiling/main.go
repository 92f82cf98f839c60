// Command resceiling is the "ceiling" that resbench measures RES gateways
// against: the same transports as a gateway (WebSocket and HTTP on one port,
// NATS behind) with no protocol logic at all.
//
//   - Every NATS message on one subject (--subject) is written as-is to every
//     WebSocket client, one writer goroutine per socket, as one prepared
//     message (framed once for all sockets).
//   - Every WebSocket message a client sends is passed as-is as a NATS
//     request to one subject (--callsubject), and the reply is written back
//     as-is to that client.
//   - Every plain HTTP request is answered 200 with a fixed body (--body).
//
// It accepts the flags resbench gives a gateway (--nats URL --addr HOST
// --port N, with Resgate's short forms -n, -i, -p), so that on a given
// machine the numbers it reaches are the physical limit of the transports:
//
//	resceiling --nats nats://127.0.0.1:4222 --port 8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// Defaults of the subjects and body; they match what resbench's service
// side publishes and answers.
const (
	defaultSubject     = "event.bench.model.change"
	defaultCallSubject = "ceiling.call"
	defaultBody        = `{"t":0,"name":"bench"}`
)

// writeQueue is how many messages may wait for one socket; more are
// dropped (and counted), as a gateway would shed a slow client.
const writeQueue = 4096

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the command line flags.
type options struct {
	natsURL     string
	addr        string
	port        int
	subject     string
	callSubject string
	body        string
	reqTimeout  time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("resceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, n := range []string{"nats", "n"} {
		fs.StringVar(&o.natsURL, n, nats.DefaultURL, "NATS server URL")
	}
	for _, n := range []string{"addr", "i"} {
		fs.StringVar(&o.addr, n, "127.0.0.1", "address to listen on")
	}
	for _, n := range []string{"port", "p"} {
		fs.IntVar(&o.port, n, 8080, "port for WebSocket and HTTP clients")
	}
	fs.StringVar(&o.subject, "subject", defaultSubject, "NATS subject whose messages are written to every WebSocket")
	fs.StringVar(&o.callSubject, "callsubject", defaultCallSubject, "NATS subject each WebSocket message is sent to as a request")
	fs.StringVar(&o.body, "body", defaultBody, "fixed body of every HTTP response")
	fs.DurationVar(&o.reqTimeout, "reqtimeout", 3*time.Second, "NATS request timeout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	nc, err := nats.Connect(o.natsURL, nats.Name("resceiling"))
	if err != nil {
		fmt.Fprintln(stderr, "resceiling: nats:", err)
		return 1
	}
	defer nc.Close()

	s := &server{nc: nc, opts: o, body: []byte(o.body), conns: map[*client]struct{}{}}
	sub, err := nc.Subscribe(o.subject, s.fanout)
	if err != nil {
		fmt.Fprintln(stderr, "resceiling: subscribe:", err)
		return 1
	}
	// A fan-out ceiling must not be cut short by nats.go's default pending
	// limits.
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		fmt.Fprintln(stderr, "resceiling: nats flush:", err)
		return 1
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(o.addr, strconv.Itoa(o.port)))
	if err != nil {
		fmt.Fprintln(stderr, "resceiling:", err)
		return 1
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "resceiling: listening on http://%s, nats %s\n", ln.Addr(), o.natsURL)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case err := <-errc:
		fmt.Fprintln(stderr, "resceiling:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	s.closeAll()
	if d := s.dropped.Load(); d > 0 {
		fmt.Fprintf(stderr, "resceiling: %d messages dropped on full write queues\n", d)
	}
	return 0
}

// server holds the WebSocket clients.
type server struct {
	nc      *nats.Conn
	opts    *options
	body    []byte
	up      websocket.Upgrader
	mu      sync.RWMutex
	conns   map[*client]struct{}
	list    []*client // snapshot of conns for fan-out; nil when stale
	dropped atomic.Int64
}

// client is one WebSocket connection and its writer.
type client struct {
	ws   *websocket.Conn
	out  chan outMsg
	done chan struct{}
}

// outMsg is one message for a socket: a prepared fan-out message or a
// reply.
type outMsg struct {
	pm   *websocket.PreparedMessage
	data []byte
}

// ServeHTTP upgrades WebSocket requests and answers every other request
// with the fixed body.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.serveWS(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(s.body))}
	w.WriteHeader(http.StatusOK)
	w.Write(s.body)
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{ws: ws, out: make(chan outMsg, writeQueue), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.list = nil
	s.mu.Unlock()
	go s.write(c)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.list = nil
		s.mu.Unlock()
		close(c.done)
		ws.Close()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		reply, err := s.nc.Request(s.opts.callSubject, data, s.opts.reqTimeout)
		if err != nil {
			return
		}
		select {
		case c.out <- outMsg{data: reply.Data}:
		case <-c.done:
			return
		}
	}
}

// write is the one writer of a socket.
func (s *server) write(c *client) {
	for {
		select {
		case m := <-c.out:
			var err error
			if m.pm != nil {
				err = c.ws.WritePreparedMessage(m.pm)
			} else {
				err = c.ws.WriteMessage(websocket.TextMessage, m.data)
			}
			if err != nil {
				c.ws.Close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// snapshot returns the current clients.
func (s *server) snapshot() []*client {
	s.mu.RLock()
	l := s.list
	s.mu.RUnlock()
	if l != nil {
		return l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.list == nil {
		s.list = make([]*client, 0, len(s.conns))
		for c := range s.conns {
			s.list = append(s.list, c)
		}
	}
	return s.list
}

// fanout writes one NATS message to every socket.
func (s *server) fanout(m *nats.Msg) {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, m.Data)
	if err != nil {
		return
	}
	for _, c := range s.snapshot() {
		select {
		case c.out <- outMsg{pm: pm}:
		default:
			s.dropped.Add(1)
		}
	}
}

// closeAll closes every socket.
func (s *server) closeAll() {
	for _, c := range s.snapshot() {
		c.ws.Close()
	}
}
