package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"difflab/models/dataset"
	"difflab/models/ort"
	"difflab/runner"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "clitest.ort", Doc: "names the onnxruntime engine; creates $DIFFLAB_TEST_READY", Version: 1,
		Engine:  []string{"onnxruntime"},
		Outputs: []stages.Port{{Name: "out", Type: artifact.TypeTensor}},
		Run: func(ctx *stages.Context) error {
			os.WriteFile(os.Getenv("DIFFLAB_TEST_READY"), nil, 0o644)
			return ctx.Output("out", artifact.NewTensor(1))
		},
	})
}

// process runs difflab with args plus the workspace's cache and results
// flags in a new process (ONNX Runtime initialises once per process, and
// GOMAXPROCS is read at start) whose environment adds env.
func (w *ws) process(env []string, cmd string, args ...string) (int, string, string) {
	w.t.Helper()
	all := append([]string{cmd, "--cache", w.cacheDir}, args...)
	if cmd == "run" || cmd == "plan" {
		all = append(all, "--results", w.results)
	}
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(append(os.Environ(), "DIFFLAB_CLI_HELPER="+strings.Join(all, "\x1f")), env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		w.t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// Keys name the ONNX Runtime library that Init insists on, so they do not
// depend on whether a library is there: plan works without it, and run
// stops before any stage with exit 3 when a stage needs it and it is
// missing or another one.
func TestORTLibraryChecks(t *testing.T) {
	w := newWS(t, map[string]string{"ort.yaml": "stages:\n  m:\n    kind: clitest.ort\n"})
	ran := filepath.Join(w.dir, "ran")
	missing := filepath.Join(w.dir, "lib", ort.LibName)
	other := filepath.Join(w.dir, "other", ort.LibName)
	os.MkdirAll(filepath.Dir(other), 0o755)
	os.WriteFile(other, []byte("not ONNX Runtime"), 0o644)
	env := func(lib string) []string { return []string{ort.LibEnv + "=" + lib, "DIFFLAB_TEST_READY=" + ran} }

	code, out, errs := w.process(env(missing), "plan", "--explain-keys", w.exp)
	if code != exitOK || !strings.Contains(out, "would-run ort.yaml m: no entry (never run)") {
		t.Fatalf("plan without the library: exit %d\n%s%s", code, out, errs)
	}
	keyLines := errs
	if !strings.Contains(keyLines, "\tengine onnxruntime library ONNX Runtime "+ort.LibVersion+", "+ort.LibName+" sha256 "+ort.LibSHA256+"\n") {
		t.Fatalf("key lines lack the library:\n%s", keyLines)
	}
	for _, c := range []struct{ lib, want string }{{missing, "ONNX Runtime library not found"}, {other, "not the ONNX Runtime library difflab runs"}} {
		code, out, errs := w.process(env(c.lib), "run", w.exp)
		if code != exitValidation || !strings.Contains(errs, "engine onnxruntime, needed by ort.yaml:m, cannot run") ||
			!strings.Contains(errs, c.want) || !strings.Contains(errs, "fix:") {
			t.Errorf("run with %s: exit %d\n%s%s", c.lib, code, out, errs)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Fatalf("run with %s started the stage", c.lib)
		}
		if _, _, errs := w.process(env(c.lib), "plan", "--explain-keys", w.exp); errs != keyLines {
			t.Errorf("key lines with %s:\n%s\nwithout a library:\n%s", c.lib, errs, keyLines)
		}
	}

	lib, err := ort.LibraryPath()
	if errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	if code, out, errs := w.process(env(lib), "run", w.exp); code != exitOK {
		t.Fatalf("run with the library: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(ran); err != nil {
		t.Fatal("the stage did not run")
	}
	if code, out, errs := w.process(env(missing), "run", w.exp); code != exitOK || !strings.Contains(out, "0 executed, 1 cached") {
		t.Fatalf("cached run without the library: exit %d\n%s%s", code, out, errs)
	}
}

// A training stage computed with 2 workers is reproduced to the bit with
// 1 and 4.
func TestReproduceTrainingWithOtherWorkerCounts(t *testing.T) {
	root, err := dataset.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dataset.MNIST.Files(root, dataset.Train); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	w := newWS(t, map[string]string{"tiny.yaml": "stages:\n  flow:\n    kind: train.flow\n" +
		"    with: {train_count: 96, hidden: 4, epochs: 2, batch: 32, seed: 1}\n"})
	summary := func(workers string, args ...string) runner.StageResult {
		t.Helper()
		code, out, errs := w.process([]string{"GOMAXPROCS=" + workers}, "run", append(args, "--json", w.exp)...)
		var s runner.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Stages) != 1 {
			t.Fatalf("GOMAXPROCS=%s run %v: exit %d\n%s%s", workers, args, code, out, errs)
		}
		return s.Stages[0]
	}
	first := summary("2")
	if first.Status != runner.StatusExecuted {
		t.Fatalf("first run: %+v", first)
	}
	for _, workers := range []string{"1", "4"} {
		r := summary(workers, "--reproduce")
		if r.Status != runner.StatusExecuted || r.Key != first.Key || !regexp.MustCompile(`^reproduced: outputs identical`).MatchString(r.Reason) {
			t.Errorf("GOMAXPROCS=%s --reproduce: %+v", workers, r)
		}
	}
}
