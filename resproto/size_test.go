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
