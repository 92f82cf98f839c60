package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// printReport writes the report as text.
func printReport(w io.Writer, rep *report) {
	fmt.Fprintf(w, "ressoak: %d connections, %v soak, %d resources, setup %v\n\n", rep.Conns, rep.Duration, rep.Resources, rep.Setup)
	fmt.Fprintf(w, "%-12s %9s %8s %11s %10s\n", "sample", "elapsed", "clients", "goroutines", "RSS MiB")
	for _, s := range rep.Samples {
		line := fmt.Sprintf("%-12s %9v %8d %11d %10.1f", s.Name, s.Elapsed.Round(time.Second), s.Clients, s.Goroutines, float64(s.RSS)/(1<<20))
		if s.Err != "" {
			line += "  (" + s.Err + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	if rep.Totals != nil {
		fmt.Fprintf(w, "totals: %s\n", mapLine(rep.Totals))
		if secs := rep.Duration.Seconds(); secs > 0 {
			fmt.Fprintf(w, "rates: %.0f events/s received, %.0f requests/s\n",
				float64(rep.Totals["eventsReceived"])/secs, float64(rep.Totals["requests"])/secs)
		}
		fmt.Fprintf(w, "protocol errors: %d (%s)\n", rep.ErrorTotal, mapLine(rep.Errors))
	}
	for _, e := range rep.FirstErrs {
		fmt.Fprintln(w, "  ", e)
	}
	fmt.Fprintf(w, "gateway log: %d warnings, %d errors\n", rep.GatewayLog.Warnings, rep.GatewayLog.Errors)
	if len(rep.GatewayLog.Notable) > 0 {
		fmt.Fprintf(w, "gateway log, limits and problems: %s\n", mapLine(rep.GatewayLog.Notable))
	}
	if rep.GatewayLog.Tail != "" {
		fmt.Fprintln(w, "gateway log tail:\n"+rep.GatewayLog.Tail)
	}
	if rep.Failure != "" {
		fmt.Fprintln(w, "FAILED:", rep.Failure)
	}
}

// mapLine formats counts as "a 1, b 2" in key order.
func mapLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
