package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// Tests of the reference throttle (--referencethrottle), after Resgate's
// 01subscribe_test.go WithThrottle tests: each new direct subscription
// gets a throttle, shared by its whole reference tree, that caps the get
// requests in flight. TestSubscribe_WithReferenceThrottle covers the plain
// and nested cases; the reset throttle is covered by the
// TestSystemReset_*Throttle* tests.

func withReferenceThrottle(n int) restest.Option {
	return restest.WithEngine(func(c *resproto.Config) { c.ReferenceThrottle = n })
}

// trRefs returns a collection of references to test.model.<prefix><i>, i
// from 1 to n.
func trRefs(prefix string, n int) string {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf(`{"rid":"test.model.%s%d"}`, prefix, i+1)
	}
	return "[" + strings.Join(refs, ",") + "]"
}

// trModel is the model served for test.model.<id>.
func trModel(subject string) json.RawMessage {
	return json.RawMessage(`{"id":"` + strings.TrimPrefix(subject, "get.test.model.") + `"}`)
}

// trServe answers get requests for test.model.* as they come, checking
// that exactly limit are in flight until fewer than limit remain, and that
// each answer lets one more go. It returns the subjects in the order they
// were requested.
func trServe(t *testing.T, s *restest.Session, limit, total int, respond func(r *restest.Request)) []string {
	t.Helper()
	inflight := s.GetRequests(min(limit, total))
	s.AssertNoRequest()
	var order []string
	for _, r := range inflight {
		order = append(order, r.Subject)
	}
	sent := len(inflight)
	for len(inflight) > 0 {
		r := inflight[0]
		inflight = inflight[1:]
		respond(r)
		if sent < total {
			next := s.GetRequest()
			order = append(order, next.Subject)
			inflight = append(inflight, next)
			sent++
			s.AssertNoRequest()
		}
	}
	s.AssertNoRequest()
	return order
}

func trRespondModel(r *restest.Request) { r.RespondModel(trModel(r.Subject)) }

// trSubscribeCollection sends a subscribe request for rid and serves its
// access and get requests, the collection holding data.
func trSubscribeCollection(t *testing.T, s *restest.Session, c *restest.Client, rid, data string) *restest.ClientRequest {
	t.Helper()
	creq := c.Request("subscribe."+rid, nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get."+rid).RespondCollection(json.RawMessage(data))
	return creq
}

// trModelsOf returns the models of a subscribe result or event.
func trModelsOf(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	var res struct {
		Models map[string]json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal([]byte(restest.Marshal(v)), &res); err != nil {
		t.Fatalf("bad resource set %s: %v", restest.Marshal(v), err)
	}
	return res.Models
}

// Without a throttle every reference is requested at once; with a limit
// the tree has at most that many get requests in flight.
func TestReferenceThrottle_Limits(t *testing.T) {
	t.Parallel()
	const refs = 10
	tbl := []struct {
		name     string
		throttle int
		inflight int
	}{
		{"no throttle", 0, refs},
		{"negative throttle", -1, refs},
		{"limit 1", 1, 1},
		{"limit 3", 3, 3},
		{"limit above the references", 40, refs},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, withReferenceThrottle(l.throttle))
			c := evConnect(s)
			creq := trSubscribeCollection(t, s, c, "test.collection", trRefs("", refs))
			trServe(t, s, l.inflight, refs, trRespondModel)
			if got := len(trModelsOf(t, creq.GetResponse().Result)); got != refs {
				t.Fatalf("expected %d models, got %d", refs, got)
			}
		})
	}
}

// Every subscribe request has a throttle of its own: a second tree loads
// while the first one's throttle is full, with a limit of its own.
func TestReferenceThrottle_EachSubscriptionHasItsOwn(t *testing.T) {
	t.Parallel()
	const limit, refs = 2, 5
	s := restest.Start(t, withReferenceThrottle(limit))
	c := evConnect(s)
	creqA := trSubscribeCollection(t, s, c, "test.collection.a", trRefs("a", refs))
	inflightA := s.GetRequests(limit)
	s.AssertNoRequest()
	creqB := trSubscribeCollection(t, s, c, "test.collection.b", trRefs("b", refs))
	inflightB := s.GetRequests(limit)
	s.AssertNoRequest()
	for tree, rs := range map[string]restest.Requests{"a": inflightA, "b": inflightB} {
		for _, r := range rs {
			if !strings.HasPrefix(r.Subject, "get.test.model."+tree) {
				t.Fatalf("expected a request of tree %s, got %s", tree, r.Subject)
			}
		}
	}
	// Each answer lets one more request of its own tree go.
	for _, r := range inflightA {
		trRespondModel(r)
		trRespondModel(s.GetRequest())
	}
	for _, r := range inflightB {
		trRespondModel(r)
		trRespondModel(s.GetRequest())
	}
	for _, r := range s.GetRequests(2) {
		trRespondModel(r)
	}
	s.AssertNoRequest()
	// The two subscriptions are independent: their replies may come in
	// either order.
	for i, resp := range restest.GetResponses(creqA, creqB) {
		if got := len(trModelsOf(t, resp.Result)); got != refs {
			t.Fatalf("subscription %d: expected %d models, got %d", i, refs, got)
		}
	}
}

// References a later change event adds are loaded under the throttle of
// the subscription that holds the model, as in Resgate, where a loaded
// subscription keeps its throttle.
func TestReferenceThrottle_ReferencesAddedByEvent(t *testing.T) {
	t.Parallel()
	const limit, refs = 3, 8
	s := restest.Start(t, withReferenceThrottle(limit))
	c := evConnect(s)
	qySubscribe(t, s, c, "test.model", "", "")
	values := map[string]any{}
	for i := 1; i <= refs; i++ {
		values[fmt.Sprintf("ref%d", i)] = map[string]string{"rid": fmt.Sprintf("test.model.e%d", i)}
	}
	s.Event("test.model", "change", map[string]any{"values": values})
	trServe(t, s, limit, refs, trRespondModel)
	ev := c.GetEvent().AssertEventName("test.model.change")
	if got := len(trModelsOf(t, ev.Data)); got != refs {
		t.Fatalf("expected %d models in the change event, got %s", refs, ev.Raw)
	}
	c.AssertNoMsg()
}

// A failed get frees its slot like a successful one: error responses, and
// requests that time out. (Not parallel, so that only the request meant to
// time out does.)
func TestReferenceThrottle_FailedRequestsFreeTheirSlot(t *testing.T) {
	s := restest.Start(t, withReferenceThrottle(1), restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = time.Second }))
	c := evConnect(s)
	creq := trSubscribeCollection(t, s, c, "test.collection", trRefs("", 4))
	order := trServe(t, s, 1, 4, func(r *restest.Request) {
		switch r.Subject {
		case "get.test.model.1":
			r.RespondError(resproto.ErrNotFound)
		case "get.test.model.2":
			// Never answered: it times out.
		case "get.test.model.3":
			r.Respond(`{"result":{"model":{"x":{"nested":true}}}}`)
		default:
			trRespondModel(r)
		}
	})
	// The references load in no fixed order, as in Resgate.
	slices.Sort(order)
	if want := "get.test.model.1 get.test.model.2 get.test.model.3 get.test.model.4"; strings.Join(order, " ") != want {
		t.Fatalf("expected requests %s, got %v", want, order)
	}
	res := creq.GetResponse()
	var set struct {
		Models map[string]json.RawMessage `json:"models"`
		Errors map[string]*resproto.Error `json:"errors"`
	}
	json.Unmarshal([]byte(restest.Marshal(res.Result)), &set)
	if len(set.Models) != 1 || set.Models["test.model.4"] == nil {
		t.Fatalf("expected test.model.4 only among the models, got %s", res.Raw)
	}
	for rid, code := range map[string]string{
		"test.model.1": resproto.CodeNotFound,
		"test.model.2": resproto.CodeTimeout,
		"test.model.3": resproto.CodeInternalError,
	} {
		if e := set.Errors[rid]; e == nil || e.Code != code {
			t.Fatalf("expected error %s for %s, got %s", code, rid, res.Raw)
		}
	}
}

// Resources already in the cache need no get request and take no slot.
func TestReferenceThrottle_CachedReferencesTakeNoSlot(t *testing.T) {
	t.Parallel()
	s := restest.Start(t, withReferenceThrottle(1))
	c1 := evConnect(s)
	for i := 1; i <= 3; i++ {
		rid := fmt.Sprintf("test.model.%d", i)
		creq := c1.Request("subscribe."+rid, nil)
		reqs := s.GetRequests(2)
		reqs.BySubject(t, "access."+rid).RespondSuccess(map[string]any{"get": true})
		trRespondModel(reqs.BySubject(t, "get."+rid))
		creq.GetResponse()
	}
	c2 := evConnect(s)
	creq := trSubscribeCollection(t, s, c2, "test.collection", trRefs("", 5))
	order := trServe(t, s, 1, 2, trRespondModel)
	slices.Sort(order)
	if want := "get.test.model.4 get.test.model.5"; strings.Join(order, " ") != want {
		t.Fatalf("expected requests %s, got %v", want, order)
	}
	if got := len(trModelsOf(t, creq.GetResponse().Result)); got != 5 {
		t.Fatalf("expected 5 models, got %d", got)
	}
}

// A cyclic reference graph loads one request at a time with a limit of 1,
// each resource once, without deadlock.
func TestReferenceThrottle_CyclicReferences(t *testing.T) {
	t.Parallel()
	graph := map[string]string{
		"test.m.e": `{"d":{"rid":"test.m.d"}}`,
		"test.m.f": `{"d":{"rid":"test.m.d"},"g":{"rid":"test.m.g"}}`,
		"test.m.g": `{"e":{"rid":"test.m.e"},"f":{"rid":"test.m.f"}}`,
	}
	s := restest.Start(t, withReferenceThrottle(1))
	c := evConnect(s)
	creq := c.Request("subscribe.test.m.d", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.m.d").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.m.d").RespondModel(json.RawMessage(`{"e":{"rid":"test.m.e"},"f":{"rid":"test.m.f"}}`))
	seen := map[string]bool{}
	for len(seen) < len(graph) {
		r := s.GetRequest()
		s.AssertNoRequest()
		rid := strings.TrimPrefix(r.Subject, "get.")
		if seen[rid] || graph[rid] == "" {
			t.Fatalf("unexpected request %s", r.Subject)
		}
		seen[rid] = true
		r.RespondModel(json.RawMessage(graph[rid]))
	}
	s.AssertNoRequest()
	if got := len(trModelsOf(t, creq.GetResponse().Result)); got != 4 {
		t.Fatalf("expected 4 models, got %d", got)
	}
}
