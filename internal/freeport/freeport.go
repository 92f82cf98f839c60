// Package freeport finds loopback TCP ports for tests and tools to hand to
// the servers they start.
//
// The usual trick — listen on port 0, note the port, close — has a race:
// until the server binds the port, the kernel may give the same port to
// anything else that asks for an ephemeral one, such as an outgoing
// connection of a test running in parallel or another listener on port 0.
// The server then fails with "address already in use". Get picks ports
// below the kernel's ephemeral range instead, where the kernel never
// allocates on its own, and never hands the same port out twice in one
// process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port Get hands out: well above the ports of
// well-known services.
const lowest = 10000

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Get returns a port of 127.0.0.1 that nothing listened on a moment ago,
// chosen outside the kernel's ephemeral port range when that range leaves
// room below it.
func Get() (int, error) {
	lo, hi := lowest, ephemeralLow()
	if hi-lo < 1000 {
		return kernelPort()
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if issued[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		issued[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port found below the ephemeral range")
}

// Addr returns "127.0.0.1:<port>" for a port from Get.
func Addr() (string, error) {
	p, err := Get()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux), or 0 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// kernelPort is the port-0 fallback where the ephemeral range is unknown.
func kernelPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
