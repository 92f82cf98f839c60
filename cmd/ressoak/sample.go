package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resedge/resedge/internal/procstat"
)

// sample is the gateway's state at one moment of the soak.
type sample struct {
	Name       string        `json:"name"`
	Elapsed    time.Duration `json:"elapsed"`
	Clients    int           `json:"clients"`
	Goroutines int           `json:"goroutines"`
	RSS        int64         `json:"rssBytes"`
	// Err is why the sample is incomplete, if it is.
	Err string `json:"error,omitempty"`
}

// sampler reads the gateway's goroutine count from its metrics listener
// (go_goroutines) and its resident set size from /proc when its process ID
// is known, else from the metrics (process_resident_memory_bytes).
type sampler struct {
	metricsURL string
	pid        int
	client     *http.Client
}

// take reads one sample.
func (s *sampler) take(ctx context.Context, name string, elapsed time.Duration, clients int) sample {
	sm := sample{Name: name, Elapsed: elapsed, Clients: clients}
	m, err := s.metrics(ctx, "go_goroutines", "process_resident_memory_bytes")
	if err != nil {
		sm.Err = err.Error()
	}
	sm.Goroutines = int(m["go_goroutines"])
	sm.RSS = int64(m["process_resident_memory_bytes"])
	if s.pid > 0 {
		if rss, err := procstat.RSS(s.pid); err == nil {
			sm.RSS = rss
		} else if sm.Err == "" {
			sm.Err = err.Error()
		}
	}
	return sm
}

// metrics fetches the metrics page and returns the values of the named
// metrics (unlabelled samples).
func (s *sampler) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	if s.metricsURL == "" {
		return out, errors.New("no metrics URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.metricsURL, nil)
	if err != nil {
		return out, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s: %s", s.metricsURL, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return out, fmt.Errorf("%s: no %s", s.metricsURL, n)
		}
	}
	return out, sc.Err()
}
