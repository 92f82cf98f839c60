// Command ressoak soaks a RES gateway: it holds thousands of WebSocket
// connections (10,000 by default) for a long time (10 minutes by default)
// while they subscribe, unsubscribe and receive change events against a
// real NATS server, checks every message they get, and reports the
// gateway's goroutine count and resident memory at the start, the middle
// and the end (and after the clients left), and every protocol error: error
// replies, missed, repeated or misordered events, events for resources not
// subscribed, requests without a reply, unexpected closes, and
// subscriptions that do not end at the service's value.
//
// By default it starts everything itself: a NATS server (itself, as a
// child process: "ressoak nats-server") and resedge (the binary next to
// ressoak, or on PATH, or -resedge) with a metrics listener:
//
//	go build -o /tmp/soak/ ./cmd/resedge ./cmd/ressoak
//	/tmp/soak/ressoak                              # 10,000 conns, 10 minutes
//	/tmp/soak/ressoak -conns 500 -duration 30s
//
// Or it soaks a gateway already running, on a NATS server ressoak's
// service can reach (the gateway's /metrics gives the samples; -pid, when
// given, gives the RSS from /proc instead):
//
//	ressoak -nats nats://127.0.0.1:4222 -gateway 127.0.0.1:8080 -metrics http://127.0.0.1:9100/metrics
//
// The service it plays serves soak.r.0 … soak.r.<resources-1>, each a model
// {"seq":N}, and publishes a change event incrementing seq on each resource
// once per -event-interval. Each client keeps about -subs subscriptions and,
// on average once per -action-every, unsubscribes one or subscribes
// another. ressoak exits 1 if any protocol error was seen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/resedge/resedge/internal/freeport"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "nats-server" {
		os.Exit(runNATSServer(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// signalNotify relays the stop signals to ch.
func signalNotify(ch chan<- os.Signal) { signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM) }

// Bounds on what one run may ask for.
const (
	maxConns    = 200000
	maxDuration = 24 * time.Hour
)

// options are ressoak's flags.
type options struct {
	conns        int
	duration     time.Duration
	resources    int
	subs         int
	actionEvery  time.Duration
	eventEvery   time.Duration
	natsURL      string
	gateway      string
	metricsURL   string
	pid          int
	resedge      string
	dialConc     int
	reqTimeout   time.Duration
	sampleEvery  time.Duration
	setupTimeout time.Duration
	jsonFile     string
	seed         uint64
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ressoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: ressoak [flags]\n       ressoak nats-server [-port N]\n\nSoaks a RES gateway; see go doc ./cmd/ressoak.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.conns, "conns", 10000, "WebSocket connections")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the connections are soaked, after they are all set up")
	fs.IntVar(&o.resources, "resources", 100, "resources served (soak.r.0 …)")
	fs.IntVar(&o.subs, "subs", 2, "subscriptions each connection keeps, about")
	fs.DurationVar(&o.actionEvery, "action-every", 20*time.Second, "mean time between a connection's subscribes or unsubscribes")
	fs.DurationVar(&o.eventEvery, "event-interval", time.Second, "each resource changes once per interval")
	fs.StringVar(&o.natsURL, "nats", "", "NATS server URL (default: start one as a child process)")
	fs.StringVar(&o.gateway, "gateway", "", "host:port of a running gateway (default: start resedge)")
	fs.StringVar(&o.metricsURL, "metrics", "", "the gateway's metrics URL (default for a started resedge: its metrics listener's /metrics)")
	fs.IntVar(&o.pid, "pid", 0, "process ID of a running gateway, for its RSS from /proc")
	fs.StringVar(&o.resedge, "resedge", "", "resedge binary to start (default: next to ressoak, else on PATH)")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "connections set up at once")
	fs.DurationVar(&o.reqTimeout, "request-timeout", 10*time.Second, "a request without a reply after this is a protocol error")
	fs.DurationVar(&o.sampleEvery, "sample-every", time.Minute, "also sample at this interval")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 10*time.Minute, "bound on setting up the connections")
	fs.StringVar(&o.jsonFile, "json", "", "also write the report as JSON to `file`")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the clients' actions")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.conns < 1 || o.conns > maxConns:
		return nil, fmt.Errorf("-conns must be 1 to %d", maxConns)
	case o.duration <= 0 || o.duration > maxDuration:
		return nil, fmt.Errorf("-duration must be more than 0 and at most %v", maxDuration)
	case o.resources < 1 || o.resources > 100000:
		return nil, errors.New("-resources must be 1 to 100000")
	case o.subs < 1 || o.subs > o.resources:
		return nil, errors.New("-subs must be 1 to -resources")
	case o.actionEvery <= 0 || o.eventEvery <= 0 || o.reqTimeout <= 0 || o.sampleEvery <= 0 || o.setupTimeout <= 0:
		return nil, errors.New("durations must be more than 0")
	case o.dialConc < 1:
		return nil, errors.New("-dial-concurrency must be at least 1")
	case o.gateway != "" && o.natsURL == "":
		return nil, errors.New("-gateway needs -nats: the NATS server the gateway uses")
	}
	return o, nil
}

// report is the outcome of a soak.
type report struct {
	Conns      int            `json:"conns"`
	Duration   time.Duration  `json:"duration"`
	Resources  int            `json:"resources"`
	Setup      time.Duration  `json:"setup"`
	Samples    []sample       `json:"samples"`
	Totals     map[string]int `json:"totals"`
	Errors     map[string]int `json:"protocolErrors"`
	ErrorTotal int            `json:"protocolErrorTotal"`
	FirstErrs  []string       `json:"firstErrors,omitempty"`
	GatewayLog struct {
		Warnings int `json:"warnings"`
		Errors   int `json:"errors"`
		// Notable counts the lines logged about clients being closed,
		// refused or cut off (limits hit), and every warning and error,
		// by message.
		Notable map[string]int `json:"notable,omitempty"`
		Tail    string         `json:"tail,omitempty"`
	} `json:"gatewayLog"`
	Failure string `json:"failure,omitempty"`
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "ressoak:", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	rep, err := soak(ctx, o, stderr)
	if err != nil {
		rep.Failure = err.Error()
	}
	printReport(stdout, rep)
	if o.jsonFile != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := os.WriteFile(o.jsonFile, append(b, '\n'), 0o644); werr != nil {
			fmt.Fprintln(stderr, "ressoak:", werr)
			return 1
		}
	}
	if err != nil || rep.ErrorTotal > 0 {
		return 1
	}
	return 0
}

// soak runs the whole soak and returns its report.
func soak(ctx context.Context, o *options, logw io.Writer) (*report, error) {
	rep := &report{Conns: o.conns, Duration: o.duration, Resources: o.resources}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "ressoak: "+format+"\n", args...)
	}
	if limit, err := raiseFileLimit(); err != nil {
		logf("cannot raise the open file limit: %v", err)
	} else if need := uint64(o.conns) + 100; limit < need {
		return rep, fmt.Errorf("open file limit %d is below the %d connections need (raise the hard limit: ulimit -Hn)", limit, need)
	}

	// NATS.
	natsURL := o.natsURL
	if natsURL == "" {
		self, err := os.Executable()
		if err != nil {
			return rep, err
		}
		port, err := freeport.Get()
		if err != nil {
			return rep, err
		}
		ns, err := startChild(ctx, "nats-server", []string{self, "nats-server", "-port", strconv.Itoa(port)}, natsReadyLine)
		if err != nil {
			return rep, err
		}
		defer ns.stop(5 * time.Second)
		natsURL = "nats://" + loopback + ":" + strconv.Itoa(port)
	}

	// The service, publishing from before the first client connects.
	svc, err := startService(natsURL, o.resources)
	if err != nil {
		return rep, err
	}
	defer svc.close()
	go svc.publish(o.eventEvery)
	eventsStopped := false
	defer func() {
		if !eventsStopped {
			svc.stopEvents()
		}
	}()

	// The gateway.
	smp := &sampler{metricsURL: o.metricsURL, pid: o.pid, client: &http.Client{Timeout: 10 * time.Second}}
	addr := o.gateway
	var gw *child
	if addr == "" {
		bin, err := findResedge(o.resedge)
		if err != nil {
			return rep, err
		}
		port, err := freeport.Get()
		if err != nil {
			return rep, err
		}
		mport, err := freeport.Get()
		if err != nil {
			return rep, err
		}
		addr = loopback + ":" + strconv.Itoa(port)
		gw, err = startChild(ctx, "resedge", []string{bin, "--nats", natsURL, "-i", loopback, "-p", strconv.Itoa(port),
			"--metricsport", strconv.Itoa(mport), "--logformat", "text"}, "Server ready")
		if err != nil {
			return rep, err
		}
		defer func() {
			gw.stop(30 * time.Second)
			rep.GatewayLog.Warnings, rep.GatewayLog.Errors, rep.GatewayLog.Notable = gw.logCounts()
			if rep.GatewayLog.Warnings+rep.GatewayLog.Errors > 0 {
				rep.GatewayLog.Tail = gw.output()
			}
		}()
		base := "http://" + loopback + ":" + strconv.Itoa(mport)
		if err := waitReady(ctx, base+"/readyz"); err != nil {
			return rep, err
		}
		if smp.metricsURL == "" {
			smp.metricsURL = base + "/metrics"
		}
		if smp.pid == 0 {
			smp.pid = gw.pid()
		}
	}
	logf("gateway %s, NATS %s, metrics %s", addr, natsURL, smp.metricsURL)

	k := &counters{}
	start := time.Now()
	take := func(name string, clients int) {
		s := smp.take(ctx, name, time.Since(start).Round(time.Second), clients)
		rep.Samples = append(rep.Samples, s)
		logf("sample %-10s clients %6d goroutines %6d RSS %7.1f MiB %s", s.Name, s.Clients, s.Goroutines, float64(s.RSS)/(1<<20), s.Err)
	}
	take("baseline", 0)

	// Set up the clients.
	logf("connecting %d clients", o.conns)
	setupCtx, cancelSetup := context.WithTimeout(ctx, o.setupTimeout)
	clients, err := connectAll(setupCtx, o, "ws://"+addr+"/", k)
	cancelSetup()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
	}()
	rep.Setup = time.Since(start).Round(time.Millisecond)
	if err != nil {
		fillCounters(rep, k, svc)
		return rep, fmt.Errorf("setting up the connections: %w", err)
	}
	logf("%d clients connected and subscribed in %v", len(clients), rep.Setup)
	start = time.Now()
	take("start", len(clients))

	// Soak.
	soakCtx, stopSoak := context.WithTimeout(ctx, o.duration)
	defer stopSoak()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		act(soakCtx, o, clients)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-soakCtx.Done():
				return
			case <-t.C:
			}
			for _, c := range clients {
				c.expire(o.reqTimeout)
			}
		}
	}()
	middle := time.NewTimer(o.duration / 2)
	periodic := time.NewTicker(o.sampleEvery)
	var failure error
loop:
	for {
		select {
		case <-soakCtx.Done():
			break loop
		case <-middle.C:
			take("middle", len(clients))
		case <-periodic.C:
			take("+"+time.Since(start).Round(time.Second).String(), len(clients))
		case <-gwDone(gw):
			failure = fmt.Errorf("resedge exited during the soak:\n%s", gw.output())
			break loop
		}
	}
	periodic.Stop()
	middle.Stop()
	stopSoak()
	wg.Wait()
	if ctx.Err() != nil && failure == nil {
		failure = errors.New("interrupted")
	}

	// Quiesce: no more events or actions; every pending reply and event
	// arrives; then every subscription must hold the service's value.
	svc.stopEvents()
	eventsStopped = true
	quiesce(clients, k, o.reqTimeout)
	for _, c := range clients {
		c.expire(0)
		if c.ended() {
			continue // counted as an unexpected close
		}
		c.mu.Lock()
		for res, s := range c.subs {
			if want := svc.current(res); s.seq != want {
				k.fail(&k.finalMismatches, "client %d: %s ended at %d, service at %d", c.id, rid(res), s.seq, want)
			}
		}
		c.mu.Unlock()
	}
	take("end", len(clients))

	// The clients leave; the gateway should return to its baseline.
	for _, c := range clients {
		c.close()
	}
	for _, c := range clients {
		<-c.done
	}
	clients = nil
	settle(ctx, smp, rep.Samples[0].Goroutines)
	take("after", 0)
	fillCounters(rep, k, svc)
	return rep, failure
}

// gwDone is the channel closed when the started gateway exits (never for
// one ressoak did not start).
func gwDone(gw *child) <-chan struct{} {
	if gw == nil {
		return nil
	}
	return gw.done
}

// connectAll connects o.conns clients, o.dialConc at a time; each sends a
// version request, then subscribes to o.subs distinct resources, waiting
// for every reply.
func connectAll(ctx context.Context, o *options, url string, k *counters) ([]*client, error) {
	clients := make([]*client, o.conns)
	d := newDialer()
	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < min(o.dialConc, o.conns); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.seed, uint64(w)))
			for {
				mu.Lock()
				i := next
				next++
				failed := firstErr != nil
				mu.Unlock()
				if i >= o.conns || failed || ctx.Err() != nil {
					return
				}
				c, err := setupClient(ctx, d, url, i, k, o, rng)
				if c != nil {
					clients[i] = c
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return clients, firstErr
	}
	return clients, nil
}

// setupClient dials client i and sets up its subscriptions.
func setupClient(ctx context.Context, d *websocket.Dialer, url string, i int, k *counters, o *options, rng *rand.Rand) (*client, error) {
	c, err := dialClient(d, url, i, k)
	if err != nil {
		return nil, err
	}
	wait := func() error {
		select {
		case <-c.ready:
			return nil
		case <-c.done:
			return errors.New("connection closed during setup")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.reqTimeout):
			return errors.New("no reply during setup")
		}
	}
	if err := c.send(reqVersion, 0); err != nil {
		return c, err
	}
	if err := wait(); err != nil {
		return c, err
	}
	for _, res := range rng.Perm(o.resources)[:o.subs] {
		if err := c.send(reqSubscribe, res); err != nil {
			return c, err
		}
		if err := wait(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// act makes random clients subscribe or unsubscribe, each about once per
// o.actionEvery, until ctx ends. A client keeps about o.subs
// subscriptions: over or at it, it unsubscribes one; under it, it
// subscribes to another resource.
func act(ctx context.Context, o *options, clients []*client) {
	const tick = 20 * time.Millisecond
	rate := float64(len(clients)) * tick.Seconds() / o.actionEvery.Seconds()
	rng := rand.New(rand.NewPCG(o.seed, 0xac7))
	work := make(chan *client, 4096)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.seed, 0x5eed+uint64(w)))
			for c := range work {
				step(c, o, rng)
			}
		}()
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	acc := 0.0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			acc += rate
			for ; acc >= 1; acc-- {
				select {
				case work <- clients[rng.IntN(len(clients))]:
				default: // the workers are behind: skip this action
				}
			}
		}
	}
	close(work)
	wg.Wait()
}

// step makes client c subscribe or unsubscribe once, unless a request of
// that kind is still pending.
func step(c *client, o *options, rng *rand.Rand) {
	c.mu.Lock()
	if c.busy || c.closing {
		c.mu.Unlock()
		return
	}
	kind, res := reqSubscribe, -1
	if len(c.subs) >= o.subs {
		kind = reqUnsubscribe
		n := rng.IntN(len(c.subs))
		for r := range c.subs {
			if n == 0 {
				res = r
				break
			}
			n--
		}
	} else {
		for res < 0 {
			if r := rng.IntN(o.resources); c.subs[r] == nil {
				res = r
			}
		}
	}
	c.mu.Unlock()
	c.send(kind, res)
}

// quiesce waits until no request is pending and no event has arrived for
// a second, for up to reqTimeout plus a few seconds.
func quiesce(clients []*client, k *counters, reqTimeout time.Duration) {
	deadline := time.Now().Add(reqTimeout + 5*time.Second)
	last, quietSince := k.events.Load(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		pendingN := 0
		for _, c := range clients {
			c.mu.Lock()
			pendingN += len(c.pending)
			c.mu.Unlock()
		}
		if n := k.events.Load(); n != last {
			last, quietSince = n, time.Now()
		}
		if pendingN == 0 && time.Since(quietSince) >= time.Second {
			return
		}
	}
}

// settle waits, up to 30s, for the gateway's goroutine count to come back
// near baseline once the clients are gone (their connections are released
// asynchronously, cached resources after the unsubscribe delay).
func settle(ctx context.Context, smp *sampler, baseline int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := smp.metrics(ctx, "go_goroutines")
		if err != nil || int(m["go_goroutines"]) <= baseline+10 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// fillCounters copies the counters into the report.
func fillCounters(rep *report, k *counters, svc *service) {
	rep.Totals = map[string]int{
		"requests":        int(k.requests.Load()),
		"replies":         int(k.replies.Load()),
		"subscribes":      int(k.subscribes.Load()),
		"unsubscribes":    int(k.unsubscribes.Load()),
		"eventsReceived":  int(k.events.Load()),
		"eventsPublished": int(svc.events.Load()),
		"serviceGets":     int(svc.gets.Load()),
		"serviceAccess":   int(svc.access.Load()),
	}
	rep.Errors = map[string]int{
		"errorReplies":     int(k.errorReplies.Load()),
		"sequenceGaps":     int(k.seqGaps.Load()),
		"sequenceBackward": int(k.seqBackwards.Load()),
		"unexpectedEvents": int(k.unexpectedEvents.Load()),
		"unknownReplies":   int(k.unknownReplies.Load()),
		"malformed":        int(k.malformed.Load()),
		"unexpectedCloses": int(k.unexpectedCloses.Load()),
		"timeouts":         int(k.timeouts.Load()),
		"finalMismatches":  int(k.finalMismatches.Load()),
		"writeErrors":      int(k.writeErrors.Load()),
	}
	rep.ErrorTotal = int(k.protocolErrors())
	k.mu.Lock()
	rep.FirstErrs = append([]string(nil), k.firstErrors...)
	k.mu.Unlock()
}
