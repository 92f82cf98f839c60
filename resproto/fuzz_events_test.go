package resproto

import (
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// fuzzEventSeeds are service events, well formed and not: the target picks
// the subject (see FuzzServiceEvents), event the event name.
var fuzzEventSeeds = []struct {
	target uint8
	event  string
	data   string
}{
	{0, "change", `{"values":{"x":false,"s":{"action":"delete"},"r":{"rid":"fuzz.a"}}}`},
	{0, "change", `{"x":1}`},
	{0, "change", `{"values":{"x":[1]}}`},
	{0, "change", `{"values":null}`},
	{0, "custom", `{"anything":[1,2,3]}`},
	{0, "delete", ``},
	{0, "reaccess", ``},
	{0, "unsubscribe", `{"reason":{"code":"system.accessDenied","message":"x"}}`},
	{0, "create", `{}`},
	{1, "add", `{"idx":0,"value":{"rid":"fuzz.b"}}`},
	{1, "add", `{"idx":99,"value":1}`},
	{1, "add", `{"idx":-1,"value":1}`},
	{1, "remove", `{"idx":0}`},
	{1, "remove", `{"idx":6}`},
	{1, "remove", `{"idx":"0"}`},
	{1, "change", `{"values":{"a":1}}`},
	{2, "query", `{"subject":"get.fuzz.q"}`},
	{2, "query", `{"subject":"get.fuzz.list.col"}`},
	{2, "query", `{"subject":""}`},
	{2, "query", `{}`},
	{3, "", `{"resources":["fuzz.>"],"access":["fuzz.*"]}`},
	{3, "", `{"resources":["*"],"access":null}`},
	{3, "", `{"resources":[">","a..b",""]}`},
	{4, "", `{"tids":["t1"],"subject":"auth.fuzz.auth.refresh"}`},
	{4, "", `{"tids":"t1"}`},
	{5, "", `{"token":{"user":"x"},"tid":"t1"}`},
	{5, "", `{"token":null}`},
	{5, "", `[]`},
	{6, "change", `{"values":{"leaf":{"rid":"fuzz.leaf","soft":true}}}`},
	{11, "", `{"token":{"a":1}}`},
	{0, "change", `{"values":{"x":1}`},
	{1, "add", `nope`},
}

// FuzzServiceEvents: whatever a service publishes on the subjects the
// engine listens to (resource events on a model, a collection and a query
// resource the client is subscribed to, system.reset, system.tokenReset,
// the connection's token event), the engine does not panic, sends its
// clients only valid JSON (the fuzz transport checks), keeps answering,
// and its connection's queue does not get stuck.
func FuzzServiceEvents(f *testing.F) {
	for _, s := range fuzzEventSeeds {
		f.Add(s.target, s.event, []byte(s.data))
	}
	url := startFuzzNATS(f)
	pub, err := nats.Connect(url)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pub.Close)
	f.Fuzz(func(t *testing.T, target uint8, event string, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		e, stop := startFuzzEngine(t, url)
		defer stop()
		tr := newFuzzTransport()
		// Odd sixes speak the legacy protocol.
		c, err := e.NewConn(tr, &HTTPInfo{Host: "fuzz", RemoteAddr: "127.0.0.1:1", URI: "/"}, (target/7)%2 == 1)
		if err != nil {
			t.Fatalf("new conn: %v", err)
		}
		for _, m := range []string{
			`{"id":1,"method":"subscribe.fuzz.thing"}`,
			`{"id":2,"method":"subscribe.fuzz.list.col"}`,
			`{"id":3,"method":"subscribe.fuzz.q?a=1"}`,
			`{"id":4,"method":"auth.fuzz.auth.login"}`,
		} {
			c.HandleMessage([]byte(m))
		}
		tr.waitReplies(4, 2*time.Second)
		if !IsValidRIDPart(event) {
			event = "change"
		}
		var subject string
		switch target % 7 {
		case 0, 6:
			subject = "event.fuzz.thing." + event
		case 1:
			subject = "event.fuzz.list.col." + event
		case 2:
			subject = "event.fuzz.q." + event
		case 3:
			subject = "system.reset"
		case 4:
			subject = "system.tokenReset"
		case 5:
			subject = "conn." + c.CID() + ".token"
		}
		if err := pub.Publish(subject, data); err != nil {
			t.Fatalf("publish: %v", err)
		}
		pub.Flush()
		// The engine still answers.
		c.HandleMessage([]byte(`{"id":5,"method":"get.fuzz.leaf"}`))
		tr.waitReplies(5, 500*time.Millisecond)
		c.Close()
		deadline := time.Now().Add(5 * time.Second)
		for e.ConnCount() > 0 {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("connection not disposed: deadlock?\n%s", buf)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
}
