package runner

import (
	"testing"

	"difflab/runner/experiment"
	"difflab/stages/artifact"
)

func TestCheckExpectations(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ms := artifact.Metrics{{Name: "fd", Value: 30, N: 40, Lo: f(25), Hi: f(36)}, {Name: "precision", Value: 0.5, N: 40}}
	exp := []experiment.Expectation{
		{Metric: "fd", Max: f(25), Pos: experiment.Pos{File: "e.yaml", Line: 3, Col: 7}},
		{Metric: "precision", Min: f(0.5), Max: f(0.9)},
		{Metric: "accuracy", Min: f(0.9)},
	}
	got := CheckExpectations(exp, ms)
	if len(got) != 3 {
		t.Fatalf("%d results for 3 expectations", len(got))
	}
	if fd := got[0]; fd.Met || fd.Value != 30 || fd.N != 40 || *fd.Lo != 25 || *fd.Hi != 36 || fd.Pos != "e.yaml:3:7" {
		t.Errorf("fd 30 against max 25: %+v", fd)
	}
	if p := got[1]; !p.Met || p.Lo != nil {
		t.Errorf("precision 0.5 within [0.5, 0.9] (inclusive): %+v", p)
	}
	if a := got[2]; a.Met || a.Missing == "" {
		t.Errorf("accuracy not reported: %+v, want unmet and missing", a)
	}
	s := Summary{Stages: []StageResult{{Expectations: got}}}
	s.count()
	if s.Unmet != 2 {
		t.Errorf("Unmet = %d, want 2", s.Unmet)
	}
}
