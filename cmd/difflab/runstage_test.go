package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"difflab/runner"
)

// planKeys returns the planned key of every node of the workspace.
func (w *ws) planKeys() map[string]string {
	w.t.Helper()
	code, out, errs := w.do("plan", "--json", w.exp)
	var s runner.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != exitOK {
		w.t.Fatalf("plan: exit %d, %v\n%s", code, err, errs)
	}
	keys := map[string]string{}
	for _, st := range s.Stages {
		keys[st.ID] = st.Key
	}
	return keys
}

func TestRunStage(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	keys := w.planKeys()
	file := filepath.Join(w.exp, "demo.yaml")
	stage := func(id, key string) (int, runner.StageResult, string) {
		code, out, errs := w.do("run-stage", "--root", w.exp, file, id, key)
		var res runner.StageResult
		if out != "" {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("run-stage %s: stdout %q: %v", id, out, err)
			}
		}
		return code, res, errs
	}
	if code, _, errs := stage("b", keys["b"]); code != exitError || !strings.Contains(errs, "input a of b") {
		t.Fatalf("b before a: exit %d, want %d naming the missing input; stderr:\n%s", code, exitError, errs)
	}
	if code, _, errs := stage("a", strings.Repeat("0", 64)); code != exitValidation || !strings.Contains(errs, "a file it reads changed") {
		t.Fatalf("a with another key: exit %d, want %d; stderr:\n%s", code, exitValidation, errs)
	}
	if code, _, errs := stage("nope", keys["a"]); code != exitUsage || !strings.Contains(errs, "no such stage") {
		t.Fatalf("unknown stage: exit %d, want %d; stderr:\n%s", code, exitUsage, errs)
	}
	for _, id := range []string{"a", "b"} {
		code, res, errs := stage(id, keys[id])
		if code != exitOK || res.Status != runner.StatusExecuted || res.Key != keys[id] {
			t.Fatalf("run-stage %s: exit %d, result %+v\n%s", id, code, res, errs)
		}
	}
	if code, res, _ := stage("b", keys["b"]); code != exitOK || res.Status != runner.StatusCached {
		t.Fatalf("run-stage b again: exit %d, status %s, want cached", code, res.Status)
	}
	// The head finds what the stage processes published.
	s := w.summary(w.exp)
	if got := statuses(s); got != "a=cached b=cached c=executed d=executed pics=executed" {
		t.Fatalf("run after run-stage: %s", got)
	}
	for _, st := range s.Stages {
		if len(st.Outputs) == 0 {
			t.Fatalf("%s's outputs were not copied to the results: %+v", st.ID, st)
		}
	}
}

func TestUnknownExecutor(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	code, _, errs := w.do("run", "--executor", "nope", w.exp)
	if code != exitUsage || !strings.Contains(errs, "--executor nope: unknown executor (fix: --executor local or --executor slurm)") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	if code, _, errs := w.do("plan", "--executor", "slurm", w.exp); code != exitUsage || !strings.Contains(errs, "flag provided but not defined: -executor") {
		t.Fatalf("plan --executor: exit %d, stderr:\n%s", code, errs)
	}
}
