package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	stat := []byte("1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200 18446744073709551615\n")
	if got, err := ParseStat(stat); err != nil || got != 3*time.Second {
		t.Errorf("ParseStat = %v, %v; want 3s", got, err)
	}
	status := []byte("Name:\tx\nVmPeak:\t  2000 kB\nVmRSS:\t    1536 kB\nThreads:\t5\n")
	if got, err := ParseStatus(status); err != nil || got != 1536*1024 {
		t.Errorf("ParseStatus = %v, %v", got, err)
	}
	// This process's own figures.
	if _, err := CPU(os.Getpid()); err != nil && runtime.GOOS == "linux" {
		t.Error(err)
	}
	if rss, err := RSS(os.Getpid()); runtime.GOOS == "linux" && (err != nil || rss <= 0) {
		t.Errorf("RSS = %v, %v", rss, err)
	}
}
