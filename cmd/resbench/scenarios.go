package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resedge/resedge/internal/procstat"
)

// Bounds of every load loop, besides its duration.
const (
	stallTimeout = 2 * time.Second // longest wait for one fan-out event's deliveries
	maxEvents    = 1 << 20         // fan-out events per run
	maxOps       = 1 << 22         // requests per closed loop
)

// metricSpec describes one metric of a scenario.
type metricSpec struct {
	key   string
	ratio bool // whether a ratio between targets means something
}

// scenario is one measured case.
type scenario struct {
	name    string
	desc    string
	metrics []metricSpec
	run     func(e *env) (map[string]float64, error)
}

// env is what a scenario runs against: one started gateway (or ceiling)
// with its NATS server and service.
type env struct {
	opts *options
	addr string // host:port of the gateway
	gw   *child
	nats *child // the NATS server, whose CPU is measured too
	svc  *service

	payloads *payloads // what the service serves and clients send
	ceiling  bool      // the target is the ceiling
}

// window is the start of a measured window.
type window struct {
	t0      time.Time
	cpu0    time.Duration // the gateway's
	selfCPU time.Duration // resbench's own (the clients and the service)
	natsCPU time.Duration // the NATS server's
}

// begin starts a measured window.
func (e *env) begin() (window, error) {
	self, _ := procstat.CPU(os.Getpid())
	nats := e.natsCPU()
	cpu, err := procstat.CPU(e.gw.pid())
	return window{t0: time.Now(), cpu0: cpu, selfCPU: self, natsCPU: nats}, err
}

// natsCPU is the NATS server's CPU time so far; 0 when not known.
func (e *env) natsCPU() time.Duration {
	if e.nats == nil {
		return 0
	}
	d, _ := procstat.CPU(e.nats.pid())
	return d
}

// measured is what a window measured besides the load itself: its length,
// the gateway's CPU time in it, resbench's own and the NATS server's, all
// in seconds.
type measured struct {
	secs, cpu, selfCPU, natsCPU float64
}

// end ends a measured window.
func (e *env) end(w window) (measured, error) {
	c, err := procstat.CPU(e.gw.pid())
	self, _ := procstat.CPU(os.Getpid())
	nats := e.natsCPU()
	return measured{
		secs:    time.Since(w.t0).Seconds(),
		cpu:     (c - w.cpu0).Seconds(),
		selfCPU: (self - w.selfCPU).Seconds(),
		natsCPU: (nats - w.natsCPU).Seconds(),
	}, err
}

// rateMetrics sets the throughput and CPU metrics of ops operations of
// the given unit in a window. "all cpu µs/<unit>" is the CPU every process
// of the run spent per operation (gateway, NATS server, resbench's clients
// and service): on a machine the run saturates, the rate is its cores over
// that, which is what bounds a gateway's gain in rate by the others' share.
func rateMetrics(m map[string]float64, prefix, unit string, ops int64, w measured) {
	m[prefix+unit+"/s"] = float64(ops) / w.secs
	if ops > 0 {
		m[prefix+"cpu µs/"+unit] = w.cpu / float64(ops) * 1e6
		m[prefix+"all cpu µs/"+unit] = (w.cpu + w.selfCPU + w.natsCPU) / float64(ops) * 1e6
	} else {
		m[prefix+"cpu µs/"+unit] = math.NaN()
		m[prefix+"all cpu µs/"+unit] = math.NaN()
	}
	m[prefix+"gw cpu %"] = w.cpu / w.secs * 100
	m[prefix+"client cpu %"] = w.selfCPU / w.secs * 100
	m[prefix+"nats cpu %"] = w.natsCPU / w.secs * 100
}

// scenarioByName returns the scenario a name on the command line means:
// fanout<N> (N clients, k for thousands: fanout1k), storm, call, httpget
// or memory.
func scenarioByName(name string) (*scenario, error) {
	if rest, ok := strings.CutPrefix(name, "fanout"); ok {
		n, err := parseCount(rest)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("scenario %q: want fanout<N>, as fanout1k or fanout200", name)
		}
		return &scenario{
			name: name,
			desc: fmt.Sprintf("%d WebSocket clients subscribed to one model; change events published closed-loop (≤ inflight events undelivered)", n),
			metrics: []metricSpec{
				{"msg/s", true}, {"p50 ms", true}, {"p99 ms", true}, {"cpu µs/msg", true}, {"gw cpu %", true}, {"client cpu %", false},
				{"nats cpu %", false}, {"all cpu µs/msg", true}, {"events/s", true}, {"errors", false},
			},
			run: func(e *env) (map[string]float64, error) { return runFanout(e, n) },
		}, nil
	}
	switch name {
	case "storm":
		return &scenario{
			name: name,
			desc: "clients each subscribing to distinct resources, one at a time (cache misses: access + get)",
			metrics: []metricSpec{
				{"sub/s", true}, {"p50 ms", true}, {"p99 ms", true}, {"cpu µs/sub", true}, {"gw cpu %", true}, {"client cpu %", false},
				{"nats cpu %", false}, {"all cpu µs/sub", true}, {"errors", false},
			},
			run: runStorm,
		}, nil
	case "call":
		return &scenario{
			name: name,
			desc: "call round trips over WebSocket on a subscribed model, one at a time per client",
			metrics: []metricSpec{
				{"call/s", true}, {"p50 ms", true}, {"p99 ms", true}, {"cpu µs/call", true}, {"gw cpu %", true}, {"client cpu %", false},
				{"nats cpu %", false}, {"all cpu µs/call", true}, {"errors", false},
			},
			run: runCall,
		}, nil
	case "httpget":
		var ms []metricSpec
		for _, p := range []string{"cached ", "uncached "} {
			ms = append(ms, metricSpec{p + "req/s", true}, metricSpec{p + "p50 ms", true}, metricSpec{p + "p99 ms", true},
				metricSpec{p + "cpu µs/req", true}, metricSpec{p + "gw cpu %", true}, metricSpec{p + "client cpu %", false},
				metricSpec{p + "nats cpu %", false}, metricSpec{p + "all cpu µs/req", true}, metricSpec{p + "errors", false})
		}
		return &scenario{
			name:    name,
			desc:    "HTTP GET on keep-alive connections: a model held by a WebSocket subscriber (cached), then a distinct model each request (uncached)",
			metrics: ms,
			run:     runHTTPGet,
		}, nil
	case "memory":
		return &scenario{
			name: name,
			desc: "RSS growth with idle WebSocket connections, each subscribed to one model",
			metrics: []metricSpec{
				{"KiB/conn", true}, {"rss MiB", true}, {"conn/s", true}, {"cpu µs/conn", true},
			},
			run: runMemory,
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (want fanout<N>, storm, call, httpget or memory)", name)
}

// parseCount parses a count with an optional k suffix: "5k" is 5000.
func parseCount(s string) (int, error) {
	mul := 1
	if rest, ok := strings.CutSuffix(s, "k"); ok {
		s, mul = rest, 1000
	}
	n, err := strconv.Atoi(s)
	return n * mul, err
}

// runFanout measures change events reaching n subscribers of one model.
// The publisher keeps at most opts.inflight events not yet delivered to
// every live client: it publishes event i once the events up to i-inflight
// have reached everyone (or stallTimeout passed, counted as an error).
// Latency is receipt time minus the send time carried in the event.
func runFanout(e *env, n int) (map[string]float64, error) {
	clients, err := connectMany(e.addr, n, e.opts.dialConc, subscribeModel)
	if err != nil {
		return nil, err
	}
	var (
		delivered, disconnects atomic.Int64
		want                   atomic.Int64
		recording, closing     atomic.Bool
		wg                     sync.WaitGroup
	)
	want.Store(math.MaxInt64)
	notify := make(chan struct{}, 1)
	for _, c := range clients {
		wg.Add(1)
		go func(c *wsClient) {
			defer wg.Done()
			for {
				b, err := c.read()
				if err != nil {
					if !closing.Load() {
						disconnects.Add(1)
					}
					return
				}
				if recording.Load() {
					if t, ok := parseT(b); ok {
						c.addSample(time.Now().UnixNano() - t)
					}
				}
				if delivered.Add(1) >= want.Load() {
					select {
					case notify <- struct{}{}:
					default:
					}
				}
			}
		}(c)
	}
	shutdown := func() {
		closing.Store(true)
		closeAll(clients)
		wg.Wait()
	}

	k := int64(e.opts.inflight)
	// expected[i%k] is the deliveries expected once event i has reached
	// every client live when it was published (a running total).
	expected := make([]int64, k)
	var (
		published, total, stalls int64
		buf                      []byte
		w                        window
		started                  bool
		endAt                    time.Time
		d0, p0                   int64
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	warmEnd := time.Now().Add(e.opts.warmup)
	for published < maxEvents {
		now := time.Now()
		if !started && !now.Before(warmEnd) {
			if w, err = e.begin(); err != nil {
				shutdown()
				return nil, err
			}
			d0, p0 = delivered.Load(), published
			recording.Store(true)
			started, endAt = true, now.Add(e.opts.duration)
		}
		if started && !now.Before(endAt) {
			break
		}
		// Wait until event published-k has reached every client.
		if published >= k {
			need := expected[published%k]
			if delivered.Load() < need {
				want.Store(need)
				deadline := time.Now().Add(stallTimeout)
				for delivered.Load() < need {
					left := time.Until(deadline)
					if left <= 0 {
						// Forgive the missing deliveries: shift every
						// total still expected down by them.
						stalls++
						lost := need - delivered.Load()
						total -= lost
						for j := range expected {
							expected[j] -= lost
						}
						break
					}
					timer.Reset(left)
					select {
					case <-notify:
					case <-timer.C:
					}
				}
				want.Store(math.MaxInt64)
			}
		}
		total += int64(n) - disconnects.Load()
		expected[published%k] = total
		if buf, err = e.svc.publishEvent(buf); err != nil {
			shutdown()
			return nil, fmt.Errorf("publish: %w", err)
		}
		published++
	}
	if !started {
		shutdown()
		return nil, errors.New("fan-out: event limit reached during warm-up")
	}
	mw, err := e.end(w)
	recording.Store(false)
	d1, p1 := delivered.Load(), published
	disc := disconnects.Load()
	shutdown()
	if err != nil {
		return nil, err
	}
	var samples []int64
	for _, c := range clients {
		samples = append(samples, c.lat...)
	}
	m := map[string]float64{}
	rateMetrics(m, "", "msg", d1-d0, mw)
	m["events/s"] = float64(p1-p0) / mw.secs
	latencyMetrics(m, "", samples)
	m["errors"] = float64(stalls + disc)
	return m, nil
}

// loadResult is what a closed loop measured.
type loadResult struct {
	ops      int64
	w        measured
	samples  []int64
	errs     int64
	firstErr error
}

// closedLoop runs op on workers goroutines, each calling it again as soon
// as it returns, through the warm-up and one measured window. k numbers
// the calls across workers. An *errResponse is counted and the worker goes
// on; any other error is counted and ends the worker.
func (e *env) closedLoop(workers int, op func(w int, k int64) error) (loadResult, error) {
	var (
		ok, errs        atomic.Int64
		seq             atomic.Int64
		stop, recording atomic.Bool
		firstErr        atomic.Pointer[error] // the first error, whatever its type
		wg              sync.WaitGroup
	)
	samples := make([][]int64, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for !stop.Load() {
				k := seq.Add(1)
				if k > maxOps {
					return
				}
				t0 := time.Now()
				err := op(i, k)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					var er *errResponse
					if errors.As(err, &er) {
						continue
					}
					return
				}
				if recording.Load() && len(samples[i]) < maxSamplesPerClient {
					samples[i] = append(samples[i], int64(time.Since(t0)))
				}
				ok.Add(1)
			}
		}(i)
	}
	time.Sleep(e.opts.warmup)
	w, err := e.begin()
	o0 := ok.Load()
	recording.Store(true)
	if err == nil {
		time.Sleep(e.opts.duration)
	}
	var r loadResult
	var err2 error
	r.w, err2 = e.end(w)
	recording.Store(false)
	r.ops = ok.Load() - o0
	stop.Store(true)
	wg.Wait()
	if err == nil {
		err = err2
	}
	for _, s := range samples {
		r.samples = append(r.samples, s...)
	}
	r.errs = errs.Load()
	if v := firstErr.Load(); v != nil {
		r.firstErr = *v
	}
	if r.ops == 0 && err == nil {
		err = fmt.Errorf("no operation completed; first error: %v", r.firstErr)
	}
	return r, err
}

// loadMetrics turns a closed loop's result into metrics.
func loadMetrics(m map[string]float64, prefix, unit string, r loadResult) {
	rateMetrics(m, prefix, unit, r.ops, r.w)
	latencyMetrics(m, prefix, r.samples)
	m[prefix+"errors"] = float64(r.errs)
}

// runStorm measures subscriptions to distinct resources: every one a cache
// miss for a gateway (an access and a get request to the service).
func runStorm(e *env) (map[string]float64, error) {
	clients, err := connectMany(e.addr, e.opts.stormClients, e.opts.dialConc, handshake)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	r, err := e.closedLoop(len(clients), func(w int, k int64) error {
		_, err := clients[w].request("subscribe."+stormPrefix+strconv.FormatInt(k, 10), "")
		return err
	})
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	loadMetrics(m, "", "sub", r)
	return m, nil
}

// runCall measures call round trips on a model each client is subscribed
// to (so a gateway has its access cached: one NATS round trip per call).
func runCall(e *env) (map[string]float64, error) {
	clients, err := connectMany(e.addr, e.opts.callClients, e.opts.dialConc, subscribeModel)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	callParams := string(e.payloads.callParams)
	// The service's result reaches the client as it was sent (the
	// ceiling's service side echoes the request instead).
	resp, err := clients[0].request(callMethod, callParams)
	if err != nil {
		return nil, err
	}
	want := e.payloads.callResult()
	if e.ceiling {
		want = e.payloads.callParams
	}
	if !bytes.Contains(resp, want) {
		return nil, fmt.Errorf("call response %s lacks %s", resp, want)
	}
	r, err := e.closedLoop(len(clients), func(w int, k int64) error {
		_, err := clients[w].request(callMethod, callParams)
		return err
	})
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	loadMetrics(m, "", "call", r)
	return m, nil
}

// httpConn is a bare HTTP/1.1 keep-alive client connection.
type httpConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func dialHTTP(addr string) (*httpConn, error) {
	c := &httpConn{addr: addr}
	return c, c.redial()
}

func (c *httpConn) redial() error {
	if c.conn != nil {
		c.conn.Close()
	}
	conn, err := net.DialTimeout("tcp", c.addr, requestTimeout)
	if err != nil {
		return err
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 4096)
	return nil
}

// get sends GET path and reads the whole response; a status other than
// 200 is an *errResponse. A connection the server closed is reopened once.
// setRequest makes the request a GET of path.
func (c *httpConn) setRequest(path string) {
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\n\r\n"...)
}

func (c *httpConn) get(path string) error {
	c.setRequest(path)
	err := c.roundTrip()
	if err != nil {
		if _, ok := err.(*errResponse); !ok {
			if err = c.redial(); err == nil {
				err = c.roundTrip()
			}
		}
	}
	return err
}

// body GETs path and returns the response body.
func (c *httpConn) body(path string) ([]byte, error) {
	var buf bytes.Buffer
	c.setRequest(path)
	err := c.roundTripTo(&buf)
	return buf.Bytes(), err
}

func (c *httpConn) roundTrip() error { return c.roundTripTo(io.Discard) }

// roundTripTo sends the request and copies the response body to w.
func (c *httpConn) roundTripTo(w io.Writer) error {
	c.conn.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &errResponse{resp.Status}
	}
	if resp.Close {
		return c.redial()
	}
	return nil
}

// runHTTPGet measures HTTP GET of a model kept in the gateway's cache by a
// WebSocket subscriber, then of distinct models (a cache miss each).
func runHTTPGet(e *env) (map[string]float64, error) {
	keeper, err := dialWS(e.addr)
	if err != nil {
		return nil, err
	}
	defer keeper.close()
	if err := subscribeModel(keeper); err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	conns := make([]*httpConn, e.opts.httpClients)
	defer func() {
		for _, c := range conns {
			if c != nil && c.conn != nil {
				c.conn.Close()
			}
		}
	}()
	for i := range conns {
		if conns[i], err = dialHTTP(e.addr); err != nil {
			return nil, err
		}
	}
	cachedPath := "/api/" + strings.ReplaceAll(modelRID, ".", "/")
	// The body is the model the service serves (keys in any order).
	body, err := conns[0].body(cachedPath)
	if err != nil {
		return nil, fmt.Errorf("cached: %w", err)
	}
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil || json.Unmarshal(e.payloads.model, &want) != nil || !reflect.DeepEqual(got, want) {
		return nil, fmt.Errorf("cached: GET %s returned %s, want the model %s", cachedPath, body, e.payloads.model)
	}
	uncachedPrefix := "/api/" + strings.ReplaceAll(httpPrefix, ".", "/")
	m := map[string]float64{}
	r, err := e.closedLoop(len(conns), func(w int, k int64) error { return conns[w].get(cachedPath) })
	if err != nil {
		return nil, fmt.Errorf("cached: %w", err)
	}
	loadMetrics(m, "cached ", "req", r)
	r, err = e.closedLoop(len(conns), func(w int, k int64) error {
		return conns[w].get(uncachedPrefix + strconv.FormatInt(k, 10))
	})
	if err != nil {
		return nil, fmt.Errorf("uncached: %w", err)
	}
	loadMetrics(m, "uncached ", "req", r)
	return m, nil
}

// runMemory measures the gateway's RSS growth with idle subscribed
// WebSocket connections, and the CPU cost of opening them.
func runMemory(e *env) (map[string]float64, error) {
	time.Sleep(e.opts.settle / 2)
	rss0, err := procstat.RSS(e.gw.pid())
	if err != nil {
		return nil, err
	}
	w, err := e.begin()
	if err != nil {
		return nil, err
	}
	n := e.opts.memoryConns
	clients, err := connectMany(e.addr, n, e.opts.dialConc, subscribeModel)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	mw, err := e.end(w)
	if err != nil {
		return nil, err
	}
	time.Sleep(e.opts.settle)
	rss1, err := procstat.RSS(e.gw.pid())
	if err != nil {
		return nil, err
	}
	return map[string]float64{
		"KiB/conn":    float64(rss1-rss0) / float64(n) / 1024,
		"rss MiB":     float64(rss1) / (1 << 20),
		"conn/s":      float64(n) / mw.secs,
		"cpu µs/conn": mw.cpu / float64(n) * 1e6,
	}, nil
}
