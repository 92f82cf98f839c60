package e2e

import (
	"testing"
	"time"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// rqWithTimeout sets the engine's request timeout.
func rqWithTimeout(d time.Duration) restest.Option {
	return restest.WithEngine(func(c *resproto.Config) { c.RequestTimeout = d })
}

// rqAssertElapsed checks that d lies within [min, max].
func rqAssertElapsed(t *testing.T, what string, d, min, max time.Duration) {
	t.Helper()
	if d < min || d > max {
		t.Fatalf("%s after %v, expected between %v and %v", what, d, min, max)
	}
}

// rqRequestKind is a client request and the service requests it leads to,
// up to the one the test leaves unanswered (or answers last).
type rqRequestKind struct {
	name     string
	method   string
	before   []string // requests answered successfully first, in order
	subject  string   // the request under test
	parallel string   // a request sent alongside subject, answered at once
	result   any      // the reply when subject is answered with rqFooBar
}

var rqKinds = []rqRequestKind{
	{name: "call access", method: "call.test.model.method", subject: "access.test.model", result: nil},
	{name: "call", method: "call.test.model.method", before: []string{"access.test.model"}, subject: "call.test.model.method", result: rqPayloadFooBar},
	{name: "auth", method: "auth.test.model.method", subject: "auth.test.model.method", result: rqPayloadFooBar},
	{name: "new", method: "new.test.collection", before: []string{"access.test.collection"}, subject: "call.test.collection.new"},
	{name: "subscribe get", method: "subscribe.test.model", subject: "get.test.model", parallel: "access.test.model", result: rqRaw(`{"models":{"test.model":` + rqModel + `}}`)},
	{name: "subscribe access", method: "subscribe.test.model", subject: "access.test.model", parallel: "get.test.model"},
	{name: "get get", method: "get.test.model", subject: "get.test.model", parallel: "access.test.model", result: rqRaw(`{"models":{"test.model":` + rqModel + `}}`)},
}

// rqAnswer gives a successful answer to a request of the kinds above.
func rqAnswer(r *restest.Request) {
	switch {
	case r.Subject == "access.test.model" || r.Subject == "access.test.collection":
		r.RespondSuccess(rqRaw(`{"get":true,"call":"*"}`))
	case r.Subject == "get.test.model":
		r.RespondModel(rqRaw(rqModel))
	default:
		r.RespondSuccess(rqFooBar)
	}
}

// rqStartKind sends the client request of k and answers everything up to
// the request under test, which it returns unanswered.
func rqStartKind(t *testing.T, s *restest.Session, c *restest.Client, k rqRequestKind) (*restest.ClientRequest, *restest.Request) {
	t.Helper()
	creq := c.Request(k.method, nil)
	for _, subj := range k.before {
		rqAnswer(s.GetRequest().AssertSubject(subj))
	}
	if k.parallel == "" {
		return creq, s.GetRequest().AssertSubject(k.subject)
	}
	reqs := s.GetRequests(2)
	rqAnswer(reqs.BySubject(t, k.parallel))
	return creq, reqs.BySubject(t, k.subject)
}

// TestTimeout_Request covers a service that never replies: the client gets
// system.timeout once the request timeout has passed, not before.
func TestTimeout_Request(t *testing.T) {
	// 1 s: the requests answered before and beside the one that times out
	// must never time out themselves.
	const timeout = time.Second
	for _, k := range rqKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, rqWithTimeout(timeout))
			c := rqConnect(s)
			// The clock starts before the request is sent, so that however
			// late it reaches the service, the gateway's timer started
			// after it: at least timeout elapses.
			start := time.Now()
			creq, _ := rqStartKind(t, s, c, k)
			creq.GetResponse().AssertErrorEqual(resproto.ErrTimeout)
			rqAssertElapsed(t, "timeout", time.Since(start), timeout-10*time.Millisecond, timeout+time.Second)
		})
	}
}

// TestTimeout_LateReplyIgnored covers a reply after the timeout: dropped.
func TestTimeout_LateReplyIgnored(t *testing.T) {
	// 1 s: the second request, answered, must never time out.
	s := restest.Start(t, rqWithTimeout(time.Second))
	c := rqConnect(s)
	creq := c.Request("auth.test.model.method", nil)
	req := s.GetRequest()
	creq.GetResponse().AssertErrorEqual(resproto.ErrTimeout)
	req.RespondSuccess(rqFooBar)
	c.AssertNoMsg()

	creq = c.Request("auth.test.model.method", nil)
	s.GetRequest().RespondSuccess(rqFooBar)
	creq.GetResponse().AssertResult(rqPayloadFooBar)
}

// TestTimeout_PreResponseExtends covers a pre-response timeout:"…" sent
// before the real reply: the request stays open past the original timeout
// and the real reply reaches the client.
func TestTimeout_PreResponseExtends(t *testing.T) {
	// 1 s: the access request some kinds answer first, and the
	// pre-response, must beat it however loaded the machine.
	const timeout = time.Second
	for _, k := range rqKinds {
		if k.result == nil {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, rqWithTimeout(timeout))
			c := rqConnect(s)
			creq, req := rqStartKind(t, s, c, k)
			req.Respond(`timeout:"5000"`)
			time.Sleep(timeout + 100*time.Millisecond)
			c.AssertNoMsg()
			rqAnswer(req)
			creq.GetResponse().AssertResult(k.result)
		})
	}
}

// TestTimeout_PreResponse covers how the pre-response sets the deadline:
// from its receipt, longer or shorter than the configured timeout,
// repeatedly; other keys and values that are not numbers are ignored.
func TestTimeout_PreResponse(t *testing.T) {
	tbl := []struct {
		name     string
		timeout  time.Duration // configured request timeout
		pre      []string      // pre-responses, sent gap apart
		gap      time.Duration
		reply    bool          // send the real reply after the last pre-response
		min, max time.Duration // when the timeout error must come, from the last pre-response
		// fromRequest measures min and max from the client request instead,
		// for pre-responses that must leave the deadline as it was.
		fromRequest bool
	}{
		// Configured timeouts of 1 s: the pre-responses must reach the
		// gateway before them however loaded the machine.
		{"expires at the new deadline", time.Second, []string{`timeout:"2500"`}, 0, false, 2490 * time.Millisecond, 4500 * time.Millisecond, false},
		{"shortens the deadline", 5 * time.Second, []string{`timeout:"100"`}, 0, false, 90 * time.Millisecond, 1500 * time.Millisecond, false},
		{"repeated extensions", time.Second, []string{`timeout:"2000"`, `timeout:"2000"`, `timeout:"2000"`}, 150 * time.Millisecond, true, 0, 0, false},
		{"repeated, expires after the last", time.Second, []string{`timeout:"2000"`, `timeout:"2000"`, `timeout:"1500"`}, 150 * time.Millisecond, false, 1490 * time.Millisecond, 3500 * time.Millisecond, false},
		{"other keys with timeout", time.Second, []string{`foo:"bar" timeout:"2500" baz:"1"`}, 0, false, 2490 * time.Millisecond, 4500 * time.Millisecond, false},
		{"other keys only", time.Second, []string{`foo:"bar"`}, 0, true, 0, 0, false},
		{"timeout not a number", time.Second, []string{`timeout:"abc"`}, 0, false, 990 * time.Millisecond, 2500 * time.Millisecond, true},
		{"uppercase tag", time.Second, []string{`Timeout:"4000"`}, 0, true, 0, 0, false},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, rqWithTimeout(l.timeout))
			c := rqConnect(s)
			sent := time.Now()
			creq := c.Request("auth.test.model.method", nil)
			req := s.GetRequest().AssertSubject("auth.test.model.method")
			var last time.Time
			for i, p := range l.pre {
				if i > 0 {
					time.Sleep(l.gap)
				}
				// Before sending: the gateway's new deadline starts later.
				last = time.Now()
				req.Respond(p)
			}
			if l.reply {
				req.RespondSuccess(rqFooBar)
				creq.GetResponse().AssertResult(rqPayloadFooBar)
				return
			}
			creq.GetResponse().AssertErrorEqual(resproto.ErrTimeout)
			if l.fromRequest {
				last = sent
			}
			rqAssertElapsed(t, "timeout", time.Since(last), l.min, l.max)
		})
	}
}

// TestTimeout_NoResponders covers a request on a subject nobody listens on:
// NATS answers at once that there are no responders, and the client gets
// system.notFound without waiting for the timeout.
func TestTimeout_NoResponders(t *testing.T) {
	tbl := []struct {
		name    string
		serve   []string // subjects the service listens on
		method  string
		answers []string // requests answered before the one that finds no responders
	}{
		{"call", []string{"access.>"}, "call.test.model.method", []string{"access.test.model"}},
		{"call access", nil, "call.test.model.method", nil},
		{"auth", nil, "auth.test.model.method", nil},
		{"new", []string{"access.>"}, "new.test.collection", []string{"access.test.collection"}},
		{"subscribe get", []string{"access.>"}, "subscribe.test.model", []string{"access.test.model"}},
		{"subscribe access", []string{"get.>"}, "subscribe.test.model", []string{"get.test.model"}},
		{"get", []string{"access.>"}, "get.test.model", []string{"access.test.model"}},
	}
	for _, l := range tbl {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t, restest.WithoutService(), rqWithTimeout(time.Minute))
			for _, subj := range l.serve {
				s.Serve(subj)
			}
			c := rqConnect(s)
			start := time.Now()
			creq := c.Request(l.method, nil)
			for _, subj := range l.answers {
				rqAnswer(s.GetRequest().AssertSubject(subj))
			}
			creq.GetResponse().AssertErrorEqual(resproto.ErrNotFound)
			rqAssertElapsed(t, "not found", time.Since(start), 0, 2*time.Second)
			s.AssertNoRequest()
		})
	}
}

// TestTimeout_NoRespondersNotCached covers a no-responders access error on
// a subscription: not kept, so a later call asks for access again.
func TestTimeout_NoRespondersNotCached(t *testing.T) {
	s := restest.Start(t, restest.WithoutService(), rqWithTimeout(time.Minute))
	s.Serve("access.test.model.parent")
	s.Serve("get.>")
	c := rqConnect(s)
	rqSubscribeModelParent(t, s, c)

	c.Request("call.test.model.method", nil).GetResponse().AssertErrorEqual(resproto.ErrNotFound)
	s.Serve("access.test.model")
	s.Serve("call.>")
	creq := c.Request("call.test.model.method", nil)
	s.GetRequest().AssertSubject("access.test.model").RespondSuccess(rqFullCallAccess)
	s.GetRequest().AssertSubject("call.test.model.method").RespondSuccess(rqFooBar)
	creq.GetResponse().AssertResult(rqPayloadFooBar)
}
