package edge

import (
	"context"
	"sync"
	"time"

	"github.com/resedge/resedge/schema"
)

// drainer is a service that can close its clients gradually
// (listeners.HTTP).
type drainer interface {
	Drain(ctx context.Context, window time.Duration)
}

// asDrainer returns svc's drainer, looking through a TLS wrapper.
func asDrainer(svc service) (drainer, bool) {
	if t, ok := svc.(tlsService); ok {
		svc = t.service
	}
	d, ok := svc.(drainer)
	return d, ok
}

// Drain is lame duck mode, the first step of a graceful stop: Ready fails
// from the start (a load balancer stops sending clients), every client
// listener stops accepting connections, and the WebSocket clients of every
// listener are sent a going-away close frame (1001) one after another,
// spread over window, so that a fleet absorbs their reconnects instead of
// a thundering herd. HTTP requests in flight go on. It returns once every
// client has been sent its close frame (a little before window ends), or
// when ctx ends. Call Shutdown afterwards; Shutdown alone closes every
// client at once.
func (s *Server) Drain(ctx context.Context, window time.Duration) {
	s.smu.Lock()
	s.stopping = true
	s.smu.Unlock()
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return
	}
	var ds []drainer
	for _, name := range sortedKeys(s.running) {
		l := s.running[name]
		if l.spec.l.Kind == schema.KindMetrics {
			continue // /readyz keeps answering "not ready"
		}
		l.stopping.Store(true)
		l.sock.close()
		if d, ok := asDrainer(l.svc); ok {
			ds = append(ds, d)
		}
	}
	s.mu.Unlock()
	s.log.Info("Lame duck: not ready, closing clients gradually", "window", window)
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.Drain(ctx, window)
		}()
	}
	wg.Wait()
}
