package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// requestTimeout bounds every request a client waits for.
const requestTimeout = 10 * time.Second

// maxSamplesPerClient bounds the latency samples one client keeps.
const maxSamplesPerClient = 1 << 16

// dialer opens the lean clients' connections: small buffers, since
// thousands of them are open at once.
var dialer = &websocket.Dialer{
	HandshakeTimeout: requestTimeout,
	ReadBufferSize:   2048,
	WriteBufferSize:  512,
}

// wsClient is a bare RES WebSocket client: it writes requests built by hand
// and reads messages into one reused buffer, with no JSON decoding.
type wsClient struct {
	ws   *websocket.Conn
	id   uint64
	wbuf []byte
	rbuf []byte
	lat  []int64 // latency samples, in nanoseconds
}

// dialWS connects a client to the gateway at addr (host:port) on path /.
func dialWS(addr string) (*wsClient, error) {
	ws, _, err := dialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	return &wsClient{ws: ws, rbuf: make([]byte, 0, 512)}, nil
}

// close closes the connection.
func (c *wsClient) close() { c.ws.Close() }

// send writes the request {"id":N,"method":method[,"params":params]}.
func (c *wsClient) send(method, params string) error {
	c.id++
	b := append(c.wbuf[:0], `{"id":`...)
	b = strconv.AppendUint(b, c.id, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, '"')
	if params != "" {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	b = append(b, '}')
	c.wbuf = b
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// read reads the next message into the client's buffer; the returned slice
// is valid until the next read.
func (c *wsClient) read() ([]byte, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	b := c.rbuf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	c.rbuf = b
	return b, nil
}

var (
	eventPrefix = []byte(`{"event"`)
	errorPrefix = []byte(`{"error"`)
)

// errResponse is a RES error response.
type errResponse struct{ msg string }

// Error describes the response.
func (e *errResponse) Error() string { return "error response: " + e.msg }

// request sends a request and reads until a message that is not an event,
// which it returns. An error response is returned as an *errResponse.
func (c *wsClient) request(method, params string) ([]byte, error) {
	if err := c.send(method, params); err != nil {
		return nil, err
	}
	c.ws.SetReadDeadline(time.Now().Add(requestTimeout))
	for {
		b, err := c.read()
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(b, eventPrefix) {
			continue
		}
		if bytes.HasPrefix(b, errorPrefix) {
			return b, &errResponse{string(b)}
		}
		return b, nil
	}
}

// clearDeadline removes the read deadline set by request.
func (c *wsClient) clearDeadline() { c.ws.SetReadDeadline(time.Time{}) }

// addSample keeps a latency sample, up to maxSamplesPerClient.
func (c *wsClient) addSample(d int64) {
	if len(c.lat) < maxSamplesPerClient {
		c.lat = append(c.lat, d)
	}
}

// handshake is the start of every client: the version request.
func handshake(c *wsClient) error {
	_, err := c.request("version", `{"protocol":"1.2.3"}`)
	return err
}

// subscribeModel is handshake plus a subscription to the fan-out model.
func subscribeModel(c *wsClient) error {
	if err := handshake(c); err != nil {
		return err
	}
	_, err := c.request("subscribe."+modelRID, "")
	return err
}

// connectMany opens n clients to addr, conc at a time, and runs setup on
// each. It stops at the first error, closing what it opened.
func connectMany(addr string, n, conc int, setup func(*wsClient) error) ([]*wsClient, error) {
	clients := make([]*wsClient, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	if conc > n {
		conc = n
	}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialWS(addr)
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("client %d: dial: %w", i, err))
					return
				}
				clients[i] = c
				if setup != nil {
					if err := setup(c); err != nil {
						failed.CompareAndSwap(nil, fmt.Errorf("client %d: %w", i, err))
						return
					}
					c.clearDeadline()
				}
			}
		}()
	}
	wg.Wait()
	if v := failed.Load(); v != nil {
		closeAll(clients)
		return nil, v.(error)
	}
	return clients, nil
}

// closeAll closes every client in the list.
func closeAll(clients []*wsClient) {
	for _, c := range clients {
		if c != nil {
			c.close()
		}
	}
}

// parseT returns the number after the first `"t":` in a message: the send
// time, in Unix nanoseconds, that resbench puts in every event.
func parseT(b []byte) (int64, bool) {
	i := bytes.Index(b, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i + 4
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + int64(b[j]-'0')
	}
	if j == i+4 {
		return 0, false
	}
	return v, true
}
