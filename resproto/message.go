package resproto

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
)

// Message is one text message to a client. Messages that fan out to many
// connections are shared: the same *Message goes to every one of them, so a
// transport may cache its framing once per message (see Prepared).
type Message struct {
	// Data is the JSON text of the message. It must not be modified.
	Data []byte

	// event is set on events, clear on replies to requests.
	event bool

	// buf, when set, is Data with FrameRoom free bytes in front of it,
	// which the first Frame call writes its header into.
	buf      []byte
	roomUsed atomic.Bool

	once     sync.Once
	prepared any
}

// FrameRoom is how many bytes the engine's replies and events keep free in
// front of their Data, so that a transport can put its frame header there
// (Frame) instead of copying the message behind it: the most a WebSocket
// frame header from a server takes.
const FrameRoom = 10

// messageBuf returns an empty buffer for building a message of about n
// bytes on, with FrameRoom bytes reserved in front (see newMessage).
func messageBuf(n int) []byte { return make([]byte, FrameRoom, FrameRoom+n) }

// newMessage wraps b, a buffer from messageBuf with the message appended,
// as a Message whose Data is what was appended.
func newMessage(b []byte, event bool) *Message {
	return &Message{Data: b[FrameRoom:], buf: b, event: event}
}

// Frame returns header followed by Data in one slice, for a transport that
// writes each message as one frame. On a message the engine built, the
// first call writes header into the room kept in front of Data (a header of
// at most FrameRoom bytes), so the message is not copied; any other call
// copies both into a new slice. Either way Data is unchanged.
func (m *Message) Frame(header []byte) []byte {
	n := len(header)
	if m.buf != nil && n <= FrameRoom && m.roomUsed.CompareAndSwap(false, true) {
		f := m.buf[FrameRoom-n:]
		copy(f, header)
		return f
	}
	f := make([]byte, 0, n+len(m.Data))
	return append(append(f, header...), m.Data...)
}

// NewMessage wraps data, a reply to a request, as a Message.
func NewMessage(data []byte) *Message { return &Message{Data: data} }

// NewEventMessage wraps data, an event, as a Message.
func NewEventMessage(data []byte) *Message { return &Message{Data: data, event: true} }

// Event reports whether m is an event rather than a reply to a client's
// request. A transport may let events wait a little to write them together
// with the ones that follow; a reply has a client waiting for it.
func (m *Message) Event() bool { return m.event }

// Prepared returns build(m), calling build only the first time, so a
// transport can frame a shared message once for all its connections (for
// instance as a websocket.PreparedMessage).
func (m *Message) Prepared(build func(*Message) any) any {
	m.once.Do(func() { m.prepared = build(m) })
	return m.prepared
}

// resourceSet is the models, collections and errors of a reply or event.
type resourceSet struct {
	Models      rawByRID          `json:"models,omitempty"`
	Collections rawByRID          `json:"collections,omitempty"`
	Errors      map[string]*Error `json:"errors,omitempty"`
}

// rawByRID is the JSON of resources by resource ID, each added once. It is
// a slice rather than a map because a subscribe reply's set mostly holds
// one resource, for which a map costs a few hundred bytes and hashing;
// it encodes as the map would, as an object with sorted keys.
type rawByRID []ridJSON

type ridJSON struct {
	rid string
	raw json.RawMessage
}

// MarshalJSON implements json.Marshaler.
func (s rawByRID) MarshalJSON() ([]byte, error) {
	m := make(map[string]json.RawMessage, len(s))
	for _, e := range s {
		m[e.rid] = e.raw
	}
	return json.Marshal(m)
}

func (r *resourceSet) empty() bool {
	return r == nil || (len(r.Models) == 0 && len(r.Collections) == 0 && len(r.Errors) == 0)
}

func replyMessage(id uint64, result any) *Message {
	var b []byte
	if result == nil {
		b = messageBuf(32)
		b = append(b, `{"id":`...)
	} else if p, ok := result.(payloadResult); ok && p.Payload != nil && plainJSON(p.Payload) {
		// A call's result, the largest reply: appended as it is rather
		// than wrapped in a buffer of its own first.
		b = messageBuf(len(p.Payload) + 48)
		b = append(b, `{"result":{"payload":`...)
		b = append(b, p.Payload...)
		b = append(b, `},"id":`...)
	} else {
		r, ok := fastMarshalResult(result)
		if !ok {
			var err error
			if r, err = json.Marshal(result); err != nil {
				return errorMessage(&id, ToError(err))
			}
		}
		b = messageBuf(len(r) + 32)
		b = append(b, `{"result":`...)
		b = append(b, r...)
		b = append(b, `,"id":`...)
	}
	b = strconv.AppendUint(b, id, 10)
	return newMessage(append(b, '}'), false)
}

func errorMessage(id *uint64, err error) *Message {
	e, _ := json.Marshal(ToError(err))
	b := messageBuf(len(e) + 32)
	b = append(b, `{"error":`...)
	b = append(b, e...)
	b = append(b, `,"id":`...)
	if id == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, *id, 10)
	}
	return newMessage(append(b, '}'), false)
}

// eventMessage encodes {"event":"<rid>.<name>","data":<data>}.
func eventMessage(rid, name string, data any) *Message {
	var d []byte
	switch v := data.(type) {
	case json.RawMessage:
		if len(v) == 0 {
			d = []byte("null")
		} else {
			d = compactJSON(v)
		}
	default:
		var err error
		if d, err = json.Marshal(v); err != nil {
			d = []byte("null")
		}
	}
	b := messageBuf(len(rid) + len(name) + len(d) + 24)
	b = append(b, `{"event":`...)
	b = AppendJSONString(b, rid+"."+name)
	b = append(b, `,"data":`...)
	b = append(b, d...)
	return newMessage(append(b, '}'), true)
}

type changeEventData struct {
	Values json.RawMessage `json:"values"`
	*resourceSet
}

type addEventData struct {
	Idx   int             `json:"idx"`
	Value json.RawMessage `json:"value"`
	*resourceSet
}

type unsubscribeEventData struct {
	Reason *Error `json:"reason"`
}

type resourceResult struct {
	RID string `json:"rid"`
	*resourceSet
}

type payloadResult struct {
	Payload json.RawMessage `json:"payload"`
}
