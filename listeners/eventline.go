package listeners

import (
	"runtime"
	"sync"
)

// eventLine writes the events of WebSocket connections that have nothing
// else to send, one connection after another in the order they got them,
// from one goroutine that runs only while the line is not empty.
//
// Why a line rather than each connection writing its events at the end of
// the engine's turn, as it writes replies: an event fanned out to thousands
// of connections costs one write(2) per connection, and that system call
// is most of the gateway's work (on loopback it also runs the receiving
// side's TCP stack). A connection waiting in the line keeps collecting the
// events that arrive meanwhile, so when events come faster than they can
// be written each write carries several of them, and the line never holds
// an event back longer than it takes to write those queued before it: an
// idle line writes at once. Measured with resbench on 2 cores: 1.68
// messages per write at 1,000 clients (was 1.12) and 3.6 at 5,000 (was
// 1.06); 0.91× and 0.79× the gateway CPU per delivered message. Replies
// skip the line: a client waits for them.
type eventLine struct {
	mu      sync.Mutex
	conns   []*wsConn // waiting, from head
	head    int
	running bool

	// scratch is where the goroutine running the line copies the frames
	// of a connection's several events for its one write.
	scratch []byte
}

// push puts c, whose writing flag its caller has set, at the end of the
// line.
func (l *eventLine) push(c *wsConn) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go l.run()
	}
}

// run writes the connections in line until there are none.
func (l *eventLine) run() {
	for {
		c := l.next()
		if c == nil {
			return
		}
		if c.nc == nil || !c.writeNow(&l.scratch) {
			go c.writeLoop()
		}
	}
}

// next takes the connection at the head of the line, or returns nil, the
// line stopped, if there is none.
func (l *eventLine) next() *wsConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.head == len(l.conns) {
		clear(l.conns[:l.head])
		l.conns, l.head = l.conns[:0], 0
		l.running = false
		return nil
	}
	c := l.conns[l.head]
	l.conns[l.head] = nil
	l.head++
	// Move the waiting ones to the front once most of the array is
	// behind the head, so that a line that never empties does not grow.
	if l.head >= 1024 && 2*l.head >= len(l.conns) {
		n := copy(l.conns, l.conns[l.head:])
		clear(l.conns[n:])
		l.conns, l.head = l.conns[:n], 0
	}
	return c
}

// eventLines returns the lines of a listener: one for every two of the Go
// scheduler's processors, at least one. Each line is one goroutine writing;
// on 2 cores, two lines cost more CPU per message than one (1.24× at 1,000
// clients): the other processor is better left to the engine, the NATS
// connection and the clients' requests.
func eventLines() []eventLine {
	return make([]eventLine, max(1, runtime.GOMAXPROCS(0)/2))
}
