package resproto

import (
	"encoding/json"
	"slices"
	"strings"
)

// This file encodes the payloads sent for every call and subscription —
// requests to services, and the results of client replies — without
// reflection. In profiles of call round trips, encoding/json's Marshal
// (with its type cache lookups, and the stack growth of its recursion on
// the connections' short-lived queue goroutines) was the largest cost
// after the system calls.
//
// encoding/json compacts a json.RawMessage and escapes <, >, & and
// U+2028/U+2029 in it. The fast paths copy raw JSON only when that changes
// nothing (plainJSON); otherwise the caller falls back to json.Marshal, so
// the bytes are encoding/json's in every case (TestFastEncode checks).

// fastEncodeRequest encodes a serviceRequest whose params are nil or raw
// JSON, as json.Marshal does.
func fastEncodeRequest(params any, token json.RawMessage, query, cid string, isHTTP bool) ([]byte, bool) {
	var p json.RawMessage
	switch v := params.(type) {
	case nil:
	case json.RawMessage:
		if !plainJSON(v) {
			return nil, false
		}
		p = v
	default:
		return nil, false
	}
	if !plainJSON(token) {
		return nil, false
	}
	b := make([]byte, 0, len(p)+len(token)+len(query)+len(cid)+64)
	b = append(b, '{')
	if p != nil {
		b = append(b, `"params":`...)
		b = append(b, p...)
		b = append(b, ',')
	}
	b = append(b, `"token":`...)
	b = append(b, token...)
	if query != "" {
		b = append(b, `,"query":`...)
		b = AppendJSONString(b, query)
	}
	b = append(b, `,"cid":`...)
	b = AppendJSONString(b, cid)
	if isHTTP {
		b = append(b, `,"isHttp":true`...)
	}
	return append(b, '}'), true
}

// fastMarshalResult encodes the result of a client reply, as json.Marshal
// does, for the common result types: raw JSON (a legacy call result), a
// call's payload, a resource set without errors, and a resource result.
func fastMarshalResult(result any) ([]byte, bool) {
	switch r := result.(type) {
	case json.RawMessage:
		if r == nil {
			return []byte("null"), true
		}
		if !plainJSON(r) {
			return nil, false
		}
		return r, true
	case payloadResult:
		if r.Payload == nil {
			return nil, false
		}
		if !plainJSON(r.Payload) {
			return nil, false
		}
		b := make([]byte, 0, len(r.Payload)+12)
		b = append(b, `{"payload":`...)
		b = append(b, r.Payload...)
		return append(b, '}'), true
	case *resourceSet:
		if r == nil {
			return nil, false
		}
		b, ok := appendResourceSet(make([]byte, 0, 256), '{', r)
		if !ok {
			return nil, false
		}
		if len(b) == 0 {
			return []byte("{}"), true
		}
		return append(b, '}'), true
	case resourceResult:
		b := make([]byte, 0, 256)
		b = append(b, `{"rid":`...)
		b = AppendJSONString(b, r.RID)
		if r.resourceSet != nil {
			var ok bool
			if b, ok = appendResourceSet(b, ',', r.resourceSet); !ok {
				return nil, false
			}
		}
		return append(b, '}'), true
	}
	return nil, false
}

// appendResourceSet appends the non-empty models and collections of r, each
// after sep (then ','), as the members of an object; it returns b unchanged
// (or empty, if b was) when r holds nothing. It returns false if r holds
// errors or raw JSON that is not plain.
func appendResourceSet(b []byte, sep byte, r *resourceSet) ([]byte, bool) {
	if len(r.Errors) > 0 {
		return nil, false
	}
	empty := len(b) == 0
	for _, part := range []struct {
		name string
		set  rawByRID
	}{{"models", r.Models}, {"collections", r.Collections}} {
		if len(part.set) == 0 {
			continue
		}
		b = append(b, sep)
		sep = ','
		b = append(b, '"')
		b = append(b, part.name...)
		b = append(b, `":`...)
		var ok bool
		if b, ok = appendRawSet(b, part.set); !ok {
			return nil, false
		}
	}
	if empty && sep != ',' {
		return b[:0], true
	}
	return b, true
}

// appendRawSet appends set as a JSON object with sorted keys, as
// encoding/json does a map. It sorts set in place.
func appendRawSet(b []byte, set rawByRID) ([]byte, bool) {
	for _, e := range set {
		if !plainJSON(e.raw) {
			return nil, false
		}
	}
	if len(set) > 1 {
		slices.SortFunc(set, func(x, y ridJSON) int { return strings.Compare(x.rid, y.rid) })
	}
	b = append(b, '{')
	for i, e := range set {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, e.rid)
		b = append(b, ':')
		b = append(b, e.raw...)
	}
	return append(b, '}'), true
}
