package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/resedge/resedge/schema"
)

// socket is a listening address. It outlives the listener serving it: when
// a reload changes a listener but not its address (or moves an address from
// one listener to another), the socket is handed over, so the port is never
// closed and no client is refused during the switch.
//
// Its accept loops run from open to close and hand each connection to
// whichever server currently Accepts on a view of it; a connection accepted
// while no server is attached waits for the next one.
type socket struct {
	addr  string // the listener address, the key sockets are reused by
	lns   []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	log   *slog.Logger
}

// openSocket binds addr ("host:port"), or opens the sockets systemd passed
// under the name of a "systemd:<name>" address.
func openSocket(addr string, inherited map[string][]*os.File, log *slog.Logger) (*socket, error) {
	var lns []net.Listener
	if name, ok := strings.CutPrefix(addr, schema.SystemdPrefix); ok {
		files := inherited[name]
		if len(files) == 0 {
			return nil, fmt.Errorf("no socket named %q was passed by systemd (%s)", name, describeInherited(inherited))
		}
		for _, f := range files {
			// FileListener duplicates the descriptor: closing the
			// listener leaves the inherited one open, so that a reload
			// can serve the socket again.
			ln, err := net.FileListener(f)
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, fmt.Errorf("systemd socket %q: %w", name, err)
			}
			lns = append(lns, ln)
		}
	} else {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		lns = []net.Listener{ln}
	}
	s := &socket{addr: addr, lns: lns, conns: make(chan net.Conn), done: make(chan struct{}), log: log}
	for _, ln := range lns {
		s.wg.Add(1)
		go s.acceptLoop(ln)
	}
	return s, nil
}

// describeInherited lists the names of the sockets systemd passed, for an
// error message.
func describeInherited(inherited map[string][]*os.File) string {
	if len(inherited) == 0 {
		return "it passed none: is the .socket unit enabled, and is LISTEN_FDS set?"
	}
	names := make([]string, 0, len(inherited))
	for n := range inherited {
		names = append(names, n)
	}
	sort.Strings(names)
	return "it passed: " + strings.Join(names, ", ") + "; set FileDescriptorName= in the .socket unit"
}

func (s *socket) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait a little, as net/http
			// does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("Accept failed", "address", s.addr, "error", err, "retry", backoff)
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			continue
		}
		backoff = 0
		select {
		case s.conns <- c:
		case <-s.done:
			c.Close()
			return
		}
	}
}

// Addr is the address the socket is bound to (the first one, for systemd
// sockets of several).
func (s *socket) Addr() net.Addr { return s.lns[0].Addr() }

// view returns a net.Listener on the socket for one server. Closing it
// detaches that server and leaves the socket open.
func (s *socket) view() net.Listener {
	return &socketView{s: s, closed: make(chan struct{})}
}

// close stops accepting: new connections are refused (or, for systemd
// sockets, wait in systemd's copy of the socket).
func (s *socket) close() {
	s.once.Do(func() {
		close(s.done)
		for _, ln := range s.lns {
			ln.Close()
		}
	})
	s.wg.Wait()
}

// socketView is one server's net.Listener on a socket.
type socketView struct {
	s      *socket
	closed chan struct{}
	once   sync.Once
}

func (v *socketView) Accept() (net.Conn, error) {
	// A closed view takes no more connections, even if one is waiting.
	select {
	case <-v.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-v.s.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.s.done:
		return nil, net.ErrClosed
	}
}

func (v *socketView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *socketView) Addr() net.Addr { return v.s.Addr() }

// inheritedSockets groups the files systemd passed by their
// FileDescriptorName. Descriptors passed without a name are named
// "LISTEN_FD_<n>" by go-systemd.
func inheritedSockets(files []*os.File) map[string][]*os.File {
	m := make(map[string][]*os.File, len(files))
	for _, f := range files {
		m[f.Name()] = append(m[f.Name()], f)
	}
	return m
}
