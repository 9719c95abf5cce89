package metrictable

import (
	"strings"
	"testing"

	"difflab/stages/artifact"
)

func f(v float64) *float64 { return &v }

func TestRowsMarkMovesBeyondIntervals(t *testing.T) {
	before := artifact.Metrics{
		{Name: "accuracy", Value: 0.9, N: 40, Lo: f(0.8), Hi: f(0.97)},
		{Name: "fd", Value: 10, N: 40, Lo: f(8), Hi: f(12)},
		{Name: "recall", Value: 0.5, N: 40},
		{Name: "share_3", Value: 0.1, N: 40},
	}
	after := artifact.Metrics{
		{Name: "accuracy", Value: 0.85, N: 40, Lo: f(0.75), Hi: f(0.95)}, // within both intervals
		{Name: "fd", Value: 30, N: 40, Lo: f(25), Hi: f(36)},             // outside
		{Name: "recall", Value: 0.1, N: 40},                              // no interval: never marked
	}
	rows := Rows([]Stage{{Experiment: "e.yaml", ID: "metrics", Runs: []artifact.Metrics{before, after}}}, true)
	if len(rows) != 3 {
		t.Fatalf("%d headline rows, want accuracy, fd and recall: %+v", len(rows), rows)
	}
	want := map[string]struct {
		diff  float64
		moved bool
	}{"accuracy": {-0.05, false}, "fd": {20, true}, "recall": {-0.4, false}}
	for _, r := range rows {
		w := want[r.Metric]
		if r.Diff == nil || *r.Diff-w.diff > 1e-12 || w.diff-*r.Diff > 1e-12 || r.Moved != w.moved {
			t.Errorf("%s: diff %v moved %v, want %v %v", r.Metric, r.Diff, r.Moved, w.diff, w.moved)
		}
	}
	all := Rows([]Stage{{Experiment: "e.yaml", ID: "metrics", Runs: []artifact.Metrics{before, after}}}, false)
	if len(all) != 4 || all[3].Values[1] != nil || all[3].Diff != nil {
		t.Errorf("share_3, missing in the second run: %+v", all[3])
	}
	var b strings.Builder
	if err := Write(&b, rows, []string{"old", "new"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"difference", "10 [8, 12] n=40", "+20 moved", "-0.05\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}
