package listeners

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/resedge/resedge/resproto"
)

// This file holds the HTTP API encodings and the mapping between URL paths
// and resource IDs, both as Resgate v1.8.0 has them.

// apiEncoder encodes the bodies of HTTP API responses.
type apiEncoder interface {
	// contentType is the Content-Type of every body the encoder writes.
	contentType() string
	// encodeGET encodes a loaded resource with the resources it references.
	encodeGET(r resproto.Resource) []byte
	// encodePOST encodes a call result; nil for a null result (204).
	encodePOST(result json.RawMessage) []byte
	// encodeError encodes a RES error.
	encodeError(err *resproto.Error) []byte
}

// apiEncodings are the encodings by lower-case name.
var apiEncodings = map[string]func(apiPath string) apiEncoder{
	"json":     func(p string) apiEncoder { return jsonEncoder{apiPath: p} },
	"jsonflat": func(p string) apiEncoder { return jsonEncoder{apiPath: p, flat: true} },
}

func newAPIEncoder(name, apiPath string) (apiEncoder, error) {
	f := apiEncodings[strings.ToLower(name)]
	if f == nil {
		names := make([]string, 0, len(apiEncodings))
		for n := range apiEncodings {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("invalid apiEncoding setting (%s) - available encodings: %s", name, strings.Join(names, ", "))
	}
	return f(apiPath), nil
}

const jsonContentType = "application/json; charset=utf-8"

// jsonEncoder is the "json" encoding, or "jsonflat" when flat is set.
//
// In "json", a reference is an object with the href of the referenced
// resource and the resource under "model" or "collection", or the error
// under "error". In "jsonflat", the reference is replaced by the resource
// itself, or by its error. In both, a reference back to a resource being
// encoded (a cycle) and a soft reference become {"href":…}, and data values
// are unwrapped. The resource asked for is never wrapped.
type jsonEncoder struct {
	apiPath string
	flat    bool
}

func (e jsonEncoder) contentType() string { return jsonContentType }

func (e jsonEncoder) encodePOST(result json.RawMessage) []byte {
	if bytes.Equal(result, []byte("null")) {
		return nil
	}
	return result
}

func (e jsonEncoder) encodeError(err *resproto.Error) []byte { return encodeJSONError(err) }

func (e jsonEncoder) encodeGET(r resproto.Resource) []byte {
	w := resourceWriter{jsonEncoder: e, b: make([]byte, 0, 512)}
	w.resource(r, false)
	return w.b
}

// resourceWriter writes one resource tree.
type resourceWriter struct {
	jsonEncoder
	b []byte
	// path holds the RIDs of the resources being written, outermost first.
	path []string
}

func (w *resourceWriter) onPath(rid string) bool {
	for _, p := range w.path {
		if p == rid {
			return true
		}
	}
	return false
}

func (w *resourceWriter) href(rid string) {
	w.b = append(w.b, `{"href":`...)
	w.b = resproto.AppendJSONString(w.b, ridToPath(rid, w.apiPath))
	w.b = append(w.b, '}')
}

// resource writes r; ref is set when r is referenced from the resource
// being written rather than asked for.
func (w *resourceWriter) resource(r resproto.Resource, ref bool) {
	rid := r.RID()
	wrap := ref && !w.flat
	if wrap {
		w.b = append(w.b, `{"href":`...)
		w.b = resproto.AppendJSONString(w.b, ridToPath(rid, w.apiPath))
		defer func() { w.b = append(w.b, '}') }()
	}
	if w.onPath(rid) {
		if !wrap {
			w.href(rid)
		}
		return
	}
	if err := r.Err(); err != nil {
		if wrap {
			w.b = append(w.b, `,"error":`...)
		}
		w.b = append(w.b, encodeJSONError(resproto.ToError(err))...)
		return
	}
	w.path = append(w.path, rid)
	if r.IsCollection() {
		if wrap {
			w.b = append(w.b, `,"collection":`...)
		}
		w.b = append(w.b, '[')
		for i, v := range r.CollectionValues() {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(r, v)
		}
		w.b = append(w.b, ']')
	} else {
		if wrap {
			w.b = append(w.b, `,"model":`...)
		}
		w.b = append(w.b, '{')
		for i, f := range r.ModelValues() {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = resproto.AppendJSONString(w.b, f.Key)
			w.b = append(w.b, ':')
			w.value(r, f.Value)
		}
		w.b = append(w.b, '}')
	}
	w.path = w.path[:len(w.path)-1]
}

func (w *resourceWriter) value(r resproto.Resource, v resproto.Value) {
	switch v.Type {
	case resproto.ValueReference:
		if ref := r.Ref(v.RID); ref != nil {
			w.resource(ref, true)
		} else {
			w.href(v.RID)
		}
	case resproto.ValueSoftReference:
		w.href(v.RID)
	case resproto.ValueData:
		w.b = append(w.b, dataInner(v.Raw)...)
	default:
		w.b = append(w.b, v.Raw...)
	}
}

// dataInner returns the value inside a data value {"data":…}.
func dataInner(raw json.RawMessage) json.RawMessage {
	var d struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Data == nil {
		return raw
	}
	return d.Data
}

// encodeJSONError encodes a RES error object. Null data is left out, as
// Resgate (which holds data as any) does.
func encodeJSONError(err *resproto.Error) []byte {
	if bytes.Equal(err.Data, []byte("null")) {
		e := *err
		e.Data = nil
		err = &e
	}
	out, merr := json.Marshal(err)
	if merr != nil {
		return encodeJSONError(resproto.ToError(merr))
	}
	return out
}

// pathToRID maps the raw URL path of a resource to its resource ID:
// the part after prefix, each '/'-separated segment percent-decoded and
// joined with '.', with the raw query appended after '?'. A path with a
// literal '.', or one that is only the prefix, gives "" (404). The result
// still has to be checked with resproto.IsValidRID.
func pathToRID(path, query, prefix string) string {
	parts := pathParts(path, prefix)
	if parts == nil {
		return ""
	}
	rid := strings.Join(parts, ".")
	if query != "" {
		rid += "?" + query
	}
	return rid
}

// pathToRIDMethod maps the raw URL path of a call, <resource path>/<method>,
// to the resource ID (query appended) and method name.
func pathToRIDMethod(path, query, prefix string) (rid, method string) {
	parts := pathParts(path, prefix)
	if len(parts) < 2 {
		return "", ""
	}
	rid = strings.Join(parts[:len(parts)-1], ".")
	if query != "" {
		rid += "?" + query
	}
	return rid, parts[len(parts)-1]
}

func pathParts(path, prefix string) []string {
	if len(path) == len(prefix) || !strings.HasPrefix(path, prefix) {
		return nil
	}
	path = path[len(prefix):]
	if strings.IndexByte(path, '.') >= 0 {
		return nil
	}
	// One extra slash after the prefix is tolerated, as in Resgate.
	path = strings.TrimPrefix(path, "/")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil {
			return nil
		}
		parts[i] = s
	}
	return parts
}

// ridToPath maps a resource ID to the URL path of its resource: the RID
// path-escaped (a '?' becomes %3F) with '.' replaced by '/', after prefix.
func ridToPath(rid, prefix string) string {
	if rid == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(url.PathEscape(rid), ".", "/")
}
