package resproto

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
)

// TestFrame checks that Frame puts a header of up to FrameRoom bytes in
// front of an engine-built message without copying it the first time, and
// copies otherwise, never changing Data.
func TestFrame(t *testing.T) {
	for _, tt := range []struct {
		name    string
		msg     func() *Message
		header  []byte
		inPlace bool
	}{
		{"reply, 2-byte header", func() *Message { return replyMessage(7, payloadResult{Payload: json.RawMessage(`{"a":1}`)}) }, []byte{0x81, 30}, true},
		{"event, 4-byte header", func() *Message { return eventMessage("a.b", "change", json.RawMessage(`{"values":{}}`)) }, []byte{0x81, 126, 0, 40}, true},
		{"error, 10-byte header", func() *Message { id := uint64(3); return errorMessage(&id, ErrNotFound) }, bytes.Repeat([]byte{1}, FrameRoom), true},
		{"header longer than the room", func() *Message { return replyMessage(1, nil) }, bytes.Repeat([]byte{2}, FrameRoom+1), false},
		{"message made outside the engine", func() *Message { return NewMessage([]byte(`{"id":1}`)) }, []byte{0x81, 8}, false},
		{"empty header", func() *Message { return replyMessage(2, nil) }, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg()
			data := append([]byte(nil), m.Data...)
			want := append(append([]byte(nil), tt.header...), data...)
			f := m.Frame(tt.header)
			if !bytes.Equal(f, want) {
				t.Fatalf("Frame = %q, want %q", f, want)
			}
			shared := len(data) > 0 && &f[len(tt.header)] == &m.Data[0]
			if shared != tt.inPlace {
				t.Errorf("framed in place: %v, want %v", shared, tt.inPlace)
			}
			if !bytes.Equal(m.Data, data) {
				t.Errorf("Data changed to %q", m.Data)
			}
			// The room is used once: a second header must not overwrite
			// the first frame.
			other := bytes.Repeat([]byte{9}, len(tt.header))
			g := m.Frame(other)
			if !bytes.Equal(g, append(other, data...)) || (len(data) > 0 && &g[len(other)] == &m.Data[0]) {
				t.Errorf("second Frame = %q, want a copy", g)
			}
			if !bytes.Equal(f, want) {
				t.Errorf("first frame changed to %q by the second call", f)
			}
		})
	}
}

// TestFrameConcurrent frames one message from many goroutines: exactly one
// of them gets the room, and every frame is right (run with -race).
func TestFrameConcurrent(t *testing.T) {
	m := replyMessage(1, payloadResult{Payload: json.RawMessage(`[1,2,3]`)})
	want := append([]byte{0x81, byte(len(m.Data))}, m.Data...)
	var wg sync.WaitGroup
	frames := make([][]byte, 8)
	for i := range frames {
		wg.Go(func() { frames[i] = m.Frame(want[:2]) })
	}
	wg.Wait()
	inPlace := 0
	for _, f := range frames {
		if !bytes.Equal(f, want) {
			t.Errorf("frame %q, want %q", f, want)
		}
		if &f[2] == &m.Data[0] {
			inPlace++
		}
	}
	if inPlace != 1 {
		t.Errorf("%d frames in place, want 1", inPlace)
	}
}

// TestReplyMessage checks replies against encoding/json's encoding of the
// same reply, for the results that take the direct path and those that
// do not.
func TestReplyMessage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		result any
	}{
		{"no result", nil},
		{"call payload", payloadResult{Payload: json.RawMessage(`{"pong":true,"s":"a b"}`)}},
		{"call payload with whitespace", payloadResult{Payload: json.RawMessage("{ \"pong\" :\n true }")}},
		{"call payload null", payloadResult{Payload: json.RawMessage(`null`)}},
		{"call payload missing", payloadResult{}},
		{"raw result", json.RawMessage(`{"x":[1,2]}`)},
		{"resource result", resourceResult{RID: "a.b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := replyMessage(42, tt.result)
			want, err := json.Marshal(struct {
				Result any    `json:"result,omitempty"`
				ID     uint64 `json:"id"`
			}{tt.result, 42})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, want) {
				t.Errorf("reply %s, want %s", got.Data, want)
			}
			if got.Event() {
				t.Error("a reply marked as an event")
			}
		})
	}
}
