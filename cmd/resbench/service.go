package main

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// The resources the service side serves. Every resource under bench. is
// the same small model; the event subject is the one resceiling relays.
const (
	modelRID     = "bench.model"
	stormPrefix  = "bench.storm."
	httpPrefix   = "bench.http."
	eventSubject = "event." + modelRID + ".change"
	callMethod   = "call." + modelRID + ".ping"
	ceilingCall  = "ceiling.call"
	serviceConns = 2
)

var accessReply = []byte(`{"result":{"get":true,"call":"*"}}`)

// payloads are the bodies the service side and the clients send. With
// extra fields 0 they are minimal, so that the transports dominate; with
// more, every model and call carries that many string and number fields
// each, as real resources do, so that the protocol logic's handling of
// JSON weighs in too.
type payloads struct {
	model      []byte // the model's JSON object (the body of an HTTP GET)
	modelReply []byte // the get response
	callParams []byte // what a client's call sends
	callReply  []byte // the call response
}

// callResult is the result object of the call response, as a gateway
// passes it on to the client.
func (p *payloads) callResult() []byte {
	return p.callReply[len(`{"result":`) : len(p.callReply)-1]
}

// newPayloads returns the payloads with n extra fields of each kind.
func newPayloads(n int) *payloads {
	fields := func(b []byte) []byte {
		for i := range n {
			b = fmt.Appendf(b, `,"s%d":"value %d of the bench resource","n%d":%d`, i, i, i, i*1000+7)
		}
		return b
	}
	p := &payloads{}
	p.model = append(fields([]byte(`{"t":0,"name":"bench"`)), '}')
	p.modelReply = append(append([]byte(`{"result":{"model":`), p.model...), "}}"...)
	p.callParams = append(fields([]byte(`{"x":1`)), '}')
	p.callReply = append(fields([]byte(`{"result":{"pong":true`)), "}}"...)
	return p
}

// service plays the RES services on NATS: it grants access to everything,
// serves every bench.* resource as a model with a "t" field, answers every
// call, echoes requests on the ceiling's call subject, and publishes the
// fan-out events. Its handlers run on serviceConns connections in one
// queue group, so that they are not a single goroutine's bottleneck.
type service struct {
	conns []*nats.Conn
	pub   *nats.Conn
	count struct {
		access, get, call, echo atomic.Int64
	}
}

// startService connects the service to NATS and subscribes its handlers.
func startService(natsURL string, p *payloads) (*service, error) {
	s := &service{}
	fail := func(err error) (*service, error) {
		s.close()
		return nil, err
	}
	for i := 0; i < serviceConns; i++ {
		nc, err := nats.Connect(natsURL, nats.Name("resbench-service-"+strconv.Itoa(i)))
		if err != nil {
			return fail(fmt.Errorf("service: %w", err))
		}
		s.conns = append(s.conns, nc)
		for _, h := range []struct {
			subject string
			reply   func(*nats.Msg)
		}{
			{"access.>", func(m *nats.Msg) { s.count.access.Add(1); m.Respond(accessReply) }},
			{"get.bench.>", func(m *nats.Msg) { s.count.get.Add(1); m.Respond(p.modelReply) }},
			{"call.bench.>", func(m *nats.Msg) { s.count.call.Add(1); m.Respond(p.callReply) }},
			{ceilingCall, func(m *nats.Msg) { s.count.echo.Add(1); m.Respond(m.Data) }},
		} {
			sub, err := nc.QueueSubscribe(h.subject, "resbench", h.reply)
			if err != nil {
				return fail(fmt.Errorf("service: subscribe %s: %w", h.subject, err))
			}
			sub.SetPendingLimits(-1, -1)
		}
		if err := nc.Flush(); err != nil {
			return fail(fmt.Errorf("service: flush: %w", err))
		}
	}
	pub, err := nats.Connect(natsURL, nats.Name("resbench-publisher"))
	if err != nil {
		return fail(fmt.Errorf("publisher: %w", err))
	}
	s.pub = pub
	return s, nil
}

// publishEvent publishes one change event of the model carrying the send
// time: {"values":{"t":<unix ns>}}.
func (s *service) publishEvent(buf []byte) ([]byte, error) {
	b := append(buf[:0], `{"values":{"t":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, "}}"...)
	return b, s.pub.Publish(eventSubject, b)
}

// close disconnects the service.
func (s *service) close() {
	for _, nc := range s.conns {
		nc.Close()
	}
	if s.pub != nil {
		s.pub.Close()
	}
}
