package e2e

import (
	"testing"

	"github.com/resedge/resedge/internal/restest"
	"github.com/resedge/resedge/resproto"
)

// TestInvalidRequest_Method covers methods that break the request grammar
// (type.rid[.method]) or hold an invalid resource ID: system.invalidRequest,
// without any service request.
func TestInvalidRequest_Method(t *testing.T) {
	methods := []string{
		"",
		"test",
		"new",
		"call",
		"unknown.test",
		"version.test",
		"call.test",
		"call.test.methöd",
		"call.test?foo",
		"call.test.method?foo",
		"call.test.me*thod",
		"call.test.>",
		"call..method",
		"auth.test",
		"auth.test.",
		"new.test..model",
		"get.test.model.",
		"unsubscribe..test",
		"subscribe..test.model",
		"subscribe.test..model",
		"subscribe.test.model.",
		".subscribe.test.model",
		"subscribe?foo=bar",
		"subscribe.?foo=bar",
		"subscribe.test.?foo=bar",
		"subscribe.test\tmodel",
		"subscribe.test\nmodel",
		"subscribe.test\rmodel",
		"subscribe.test model",
		"subscribe.test\ufffdmodel",
		"subscribe.täst.model",
		"subscribe.test.*.model",
		"subscribe.test.>.model",
		"subscribe.test.model.>",
		"SUBSCRIBE.test.model",
	}
	for _, method := range methods {
		t.Run(restest.Marshal(method), func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := rqConnect(s)
			c.Request(method, nil).GetResponse().AssertErrorEqual(resproto.ErrInvalidRequest)
			s.AssertNoRequest()
		})
	}
}

// TestInvalidRequest_ValidMethods covers the corner cases of the grammar
// that are valid: queries may hold any character, and the method is the
// part after the last dot.
func TestInvalidRequest_ValidMethods(t *testing.T) {
	tbl := []struct {
		method  string
		subject string // first service request
		query   string
	}{
		{"subscribe.test.model?q=a b*>.c", "access.test.model", "q=a b*>.c"},
		{"subscribe.test.model?", "access.test.model", ""},
		{"call.test.model?q=a.b", "access.test.model", "q=a"},
		{"auth.test.model?q=1.login", "auth.test.model.login", "q=1"},
		{"subscribe.test.m!#$%&'()+,-/:;<=@[]^_`{|}~", "access.test.m!#$%&'()+,-/:;<=@[]^_`{|}~", ""},
	}
	for _, l := range tbl {
		t.Run(restest.Marshal(l.method), func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := rqConnect(s)
			c.Request(l.method, nil)
			req := s.GetRequest()
			if req.Subject != l.subject {
				// subscribe sends access and get in any order.
				req = s.GetRequest()
			}
			req.AssertSubject(l.subject)
			if l.query == "" {
				req.AssertPathMissing("query")
			} else {
				req.AssertPathPayload("query", l.query)
			}
		})
	}
}

// TestInvalidRequest_MalformedMessage covers messages that are not
// requests: Resgate drops them without a reply, and the connection stays
// usable.
func TestInvalidRequest_MalformedMessage(t *testing.T) {
	msgs := []string{
		``,
		`foo`,
		`{"id":1,"method":"version"`,
		`{"method":"version"}`,
		`{"id":null,"method":"version"}`,
		`{"id":"1","method":"version"}`,
		`{"id":-1,"method":"version"}`,
		`{"id":1.5,"method":"version"}`,
		`{"id":1e3,"method":"version"}`,
		`{"id":18446744073709551616,"method":"version"}`,
		`{"id":1,"method":42}`,
		`{"id":1,"method":"version","params":}`,
		`[{"id":1,"method":"version"}]`,
		`null`,
		`42`,
	}
	for _, msg := range msgs {
		t.Run(restest.Marshal(msg), func(t *testing.T) {
			t.Parallel()
			s := restest.Start(t)
			c := s.Connect()
			c.Send(msg)
			c.AssertNoMsg()
			s.AssertNoRequest()
			c.Version("1.2.3")
		})
	}
}

// TestInvalidRequest_MalformedMessageWithReply covers the ReplyMalformed
// option: malformed messages get system.invalidRequest with a null id.
func TestInvalidRequest_MalformedMessageWithReply(t *testing.T) {
	s := restest.Start(t, restest.WithEngine(func(c *resproto.Config) { c.ReplyMalformed = true }))
	c := s.Connect()
	for _, msg := range []string{`foo`, `{"method":"version"}`} {
		c.Send(msg)
		got := c.GetMsg()
		if !restest.JSONEqual(rqRaw(got), rqRaw(`{"error":{"code":"system.invalidRequest","message":"Invalid request"},"id":null}`)) {
			t.Fatalf("%s: expected invalidRequest with null id, got %s", msg, got)
		}
	}
	c.Version("1.2.3")
}

// TestInvalidRequest_MissingIDOnValidMethod covers a well-formed request
// without an id, as a notification would be: dropped, nothing is sent to
// services.
func TestInvalidRequest_MissingIDOnValidMethod(t *testing.T) {
	s := restest.Start(t)
	c := rqConnect(s)
	c.Send(`{"method":"subscribe.test.model"}`)
	c.Send(`{"method":"call.test.model.method","params":{}}`)
	s.AssertNoRequest()
	c.AssertNoMsg()
}

// TestInvalidRequest_IDEcho covers the id of the reply: the request's own,
// whatever its size.
func TestInvalidRequest_IDEcho(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	for _, id := range []string{"0", "18446744073709551615"} {
		c.Send(`{"id":` + id + `,"method":"version"}`)
		got := c.GetMsg()
		if got != `{"result":{"protocol":"1.2.3"},"id":`+id+`}` {
			t.Fatalf("id %s: got %s", id, got)
		}
	}
}
