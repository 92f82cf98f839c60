package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/resedge/resedge/listeners"
	"github.com/resedge/resedge/resproto"
	"github.com/resedge/resedge/schema"
	"github.com/resedge/resedge/tlsmgr"
)

// service serves one listener: a listeners.HTTP or a listeners.Basic.
type service interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// spec is everything a listener is built from. Two listeners with equal
// specs are the same listener: a reload keeps it running, with its
// connections. Comparing what a listener is built from, rather than its
// configuration keys, makes a change of a named TLS setting, or of the port
// a redirect points to, a change of every listener it affects.
type spec struct {
	// l is the listener's configuration with Name and the TLS reference
	// cleared (the resolved settings are in tls).
	l schema.Listener
	// tls is the listener's TLS settings, nil for none.
	tls *schema.TLS
	// httpsPort is a redirect listener's target port.
	httpsPort int
	// limits apply to every http listener.
	limits schema.Limits
}

// specsOf returns the spec of every listener of cfg.
func specsOf(cfg *schema.Config) map[string]*spec {
	specs := make(map[string]*spec, len(cfg.Listeners))
	for _, name := range cfg.ListenerNames() {
		l := cfg.Listeners[name]
		sp := &spec{l: *l, tls: cfg.ListenerTLS(l)}
		sp.l.Name, sp.l.TLS = "", nil
		if l.IsHTTP() {
			sp.limits = cfg.Engine.Limits
		}
		if l.Kind == schema.KindRedirect {
			sp.httpsPort = 443
			if t, ok := cfg.Listeners[l.RedirectTo]; ok {
				if _, port, err := net.SplitHostPort(t.Address); err == nil {
					sp.httpsPort, _ = strconv.Atoi(port)
				}
			}
		}
		specs[name] = sp
	}
	return specs
}

// Verify reports what would keep cfg, a configuration that schema.Load
// accepted, from running: certificate and key files that cannot be
// loaded, ACME CA roots that cannot be read or no ACME storage directory.
// It neither binds nor connects, nor creates anything; Start and Reload
// check the same and more. Every problem is reported, one per line.
func Verify(cfg *schema.Config) error {
	var errs []error
	for _, name := range cfg.ListenerNames() {
		l := cfg.Listeners[name]
		t := cfg.ListenerTLS(l)
		if t == nil || l.Kind == schema.KindRedirect {
			continue
		}
		if err := tlsmgr.Check(t, nil); err != nil {
			errs = append(errs, fmt.Errorf("listener %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// newService builds the server of listener ln, reading the PROXY protocol
// header first where the listener asks for it.
func (s *Server) newService(e *resproto.Engine, ln *listener) (service, error) {
	svc, err := s.buildService(e, ln)
	if err != nil || ln.spec.l.ProxyProtocol == nil {
		return svc, err
	}
	policy, err := proxyproto.PolicyFromRanges(ln.spec.l.ProxyProtocol.Allow, proxyproto.USE, proxyproto.IGNORE)
	if err != nil {
		return nil, fmt.Errorf("proxyProtocol: %w", err)
	}
	timeout := ln.spec.limits.ReadHeaderTimeout.D()
	if timeout <= 0 {
		timeout = schema.DefaultReadHeaderTimeout
	}
	return proxyService{svc, policy, timeout}, nil
}

// proxyService reads the PROXY protocol header of each connection before
// the service (and its TLS, which comes after the header) sees it: the
// connection's RemoteAddr is then the client's, as the trusted balancer
// gave it.
type proxyService struct {
	service
	policy proxyproto.ConnPolicyFunc
	// timeout bounds the wait for the header.
	timeout time.Duration
}

func (s proxyService) Serve(l net.Listener) error {
	return s.service.Serve(&proxyproto.Listener{Listener: l, ConnPolicy: s.policy, ReadHeaderTimeout: s.timeout})
}

// buildService builds the server of listener ln.
func (s *Server) buildService(e *resproto.Engine, ln *listener) (service, error) {
	name, sp, cert, log := ln.name, ln.spec, ln.cert, s.log
	l := &sp.l
	switch l.Kind {
	case schema.KindMetrics:
		cfg := listeners.MetricsConfig{
			Name:           name,
			MaxConnections: l.MaxConnections,
			Logger:         log,
			Metrics:        s.metrics.Handler(),
			Ready:          s.Ready,
		}
		if cert != nil {
			cfg.TLS = cert.TLSConfig()
		}
		return listeners.NewMetrics(cfg), nil
	case schema.KindRedirect:
		return listeners.NewRedirect(listeners.RedirectConfig{Name: name, HTTPSPort: sp.httpsPort, MaxConnections: l.MaxConnections, Logger: log, Challenges: s.tls}), nil
	}
	cfg, err := httpConfig(name, l, sp.limits, log)
	if err != nil {
		return nil, err
	}
	cfg.Metrics = s.metrics
	if cert == nil {
		cfg.Challenges = s.tls // ACME HTTP-01 on plain HTTP listeners
	}
	h, err := listeners.NewHTTP(e, cfg)
	if err != nil {
		return nil, err
	}
	if cert == nil {
		return h, nil
	}
	return tlsService{h, cert.TLSConfig()}, nil
}

// tlsService serves a service over TLS.
type tlsService struct {
	service
	cfg *tls.Config
}

func (s tlsService) Serve(l net.Listener) error { return s.service.Serve(tls.NewListener(l, s.cfg)) }

// httpConfig is the configuration of an http listener's server.
func httpConfig(name string, l *schema.Listener, limits schema.Limits, log *slog.Logger) (listeners.HTTPConfig, error) {
	cfg := listeners.HTTPConfig{
		Name:           name,
		WSPaths:        l.WSPaths,
		NoWebSocket:    len(l.WSPaths) == 0,
		APIPath:        l.APIPath,
		NoAPI:          l.APIPath == "",
		APIEncoding:    l.APIEncoding,
		WSCompression:  l.WSCompression,
		PutMethod:      l.PutMethod,
		DeleteMethod:   l.DeleteMethod,
		PatchMethod:    l.PatchMethod,
		Resources:      l.Resources,
		MaxConnections: l.MaxConnections,
		MaxMessageSize: int64(limits.MaxMessageSize),
		WriteTimeout:   limits.WriteTimeout.D(),
		WriteQueue:     limits.WriteQueue,
		Logger:         log,

		MaxBodySize:       int64(limits.MaxBodySize),
		ReadHeaderTimeout: limits.ReadHeaderTimeout.D(),
		ReadTimeout:       limits.ReadTimeout.D(),
		IdleTimeout:       limits.IdleTimeout.D(),
		MaxHeaderBytes:    limits.MaxHeaderBytes,
		PingInterval:      limits.PingInterval.D(),
		PongTimeout:       limits.PongTimeout.D(),
	}
	// Every resource is the same as no pattern, without the check.
	if len(l.Resources) == 1 && l.Resources[0] == ">" {
		cfg.Resources = nil
	}
	if len(l.AllowOrigin) > 0 && !(len(l.AllowOrigin) == 1 && l.AllowOrigin[0] == "*") {
		origins, err := listeners.ParseAllowOrigin(strings.Join(l.AllowOrigin, ";"))
		if err != nil {
			return cfg, err
		}
		cfg.AllowOrigin = origins
	}
	for _, a := range []struct {
		set  string
		dest **listeners.AuthMethod
	}{{l.HeaderAuth, &cfg.HeaderAuth}, {l.WSHeaderAuth, &cfg.WSHeaderAuth}} {
		if a.set == "" {
			continue
		}
		i := strings.LastIndexByte(a.set, '.')
		if i < 0 {
			return cfg, fmt.Errorf("invalid auth method %q", a.set)
		}
		*a.dest = &listeners.AuthMethod{RID: a.set[:i], Method: a.set[i+1:]}
	}
	return cfg, nil
}
