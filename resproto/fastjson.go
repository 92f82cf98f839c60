package resproto

import (
	"bytes"
	"encoding/json"
)

// This file decodes the messages that make up most of a gateway's work —
// client requests, and access, get and call responses — without
// reflection, for their usual shape. Profiles of subscribe storms and HTTP
// GETs showed encoding/json's reflective decoder at 15–20% of the CPU time,
// and its deep recursion growing the stacks of the short-lived queue
// goroutines (runtime.newstack and copystack at another 10%), and of the
// WebSocket read goroutines, which then stay at 8 KiB for the life of an
// idle connection.
//
// Each fast path accepts only what it can decode exactly as encoding/json
// would: a valid JSON text (validJSON, as json.Valid has it), object keys
// without escapes or non-ASCII bytes, each known key at most once and
// spelled exactly (encoding/json also matches keys case-insensitively), and
// the expected value types. Anything else — an error or meta object, an
// unusual key, a type mismatch — returns false, and the caller decodes with
// encoding/json, so results are encoding/json's in every case. The
// differential fuzz test FuzzFastJSON checks that.

// jsonWS reports whether c is JSON whitespace.
func jsonWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipWS returns the index of the first non-whitespace byte of b at or
// after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && jsonWS(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i]
// ('"'), in valid JSON.
func skipString(b []byte, i int) int {
	n := len(b)
	for i++; i < n; {
		for i < n && stringPlain[b[i]] {
			i++
		}
		if i >= n {
			break
		}
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes; control bytes are not in valid JSON
	}
	return n
}

// containerPlain marks the bytes skipValue passes over inside an object
// or array: all but quotes and brackets.
var containerPlain = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c != '"' && c != '{' && c != '[' && c != '}' && c != ']'
	}
	return t
}()

// skipValue returns the index just past the value starting at b[i], in
// valid JSON.
func skipValue(b []byte, i int) int {
	n := len(b)
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < n {
			for i < n && containerPlain[b[i]] {
				i++
			}
			if i >= n {
				break
			}
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			default: // '}' or ']'
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return n
	}
	for i < n {
		switch c := b[i]; {
		case c == ',' || c == '}' || c == ']' || jsonWS(c):
			return i
		}
		i++
	}
	return i
}

// forEachField calls fn with the key and the raw value of each member of
// the object b (valid JSON, possibly surrounded by whitespace), in order.
// It returns false, having stopped, if b is not an object, a key holds an
// escape or a non-ASCII byte, or fn returns false.
func forEachField(b []byte, fn func(key, value []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		ks := i + 1
		i = skipString(b, i)
		key := b[ks : i-1]
		for _, c := range key {
			if c == '\\' || c >= 0x80 {
				return false
			}
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		vs := i
		i = skipValue(b, i)
		if !fn(key, b[vs:i]) {
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return true
		}
		if b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
	return false
}

// countFields returns the number of members of the valid JSON object b
// (0 if it is not an object).
func countFields(b []byte) int {
	n := 0
	forEachField(b, func(key, value []byte) bool { n++; return true })
	return n
}

// forEachElem calls fn with each raw element of the array b (valid JSON,
// starting at '['). It returns false if b is not an array or fn returns
// false.
func forEachElem(b []byte, fn func(value []byte) bool) bool {
	if len(b) == 0 || b[0] != '[' {
		return false
	}
	i := skipWS(b, 1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for i < len(b) {
		vs := i
		i = skipValue(b, i)
		if !fn(b[vs:i]) {
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == ']' {
			return true
		}
		if b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
	return false
}

// fieldIndex returns the index of the name in names that key spells
// exactly, -1 if key matches none of them even ignoring case (a field
// encoding/json would ignore), or -2 if it matches one only ignoring case
// (left to encoding/json). key is ASCII.
func fieldIndex(key []byte, names ...string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return -2
		}
	}
	return -1
}

// seenField marks field i as seen in *seen; it returns false if it was
// already (a duplicate key, left to encoding/json).
func seenField(seen *uint32, i int) bool {
	if *seen&(1<<i) != 0 {
		return false
	}
	*seen |= 1 << i
	return true
}

// simpleString returns the content of the JSON string v if it has no
// escape and only ASCII bytes: then it is the decoded string as is.
func simpleString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return string(s), true
}

// parseUint parses a JSON number made of digits only that fits a uint64.
func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func isJSONNull(v []byte) bool { return string(v) == "null" }

// decodeClientRequest decodes a client message into r as json.Unmarshal
// does.
func decodeClientRequest(data []byte, r *clientRequest) error {
	if fastClientRequest(data, r) {
		return nil
	}
	*r = clientRequest{}
	return json.Unmarshal(data, r)
}

func fastClientRequest(data []byte, r *clientRequest) bool {
	if !validJSON(data) {
		return false
	}
	var seen uint32
	return forEachField(data, func(k, v []byte) bool {
		i := fieldIndex(k, "id", "method", "params")
		if i == -1 {
			return true
		}
		if i < 0 || !seenField(&seen, i) {
			return false
		}
		switch i {
		case 0:
			if isJSONNull(v) {
				return true
			}
			n, ok := parseUint(v)
			if !ok {
				return false
			}
			r.ID = &n
		case 1:
			if isJSONNull(v) {
				return true
			}
			s, ok := simpleString(v)
			if !ok {
				return false
			}
			r.Method = s
		case 2:
			r.Params = append(json.RawMessage(nil), v...)
		}
		return true
	})
}

// fastAccessResponse decodes {"result":{"get":…,"call":…}}.
func fastAccessResponse(payload []byte) (*Access, bool) {
	if !validJSON(payload) {
		return nil, false
	}
	var a *Access
	var seen uint32
	ok := forEachField(payload, func(k, v []byte) bool {
		i := fieldIndex(k, "result", "error", "meta")
		if i == -1 {
			return true
		}
		if i != 0 || !seenField(&seen, i) {
			return false
		}
		a = &Access{}
		var inner uint32
		return forEachField(v, func(k, v []byte) bool {
			j := fieldIndex(k, "get", "call")
			if j == -1 {
				return true
			}
			if j < 0 || !seenField(&inner, j) {
				return false
			}
			if isJSONNull(v) {
				return true
			}
			if j == 0 {
				switch string(v) {
				case "true":
					a.Get = true
				case "false":
				default:
					return false
				}
				return true
			}
			s, ok := simpleString(v)
			a.Call = s
			return ok
		})
	})
	return a, ok && a != nil
}

// fastCallResponse decodes {"result":<any>}. The result is a slice of
// payload, not a copy: payload (a NATS message's own data) must not be
// changed afterwards.
func fastCallResponse(payload []byte) (*callResult, bool) {
	if !validJSON(payload) {
		return nil, false
	}
	var res *callResult
	var seen uint32
	ok := forEachField(payload, func(k, v []byte) bool {
		i := fieldIndex(k, "result", "resource", "error", "meta")
		if i == -1 {
			return true
		}
		if i != 0 || !seenField(&seen, i) {
			return false
		}
		res = &callResult{Result: json.RawMessage(v[:len(v):len(v)])}
		return true
	})
	return res, ok && res != nil
}

// fastGetResponse decodes {"result":{"model":{…}}} or
// {"result":{"collection":[…]}}, with an optional "query" string.
func fastGetResponse(payload []byte) (*getResult, bool) {
	if !validJSON(payload) {
		return nil, false
	}
	var res *getResult
	var seen uint32
	ok := forEachField(payload, func(k, v []byte) bool {
		i := fieldIndex(k, "result", "error")
		if i == -1 {
			return true
		}
		if i != 0 || !seenField(&seen, i) {
			return false
		}
		res = &getResult{}
		var inner uint32
		return forEachField(v, func(k, v []byte) bool {
			j := fieldIndex(k, "model", "collection", "query")
			if j == -1 {
				return true
			}
			if j < 0 || !seenField(&inner, j) {
				return false
			}
			switch j {
			case 0:
				if v[0] != '{' {
					return false
				}
				// Sized up front: a slice grown to a model's tens of
				// fields leaves garbage at each doubling. The values
				// alias one copy of the model's JSON (the payload is the
				// NATS message's, not the cache's to keep).
				m := make(Fields, 0, countFields(v))
				ok := forEachField(bytes.Clone(v), func(k, v []byte) bool {
					var val Value
					if val.decode(v, false) != nil {
						return false
					}
					m = append(m, Field{string(k), val})
					return true
				})
				res.Model = sortFields(m)
				return ok
			case 1:
				if v[0] != '[' {
					return false
				}
				res.Collection = make([]Value, 0, 8)
				return forEachElem(bytes.Clone(v), func(v []byte) bool {
					var val Value
					if val.decode(v, false) != nil {
						return false
					}
					res.Collection = append(res.Collection, val)
					return true
				})
			default:
				if isJSONNull(v) {
					return true
				}
				s, ok := simpleString(v)
				res.Query = s
				return ok
			}
		})
	})
	return res, ok && res != nil
}
