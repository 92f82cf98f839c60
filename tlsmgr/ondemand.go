package tlsmgr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// policy decides which names get on-demand certificates: the issuer's
// configured domains, the allow-list, then the ask URL. A name refused
// here never reaches the CA.
type policy struct {
	allow   []string
	ask     string
	client  *http.Client
	managed func(name string) bool
	log     *slog.Logger
}

// allowed reports whether name is configured or on the allow-list.
func (p *policy) allowed(name string) bool {
	if p.managed(name) {
		return true
	}
	for _, a := range p.allow {
		if matchName(strings.ToLower(a), name) {
			return true
		}
	}
	return false
}

// decide is certmagic's on-demand DecisionFunc: nil allows a certificate
// for name. It runs during the handshake, before any ACME order.
func (p *policy) decide(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	if p.allowed(name) {
		return nil
	}
	if p.ask != "" {
		err := p.askURL(ctx, name)
		if err == nil {
			return nil
		}
		p.log.Debug("On-demand certificate refused", "domain", name, "error", err)
		return err
	}
	p.log.Debug("On-demand certificate refused", "domain", name, "reason", "not in onDemand.allow")
	return fmt.Errorf("on-demand certificate for %q not allowed", name)
}

// askURL asks the ask URL about name: GET ask?domain=name, allowed on a
// 2xx status.
func (p *policy) askURL(ctx context.Context, name string) error {
	shown := redactQuery(p.ask) // the query may hold a token
	u, err := url.Parse(p.ask)
	if err != nil {
		return fmt.Errorf("onDemand.ask %s: invalid URL", shown)
	}
	q := u.Query()
	q.Set("domain", name)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("on-demand certificate for %q: asking %s: %w", name, shown, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("on-demand certificate for %q not allowed: %s answered %d", name, shown, resp.StatusCode)
	}
	return nil
}

// matchName reports whether name matches pattern: equal, or pattern is
// "*.rest" and name is one label followed by ".rest".
func matchName(pattern, name string) bool {
	if pattern == name {
		return true
	}
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return false
	}
	label, tail, ok := strings.Cut(name, ".")
	return ok && label != "" && tail == rest
}

// redactQuery returns u without its query, which may hold a token.
func redactQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
