package e2e

// Integration tests with a real RES service written with go-res
// (github.com/jirenius/go-res), connected to the same NATS server as the
// gateway, and WebSocket clients driving the gateway.

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	res "github.com/jirenius/go-res"
	"github.com/nats-io/nats.go"
	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// startGoRes starts a NATS server, the gateway on it without the
// restest catch-all service, and a go-res service named "example" whose
// handlers setup registers. The service is shut down in t.Cleanup, before
// the gateway and the NATS server.
func startGoRes(t *testing.T, setup func(svc *res.Service)) (*restest.Session, *res.Service) {
	t.Helper()
	ns := restest.RunNATS(t)
	sess := restest.Start(t, restest.WithNATS(ns), restest.WithoutService())

	svc := res.NewService("example")
	svc.SetLogger(nil)
	setup(svc)

	nc, err := nats.Connect(ns.ClientURL(), nats.Name("go-res-example"))
	if err != nil {
		t.Fatalf("service connect: %v", err)
	}
	ready := make(chan struct{})
	svc.SetOnServe(func(*res.Service) { close(ready) })
	done := make(chan error, 1)
	go func() { done <- svc.Serve(nc) }()
	select {
	case <-ready:
	case err := <-done:
		nc.Close()
		t.Fatalf("go-res service stopped before serving: %v", err)
	case <-time.After(restest.Timeout):
		nc.Close()
		t.Fatal("go-res service did not start")
	}
	// Make sure the service's subscriptions reached the server before the
	// gateway sends it anything.
	if err := nc.Flush(); err != nil {
		t.Fatalf("service flush: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Shutdown(); err != nil {
			t.Errorf("go-res shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("go-res serve: %v", err)
			}
		case <-time.After(restest.Timeout):
			t.Error("go-res service did not stop")
		}
		nc.Close()
	})
	return sess, svc
}

// with runs f on the go-res worker of rid, as a service reacting to
// something outside a request would, and waits for it to finish.
func with(t *testing.T, svc *res.Service, rid string, f func(r res.Resource)) {
	t.Helper()
	done := make(chan struct{})
	if err := svc.With(rid, func(r res.Resource) {
		defer close(done)
		f(r)
	}); err != nil {
		t.Fatalf("with %s: %v", rid, err)
	}
	select {
	case <-done:
	case <-time.After(restest.Timeout):
		t.Fatalf("with %s: callback did not run", rid)
	}
}

// connect opens a client speaking the latest protocol.
func connect(s *restest.Session) *restest.Client {
	c := s.Connect()
	c.Version(resproto.Protocol)
	return c
}

// wsMsg is one message a client received: a reply or an event.
type wsMsg struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *resproto.Error `json:"error"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	raw    string
}

// readMsgs reads the next n messages of c, which may arrive in any order,
// and returns the replies and the events apart.
func readMsgs(t *testing.T, c *restest.Client, n int) (replies, events []*wsMsg) {
	t.Helper()
	for i := 0; i < n; i++ {
		raw := c.GetMsg()
		m := &wsMsg{raw: raw}
		if err := json.Unmarshal([]byte(raw), m); err != nil {
			t.Fatalf("client message is not JSON: %s", raw)
		}
		if m.Event != "" {
			events = append(events, m)
		} else {
			replies = append(replies, m)
		}
	}
	return replies, events
}

// callAndEvents sends a request and reads its reply and nEvents events in
// whatever order they come. It returns the reply.
func callAndEvents(t *testing.T, c *restest.Client, method string, params any, nEvents int) (*wsMsg, []*wsMsg) {
	t.Helper()
	req := c.Request(method, params)
	replies, events := readMsgs(t, c, 1+nEvents)
	if len(replies) != 1 {
		t.Fatalf("%s: expected 1 reply and %d events, got %d replies and %d events", method, nEvents, len(replies), len(events))
	}
	if string(replies[0].ID) != strconv.FormatUint(req.ID, 10) {
		t.Fatalf("%s: reply with id %s, expected %d: %s", method, replies[0].ID, req.ID, replies[0].raw)
	}
	return replies[0], events
}

func assertResult(t *testing.T, m *wsMsg, expected any) {
	t.Helper()
	if m.Error != nil || m.Result == nil {
		t.Fatalf("expected result %s, got %s", restest.Marshal(expected), m.raw)
	}
	if !restest.JSONEqual(m.Result, expected) {
		t.Fatalf("expected result %s, got %s", restest.Marshal(expected), m.raw)
	}
}

func assertEvent(t *testing.T, m *wsMsg, name string, data any) {
	t.Helper()
	if m.Event != name || !restest.JSONEqual(m.Data, data) {
		t.Fatalf("expected event %s with %s, got %s", name, restest.Marshal(data), m.raw)
	}
}

func TestGoRes_ModelSetSendsChangeEventToAllSubscribers(t *testing.T) {
	var mu sync.Mutex
	model := map[string]any{"name": "foo", "count": float64(1)}
	snapshot := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		m := make(map[string]any, len(model))
		for k, v := range model {
			m[k] = v
		}
		return m
	}
	s, svc := startGoRes(t, func(svc *res.Service) {
		svc.Handle("model",
			res.Access(res.AccessGranted),
			res.GetModel(func(r res.ModelRequest) { r.Model(snapshot()) }),
			res.Set(func(r res.CallRequest) {
				var p map[string]any
				r.ParseParams(&p)
				mu.Lock()
				changed := map[string]any{}
				for k, v := range p {
					old, ok := model[k]
					if !ok {
						mu.Unlock()
						r.InvalidParams("unknown property " + k)
						return
					}
					if !restest.JSONEqual(old, v) {
						changed[k] = v
					}
				}
				for k, v := range changed {
					model[k] = v
				}
				mu.Unlock()
				r.ChangeEvent(changed)
				r.OK(nil)
			}),
		)
	})

	c1, c2 := connect(s), connect(s)
	want := map[string]any{"models": map[string]any{"example.model": map[string]any{"name": "foo", "count": 1}}}
	c1.Request("subscribe.example.model", nil).GetResponse().AssertResult(want)
	c2.Request("subscribe.example.model", nil).GetResponse().AssertResult(want)

	// A set from c1 changes the model: both clients get the change event,
	// c1 also the reply.
	reply, events := callAndEvents(t, c1, "call.example.model.set", map[string]any{"name": "bar"}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.model.change", map[string]any{"values": map[string]any{"name": "bar"}})
	c2.GetEvent().AssertEventName("example.model.change").AssertData(map[string]any{"values": map[string]any{"name": "bar"}})

	// A set from c2 changing two properties.
	reply, events = callAndEvents(t, c2, "call.example.model.set", map[string]any{"name": "baz", "count": 2}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.model.change", map[string]any{"values": map[string]any{"name": "baz", "count": 2}})
	c1.GetEvent().AssertEventName("example.model.change").AssertData(map[string]any{"values": map[string]any{"name": "baz", "count": 2}})

	// A set that changes nothing sends no event.
	c1.Request("call.example.model.set", map[string]any{"name": "baz"}).GetResponse().AssertResult(map[string]any{"payload": nil})
	c1.AssertNoMsg()
	c2.AssertNoMsg()

	// The service's own error reaches the caller.
	c1.Request("call.example.model.set", map[string]any{"nope": true}).GetResponse().AssertError(resproto.CodeInvalidParams, "unknown property nope")

	// A late subscriber gets the current state.
	c3 := connect(s)
	c3.Request("subscribe.example.model", nil).GetResponse().AssertResult(map[string]any{"models": map[string]any{"example.model": map[string]any{"name": "baz", "count": 2}}})

	// After c2 unsubscribes, only c1 and c3 see a change the service makes
	// on its own.
	c2.Request("unsubscribe.example.model", nil).GetResponse().AssertNoResult()
	with(t, svc, "example.model", func(r res.Resource) {
		mu.Lock()
		model["count"] = float64(3)
		mu.Unlock()
		r.ChangeEvent(map[string]any{"count": 3})
	})
	c1.GetEvent().AssertEventName("example.model.change").AssertData(map[string]any{"values": map[string]any{"count": 3}})
	c3.GetEvent().AssertEventName("example.model.change").AssertData(map[string]any{"values": map[string]any{"count": 3}})
	c2.AssertNoMsg()
}

func TestGoRes_CollectionAddRemove(t *testing.T) {
	var mu sync.Mutex
	items := []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`"b"`)}
	s, svc := startGoRes(t, func(svc *res.Service) {
		svc.Handle("item.$id",
			res.Access(res.AccessGranted),
			res.GetModel(func(r res.ModelRequest) {
				r.Model(map[string]any{"id": r.PathParam("id")})
			}),
		)
		svc.Handle("list",
			res.Access(res.AccessGranted),
			res.GetCollection(func(r res.CollectionRequest) {
				mu.Lock()
				defer mu.Unlock()
				r.Collection(slices.Clone(items))
			}),
			res.Call("add", func(r res.CallRequest) {
				var p struct {
					Value json.RawMessage `json:"value"`
					Idx   *int            `json:"idx"`
				}
				r.ParseParams(&p)
				mu.Lock()
				idx := len(items)
				if p.Idx != nil {
					idx = *p.Idx
				}
				if p.Value == nil || idx < 0 || idx > len(items) {
					mu.Unlock()
					r.InvalidParams("bad value or idx")
					return
				}
				items = slices.Insert(items, idx, p.Value)
				mu.Unlock()
				r.AddEvent(p.Value, idx)
				r.OK(nil)
			}),
			res.Call("remove", func(r res.CallRequest) {
				var p struct {
					Idx int `json:"idx"`
				}
				r.ParseParams(&p)
				mu.Lock()
				if p.Idx < 0 || p.Idx >= len(items) {
					mu.Unlock()
					r.InvalidParams("idx out of range")
					return
				}
				items = slices.Delete(items, p.Idx, p.Idx+1)
				mu.Unlock()
				r.RemoveEvent(p.Idx)
				r.OK(nil)
			}),
		)
	})

	c1, c2 := connect(s), connect(s)
	want := map[string]any{"collections": map[string]any{"example.list": []any{"a", "b"}}}
	c1.Request("subscribe.example.list", nil).GetResponse().AssertResult(want)
	c2.Request("subscribe.example.list", nil).GetResponse().AssertResult(want)

	// Add a primitive in the middle.
	reply, events := callAndEvents(t, c1, "call.example.list.add", map[string]any{"value": "x", "idx": 1}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.list.add", map[string]any{"idx": 1, "value": "x"})
	c2.GetEvent().AssertEventName("example.list.add").AssertData(map[string]any{"idx": 1, "value": "x"})

	// Add a reference at the end: the event carries the referenced model.
	ref := map[string]any{"rid": "example.item.7"}
	addData := map[string]any{"idx": 3, "value": ref, "models": map[string]any{"example.item.7": map[string]any{"id": "7"}}}
	reply, events = callAndEvents(t, c2, "call.example.list.add", map[string]any{"value": ref}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.list.add", addData)
	c1.GetEvent().AssertEventName("example.list.add").AssertData(addData)

	// A late subscriber gets the whole state, referenced model included.
	c3 := connect(s)
	c3.Request("subscribe.example.list", nil).GetResponse().AssertResult(map[string]any{
		"collections": map[string]any{"example.list": []any{"a", "x", "b", ref}},
		"models":      map[string]any{"example.item.7": map[string]any{"id": "7"}},
	})

	// Remove the first item, then the reference.
	reply, events = callAndEvents(t, c1, "call.example.list.remove", map[string]any{"idx": 0}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.list.remove", map[string]any{"idx": 0})
	c2.GetEvent().AssertEventName("example.list.remove").AssertData(map[string]any{"idx": 0})
	c3.GetEvent().AssertEventName("example.list.remove").AssertData(map[string]any{"idx": 0})

	reply, events = callAndEvents(t, c1, "call.example.list.remove", map[string]any{"idx": 2}, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	assertEvent(t, events[0], "example.list.remove", map[string]any{"idx": 2})
	c2.GetEvent().AssertEventName("example.list.remove").AssertData(map[string]any{"idx": 2})
	c3.GetEvent().AssertEventName("example.list.remove").AssertData(map[string]any{"idx": 2})

	// The item is no longer referenced: its changes reach nobody.
	with(t, svc, "example.item.7", func(r res.Resource) { r.ChangeEvent(map[string]any{"id": "seven"}) })
	c1.AssertNoMsg()
	c2.AssertNoMsg()
	c3.AssertNoMsg()

	// A removal out of range is refused by the service; nothing changes.
	c1.Request("call.example.list.remove", map[string]any{"idx": 9}).GetResponse().AssertError(resproto.CodeInvalidParams)
	c4 := connect(s)
	c4.Request("get.example.list", nil).GetResponse().AssertResult(map[string]any{"collections": map[string]any{"example.list": []any{"x", "b"}}})
}

func TestGoRes_AuthTokenGrantsAccess(t *testing.T) {
	s, _ := startGoRes(t, func(svc *res.Service) {
		svc.Handle("auth",
			res.Auth("login", func(r res.AuthRequest) {
				var p struct {
					User     string `json:"user"`
					Password string `json:"password"`
				}
				r.ParseParams(&p)
				if p.Password != "secret" {
					r.Error(&res.Error{Code: "example.invalidCredentials", Message: "Invalid credentials"})
					return
				}
				r.TokenEvent(map[string]any{"user": p.User, "admin": p.User == "admin"})
				r.OK(map[string]any{"user": p.User})
			}),
			res.Auth("logout", func(r res.AuthRequest) {
				r.TokenEvent(nil)
				r.OK(nil)
			}),
		)
		svc.Handle("secret",
			res.Access(func(r res.AccessRequest) {
				var tok struct {
					Admin bool `json:"admin"`
				}
				r.ParseToken(&tok)
				if tok.Admin {
					r.AccessGranted()
				} else {
					r.AccessDenied()
				}
			}),
			res.GetModel(func(r res.ModelRequest) { r.Model(map[string]any{"answer": 42}) }),
		)
	})

	c := connect(s)
	other := connect(s)

	// No token yet.
	c.Request("subscribe.example.secret", nil).GetResponse().AssertError(resproto.CodeAccessDenied)

	// Wrong password: the service's error, and still no access.
	c.Request("auth.example.auth.login", map[string]any{"user": "admin", "password": "guess"}).
		GetResponse().AssertErrorEqual(&resproto.Error{Code: "example.invalidCredentials", Message: "Invalid credentials"})
	c.Request("subscribe.example.secret", nil).GetResponse().AssertError(resproto.CodeAccessDenied)

	// A non-admin login sets a token that still gives no access.
	c.Request("auth.example.auth.login", map[string]any{"user": "bob", "password": "secret"}).
		GetResponse().AssertResult(map[string]any{"payload": map[string]any{"user": "bob"}})
	c.Request("subscribe.example.secret", nil).GetResponse().AssertError(resproto.CodeAccessDenied)

	// The admin login: the token event reaches the gateway before the
	// reply, so the next access request carries it.
	c.Request("auth.example.auth.login", map[string]any{"user": "admin", "password": "secret"}).
		GetResponse().AssertResult(map[string]any{"payload": map[string]any{"user": "admin"}})
	c.Request("subscribe.example.secret", nil).GetResponse().
		AssertResult(map[string]any{"models": map[string]any{"example.secret": map[string]any{"answer": 42}}})

	// The token is the connection's own.
	other.Request("subscribe.example.secret", nil).GetResponse().AssertError(resproto.CodeAccessDenied)

	// Logging out clears the token: access is checked again and the client
	// loses its subscription.
	reply, events := callAndEvents(t, c, "auth.example.auth.logout", nil, 1)
	assertResult(t, reply, map[string]any{"payload": nil})
	if events[0].Event != "example.secret.unsubscribe" {
		t.Fatalf("expected an unsubscribe event, got %s", events[0].raw)
	}
	var ud struct {
		Reason *resproto.Error `json:"reason"`
	}
	if err := json.Unmarshal(events[0].Data, &ud); err != nil || ud.Reason == nil || ud.Reason.Code != resproto.CodeAccessDenied {
		t.Fatalf("expected an unsubscribe event with reason %s, got %s", resproto.CodeAccessDenied, events[0].raw)
	}
	c.Request("get.example.secret", nil).GetResponse().AssertError(resproto.CodeAccessDenied)
}

func TestGoRes_QueryCollection(t *testing.T) {
	var mu sync.Mutex
	users := []string{"alice", "bob", "carol"}
	list := func(limit int) []string {
		mu.Lock()
		defer mu.Unlock()
		l := slices.Clone(users)
		sort.Strings(l)
		if limit < len(l) {
			l = l[:limit]
		}
		return l
	}
	parseLimit := func(r res.Resource) (int, bool) {
		limit, err := strconv.Atoi(r.ParseQuery().Get("limit"))
		return limit, err == nil && limit > 0
	}
	s, svc := startGoRes(t, func(svc *res.Service) {
		svc.Handle("users",
			res.Access(res.AccessGranted),
			res.GetCollection(func(r res.CollectionRequest) {
				limit, ok := parseLimit(r)
				if !ok {
					r.InvalidQuery("limit must be a positive integer")
					return
				}
				// The normalized query: what the service considers the
				// same query is one resource in the gateway's cache.
				r.QueryCollection(list(limit), "limit="+strconv.Itoa(limit))
			}),
		)
	})

	c1, c2 := connect(s), connect(s)
	c1.Request("subscribe.example.users?limit=2", nil).GetResponse().
		AssertResult(map[string]any{"collections": map[string]any{"example.users?limit=2": []any{"alice", "bob"}}})
	c2.Request("subscribe.example.users?limit=5", nil).GetResponse().
		AssertResult(map[string]any{"collections": map[string]any{"example.users?limit=5": []any{"alice", "bob", "carol"}}})

	// Queries the service refuses.
	c1.Request("subscribe.example.users?limit=x", nil).GetResponse().AssertError(resproto.CodeInvalidQuery, "limit must be a positive integer")
	c1.Request("get.example.users", nil).GetResponse().AssertError(resproto.CodeInvalidQuery)

	// A new user: the service sends a query event, the gateway asks it what
	// each query resource now holds, and clients get the difference as
	// add and remove events.
	mu.Lock()
	users = append(users, "aaron")
	mu.Unlock()
	with(t, svc, "example.users", func(r res.Resource) {
		r.QueryEvent(func(qr res.QueryRequest) {
			if qr == nil {
				return
			}
			limit, ok := parseLimit(qr)
			if !ok {
				qr.InvalidQuery("bad limit")
				return
			}
			qr.Collection(list(limit))
		})
	})
	applyUntil(t, c1, "example.users?limit=2", []string{"alice", "bob"}, []string{"aaron", "alice"})
	applyUntil(t, c2, "example.users?limit=5", []string{"alice", "bob", "carol"}, []string{"aaron", "alice", "bob", "carol"})
	c1.AssertNoMsg()
	c2.AssertNoMsg()

	// The gateway's cached state follows: a new client gets it at once.
	c3 := connect(s)
	c3.Request("get.example.users?limit=2", nil).GetResponse().
		AssertResult(map[string]any{"collections": map[string]any{"example.users?limit=2": []any{"aaron", "alice"}}})
}

// applyUntil applies the add and remove events c receives for rid to a
// local copy of the collection, starting at start, until it equals want.
func applyUntil(t *testing.T, c *restest.Client, rid string, start, want []string) {
	t.Helper()
	state := slices.Clone(start)
	for i := 0; !slices.Equal(state, want); i++ {
		if i > 2*(len(start)+len(want)) {
			t.Fatalf("%s: too many events; state %v, want %v", rid, state, want)
		}
		ev := c.GetEvent()
		var d struct {
			Idx   int    `json:"idx"`
			Value string `json:"value"`
		}
		b, _ := json.Marshal(ev.Data)
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: bad event data %s", rid, ev.Raw)
		}
		switch ev.Event {
		case rid + ".add":
			if d.Idx < 0 || d.Idx > len(state) {
				t.Fatalf("%s: add index out of range in %s (state %v)", rid, ev.Raw, state)
			}
			state = slices.Insert(state, d.Idx, d.Value)
		case rid + ".remove":
			if d.Idx < 0 || d.Idx >= len(state) {
				t.Fatalf("%s: remove index out of range in %s (state %v)", rid, ev.Raw, state)
			}
			state = slices.Delete(state, d.Idx, d.Idx+1)
		default:
			t.Fatalf("%s: unexpected event %s", rid, ev.Raw)
		}
	}
}

func TestGoRes_CallReturnsResource(t *testing.T) {
	var mu sync.Mutex
	things := map[string]map[string]any{}
	next := 0
	s, svc := startGoRes(t, func(svc *res.Service) {
		svc.Handle("factory",
			// Calls only, and only the listed methods.
			res.Access(func(r res.AccessRequest) { r.Access(false, "create,ping,nosuch") }),
			res.Call("create", func(r res.CallRequest) {
				var p struct {
					Name string `json:"name"`
				}
				r.ParseParams(&p)
				mu.Lock()
				next++
				id := strconv.Itoa(next)
				things[id] = map[string]any{"id": next, "name": p.Name}
				mu.Unlock()
				r.Resource("example.thing." + id)
			}),
			res.Call("ping", func(r res.CallRequest) { r.OK(map[string]any{"pong": true}) }),
			res.Call("forbidden", func(r res.CallRequest) { r.OK(nil) }),
		)
		svc.Handle("thing.$id",
			res.Access(res.AccessGranted),
			res.GetModel(func(r res.ModelRequest) {
				mu.Lock()
				defer mu.Unlock()
				th, ok := things[r.PathParam("id")]
				if !ok {
					r.NotFound()
					return
				}
				r.Model(th)
			}),
		)
	})

	c := connect(s)
	c.Request("call.example.factory.ping", nil).GetResponse().AssertResult(map[string]any{"payload": map[string]any{"pong": true}})

	// The call's resource response: the client gets the resource and is
	// subscribed to it.
	c.Request("call.example.factory.create", map[string]any{"name": "widget"}).GetResponse().AssertResult(map[string]any{
		"rid":    "example.thing.1",
		"models": map[string]any{"example.thing.1": map[string]any{"id": 1, "name": "widget"}},
	})
	with(t, svc, "example.thing.1", func(r res.Resource) {
		mu.Lock()
		things["1"]["name"] = "gadget"
		mu.Unlock()
		r.ChangeEvent(map[string]any{"name": "gadget"})
	})
	c.GetEvent().AssertEventName("example.thing.1.change").AssertData(map[string]any{"values": map[string]any{"name": "gadget"}})
	c.Request("unsubscribe.example.thing.1", nil).GetResponse().AssertNoResult()

	// A legacy client (no version request) gets only the RID.
	legacy := s.Connect()
	legacy.Request("call.example.factory.create", map[string]any{"name": "bolt"}).GetResponse().AssertResult(map[string]any{"rid": "example.thing.2"})

	// Access is checked per method; an allowed method the service lacks is
	// the service's methodNotFound.
	c.Request("call.example.factory.forbidden", nil).GetResponse().AssertError(resproto.CodeAccessDenied)
	c.Request("call.example.factory.nosuch", nil).GetResponse().AssertError(resproto.CodeMethodNotFound)
	// No get access on the factory itself.
	c.Request("subscribe.example.factory", nil).GetResponse().AssertError(resproto.CodeAccessDenied)
}

func TestGoRes_GetErrors(t *testing.T) {
	s, _ := startGoRes(t, func(svc *res.Service) {
		svc.Handle("missing.$id",
			res.Access(res.AccessGranted),
			res.GetModel(func(r res.ModelRequest) { r.NotFound() }),
		)
		svc.Handle("broken",
			res.Access(res.AccessGranted),
			res.GetModel(func(r res.ModelRequest) {
				r.Error(&res.Error{Code: "example.broken", Message: "Broken", Data: map[string]any{"why": "test"}})
			}),
		)
		svc.Handle("denied",
			res.Access(res.AccessDenied),
			res.GetModel(func(r res.ModelRequest) { r.Model(map[string]any{"x": 1}) }),
		)
	})

	c := connect(s)
	c.Request("subscribe.example.missing.1", nil).GetResponse().AssertErrorEqual(resproto.ErrNotFound)
	// A failed subscribe leaves no subscription behind. (A failed get does,
	// in Resgate as here: it is not asserted.)
	c.Request("unsubscribe.example.missing.1", nil).GetResponse().AssertError(resproto.CodeNoSubscription)
	c.Request("get.example.missing.1", nil).GetResponse().AssertErrorEqual(resproto.ErrNotFound)
	// A resource the service has no handler for.
	c.Request("subscribe.example.unknown", nil).GetResponse().AssertError(resproto.CodeNotFound)
	// A service error passes through with its data.
	c.Request("get.example.broken", nil).GetResponse().
		AssertErrorEqual(&resproto.Error{Code: "example.broken", Message: "Broken", Data: json.RawMessage(`{"why":"test"}`)})
	c.Request("subscribe.example.denied", nil).GetResponse().AssertErrorEqual(resproto.ErrAccessDenied)
	// The connection still works.
	c.Request("call.example.missing.1.foo", nil).GetResponse().AssertError(resproto.CodeMethodNotFound)
}
