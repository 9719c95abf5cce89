// Package metrictable lays out the metrics of metric stages as a table:
// one row per stage and metric, one value column per run compared, and,
// for two runs, the difference with a mark where it goes beyond the runs'
// bootstrap intervals. The run summary, `difflab metrics` and the report
// share it.
package metrictable

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"difflab/stages/artifact"
)

// Stage is one metric stage's metrics in every run compared (nil where a
// run has none).
type Stage struct {
	Experiment string
	ID         string
	Runs       []artifact.Metrics
}

// Row is one metric of one stage.
type Row struct {
	Experiment string `json:"experiment"`
	Stage      string `json:"stage"`
	Metric     string `json:"metric"`
	// Values holds the metric in each run, nil where the run lacks it.
	Values []*artifact.Metric `json:"values"`
	// Diff is the second run's value minus the first's, when both exist.
	Diff *float64 `json:"diff,omitempty"`
	// Moved marks a difference beyond the intervals: either value lies
	// outside the other run's 95% interval (only metrics with intervals).
	Moved bool `json:"moved"`
}

// Headline reports whether a metric belongs in the short table: the
// per-class accuracies and shares (accuracy_K, share_K) do not.
func Headline(name string) bool {
	return !strings.HasPrefix(name, "accuracy_") && !strings.HasPrefix(name, "share_")
}

// Rows returns the rows of the stages, metrics in the order the first run
// that has them reports them; with headline set only Headline metrics.
func Rows(stages []Stage, headline bool) []Row {
	var rows []Row
	for _, s := range stages {
		var names []string
		seen := map[string]bool{}
		for _, ms := range s.Runs {
			for _, m := range ms {
				if !seen[m.Name] && (!headline || Headline(m.Name)) {
					seen[m.Name] = true
					names = append(names, m.Name)
				}
			}
		}
		for _, name := range names {
			r := Row{Experiment: s.Experiment, Stage: s.ID, Metric: name}
			for _, ms := range s.Runs {
				r.Values = append(r.Values, ms.Get(name))
			}
			if len(r.Values) == 2 && r.Values[0] != nil && r.Values[1] != nil {
				a, b := r.Values[0], r.Values[1]
				d := b.Value - a.Value
				r.Diff = &d
				r.Moved = d != 0 && (outside(b.Value, a) || outside(a.Value, b))
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// outside reports whether v lies outside m's interval (false without one).
func outside(v float64, m *artifact.Metric) bool {
	return m.Lo != nil && m.Hi != nil && (v < *m.Lo || v > *m.Hi)
}

// Format returns a metric as "value [lo, hi] n=N", or "-" for nil.
func Format(m *artifact.Metric) string {
	if m == nil {
		return "-"
	}
	s := fmt.Sprintf("%.4g", m.Value)
	if m.Lo != nil && m.Hi != nil {
		s += fmt.Sprintf(" [%.4g, %.4g]", *m.Lo, *m.Hi)
	}
	return s + fmt.Sprintf(" n=%d", m.N)
}

// Write prints rows as an aligned text table with one value column per
// label (the runs' names); with two runs it adds the difference, marked
// "moved" beyond the intervals.
func Write(w io.Writer, rows []Row, labels []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"experiment", "stage", "metric"}
	head = append(head, labels...)
	if len(labels) == 2 {
		head = append(head, "difference")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cols := []string{r.Experiment, r.Stage, r.Metric}
		for _, v := range r.Values {
			cols = append(cols, Format(v))
		}
		if len(labels) == 2 {
			d := "-"
			if r.Diff != nil {
				d = fmt.Sprintf("%+.4g", *r.Diff)
				if r.Moved {
					d += " moved"
				}
			}
			cols = append(cols, d)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}
