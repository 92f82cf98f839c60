package main

import (
	"math"
	"slices"
	"strconv"
)

// percentile returns the p-th percentile (0..100) of sorted values, by the
// nearest-rank method; NaN when there are none.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return float64(sorted[rank-1])
}

// latencyMetrics sorts samples (nanoseconds) and sets "<prefix>p50 ms" and
// "<prefix>p99 ms" in m.
func latencyMetrics(m map[string]float64, prefix string, samples []int64) {
	slices.Sort(samples)
	m[prefix+"p50 ms"] = percentile(samples, 50) / 1e6
	m[prefix+"p99 ms"] = percentile(samples, 99) / 1e6
}

// summary is the median and range of one metric over rounds.
type summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// summarize returns the median, min and max of the values that are not
// NaN; N is 0 when there are none.
func summarize(values []float64) summary {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return summary{Median: med, Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// formatNum writes a value with three significant digits, with a k or M
// suffix for large ones: 412345 → "412k", 0.01234 → "0.0123".
func formatNum(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v == 0:
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e7:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

// sig3 formats v with three significant digits and no exponent.
func sig3(v float64) string {
	a := math.Abs(v)
	dec := 0
	switch {
	case a >= 100:
		dec = 0
	case a >= 10:
		dec = 1
	case a >= 1:
		dec = 2
	default:
		dec = 2 - int(math.Floor(math.Log10(a)))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
