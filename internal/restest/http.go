package restest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resedge/resedge/resproto"
)

// HTTPRequest is an HTTP request sent to the session's listener; its
// response arrives while the test plays the services.
type HTTPRequest struct {
	s      *Session
	Method string
	Path   string
	ch     chan *HTTPResponse
}

// HTTPResponse is the listener's response to an HTTPRequest.
type HTTPResponse struct {
	t          testing.TB
	req        *HTTPRequest
	StatusCode int
	Header     http.Header
	Body       []byte
}

// HTTPRequest sends method path (the raw request target, sent as is) with
// body (nil: none) and header, without waiting for the response.
func (s *Session) HTTPRequest(method, path string, body []byte, header http.Header) *HTTPRequest {
	s.t.Helper()
	hr := &HTTPRequest{s: s, Method: method, Path: path, ch: make(chan *HTTPResponse, 1)}
	raw := RawHTTPRequest(s.Addr, method, path, body, header)
	go func() {
		resp, err := SendRawHTTP(s.Addr, method, raw)
		if err != nil {
			hr.ch <- &HTTPResponse{StatusCode: -1, Body: []byte(err.Error())}
			return
		}
		hr.ch <- resp
	}()
	return hr
}

// RawHTTPRequest renders an HTTP/1.1 request with the request target path
// exactly as given, a Host header, the given headers and, if body is not
// nil, a Content-Length and the body. The connection is closed after the
// response.
func RawHTTPRequest(host, method, path string, body []byte, header http.Header) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// SendRawHTTP writes a raw request to addr and reads the response.
func SendRawHTTP(addr, method string, raw []byte) (*HTTPResponse, error) {
	conn, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * Timeout))
	if _, err := conn.Write(raw); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &HTTPResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// GetResponse waits for the response.
func (r *HTTPRequest) GetResponse() *HTTPResponse {
	r.s.t.Helper()
	select {
	case resp := <-r.ch:
		if resp.StatusCode < 0 {
			r.s.t.Fatalf("%s %s: %s", r.Method, r.Path, resp.Body)
		}
		resp.t, resp.req = r.s.t, r
		return resp
	case <-time.After(3 * Timeout):
		r.s.t.Fatalf("%s %s: no response", r.Method, r.Path)
		return nil
	}
}

// AssertNoResponse asserts that no response arrives for a while.
func (r *HTTPRequest) AssertNoResponse() {
	r.s.t.Helper()
	select {
	case resp := <-r.ch:
		r.s.t.Fatalf("%s %s: expected no response yet, got %d %s", r.Method, r.Path, resp.StatusCode, resp.Body)
	case <-time.After(Quiet):
	}
}

func (resp *HTTPResponse) String() string {
	return fmt.Sprintf("%s %s: %d %v %s", resp.req.Method, resp.req.Path, resp.StatusCode, resp.Header, resp.Body)
}

// AssertStatus checks the status code.
func (resp *HTTPResponse) AssertStatus(code int) *HTTPResponse {
	resp.t.Helper()
	if resp.StatusCode != code {
		resp.t.Fatalf("expected status %d, got %s", code, resp)
	}
	return resp
}

// AssertBody checks the body: nil means empty, a []byte or string the exact
// bytes, anything else the JSON value.
func (resp *HTTPResponse) AssertBody(expected any) *HTTPResponse {
	resp.t.Helper()
	switch v := expected.(type) {
	case nil:
		if len(resp.Body) != 0 {
			resp.t.Fatalf("expected no body, got %s", resp)
		}
	case []byte:
		if !bytes.Equal(resp.Body, v) {
			resp.t.Fatalf("expected body %s, got %s", v, resp)
		}
	case string:
		if string(resp.Body) != v {
			resp.t.Fatalf("expected body %s, got %s", v, resp)
		}
	default:
		if !JSONEqual(json.RawMessage(resp.Body), expected) {
			resp.t.Fatalf("expected body %s, got %s", Marshal(expected), resp)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			resp.t.Fatalf("expected a JSON content type, got %s", resp)
		}
	}
	return resp
}

// AssertResponse checks status and body (see AssertBody).
func (resp *HTTPResponse) AssertResponse(code int, body any) *HTTPResponse {
	resp.t.Helper()
	return resp.AssertStatus(code).AssertBody(body)
}

// AssertError checks the status and that the body is err exactly.
func (resp *HTTPResponse) AssertError(code int, err *resproto.Error) *HTTPResponse {
	resp.t.Helper()
	return resp.AssertStatus(code).AssertBody(err)
}

// AssertErrorCode checks the status and the error code of the body.
func (resp *HTTPResponse) AssertErrorCode(code int, errCode string) *HTTPResponse {
	resp.t.Helper()
	resp.AssertStatus(code)
	var e resproto.Error
	if json.Unmarshal(resp.Body, &e) != nil || e.Code != errCode {
		resp.t.Fatalf("expected error %s, got %s", errCode, resp)
	}
	return resp
}

// AssertHeader checks all values of a header; no values means the header
// must be missing.
func (resp *HTTPResponse) AssertHeader(name string, values ...string) *HTTPResponse {
	resp.t.Helper()
	got := resp.Header.Values(name)
	if len(values) == 0 {
		if len(got) != 0 {
			resp.t.Fatalf("expected no %s header, got %s", name, resp)
		}
		return resp
	}
	if !reflect.DeepEqual(got, values) {
		resp.t.Fatalf("expected header %s: %q, got %s", name, values, resp)
	}
	return resp
}

// AssertHeaders checks several single-valued headers; an empty value means
// the header must be missing.
func (resp *HTTPResponse) AssertHeaders(h map[string]string) *HTTPResponse {
	resp.t.Helper()
	for k, v := range h {
		if v == "" {
			resp.AssertHeader(k)
		} else {
			resp.AssertHeader(k, v)
		}
	}
	return resp
}

// Curl runs curl -s -i with args (the last one being the URL path, to
// which the listener's address is prefixed) without waiting for it; the
// response is parsed from what curl prints. A test that needs curl fails,
// with a clear message, when it is not installed: nothing is installed
// for it.
func (s *Session) Curl(args ...string) *HTTPRequest {
	s.t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		s.t.Fatalf("curl is not installed (%v): this test needs it; install curl (for example apt-get install curl) and run it again", err)
	}
	path := args[len(args)-1]
	args = append(append([]string{"-s", "-i", "--max-time", "15"}, args[:len(args)-1]...), "http://"+s.Addr+path)
	method := "GET"
	for i, a := range args {
		if (a == "-X" || a == "--request") && i+1 < len(args) {
			method = args[i+1]
		}
		if a == "-I" || a == "--head" {
			method = "HEAD"
		}
	}
	hr := &HTTPRequest{s: s, Method: method, Path: path, ch: make(chan *HTTPResponse, 1)}
	go func() {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			hr.ch <- &HTTPResponse{StatusCode: -1, Body: []byte(fmt.Sprintf("curl %s: %v\n%s", strings.Join(args, " "), err, out))}
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: method})
		if err != nil {
			hr.ch <- &HTTPResponse{StatusCode: -1, Body: []byte(fmt.Sprintf("curl %s: unreadable response: %v\n%s", strings.Join(args, " "), err, out))}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		hr.ch <- &HTTPResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	}()
	return hr
}

// GetResponseServing waits for the response while answering the gateway's
// requests from replies: subject to raw reply; a request on a subject not
// in replies gets no reply (it times out). It returns the response and
// the subjects of the requests received, in order.
func (r *HTTPRequest) GetResponseServing(replies map[string]string) (*HTTPResponse, []string) {
	r.s.t.Helper()
	resp, subjects, ok := serveUntil(r.s, replies, r.ch)
	if !ok {
		r.s.t.Fatalf("%s %s: no response (requests so far: %v)", r.Method, r.Path, subjects)
	}
	if resp.StatusCode < 0 {
		r.s.t.Fatalf("%s %s: %s", r.Method, r.Path, resp.Body)
	}
	resp.t, resp.req = r.s.t, r
	return resp, subjects
}

// serveUntil answers the gateway's requests from replies (subject to raw
// reply; a subject not in replies gets no reply) until a value arrives on
// ch, and returns it with the subjects of the requests received, in order;
// false if none came within 3×Timeout.
func serveUntil[T any](s *Session, replies map[string]string, ch <-chan T) (T, []string, bool) {
	var subjects []string
	deadline := time.After(3 * Timeout)
	for {
		select {
		case req := <-s.reqs:
			subjects = append(subjects, req.Subject)
			if reply, ok := replies[req.Subject]; ok {
				req.Respond(reply)
			}
		case v := <-ch:
			return v, subjects, true
		case <-deadline:
			var zero T
			return zero, subjects, false
		}
	}
}
