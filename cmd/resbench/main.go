// Command resbench is a load tool for RES gateways (resedge, Resgate, or
// anything started with the same flags). For each round, scenario and
// target it starts a fresh NATS server (a child process: "resbench
// nats-server"), the target gateway as a child process, plays the RES
// services over NATS, drives lean WebSocket and HTTP clients at it, and
// measures throughput, latency, and the gateway process's own CPU time and
// memory from /proc. Targets take turns within each round, so that paired
// ratios between them hold on a noisy, shared machine.
//
//	resbench --gateway resedge='/tmp/resedge --nats {nats} --addr {addr} --port {port}' \
//	         --gateway resgate='/tmp/resgate --nats {nats} --addr {addr} --port {port}' \
//	         --ceiling --rounds 3
//
// See README.md in this directory for the scenarios and every flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/resedge/resedge/internal/freeport"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "nats-server" {
		os.Exit(runNATSServer(os.Args[2:], os.Stdout, os.Stderr))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "resbench: interrupted; stopping child processes")
		killChildren()
		os.Exit(130)
	}()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultScenarios is what runs without --scenarios.
const defaultScenarios = "fanout1k,fanout5k,storm,call,httpget,memory"

// target is a gateway to measure: a name and a command template.
type target struct {
	Name    string `json:"name"`
	Command string `json:"command"`
}

// targetList is the repeatable --gateway flag.
type targetList []target

// String lists the targets (flag.Value).
func (l *targetList) String() string { return fmt.Sprint(*l) }

// Set adds a target from name='command' (flag.Value).
func (l *targetList) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
	if !ok || name == "" || cmd == "" {
		return errors.New(`want name='command with {nats} and {port}'`)
	}
	if strings.ContainsAny(name, "/ \t") {
		return fmt.Errorf("gateway name %q: no blanks or slashes", name)
	}
	for _, t := range *l {
		if t.Name == name {
			return fmt.Errorf("gateway name %q given twice", name)
		}
	}
	if _, err := splitCommand(cmd); err != nil {
		return err
	}
	*l = append(*l, target{Name: name, Command: cmd})
	return nil
}

// options are resbench's flags.
type options struct {
	targets      targetList
	ceiling      bool
	ceilingCmd   string
	rounds       int
	scenarios    string
	duration     time.Duration
	warmup       time.Duration
	settle       time.Duration
	jsonFile     string
	inflight     int
	stormClients int
	callClients  int
	httpClients  int
	memoryConns  int
	dialConc     int
	fields       int
}

const usageHead = `Usage: resbench [flags]
       resbench nats-server [-port N] [-addr HOST]

Runs RES gateways and measures them. Each --gateway is NAME='COMMAND', a
command template in which {nats} is replaced by the NATS URL, {port} by a
free port and {addr} by 127.0.0.1; it is split into words like a simple
shell line and run directly (not through a shell), so that its process is
the gateway whose CPU and memory are read from /proc.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("resbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	fs.Var(&o.targets, "gateway", "`name='command'` of a gateway to measure (repeatable; the first is the one ratios are taken of)")
	fs.BoolVar(&o.ceiling, "ceiling", false, "also measure the ceiling (resceiling: the transports with no protocol logic)")
	fs.StringVar(&o.ceilingCmd, "ceiling-cmd", "", "command template of the ceiling (default: resceiling next to resbench, else on PATH, with --nats {nats} --addr {addr} --port {port})")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; every target runs every scenario once per round")
	fs.StringVar(&o.scenarios, "scenarios", defaultScenarios, "comma-separated scenarios: fanout<N> (e.g. fanout1k), storm, call, httpget, memory")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured window of each load")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before each measured window")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "memory: wait before reading RSS after connecting")
	fs.StringVar(&o.jsonFile, "json", "", "also write every run and the summary as JSON to `file`")
	fs.IntVar(&o.inflight, "inflight", 2, "fan-out: events published but not yet delivered to every client")
	fs.IntVar(&o.stormClients, "storm-clients", 200, "storm: clients subscribing concurrently")
	fs.IntVar(&o.callClients, "call-clients", 64, "call: clients calling concurrently")
	fs.IntVar(&o.httpClients, "http-clients", 32, "httpget: keep-alive connections requesting concurrently")
	fs.IntVar(&o.memoryConns, "memory-conns", 10000, "memory: idle subscribed WebSocket connections")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "connections opened at once when setting up clients")
	fs.IntVar(&o.fields, "fields", 0, "payload size: every model served, call sent and call result carries this many extra string and number fields each (0: minimal payloads); the default ceiling serves that model as its HTTP body")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case len(o.targets) == 0 && !o.ceiling:
		return nil, errors.New("nothing to measure: give --gateway name='command' and/or --ceiling")
	case o.rounds < 1:
		return nil, errors.New("--rounds must be at least 1")
	case o.duration <= 0 || o.warmup < 0 || o.settle < 0:
		return nil, errors.New("--duration must be positive, --warmup and --settle not negative")
	case o.fields < 0:
		return nil, errors.New("--fields must not be negative")
	case o.inflight < 1 || o.stormClients < 1 || o.callClients < 1 || o.httpClients < 1 || o.memoryConns < 1 || o.dialConc < 1:
		return nil, errors.New("counts must be at least 1")
	}
	if o.ceiling {
		for _, t := range o.targets {
			if t.Name == "ceiling" {
				return nil, errors.New(`gateway name "ceiling" is taken by --ceiling`)
			}
		}
		if o.ceilingCmd == "" {
			o.ceilingCmd = defaultCeilingCmd()
			if o.fields > 0 {
				o.ceilingCmd += " --body '" + string(newPayloads(o.fields).model) + "'"
			}
		}
		if _, err := splitCommand(o.ceilingCmd); err != nil {
			return nil, fmt.Errorf("--ceiling-cmd: %w", err)
		}
		o.targets = append(o.targets, target{Name: "ceiling", Command: o.ceilingCmd})
	}
	return o, nil
}

// defaultCeilingCmd is resceiling next to this executable if there is one
// there, else resceiling from PATH.
func defaultCeilingCmd() string {
	bin := "resceiling"
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "resceiling")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			bin = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return bin + " --nats {nats} --addr {addr} --port {port}"
}

// run is the whole program (without the nats-server mode); it returns the
// exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "resbench:", err)
		return 2
	}
	var scenarios []*scenario
	for _, name := range strings.Split(o.scenarios, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		s, err := scenarioByName(name)
		if err != nil {
			fmt.Fprintln(stderr, "resbench:", err)
			return 2
		}
		scenarios = append(scenarios, s)
	}
	if len(scenarios) == 0 {
		fmt.Fprintln(stderr, "resbench: no scenario")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "resbench:", err)
		return 1
	}
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "resbench: raising the open file limit:", err)
	} else if need := uint64(o.memoryConns + 1000); limit < need && strings.Contains(o.scenarios, "memory") {
		fmt.Fprintf(stderr, "resbench: warning: open file limit %d is below the %d the memory scenario needs\n", limit, need)
	}

	b := &bench{opts: o, self: self, scenarios: scenarios, log: stderr, started: time.Now(), payloads: newPayloads(o.fields)}
	b.runAll()
	rep := b.report()
	rep.writeText(stdout)
	if o.jsonFile != "" {
		if err := rep.writeJSON(o.jsonFile); err != nil {
			fmt.Fprintln(stderr, "resbench:", err)
			return 1
		}
	}
	if rep.Failed > 0 {
		fmt.Fprintf(stderr, "resbench: %d of %d runs failed\n", rep.Failed, len(rep.Runs))
		return 1
	}
	return 0
}

// bench is one invocation's state.
type bench struct {
	opts      *options
	self      string
	scenarios []*scenario
	log       io.Writer
	started   time.Time
	runs      []runResult
	payloads  *payloads
}

// runResult is one target's run of one scenario in one round.
type runResult struct {
	Round    int                `json:"round"`
	Scenario string             `json:"scenario"`
	Target   string             `json:"target"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Error    string             `json:"error,omitempty"`
	Seconds  float64            `json:"seconds"`
}

// runAll runs every round; within a round every scenario, and within a
// scenario every target, starting from a different target each round.
func (b *bench) runAll() {
	targets := b.opts.targets
	for r := 0; r < b.opts.rounds; r++ {
		for _, s := range b.scenarios {
			for j := range targets {
				t := targets[(j+r)%len(targets)]
				start := time.Now()
				m, err := b.runOne(t, s)
				res := runResult{Round: r + 1, Scenario: s.name, Target: t.Name, Metrics: m, Seconds: time.Since(start).Seconds()}
				if err != nil {
					res.Error = err.Error()
					fmt.Fprintf(b.log, "[round %d/%d] %-10s %-10s FAILED: %v\n", r+1, b.opts.rounds, s.name, t.Name, err)
				} else {
					fmt.Fprintf(b.log, "[round %d/%d] %-10s %-10s %s\n", r+1, b.opts.rounds, s.name, t.Name, oneLine(s, m))
				}
				b.runs = append(b.runs, res)
			}
		}
	}
}

// oneLine is a run's metrics on one line, for progress output.
func oneLine(s *scenario, m map[string]float64) string {
	var parts []string
	for _, ms := range s.metrics {
		parts = append(parts, ms.key+"="+formatNum(m[ms.key]))
	}
	return strings.Join(parts, " ")
}

// runOne starts NATS, the service and the target, runs the scenario and
// stops everything.
func (b *bench) runOne(t target, s *scenario) (map[string]float64, error) {
	natsPort, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	lines := make(chan string, 16)
	nats, err := startChild("nats-server", []string{b.self, "nats-server", "-port", fmt.Sprint(natsPort)}, lines)
	if err != nil {
		return nil, err
	}
	defer nats.stop(5 * time.Second)
	if err := waitLine(nats, lines, natsReadyLine, 10*time.Second); err != nil {
		return nil, err
	}
	natsURL := fmt.Sprintf("nats://%s:%d", loopback, natsPort)

	svc, err := startService(natsURL, b.payloads)
	if err != nil {
		return nil, err
	}
	defer svc.close()

	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	args, err := expandCommand(t.Command, natsURL, port)
	if err != nil {
		return nil, err
	}
	gw, err := startChild(t.Name, args, nil)
	if err != nil {
		return nil, err
	}
	defer gw.stop(5 * time.Second)
	addr := fmt.Sprintf("%s:%d", loopback, port)
	if err := waitReady(gw, addr, 15*time.Second); err != nil {
		return nil, err
	}
	e := &env{opts: b.opts, addr: addr, gw: gw, nats: nats, svc: svc, payloads: b.payloads, ceiling: t.Name == "ceiling" && b.opts.ceiling}
	m, err := s.run(e)
	if err == nil && gw.exited() {
		err = errors.New("gateway exited during the run")
	}
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, logTail(gw))
	}
	return m, nil
}

// waitLine waits until the child prints want on stdout.
func waitLine(c *child, lines <-chan string, want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case l := <-lines:
			if strings.TrimSpace(l) == want {
				return nil
			}
		case <-c.done:
			return fmt.Errorf("%s exited: %v%s", c.name, c.err, logTail(c))
		case <-deadline:
			return fmt.Errorf("%s not ready after %v%s", c.name, timeout, logTail(c))
		}
	}
}

// waitReady waits until the gateway answers an HTTP GET of the fan-out
// model with 200: listening, and connected to NATS and the service.
func waitReady(c *child, addr string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + "/api/" + strings.ReplaceAll(modelRID, ".", "/")
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited: %v%s", c.name, c.err, logTail(c))
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				client.CloseIdleConnections()
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v (GET %s: %s)%s", c.name, timeout, url, last, logTail(c))
}

// logTail is the end of a child's output, for an error message.
func logTail(c *child) string {
	s := strings.TrimSpace(c.logs.String())
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return "\n--- " + c.name + " output:\n" + s
}
