package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"
)

// jsonFloat is a float64 written as null when it is NaN or infinite, which
// encoding/json refuses.
type jsonFloat float64

// MarshalJSON writes the number, or null when it has no JSON form.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*f = jsonFloat(v)
	return err
}

// report is everything an invocation measured, as written with --json.
type report struct {
	Started   string            `json:"started"`
	Host      map[string]string `json:"host"`
	Config    map[string]any    `json:"config"`
	Targets   []target          `json:"targets"`
	Runs      []jsonRun         `json:"runs"`
	Failed    int               `json:"failed"`
	Scenarios []scenarioReport  `json:"scenarios"`
}

// jsonRun is a runResult with JSON-safe numbers.
type jsonRun struct {
	Round    int                  `json:"round"`
	Scenario string               `json:"scenario"`
	Target   string               `json:"target"`
	Metrics  map[string]jsonFloat `json:"metrics,omitempty"`
	Error    string               `json:"error,omitempty"`
	Seconds  jsonFloat            `json:"seconds"`
}

// scenarioReport summarizes one scenario over rounds.
type scenarioReport struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Metrics     []metricReport `json:"metrics"`
}

// metricReport is one metric's median and range per target, and the paired
// ratios of the first target to each other (computed per round, then
// summarized).
type metricReport struct {
	Metric  string                 `json:"metric"`
	Targets map[string]jsonSummary `json:"targets"`
	Ratios  map[string]jsonSummary `json:"ratios,omitempty"`
}

// jsonSummary is a summary with JSON-safe numbers.
type jsonSummary struct {
	Median jsonFloat `json:"median"`
	Min    jsonFloat `json:"min"`
	Max    jsonFloat `json:"max"`
	N      int       `json:"n"`
}

func toJSONSummary(s summary) jsonSummary {
	return jsonSummary{jsonFloat(s.Median), jsonFloat(s.Min), jsonFloat(s.Max), s.N}
}

// report summarizes the runs.
func (b *bench) report() *report {
	o := b.opts
	rep := &report{
		Started: b.started.Format(time.RFC3339),
		Host: map[string]string{
			"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(),
		},
		Config: map[string]any{
			"rounds": o.rounds, "scenarios": o.scenarios, "duration": o.duration.String(), "warmup": o.warmup.String(),
			"settle": o.settle.String(), "inflight": o.inflight, "stormClients": o.stormClients, "callClients": o.callClients,
			"httpClients": o.httpClients, "memoryConns": o.memoryConns, "dialConcurrency": o.dialConc,
		},
		Targets: o.targets,
	}
	// values[scenario][target][metric][round]
	type key struct{ scenario, target, metric string }
	values := map[key][]float64{}
	for _, r := range b.runs {
		jr := jsonRun{Round: r.Round, Scenario: r.Scenario, Target: r.Target, Error: r.Error, Seconds: jsonFloat(r.Seconds)}
		if r.Error != "" {
			rep.Failed++
		}
		if r.Metrics != nil {
			jr.Metrics = map[string]jsonFloat{}
			for k, v := range r.Metrics {
				jr.Metrics[k] = jsonFloat(v)
			}
		}
		rep.Runs = append(rep.Runs, jr)
		for k, v := range r.Metrics {
			kk := key{r.Scenario, r.Target, k}
			if values[kk] == nil {
				values[kk] = make([]float64, o.rounds)
				for i := range values[kk] {
					values[kk][i] = math.NaN()
				}
			}
			values[kk][r.Round-1] = v
		}
	}
	get := func(k key) []float64 {
		if v := values[k]; v != nil {
			return v
		}
		v := make([]float64, o.rounds)
		for i := range v {
			v[i] = math.NaN()
		}
		return v
	}
	for _, s := range b.scenarios {
		sr := scenarioReport{Name: s.name, Description: s.desc}
		for _, ms := range s.metrics {
			mr := metricReport{Metric: ms.key, Targets: map[string]jsonSummary{}}
			for _, t := range o.targets {
				mr.Targets[t.Name] = toJSONSummary(summarize(get(key{s.name, t.Name, ms.key})))
			}
			if ms.ratio && len(o.targets) > 1 {
				mr.Ratios = map[string]jsonSummary{}
				first := get(key{s.name, o.targets[0].Name, ms.key})
				for _, t := range o.targets[1:] {
					other := get(key{s.name, t.Name, ms.key})
					ratios := make([]float64, o.rounds)
					for i := range ratios {
						ratios[i] = first[i] / other[i]
					}
					mr.Ratios[o.targets[0].Name+"/"+t.Name] = toJSONSummary(summarize(ratios))
				}
			}
			sr.Metrics = append(sr.Metrics, mr)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	return rep
}

// cell formats a summary as "median [min–max]", with the number of rounds
// when some are missing.
func cell(s jsonSummary, rounds int) string {
	if s.N == 0 {
		return "-"
	}
	out := formatNum(float64(s.Median))
	if s.N > 1 {
		out += " [" + formatNum(float64(s.Min)) + "–" + formatNum(float64(s.Max)) + "]"
	}
	if s.N < rounds {
		out += fmt.Sprintf(" (n=%d)", s.N)
	}
	return out
}

// writeText prints a table per scenario, then the failed runs.
func (rep *report) writeText(w io.Writer) {
	rounds := 1
	if r, ok := rep.Config["rounds"].(int); ok {
		rounds = r
	}
	for _, s := range rep.Scenarios {
		fmt.Fprintf(w, "\n== %s: %s\n", s.Name, s.Description)
		fmt.Fprintf(w, "   median [min–max] over %d round(s); ratios paired per round\n", rounds)
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		var head bytes.Buffer
		head.WriteString("metric")
		for _, t := range rep.Targets {
			head.WriteString("\t" + t.Name)
		}
		var ratioNames []string
		if len(rep.Targets) > 1 {
			for _, t := range rep.Targets[1:] {
				ratioNames = append(ratioNames, rep.Targets[0].Name+"/"+t.Name)
				head.WriteString("\t" + rep.Targets[0].Name + "/" + t.Name)
			}
		}
		fmt.Fprintln(tw, head.String())
		for _, m := range s.Metrics {
			line := m.Metric
			for _, t := range rep.Targets {
				line += "\t" + cell(m.Targets[t.Name], rounds)
			}
			for _, rn := range ratioNames {
				if r, ok := m.Ratios[rn]; ok {
					line += "\t" + cell(r, rounds)
				} else {
					line += "\t"
				}
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	if rep.Failed > 0 {
		fmt.Fprintf(w, "\n%d failed run(s):\n", rep.Failed)
		for _, r := range rep.Runs {
			if r.Error != "" {
				fmt.Fprintf(w, "  round %d %s %s: %s\n", r.Round, r.Scenario, r.Target, firstLine(r.Error))
			}
		}
	}
}

// firstLine is the first line of s.
func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// writeJSON writes the report to a file.
func (rep *report) writeJSON(file string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}
