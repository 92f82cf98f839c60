package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ridPrefix starts every resource the soak service serves: soak.r.<i> for
// i in [0, resources).
const ridPrefix = "soak.r."

// rid returns the resource ID of resource i.
func rid(i int) string { return ridPrefix + strconv.Itoa(i) }

// ridIndex returns the index of a resource ID, or -1.
func ridIndex(rid string) int {
	s, ok := strings.CutPrefix(rid, ridPrefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return i
}

// service plays the RES service: every soak.r.<i> is a model {"seq":N},
// anyone may get it, and it publishes change events that increment seq,
// one resource after another. A get response and the events are sent on
// one connection under one lock, so a gateway sees them in the order the
// service made them, and every client of a resource must see its seq go up
// by exactly one per event after the value its subscribe reply gave.
type service struct {
	nc *nats.Conn

	mu  sync.Mutex
	seq []int64

	events atomic.Int64 // published
	gets   atomic.Int64
	access atomic.Int64

	stop chan struct{}
	done chan struct{}
}

var (
	accessReply = []byte(`{"result":{"get":true}}`)
	notFound    = []byte(`{"error":{"code":"system.notFound","message":"Not found"}}`)
)

// startService connects the service to NATS and serves n resources.
func startService(natsURL string, n int) (*service, error) {
	nc, err := nats.Connect(natsURL, nats.Name("ressoak-service"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	s := &service{nc: nc, seq: make([]int64, n), stop: make(chan struct{}), done: make(chan struct{})}
	subs := []struct {
		subject string
		h       nats.MsgHandler
	}{
		{"access." + ridPrefix + ">", func(m *nats.Msg) { s.access.Add(1); m.Respond(accessReply) }},
		{"get." + ridPrefix + ">", s.get},
	}
	for _, sub := range subs {
		sb, err := nc.Subscribe(sub.subject, sub.h)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("service: subscribe %s: %w", sub.subject, err)
		}
		sb.SetPendingLimits(-1, -1)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("service: %w", err)
	}
	return s, nil
}

// get answers a get request with the resource's current seq.
func (s *service) get(m *nats.Msg) {
	s.gets.Add(1)
	i := ridIndex(strings.TrimPrefix(m.Subject, "get."))
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.seq) {
		m.Respond(notFound)
		return
	}
	m.Respond([]byte(`{"result":{"model":{"seq":` + strconv.FormatInt(s.seq[i], 10) + `}}}`))
}

// publish runs until stopEvents: every interval/n it publishes a change
// event of the next resource, so that each resource changes once per
// interval.
func (s *service) publish(interval time.Duration) {
	defer close(s.done)
	n := len(s.seq)
	step := interval / time.Duration(n)
	if step <= 0 {
		step = time.Microsecond
	}
	t := time.NewTicker(step)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.seq[next]++
		err := s.nc.Publish("event."+rid(next)+".change", []byte(`{"values":{"seq":`+strconv.FormatInt(s.seq[next], 10)+`}}`))
		s.mu.Unlock()
		if err == nil {
			s.events.Add(1)
		}
		next = (next + 1) % n
	}
}

// stopEvents stops publishing, and returns once the last event is flushed.
func (s *service) stopEvents() {
	close(s.stop)
	<-s.done
	s.nc.Flush()
}

// current returns resource i's seq.
func (s *service) current(i int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq[i]
}

// close disconnects the service.
func (s *service) close() { s.nc.Close() }
