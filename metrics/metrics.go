// Package metrics holds resedge's Prometheus metrics on a private registry:
// every metric Resgate v1.8.0 exposes, under the same names and labels, so
// that dashboards built for Resgate keep working, and resedge_* metrics
// with more detail (per listener, NATS latency, reloads…), plus the Go
// runtime and process collectors.
//
// A *Metrics implements resproto.Observer, which keeps the engine free of
// Prometheus; listeners and edge call its other methods. Every method is
// safe on a nil *Metrics, which counts nothing.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/resedge/resedge/resproto"
)

// maxErrorCodes bounds the distinct error codes counted under their own
// label: codes are chosen by services, and a label per code must not grow
// without limit. Codes past it are counted as "other"; system.* codes
// always have their own.
const maxErrorCodes = 100

// NATSRequestTypes are the kinds of NATS requests counted.
var NATSRequestTypes = []string{"access", "get", "call", "auth"}

// Metrics is the set of resedge's metrics.
type Metrics struct {
	reg *prometheus.Registry

	// Resgate's metrics.
	wsCurrent     prometheus.Gauge
	wsTotal       prometheus.Counter
	wsRequests    *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	cacheRes      prometheus.Gauge
	cacheSubs     prometheus.Gauge
	wsRequestsBy  map[string]prometheus.Counter
	httpRequestBy map[string]prometheus.Counter

	// resedge's own.
	listenerConns      *prometheus.GaugeVec
	listenerConnsTotal *prometheus.CounterVec
	natsRequests       *prometheus.CounterVec
	natsDuration       *prometheus.HistogramVec
	natsTimeouts       *prometheus.CounterVec
	natsEvents         *prometheus.CounterVec
	delivered          *prometheus.CounterVec
	slowConsumers      *prometheus.CounterVec
	clientErrors       *prometheus.CounterVec
	listenerHTTP       *prometheus.CounterVec
	reloads            *prometheus.CounterVec
	certExpiry         *prometheus.GaugeVec
	natsConnected      prometheus.Gauge
	natsDisconnects    prometheus.Counter
	natsSlowConsumer   prometheus.Counter

	codesMu sync.Mutex
	codes   map[string]bool
}

var _ resproto.Observer = (*Metrics)(nil)

// New creates the metrics on a new registry. version is resedge's version,
// protocol the RES protocol version, for resgate_info.
func New(version, protocol string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, codes: map[string]bool{}}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }

	f(collectors.NewGoCollector()) // go_info, go_memstats_sys_bytes…
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resgate_info", Help: "Information about resgate."}, []string{"version", "protocol"})
	info.WithLabelValues(version, protocol).Set(1)
	f(info)

	m.wsCurrent = prometheus.NewGauge(prometheus.GaugeOpts{Name: "resgate_ws_current_connections", Help: "Current established WebSocket connections."})
	m.wsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "resgate_ws_connections_total", Help: "Total established WebSocket connections."})
	m.wsRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resgate_ws_requests_total", Help: "Total WebSocket client requests."}, []string{"method"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resgate_http_requests_total", Help: "Total HTTP client requests."}, []string{"method"})
	m.cacheRes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "resgate_cache_resources", Help: "Current number of resources stored in the cache."})
	m.cacheSubs = prometheus.NewGauge(prometheus.GaugeOpts{Name: "resgate_cache_subscriptions", Help: "Current number of subscriptions on cached resources."})
	f(m.wsCurrent)
	f(m.wsTotal)
	f(m.wsRequests)
	f(m.httpRequests)
	f(m.cacheRes)
	f(m.cacheSubs)
	// Every label value exists from the start, at 0, as in Resgate.
	m.wsRequestsBy = map[string]prometheus.Counter{}
	for _, a := range []string{"get", "subscribe", "unsubscribe", "call", "auth"} {
		m.wsRequestsBy[a] = m.wsRequests.WithLabelValues(a)
	}
	m.httpRequestBy = map[string]prometheus.Counter{}
	for _, a := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		m.httpRequestBy[a] = m.httpRequests.WithLabelValues(a)
	}

	m.listenerConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resedge_listener_connections", Help: "Current WebSocket connections, by listener."}, []string{"listener"})
	m.listenerConnsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_listener_connections_total", Help: "Total WebSocket connections established, by listener."}, []string{"listener"})
	m.natsRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_nats_requests_total", Help: "Requests to services over NATS that ended, by type."}, []string{"type"})
	m.natsDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "resedge_nats_request_duration_seconds",
		Help:    "Time from sending a request to a service until its reply, error or timeout, by type.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"type"})
	m.natsTimeouts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_nats_request_timeouts_total", Help: "Requests to services that timed out, by type."}, []string{"type"})
	m.natsEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_nats_events_total", Help: "Events received from NATS, by type: resource (event.*), system or conn."}, []string{"type"})
	m.delivered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_ws_messages_delivered_total", Help: "Messages written to WebSocket clients, by listener."}, []string{"listener"})
	m.slowConsumers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_ws_slow_consumer_disconnects_total", Help: "WebSocket clients closed because their write queue was full, by listener."}, []string{"listener"})
	m.clientErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_client_errors_total", Help: "Errors sent to WebSocket clients in reply to requests, by RES error code."}, []string{"code"})
	m.listenerHTTP = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_http_requests_total", Help: "HTTP requests answered (WebSocket upgrades included), by listener, method and status."}, []string{"listener", "method", "status"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resedge_config_reloads_total", Help: "Configuration reloads, by result: success or failure."}, []string{"result"})
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resedge_tls_certificate_expiry_timestamp_seconds", Help: "When the certificate served for a domain expires (its NotAfter), in Unix seconds."}, []string{"domain"})
	m.natsConnected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "resedge_nats_connected", Help: "1 while the NATS connection is up, 0 while it is lost."})
	m.natsDisconnects = prometheus.NewCounter(prometheus.CounterOpts{Name: "resedge_nats_disconnects_total", Help: "Times the NATS connection was lost."})
	m.natsSlowConsumer = prometheus.NewCounter(prometheus.CounterOpts{Name: "resedge_nats_slow_consumer_total", Help: "Times NATS dropped messages to the gateway because its inbound buffer was full (each is followed by a resync)."})
	for _, c := range []prometheus.Collector{m.listenerConns, m.listenerConnsTotal, m.natsRequests, m.natsDuration, m.natsTimeouts, m.natsEvents, m.delivered, m.slowConsumers, m.clientErrors, m.listenerHTTP, m.reloads, m.certExpiry, m.natsConnected, m.natsDisconnects, m.natsSlowConsumer} {
		f(c)
	}
	for _, t := range NATSRequestTypes {
		m.natsRequests.WithLabelValues(t)
		m.natsTimeouts.WithLabelValues(t)
	}
	for _, t := range []string{"resource", "system", "conn"} {
		m.natsEvents.WithLabelValues(t)
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics, in the OpenMetrics text format to scrapers
// that ask for it (Prometheus does) and in the Prometheus text format
// otherwise. A nil *Metrics serves 404.
//
// OpenMetrics output carries counters' _created samples, as Resgate's does,
// so that a scrape of resedge has every series a scrape of Resgate has.
// Resgate's two info families (go and resgate) come out as gauges, the
// only form client_golang has for them; their samples, go_info and
// resgate_info with value 1, are the same.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		EnableOpenMetrics:                   true,
		EnableOpenMetricsTextCreatedSamples: true,
	})
}

// ClientRequest implements resproto.Observer.
func (m *Metrics) ClientRequest(action string) {
	if m == nil {
		return
	}
	if c := m.wsRequestsBy[action]; c != nil {
		c.Inc()
	}
}

// ClientError implements resproto.Observer.
func (m *Metrics) ClientError(code string) {
	if m == nil {
		return
	}
	if !strings.HasPrefix(code, "system.") {
		m.codesMu.Lock()
		if !m.codes[code] {
			if len(m.codes) >= maxErrorCodes {
				code = "other"
			} else {
				m.codes[code] = true
			}
		}
		m.codesMu.Unlock()
	}
	m.clientErrors.WithLabelValues(code).Inc()
}

// NATSRequest implements resproto.Observer.
func (m *Metrics) NATSRequest(kind string, d time.Duration, err error) {
	if m == nil {
		return
	}
	switch kind {
	case "access", "get", "call", "auth":
	default:
		kind = "other"
	}
	m.natsRequests.WithLabelValues(kind).Inc()
	m.natsDuration.WithLabelValues(kind).Observe(d.Seconds())
	if errors.Is(err, resproto.ErrTimeout) {
		m.natsTimeouts.WithLabelValues(kind).Inc()
	}
}

// NATSEvent implements resproto.Observer.
func (m *Metrics) NATSEvent(kind string) {
	if m != nil {
		m.natsEvents.WithLabelValues(kind).Inc()
	}
}

// CacheResources implements resproto.Observer.
func (m *Metrics) CacheResources(delta int) {
	if m != nil {
		m.cacheRes.Add(float64(delta))
	}
}

// CacheSubscriptions implements resproto.Observer.
func (m *Metrics) CacheSubscriptions(delta int) {
	if m != nil {
		m.cacheSubs.Add(float64(delta))
	}
}

// WSConnected counts a WebSocket connection established (upgraded) on
// listener.
func (m *Metrics) WSConnected(listener string) {
	if m == nil {
		return
	}
	m.wsCurrent.Inc()
	m.wsTotal.Inc()
	m.listenerConns.WithLabelValues(listener).Inc()
	m.listenerConnsTotal.WithLabelValues(listener).Inc()
}

// WSDisconnected counts a WebSocket connection WSConnected counted closing.
func (m *Metrics) WSDisconnected(listener string) {
	if m == nil {
		return
	}
	m.wsCurrent.Dec()
	m.listenerConns.WithLabelValues(listener).Dec()
}

// APIRequest counts an HTTP API request as Resgate does, by method: GET
// (HEAD too) and POST, and PUT, DELETE and PATCH when they are mapped to a
// call method.
func (m *Metrics) APIRequest(method string) {
	if m == nil {
		return
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if c := m.httpRequestBy[method]; c != nil {
		c.Inc()
	}
}

// HTTPRequest counts a request answered by listener with status.
func (m *Metrics) HTTPRequest(listener, method string, status int) {
	if m == nil {
		return
	}
	switch method {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS":
	default:
		method = "OTHER" // the label must not take any value a client sends
	}
	m.listenerHTTP.WithLabelValues(listener, method, strconv.Itoa(status)).Inc()
}

// DeliveredCounter returns what counts messages written to WebSocket
// clients of listener: a write of n messages calls it with n. The label is
// looked up once here, not for every write (a fan-out makes one write per
// subscriber per event). It is a no-op on nil Metrics.
func (m *Metrics) DeliveredCounter(listener string) func(n int) {
	if m == nil {
		return func(int) {}
	}
	c := m.delivered.WithLabelValues(listener)
	return func(n int) {
		if n > 0 {
			c.Add(float64(n))
		}
	}
}

// SlowConsumer counts a WebSocket client of listener closed because its
// write queue was full.
func (m *Metrics) SlowConsumer(listener string) {
	if m != nil {
		m.slowConsumers.WithLabelValues(listener).Inc()
	}
}

// Reload counts a configuration reload, successful or not.
func (m *Metrics) Reload(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloads.WithLabelValues("failure").Inc()
	}
}

// CertExpiry records when the certificate served for domain expires. A
// zero notAfter forgets the domain (its certificate is no longer served).
func (m *Metrics) CertExpiry(domain string, notAfter time.Time) {
	if m == nil {
		return
	}
	if notAfter.IsZero() {
		m.certExpiry.DeleteLabelValues(domain)
		return
	}
	m.certExpiry.WithLabelValues(domain).Set(float64(notAfter.Unix()))
}

// NATSSlowConsumer counts a report from NATS that it dropped messages to
// the gateway (nats.ErrSlowConsumer).
func (m *Metrics) NATSSlowConsumer() {
	if m == nil {
		return
	}
	m.natsSlowConsumer.Inc()
}

// NATSConnected records the NATS connection coming up (true) or being
// lost (false); a loss is counted.
func (m *Metrics) NATSConnected(up bool) {
	if m == nil {
		return
	}
	if up {
		m.natsConnected.Set(1)
	} else {
		m.natsConnected.Set(0)
		m.natsDisconnects.Inc()
	}
}
