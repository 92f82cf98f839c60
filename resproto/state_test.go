package resproto

import (
	"testing"
	"unsafe"
)

// TestStateSizes keeps the structs made per subscription and per cached
// resource within the allocator's size classes they fit now (on 64-bit
// platforms), so that a field added in the wrong place, which pads them
// into the next class, shows up in review rather than as a few percent more
// memory in a subscribe storm.
func TestStateSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the sizes are those of 64-bit platforms")
	}
	tests := []struct {
		name string
		size uintptr
		max  uintptr // the size class it fits
	}{
		{"subscription", unsafe.Sizeof(subscription{}), 240},
		{"eventSub", unsafe.Sizeof(eventSub{}), 144},
		{"resource", unsafe.Sizeof(resource{}), 128},
		{"Field", unsafe.Sizeof(Field{}), 64},
	}
	for _, tt := range tests {
		if tt.size > tt.max {
			t.Errorf("%s is %d bytes, want at most %d (its allocation size class)", tt.name, tt.size, tt.max)
		}
	}
}

// TestReadyWaitMarks checks the set of resources a readyWait waits for,
// which holds its first in a field and makes a map only for a second.
func TestReadyWaitMarks(t *testing.T) {
	tests := []struct {
		mark    []string
		marked  []string
		notSeen []string
		hasMap  bool
	}{
		{nil, nil, []string{"a", ""}, false},
		{[]string{"a"}, []string{"a"}, []string{"b", "a.b"}, false},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{"c"}, true},
		{[]string{"a", "b", "a", "c"}, []string{"a", "b", "c"}, []string{"d"}, true},
	}
	for _, tt := range tests {
		var w readyWait
		for _, rid := range tt.mark {
			w.mark(rid)
		}
		for _, rid := range tt.marked {
			if !w.marked(rid) {
				t.Errorf("after marking %q: %q not marked", tt.mark, rid)
			}
		}
		for _, rid := range tt.notSeen {
			if w.marked(rid) {
				t.Errorf("after marking %q: %q marked", tt.mark, rid)
			}
		}
		if (w.seen != nil) != tt.hasMap {
			t.Errorf("after marking %q: map made %v, want %v", tt.mark, w.seen != nil, tt.hasMap)
		}
	}
}
