package resproto

// This file scans JSON text byte by byte without encoding/json's scanner,
// which calls a state function per byte: on call round trips carrying a
// kilobyte or two of params and result, json.Valid alone was 12% of the
// gateway's CPU. Each function here gives exactly the answer encoding/json
// would (the differential fuzz tests FuzzValidJSON and FuzzPlainJSON check
// it), only faster.

// maxJSONDepth is encoding/json's limit on nesting: deeper text is not
// valid to it.
const maxJSONDepth = 10000

// stringPlain marks the bytes that may stand for themselves inside a JSON
// string: everything from 0x20 up but '"' and '\\'.
var stringPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the index just past the JSON string starting at
// data[i] ('"'), or -1 if it is not a valid one. Like encoding/json, it
// accepts any byte from 0x20 up, invalid UTF-8 included.
func scanString(data []byte, i int) int {
	n := len(data)
	for i++; i < n; i++ {
		for i < n && stringPlain[data[i]] {
			i++
		}
		if i >= n {
			return -1
		}
		switch data[i] {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= n {
				return -1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if n-i < 5 || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber returns the index just past the JSON number starting at
// data[i], or -1 if none starts there:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) int {
	n := len(data)
	if i < n && data[i] == '-' {
		i++
	}
	switch {
	case i >= n:
		return -1
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		for i++; i < n && isDigit(data[i]); i++ {
		}
	default:
		return -1
	}
	if i < n && data[i] == '.' {
		i++
		if i >= n || !isDigit(data[i]) {
			return -1
		}
		for i++; i < n && isDigit(data[i]); i++ {
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= n || !isDigit(data[i]) {
			return -1
		}
		for i++; i < n && isDigit(data[i]); i++ {
		}
	}
	return i
}

// scanLiteral returns the index just past lit at data[i], or -1.
func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validJSON reports whether data is one valid JSON value with optional
// whitespace around it, as json.Valid does.
func validJSON(data []byte) bool {
	var small [64]byte
	open := small[:0] // the '{' and '[' of the containers open
	n := len(data)
	i := 0
	for {
		// A value is due.
		i = skipWS(data, i)
		if i >= n {
			return false
		}
		switch data[i] {
		case '{', '[':
			if len(open) == maxJSONDepth {
				return false
			}
			c := data[i]
			open = append(open, c)
			i = skipWS(data, i+1)
			if i < n && data[i] == c+2 { // '}' or ']'
				open = open[:len(open)-1]
				i++
				break
			}
			if c == '{' {
				if i = scanKey(data, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			i = scanString(data, i)
		case 't':
			i = scanLiteral(data, i, "true")
		case 'f':
			i = scanLiteral(data, i, "false")
		case 'n':
			i = scanLiteral(data, i, "null")
		default:
			i = scanNumber(data, i)
		}
		if i < 0 {
			return false
		}
		// After a value: close containers, or go on after a comma.
		for {
			i = skipWS(data, i)
			if len(open) == 0 {
				return i == n
			}
			if i >= n {
				return false
			}
			top := open[len(open)-1]
			c := data[i]
			if c == top+2 {
				open = open[:len(open)-1]
				i++
				continue
			}
			if c != ',' {
				return false
			}
			i++
			if top == '{' {
				if i = scanKey(data, skipWS(data, i)); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// scanKey returns the index just past the key and its colon at data[i],
// or -1.
func scanKey(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = scanString(data, i); i < 0 {
		return -1
	}
	i = skipWS(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return i + 1
}

// plainOutside marks the bytes plainJSON passes over outside strings:
// all but whitespace, '"', and the <, > and & encoding/json escapes.
// plainInside marks those it passes over inside strings: all but '"',
// '\\', <, >, & and 0xE2 (the first byte of U+2028 and U+2029).
var plainOutside, plainInside = func() (out, in [256]bool) {
	for c := range 256 {
		switch c {
		case ' ', '\t', '\n', '\r', '"', '<', '>', '&':
		default:
			out[c] = true
		}
		switch c {
		case '"', '\\', '<', '>', '&', 0xE2:
		default:
			in[c] = true
		}
	}
	return out, in
}()

// plainJSON reports whether encoding/json would write the valid JSON raw
// (as a json.RawMessage) as is: no whitespace outside strings to compact
// away, and nothing to escape — no <, > or &, and no U+2028 or U+2029.
func plainJSON(raw []byte) bool {
	n := len(raw)
	if n == 0 {
		return false
	}
	i := 0
	for {
		for i < n && plainOutside[raw[i]] {
			i++
		}
		if i >= n {
			return true
		}
		if raw[i] != '"' {
			return false
		}
		// Inside a string.
		for i++; ; {
			for i < n && plainInside[raw[i]] {
				i++
			}
			if i >= n {
				return true // not valid JSON; nothing left to escape
			}
			switch raw[i] {
			case '"':
				i++
			case '\\':
				i += 2
				continue
			case 0xE2:
				if i+2 < n && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
					return false
				}
				i++
				continue
			default: // <, > or &
				return false
			}
			break
		}
	}
}

// hasJSONWhitespace reports whether the valid JSON data holds whitespace
// outside its strings, which compacting would remove.
func hasJSONWhitespace(data []byte) bool {
	n := len(data)
	for i := 0; i < n; i++ {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			return true
		case '"':
			for i++; i < n && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}
