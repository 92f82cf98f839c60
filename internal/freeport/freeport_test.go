package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestGet: ports are distinct, bindable and, where the kernel has an
// ephemeral range, below it.
func TestGet(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if low > lowest+1000 && (p < lowest || p >= low) {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, low)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}

// TestGetSkipsPortsInUse: a port something listens on is not handed out.
func TestGetSkipsPortsInUse(t *testing.T) {
	low := ephemeralLow()
	if low <= lowest+1000 {
		t.Fatalf("ephemeral range starts at %d: this test needs the Linux default", low)
	}
	// Hold the first 1,500 ports of the range (6.6% of it): 200 draws
	// land on one of them with near certainty, and must skip it.
	held := map[int]bool{}
	for p := lowest; p < lowest+1500; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		defer ln.Close()
		held[p] = true
	}
	for range 200 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if held[p] {
			t.Fatalf("port %d is in use but was handed out", p)
		}
	}
}
