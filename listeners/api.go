package listeners

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/resedge/resedge/resproto"
)

// This file is the HTTP API, as Resgate v1.8.0 serves it: GET and HEAD
// <apiPath><rid path> get a resource, POST <apiPath><rid path>/<method>
// calls a method, and PUT, DELETE and PATCH call the methods mapped to
// them. Each request runs on a temporary engine connection, disposed once
// the response is known.

var (
	errForbiddenOrigin = &resproto.Error{Code: resproto.CodeForbidden, Message: "Forbidden origin"}
	notFoundBody       = []byte(`{"code":"system.notFound","message":"Not found"}`)
)

func (h *HTTP) writeNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusNotFound)
	w.Write(notFoundBody)
}

func (h *HTTP) serveAPI(w http.ResponseWriter, r *http.Request) {
	err := h.setCORSHeaders(w, r)
	if r.Method == http.MethodOptions {
		// A preflight is answered whatever the origin: the browser checks
		// Access-Control-Allow-Origin itself.
		w.Header().Set("Access-Control-Allow-Methods", h.allowMethods)
		if rh := r.Header["Access-Control-Request-Headers"]; len(rh) > 0 {
			w.Header().Set("Access-Control-Allow-Headers", strings.Join(rh, ", "))
		}
		return
	}
	if err != nil {
		h.errorResponse(err).write(w, h.enc)
		return
	}

	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	prefix := h.cfg.APIPath
	if len(path) > len(prefix) && path[len(path)-1] == '/' {
		h.writeNotFound(w)
		return
	}

	var rid, method string
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.cfg.Metrics.APIRequest(r.Method)
		rid = pathToRID(path, r.URL.RawQuery, prefix)
		if !resproto.IsValidRID(rid) {
			h.writeNotFound(w)
			return
		}
		h.apiRequest(w, r, func(c *resproto.Conn, a *apiCall) {
			c.HTTPGet(rid, func(res resproto.Resource, meta *resproto.Meta, err error) {
				var out []byte
				if err == nil && !meta.IsDirectResponse() {
					out = h.enc.encodeGET(res)
				}
				a.respond(out, "", err, meta)
			})
		})
		return
	case http.MethodPost:
		h.cfg.Metrics.APIRequest(r.Method)
		rid, method = pathToRIDMethod(path, r.URL.RawQuery, prefix)
	default:
		switch r.Method {
		case http.MethodPut:
			method = h.cfg.PutMethod
		case http.MethodDelete:
			method = h.cfg.DeleteMethod
		case http.MethodPatch:
			method = h.cfg.PatchMethod
		}
		if method == "" {
			// Resgate sends no Allow header; RFC 9110 requires one.
			w.Header().Set("Allow", h.allowMethods)
			h.errorResponse(resproto.ErrMethodNotAllowed).write(w, h.enc)
			return
		}
		h.cfg.Metrics.APIRequest(r.Method)
		rid = pathToRID(path, r.URL.RawQuery, prefix)
	}
	h.serveCall(w, r, rid, method)
}

// setCORSHeaders sets the Access-Control headers every API response gets.
// It returns errForbiddenOrigin if the request's origin is not allowed.
func (h *HTTP) setCORSHeaders(w http.ResponseWriter, r *http.Request) error {
	hd := w.Header()
	if h.cfg.HeaderAuth != nil {
		// Set even with "Access-Control-Allow-Origin: *", as Resgate does.
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
	if h.cfg.AllowOrigin == nil {
		hd.Set("Access-Control-Allow-Origin", "*")
		return nil
	}
	origin := r.Header["Origin"]
	// No Origin (or "null"): not a CORS request from a browser; allowed.
	if len(origin) == 0 || origin[0] == "null" {
		return nil
	}
	hd.Set("Vary", "Origin")
	if matchOrigin(h.cfg.AllowOrigin, origin[0]) {
		hd.Set("Access-Control-Allow-Origin", origin[0])
		return nil
	}
	hd.Set("Access-Control-Allow-Origin", h.cfg.AllowOrigin[0])
	return errForbiddenOrigin
}

// serveCall handles POST, PUT, DELETE and PATCH: a call of method on rid
// with the JSON request body, if any, as parameters.
func (h *HTTP) serveCall(w http.ResponseWriter, r *http.Request, rid, method string) {
	if !resproto.IsValidRID(rid) || !resproto.IsValidRIDPart(method) {
		h.writeNotFound(w)
		return
	}
	b, status, err := h.readBody(w, r)
	if err != nil {
		msg := "Error reading request body: " + err.Error()
		if status == http.StatusRequestTimeout {
			msg = "Request body not received in time"
		}
		resp := h.errorResponse(&resproto.Error{Code: resproto.CodeBadRequest, Message: msg})
		resp.status = status
		resp.write(w, h.enc)
		return
	}
	var params json.RawMessage
	if strings.TrimSpace(string(b)) != "" {
		if err := json.Unmarshal(b, &params); err != nil {
			h.errorResponse(&resproto.Error{Code: resproto.CodeBadRequest, Message: "Error decoding request body: " + err.Error()}).write(w, h.enc)
			return
		}
	}
	h.apiRequest(w, r, func(c *resproto.Conn, a *apiCall) {
		c.HTTPCall(rid, method, params, func(result json.RawMessage, resRID string, meta *resproto.Meta, err error) {
			var out []byte
			if err == nil && resRID == "" && !meta.IsDirectResponse() {
				out = h.enc.encodePOST(result)
			}
			a.respond(out, ridToPath(resRID, h.cfg.APIPath), err, meta)
		})
	})
}

// apiCall is one HTTP API request in progress on its temporary connection.
// Its callbacks run on the connection's queue; the response they build is
// handed to the request's goroutine, which writes it.
//
// While the request's goroutine waits, it also runs the handling of the
// connection's NATS replies (resume, the connection's resproto.WithResume
// function): it is idle until then anyway, and a queue goroutine started
// for each reply would be two more goroutine hand-offs per request.
type apiCall struct {
	h      *HTTP
	method string // the HTTP method
	// authMeta is the meta object of the header auth response.
	authMeta *resproto.Meta
	done     chan *response

	// wake tells the waiting goroutine there is work.
	wake chan struct{}
	mu   sync.Mutex
	work []func() // reply handling for the waiting goroutine to run
	left bool     // the goroutine has stopped waiting
}

// resume hands f to the request's goroutine while it waits, else runs it
// on a goroutine of its own. It never blocks.
func (a *apiCall) resume(f func()) {
	a.mu.Lock()
	if a.left {
		a.mu.Unlock()
		go f()
		return
	}
	a.work = append(a.work, f)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// takeWork returns the work resumed so far; with leaving set, resume runs
// what comes later on goroutines of its own.
func (a *apiCall) takeWork(leaving bool) []func() {
	a.mu.Lock()
	w := a.work
	a.work = nil
	a.left = a.left || leaving
	a.mu.Unlock()
	return w
}

// apiRequest runs an API request on a temporary connection: header auth
// first when configured, then run, which must end with a.respond. It
// waits for the response, the client going away, or RequestWait.
func (h *HTTP) apiRequest(w http.ResponseWriter, r *http.Request, run func(c *resproto.Conn, a *apiCall)) {
	hi := &resproto.HTTPInfo{Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr, URI: r.RequestURI}
	a := &apiCall{h: h, method: r.Method, done: make(chan *response, 1), wake: make(chan struct{}, 1)}
	c, err := h.e.NewConn(discardTransport{}, hi, false, resproto.WithConnLogger(h.log), resproto.WithResume(a.resume))
	if err != nil {
		h.errorResponse(resproto.ErrServiceUnavailable).write(w, h.enc)
		return
	}
	defer c.Dispose()
	h.limitResources(c)
	if auth := h.cfg.HeaderAuth; auth != nil {
		c.HTTPAuth(auth.RID, auth.Method, func(resRID string, meta *resproto.Meta, err error) {
			// Auth errors are ignored; only a meta status ends the request.
			if meta.IsDirectResponse() {
				a.done <- h.statusResponse(*meta.Status, meta.Header, ridToPath(resRID, h.cfg.APIPath), err)
				return
			}
			a.authMeta = meta
			run(c, a)
		})
	} else {
		run(c, a)
	}
	timer := time.NewTimer(h.cfg.RequestWait)
	defer timer.Stop()
	// Deferred after c.Dispose, so run before it: reply handling resumed
	// but not run yet runs here, what comes later on goroutines of its own.
	defer func() {
		for _, f := range a.takeWork(true) {
			f()
		}
	}()
	for {
		select {
		case <-a.wake:
			for _, f := range a.takeWork(false) {
				f()
			}
			continue
		case resp := <-a.done:
			resp.write(w, h.enc)
			// Checked first: the arguments alone cost allocations on every
			// request when debug logging is off.
			if h.log.Enabled(r.Context(), slog.LevelDebug) {
				h.log.Debug("HTTP request", "cid", c.CID(), "method", r.Method, "uri", r.URL.Path, "status", resp.status)
			}
		case <-r.Context().Done():
			// The client is gone; nobody to answer.
			h.log.Debug("HTTP request abandoned by the client", "cid", c.CID(), "method", r.Method, "uri", r.URL.Path)
		case <-timer.C:
			h.log.Warn("HTTP request took too long, answering with a timeout", "cid", c.CID(), "method", r.Method, "uri", resproto.RedactURI(r.RequestURI), "wait", h.cfg.RequestWait)
			h.errorResponse(resproto.ErrTimeout).write(w, h.enc)
		}
		return
	}
}

// respond ends the request. In order of priority: a meta status of
// 300-599 (merged from header auth, access and call responses), an error,
// href (a resource response: 200 with Location), out (200 with a body), or
// 204.
func (a *apiCall) respond(out []byte, href string, err error, meta *resproto.Meta) {
	h := a.h
	meta = a.authMeta.Merge(meta)
	if !meta.IsValidStatus() {
		h.log.Error("Invalid meta status", "status", *meta.Status)
		meta.Status = nil
	}
	if meta.IsDirectResponse() {
		a.done <- h.statusResponse(*meta.Status, meta.Header, href, err)
		return
	}
	var resp *response
	switch {
	case err != nil:
		rerr := resproto.ToError(err)
		if rerr.Code == resproto.CodeMethodNotFound && (a.method == http.MethodPut || a.method == http.MethodDelete || a.method == http.MethodPatch) {
			rerr = resproto.ErrMethodNotAllowed
		}
		resp = h.errorResponse(rerr)
	case href != "":
		resp = &response{status: http.StatusOK, location: href}
	case len(out) > 0:
		resp = &response{status: http.StatusOK, body: out}
	default:
		resp = &response{status: http.StatusNoContent}
	}
	if meta != nil {
		resp.meta = meta.Header
	}
	a.done <- resp
}

// response is an HTTP API response, built off the request's goroutine.
type response struct {
	status int
	// meta holds a service's meta headers, merged into the response
	// headers before location and the content type are set.
	meta     http.Header
	location string
	body     []byte // written with the encoder's Content-Type if not nil
}

func (resp *response) write(w http.ResponseWriter, enc apiEncoder) {
	hd := w.Header()
	resproto.MergeHeader(hd, resp.meta)
	if resp.location != "" {
		hd.Set("Location", resp.location)
	}
	if resp.body != nil {
		hd.Set("Content-Type", enc.contentType())
	}
	w.WriteHeader(resp.status)
	if resp.body != nil {
		w.Write(resp.body)
	}
}

// errorResponse answers with a RES error, its status from errorStatus.
func (h *HTTP) errorResponse(err error) *response {
	rerr := resproto.ToError(err)
	return &response{status: errorStatus(rerr.Code), body: h.enc.encodeError(rerr)}
}

// statusResponse answers with a service's meta status: a redirect (3xx)
// to the meta Location header or else href, with no body; or an error
// status (4xx, 5xx) with err, or else the error the status stands for, as
// body.
func (h *HTTP) statusResponse(status int, header http.Header, href string, err error) *response {
	resp := &response{status: status, meta: header}
	if status < 400 {
		if _, ok := header["Location"]; !ok {
			resp.location = href
		}
		return resp
	}
	var rerr *resproto.Error
	if err != nil {
		rerr = resproto.ToError(err)
	} else {
		rerr = statusError(status)
	}
	resp.body = h.enc.encodeError(rerr)
	return resp
}

// errorStatus is the HTTP status for a RES error code.
func errorStatus(code string) int {
	switch code {
	case resproto.CodeNotFound, resproto.CodeMethodNotFound, resproto.CodeTimeout:
		return http.StatusNotFound
	case resproto.CodeAccessDenied:
		return http.StatusUnauthorized
	case resproto.CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case resproto.CodeInternalError:
		return http.StatusInternalServerError
	case resproto.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case resproto.CodeForbidden:
		return http.StatusForbidden
	case resproto.CodeSubjectTooLong:
		return http.StatusRequestURITooLong
	}
	return http.StatusBadRequest
}

// statusError is the RES error a meta error status stands for when the
// service gave no error.
func statusError(status int) *resproto.Error {
	switch status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusProxyAuthRequired:
		return resproto.ErrAccessDenied
	case http.StatusForbidden, http.StatusUnavailableForLegalReasons:
		return resproto.ErrForbidden
	case http.StatusNotFound, http.StatusGone:
		return resproto.ErrNotFound
	case http.StatusMethodNotAllowed:
		return resproto.ErrMethodNotAllowed
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return resproto.ErrTimeout
	case http.StatusNotImplemented:
		return resproto.ErrNotImplemented
	case http.StatusServiceUnavailable:
		return resproto.ErrServiceUnavailable
	}
	if status >= 400 && status < 500 {
		return resproto.ErrBadRequest
	}
	return resproto.ErrInternalError
}

// discardTransport is the transport of a temporary connection: nothing is
// sent to an HTTP client but the response.
type discardTransport struct{}

func (discardTransport) Send(*resproto.Message) {}
func (discardTransport) Disconnect(string)      {}
