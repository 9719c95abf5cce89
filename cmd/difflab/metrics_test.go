package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"difflab/runner"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "clitest.metrics", Doc: "reports accuracy = value, interval value -+ 0.1, over 10 samples", Version: 1,
		Outputs: []stages.Port{{Name: "metrics", Type: artifact.TypeMetrics}},
		Params:  []stages.Param{{Name: "value", Type: stages.Float}},
		Metrics: []string{"accuracy", "fd"},
		Run: func(ctx *stages.Context) error {
			v := ctx.Params.Float("value")
			lo, hi := v-0.1, v+0.1
			return ctx.Output("metrics", artifact.Metrics{{Name: "accuracy", Value: v, N: 10, Lo: &lo, Hi: &hi}})
		},
	})
}

const measuredYAML = `name: measured
stages:
  m:
    kind: clitest.metrics
    with: {value: 0.9}
    expect: {accuracy: {min: 0.8}}
`

func TestExpectationsDecideTheExitStatus(t *testing.T) {
	w := newWS(t, map[string]string{"measured.yaml": measuredYAML})
	exp := filepath.Join(w.exp, "measured.yaml")
	code, out, errs := w.do("run", exp)
	if code != exitOK || !regexp.MustCompile(`measured.yaml +m +accuracy +0.9 \[0.8, 1\] n=10`).MatchString(out) {
		t.Fatalf("met expectation: exit %d, want %d, and the metric table\n%s%s", code, exitOK, out, errs)
	}
	code, out, _ = w.do("run", exp, "--set", "m.value=0.5")
	want := `unmet     measured.yaml m: accuracy 0.5 [0.4, 0.6] n=10 breaks its bound min 0.8 (` + exp + `:6:14)`
	if code != exitUnmet || !strings.Contains(out, want) || !strings.Contains(out, "1 expectations unmet") {
		t.Fatalf("broken expectation: exit %d, want %d and %q\n%s", code, exitUnmet, want, out)
	}
	if code, _, _ = w.do("run", exp, "--set", "m.value=0.5", "--no-expect"); code != exitOK {
		t.Errorf("--no-expect: exit %d, want %d", code, exitOK)
	}
	code, out, _ = w.do("run", exp, "--set", "m.value=0.5", "--json")
	var s runner.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != exitUnmet || s.Unmet != 1 {
		t.Fatalf("--json: exit %d, unmet %d, %v\n%s", code, s.Unmet, err, out)
	}
	e := s.Stages[0].Expectations[0]
	if e.Metric != "accuracy" || e.Met || e.Value != 0.5 || *e.Min != 0.8 || e.Lo == nil || *e.Lo != 0.4 || e.N != 10 {
		t.Errorf("--json expectation: %+v", e)
	}
}

func TestMetricsCommandCompares(t *testing.T) {
	w := newWS(t, map[string]string{"measured.yaml": measuredYAML})
	exp := filepath.Join(w.exp, "measured.yaml")
	if code, out, _ := w.do("metrics", exp); code != exitOK || !strings.Contains(out, "no metrics") {
		t.Fatalf("empty cache: exit %d\n%s", code, out)
	}
	if code, _, errs := w.do("run", exp); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, errs)
	}
	before := w.cacheDir
	w.cacheDir = filepath.Join(w.dir, "cache2")
	if code, _, _ := w.do("run", exp, "--set", "m.value=0.5"); code != exitUnmet {
		t.Fatalf("run with value 0.5: exit %d, want %d", code, exitUnmet)
	}
	code, out, errs := w.do("metrics", exp, "--set", "m.value=0.5", "--compare", before)
	if code != exitOK || !regexp.MustCompile(`measured.yaml +m +accuracy +0.5 \[0.4, 0.6\] n=10 +0.9 \[0.8, 1\] n=10 +\+0.4 moved`).MatchString(out) {
		t.Fatalf("metrics --compare: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = w.do("metrics", exp, "--set", "m.value=0.5", "--compare", before, "--json")
	var got struct {
		Runs []string
		Rows []struct {
			Metric string
			Diff   float64
			Moved  bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK || len(got.Runs) != 2 || len(got.Rows) != 1 ||
		!got.Rows[0].Moved || got.Rows[0].Diff < 0.39 || got.Rows[0].Diff > 0.41 {
		t.Fatalf("metrics --json: exit %d, %v, %+v\n%s", code, err, got, out)
	}
}
