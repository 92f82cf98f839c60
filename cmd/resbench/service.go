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

var (
	accessReply = []byte(`{"result":{"get":true,"call":"*"}}`)
	modelReply  = []byte(`{"result":{"model":{"t":0,"name":"bench"}}}`)
	callReply   = []byte(`{"result":{"pong":true}}`)
)

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
func startService(natsURL string) (*service, error) {
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
			{"get.bench.>", func(m *nats.Msg) { s.count.get.Add(1); m.Respond(modelReply) }},
			{"call.bench.>", func(m *nats.Msg) { s.count.call.Add(1); m.Respond(callReply) }},
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
