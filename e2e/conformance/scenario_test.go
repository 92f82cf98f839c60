package conformance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
)

// A scenario is a script of client messages and service events, played
// against a gateway while a scripted service answers its requests.
type scenario struct {
	name    string
	flags   []string
	clients int // WebSocket clients connected at the start: 0 means 1, -1 none
	// replies maps a request subject to the raw reply a service sends; a
	// subject missing here gets no reply.
	replies map[string]string
	// sequence gives successive replies for a subject: the nth request gets
	// the nth reply, and the last one repeats. It takes precedence over
	// replies.
	sequence map[string][]string
	// tokens: before replying to a request on a subject, the service
	// publishes conn.<cid>.token with this payload, cid being the request's.
	tokens map[string]string
	steps  []step
}

// A step does one thing and then waits until gateway and service are quiet.
type step struct {
	client  int    // client that sends
	send    string // raw client message
	subject string // or: a NATS message the service publishes; {cid:N} is client N's cid
	payload string
	close   bool      // or: close the client's connection
	http    *httpStep // or: an HTTP request (see http_test.go)
}

func send(client int, msg string) step     { return step{client: client, send: msg} }
func publish(subject, payload string) step { return step{subject: subject, payload: payload} }
func closeClient(client int) step          { return step{client: client, close: true} }
func req(id int, method string, params ...string) string {
	if len(params) == 0 {
		return fmt.Sprintf(`{"id":%d,"method":%q}`, id, method)
	}
	return fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, id, method, params[0])
}

type event struct {
	at   time.Time
	line string
}

// world is one run of a scenario against one gateway.
type world struct {
	t       *testing.T
	svc     *nats.Conn
	clients []*websocket.Conn

	mu       sync.Mutex
	last     time.Time
	requests []string
	received [][]string
	cids     map[string]int
	unbound  []string
	counts   map[string]int
	awaiting *awaitedReply

	httpPending int
	httpResults []string
}

func (w *world) touch() { w.last = time.Now() }

// run plays sc against the gateway at addr on natsURL and returns the
// transcript, one block per step.
func run(t *testing.T, sc scenario, natsURL, addr string) []string {
	svc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	w := &world{t: t, svc: svc, cids: map[string]int{}, counts: map[string]int{}, last: time.Now()}
	for _, prefix := range []string{"access.>", "get.>", "call.>", "auth.>", "q.>"} {
		_, err := svc.Subscribe(prefix, func(m *nats.Msg) {
			w.mu.Lock()
			w.touch()
			for _, cid := range cidPattern.FindAllString(string(m.Data), -1) {
				cid = cid[7 : len(cid)-1]
				if _, ok := w.cids[cid]; !ok && !contains(w.unbound, cid) {
					w.unbound = append(w.unbound, cid)
				}
			}
			w.requests = append(w.requests, m.Subject+" "+string(m.Data))
			reply, ok := sc.replies[m.Subject]
			if seq := sc.sequence[m.Subject]; len(seq) > 0 {
				n := w.counts[m.Subject]
				if n >= len(seq) {
					n = len(seq) - 1
				}
				reply, ok = seq[n], true
				w.counts[m.Subject]++
			}
			w.mu.Unlock()
			if tok, ok := sc.tokens[m.Subject]; ok {
				publishToken(svc, m.Data, tok)
			}
			if ok {
				m.Respond([]byte(reply))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	svc.Flush()
	n := sc.clients
	if n == 0 {
		n = 1
	} else if n < 0 {
		n = 0
	}
	w.received = make([][]string, n)
	for i := 0; i < n; i++ {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.Close()
		w.clients = append(w.clients, ws)
		go func(i int, ws *websocket.Conn) {
			for {
				_, data, err := ws.ReadMessage()
				w.mu.Lock()
				w.touch()
				if err != nil {
					w.received[i] = append(w.received[i], "<closed>")
					w.mu.Unlock()
					return
				}
				w.received[i] = append(w.received[i], canonicalJSON(data))
				if w.awaiting != nil && w.awaiting.client == i && replyID(data) == w.awaiting.id {
					w.awaiting = nil
				}
				w.mu.Unlock()
			}
		}(i, ws)
	}

	var transcript []string
	for _, st := range sc.steps {
		switch {
		case st.close:
			w.clients[st.client].Close()
		case st.http != nil:
			w.startHTTP(addr, st.http)
		case st.send != "":
			// A request with an id is answered before its step is over, so
			// that a slow reply under load is not taken for the next step's.
			if id := requestID(st.send); id != "" {
				w.mu.Lock()
				w.awaiting = &awaitedReply{client: st.client, id: id}
				w.mu.Unlock()
			}
			w.clients[st.client].WriteMessage(websocket.TextMessage, []byte(st.send))
		default:
			w.mu.Lock()
			subject, payload := w.expand(st.subject), w.expand(st.payload)
			w.mu.Unlock()
			var data []byte
			if payload != "" {
				data = []byte(payload)
			}
			svc.Publish(subject, data)
			svc.Flush()
		}
		w.mu.Lock()
		w.touch()
		w.mu.Unlock()
		if st.close || (st.http == nil && requestID(st.send) == "") {
			w.quiet(quietWindowNoWait)
		} else {
			w.quiet(quietWindow)
		}
		w.mu.Lock()
		// The temporary connections of HTTP requests stay {cid:newN}.
		for _, cid := range w.unbound {
			if st.http == nil {
				w.cids[cid] = st.client
			}
		}
		if st.http == nil {
			w.unbound = nil
		}
		transcript = append(transcript, w.block(st))
		w.unbound = nil
		w.mu.Unlock()
	}
	return transcript
}

var cidPattern = regexp.MustCompile(`"cid":"[^"]+"`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quietWindow is how long nothing must happen for a step to be over. It is
// generous because CI runs this next to the rest of the suite on 2 cores.
// A step that waits for nothing — a publish, a close — has a longer one:
// what it causes comes later than a reply, which a request step waits for.
const (
	quietWindow       = 150 * time.Millisecond
	quietWindowNoWait = 400 * time.Millisecond
)

// quiet waits until nothing happened for window.
func (w *world) quiet(window time.Duration) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		w.mu.Lock()
		idle := time.Since(w.last)
		pending := w.httpPending
		awaiting := w.awaiting != nil
		w.mu.Unlock()
		if idle > window && pending == 0 && !awaiting {
			return
		}
	}
}

func (w *world) expand(s string) string {
	for cid, i := range w.cids {
		s = strings.ReplaceAll(s, fmt.Sprintf("{cid:%d}", i), cid)
	}
	return s
}

// block renders what happened in one step, with cids replaced by the
// client they belong to and concurrent service requests sorted.
func (w *world) block(st step) string {
	var b strings.Builder
	switch {
	case st.close:
		fmt.Fprintf(&b, "c%d close\n", st.client)
	case st.http != nil:
		b.WriteString(st.http.String())
	case st.send != "":
		fmt.Fprintf(&b, "c%d -> %s\n", st.client, st.send)
	default:
		fmt.Fprintf(&b, "svc -> %s %s\n", st.subject, st.payload)
	}
	reqs := w.requests
	w.requests = nil
	for i, r := range reqs {
		reqs[i] = w.normalize(r)
	}
	sort.Strings(reqs)
	for _, r := range reqs {
		fmt.Fprintf(&b, "  svc <- %s\n", r)
	}
	for i := range w.received {
		// Messages about different resources have no fixed order between
		// them; keep each resource's own order.
		sort.SliceStable(w.received[i], func(a, b int) bool {
			return orderKey(w.received[i][a]) < orderKey(w.received[i][b])
		})
		for _, m := range w.received[i] {
			fmt.Fprintf(&b, "  c%d <- %s\n", i, m)
		}
		w.received[i] = nil
	}
	for _, r := range w.httpResults {
		fmt.Fprintf(&b, "  http <- %s\n", w.normalizeHTTP(r))
	}
	w.httpResults = nil
	return b.String()
}

func (w *world) normalize(s string) string {
	for cid, i := range w.cids {
		s = strings.ReplaceAll(s, cid, fmt.Sprintf("{cid:%d}", i))
	}
	for i, cid := range w.unbound {
		s = strings.ReplaceAll(s, cid, fmt.Sprintf("{cid:new%d}", i))
	}
	// Header values that differ between runs.
	s = headerPattern.ReplaceAllString(s, `"Sec-Websocket-Key":["*"]`)
	s = remotePattern.ReplaceAllString(s, `"remoteAddr":"*"`)
	s = hostPattern.ReplaceAllString(s, `"host":"*"`)
	s = hostHeaderPattern.ReplaceAllString(s, `"Host":["*"]`)
	return canonicalLine(s)
}

var (
	headerPattern     = regexp.MustCompile(`"Sec-Websocket-Key":\["[^"]*"\]`)
	remotePattern     = regexp.MustCompile(`"remoteAddr":"[^"]*"`)
	hostPattern       = regexp.MustCompile(`"host":"[^"]*"`)
	hostHeaderPattern = regexp.MustCompile(`"Host":\["[^"]*"\]`)
)

// canonicalLine re-encodes the JSON part of "subject {json}" with sorted
// keys, so that key order (which JSON does not fix) does not count.
func canonicalLine(s string) string {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s
	}
	return s[:i+1] + canonicalJSON([]byte(s[i+1:]))
}

func canonicalJSON(data []byte) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return string(data)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestConformance plays every scenario against Resgate and resedge.
func TestConformance(t *testing.T) {
	resgateBin, resedgeBin := binaries(t)
	for _, sc := range scenarios {
		sc := sc
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ns := restest.RunNATS(t)
			flags := append([]string{"-r", "400"}, sc.flags...)
			rg := startGateway(t, "resgate", resgateBin, ns.ClientURL(), flags...)
			want := run(t, sc, ns.ClientURL(), rg.addr)

			ns2 := restest.RunNATS(t)
			re := startGateway(t, "resedge", resedgeBin, ns2.ClientURL(), flags...)
			got := run(t, sc, ns2.ClientURL(), re.addr)

			if testing.Verbose() {
				t.Logf("transcript:\n%s", strings.Join(got, ""))
			}
			if len(want) != len(sc.steps) {
				t.Fatalf("resgate transcript has %d steps, want %d", len(want), len(sc.steps))
			}
			for i := range want {
				if i >= len(got) || want[i] != got[i] {
					g := "<missing>"
					if i < len(got) {
						g = got[i]
					}
					t.Errorf("step %d differs\nresgate:\n%s\nresedge:\n%s", i, want[i], g)
				}
			}
		})
	}
}

// orderKey groups a client message by the resource it is about: replies
// first, then events by resource ID.
func orderKey(msg string) string {
	var m struct {
		Event string `json:"event"`
	}
	if json.Unmarshal([]byte(msg), &m) != nil || m.Event == "" {
		return ""
	}
	if i := strings.LastIndexByte(m.Event, '.'); i >= 0 {
		return m.Event[:i]
	}
	return m.Event
}

// awaitedReply is the reply a step waits for: client's reply to id.
type awaitedReply struct {
	client int
	id     string
}

// requestID returns the id of a client request as JSON text, or "".
func requestID(msg string) string {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal([]byte(msg), &r) != nil || len(r.ID) == 0 || string(r.ID) == "null" {
		return ""
	}
	return string(r.ID)
}

// replyID returns the id of a gateway reply as JSON text, or "".
func replyID(data []byte) string { return requestID(string(data)) }
