package resproto

import (
	"encoding/json"
	"net/http"
	"net/textproto"
)

// This file holds the payloads of the RES service protocol: what the engine
// sends to services over NATS and how it reads their replies and events.

// HTTPInfo is what the auth requests of a connection tell a service about
// the HTTP request that opened it.
type HTTPInfo struct {
	Header     http.Header
	Host       string
	RemoteAddr string
	URI        string
}

type serviceRequest struct {
	Params any    `json:"params,omitempty"`
	Token  any    `json:"token,omitempty"`
	Query  string `json:"query,omitempty"`
	CID    string `json:"cid"`
	IsHTTP bool   `json:"isHttp,omitempty"`
}

type authRequest struct {
	serviceRequest
	Header     http.Header `json:"header,omitempty"`
	Host       string      `json:"host,omitempty"`
	RemoteAddr string      `json:"remoteAddr,omitempty"`
	URI        string      `json:"uri,omitempty"`
}

// rawOrNull returns raw as a JSON value, using null for an empty one, so
// that a missing token or params is sent as null as Resgate does.
func rawOrNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func encodeRequest(params any, token json.RawMessage, query, cid string, isHTTP bool) []byte {
	if out, ok := fastEncodeRequest(params, rawOrNull(token), query, cid, isHTTP); ok {
		return out
	}
	out, _ := json.Marshal(serviceRequest{Params: params, Token: rawOrNull(token), Query: query, CID: cid, IsHTTP: isHTTP})
	return out
}

func encodeAuthRequest(params any, token json.RawMessage, query, cid string, isHTTP bool, hi *HTTPInfo) []byte {
	r := authRequest{serviceRequest: serviceRequest{Params: params, Token: rawOrNull(token), Query: query, CID: cid, IsHTTP: isHTTP}}
	if hi != nil {
		r.Header, r.Host, r.RemoteAddr, r.URI = hi.Header, hi.Host, hi.RemoteAddr, hi.URI
	}
	out, _ := json.Marshal(r)
	return out
}

var emptyGetRequest = []byte(`{}`)

func encodeGetRequest(query string) []byte {
	if query == "" {
		return emptyGetRequest
	}
	out, _ := json.Marshal(struct {
		Query string `json:"query"`
	}{query})
	return out
}

// Meta is the meta object of a service response (protocol 1.2.3): an HTTP
// status and headers the gateway applies to HTTP responses.
type Meta struct {
	Status *int        `json:"status"`
	Header http.Header `json:"header"`
}

func (m *Meta) canonicalize() {
	if m == nil || m.Header == nil {
		return
	}
	for k, v := range m.Header {
		if nk := textproto.CanonicalMIMEHeaderKey(k); nk != k {
			m.Header[nk] = append(m.Header[nk], v...)
			delete(m.Header, k)
		}
	}
}

// Access is the result of an access request.
type Access struct {
	Get  bool   `json:"get"`
	Call string `json:"call"`
	// Err is set when the access request failed; it denies everything.
	Err  *Error `json:"-"`
	Meta *Meta  `json:"-"`
}

// CanGet returns nil if the access allows reading, otherwise the error to
// give the client.
func (a *Access) CanGet() *Error {
	if a.Err != nil {
		return a.Err
	}
	if !a.Get {
		return ErrAccessDenied
	}
	return nil
}

// CanCall returns nil if the access allows calling method, otherwise the
// error to give the client. Call is "*" or a comma separated list.
func (a *Access) CanCall(method string) *Error {
	if a.Err != nil {
		return a.Err
	}
	s := a.Call
	if s == "*" {
		return nil
	}
	for s != "" {
		var part string
		part, s = cutComma(s)
		if part == method {
			return nil
		}
	}
	return ErrAccessDenied
}

func cutComma(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func decodeAccessResponse(payload []byte) *Access {
	if a, ok := fastAccessResponse(payload); ok {
		return a
	}
	var r struct {
		Result *Access `json:"result"`
		Error  *Error  `json:"error"`
		Meta   *Meta   `json:"meta"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return &Access{Err: ToError(err)}
	}
	r.Meta.canonicalize()
	if r.Error != nil {
		return &Access{Err: r.Error, Meta: r.Meta}
	}
	if r.Result == nil {
		return &Access{Err: errMissingResult, Meta: r.Meta}
	}
	r.Result.Meta = r.Meta
	return r.Result
}

// callResult is a decoded call or auth response: either a result payload or
// a resource reference.
type callResult struct {
	Result json.RawMessage
	RID    string
	Meta   *Meta
}

func decodeCallResponse(payload []byte) (*callResult, error) {
	if res, ok := fastCallResponse(payload); ok {
		return res, nil
	}
	var r struct {
		Result   json.RawMessage `json:"result"`
		Resource *struct {
			RID string `json:"rid"`
		} `json:"resource"`
		Error *Error `json:"error"`
		Meta  *Meta  `json:"meta"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, ToError(err)
	}
	r.Meta.canonicalize()
	res := &callResult{Meta: r.Meta}
	if r.Error != nil {
		return res, r.Error
	}
	if r.Resource != nil {
		if !IsValidRID(r.Resource.RID) {
			return res, errInvalidResponse
		}
		res.RID = r.Resource.RID
		return res, nil
	}
	if r.Result == nil {
		return res, errMissingResult
	}
	res.Result = r.Result
	return res, nil
}

// legacyNewRID detects a v1.1 style new response, {"rid":"..."} as result.
// It returns "" when the result is not of that shape.
func legacyNewRID(result json.RawMessage) (string, error) {
	var r map[string]any
	if json.Unmarshal(result, &r) != nil || len(r) != 1 {
		return "", nil
	}
	rid, ok := r["rid"].(string)
	if !ok {
		return "", nil
	}
	if !IsValidRID(rid) {
		return "", errInvalidResponse
	}
	return rid, nil
}

type getResult struct {
	Model      Fields  `json:"model"`
	Collection []Value `json:"collection"`
	Query      string  `json:"query"`
}

func decodeGetResponse(payload []byte) (*getResult, error) {
	if res, ok := fastGetResponse(payload); ok {
		if err := checkResourceValues(res.Model, res.Collection, true); err != nil {
			return nil, err
		}
		return res, nil
	}
	var r struct {
		Result *getResult `json:"result"`
		Error  *Error     `json:"error"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		// Resgate wraps even a value's own internal error once more, so the
		// message reads "Internal error: Internal error: invalid value…".
		return nil, internalError(err.Error())
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if r.Result == nil {
		return nil, errMissingResult
	}
	if err := checkResourceValues(r.Result.Model, r.Result.Collection, true); err != nil {
		return nil, err
	}
	return r.Result, nil
}

// checkResourceValues asserts a model or collection (exactly one, when
// required) holding only proper values.
func checkResourceValues(model Fields, collection []Value, required bool) error {
	switch {
	case model != nil:
		if collection != nil {
			return errInvalidResponse
		}
		for _, f := range model {
			if !f.Value.IsProper() {
				return errInvalidResponse
			}
		}
	case collection != nil:
		for _, v := range collection {
			if !v.IsProper() {
				return errInvalidResponse
			}
		}
	case required:
		return errInvalidResponse
	}
	return nil
}

type queryEventResult struct {
	Events []struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	} `json:"events"`
	Model      Fields  `json:"model"`
	Collection []Value `json:"collection"`
}

func decodeQueryEventResponse(payload []byte) (*queryEventResult, error) {
	var r struct {
		Result *queryEventResult `json:"result"`
		Error  *Error            `json:"error"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, ToError(err)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if r.Result == nil {
		return nil, errMissingResult
	}
	res := r.Result
	if res.Events != nil {
		if res.Model != nil || res.Collection != nil {
			return nil, errInvalidResponse
		}
		return res, nil
	}
	if err := checkResourceValues(res.Model, res.Collection, false); err != nil {
		return nil, err
	}
	return res, nil
}

// isLegacyChangeEvent detects a v1.0 change event: one whose payload is not
// an object holding only a "values" object.
func isLegacyChangeEvent(data json.RawMessage) bool {
	var r map[string]json.RawMessage
	if json.Unmarshal(data, &r) != nil {
		return false
	}
	if len(r) != 1 {
		return true
	}
	v, ok := r["values"]
	if !ok {
		return true
	}
	for _, c := range v {
		if c != '\t' && c != '\n' && c != '\r' && c != ' ' {
			return c != '{'
		}
	}
	return true
}
