package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"difflab/runner/experiment"
	"difflab/stages"
)

func node(kind string, engine []string, res experiment.Resources) *experiment.Node {
	return &experiment.Node{
		ID: "edited[i_start=10]", Experiment: &experiment.Experiment{Path: "part_a/07 sdedit.yaml", File: "/x/experiments/part_a/07 sdedit.yaml"},
		Kind: &stages.Kind{Name: kind, Engine: engine}, Resources: res,
	}
}

func TestDefaultsAndLight(t *testing.T) {
	train := node("train.unet", []string{"gorgonia"}, experiment.Resources{})
	sample := node("sample.flow", []string{"onnxruntime"}, experiment.Resources{})
	plot := node("plot.grid", nil, experiment.Resources{})
	if d := Defaults(train); d.CPUs != 2 || d.Mem != 4<<30 || d.Time != 24*time.Hour {
		t.Errorf("training defaults: %+v", d)
	}
	big := node("train.unet", []string{"gorgonia"}, experiment.Resources{})
	big.Kind.Memory = func(stages.Params) (int64, []string) { return 8 << 30, nil }
	if d := Defaults(big); d.Mem != 10<<30 {
		t.Errorf("training that needs 8 GiB asks for %d bytes, want its need plus a quarter (10 GiB)", d.Mem)
	}
	if d := Defaults(sample); d.Mem != 2<<30 || d.Time != 2*time.Hour {
		t.Errorf("sampling defaults: %+v", d)
	}
	if d := Defaults(plot); d.CPUs != 1 || d.Time != 30*time.Minute {
		t.Errorf("plot defaults: %+v", d)
	}
	if Light(train) || Light(sample) || !Light(plot) {
		t.Errorf("Light: train %v, sample %v, plot %v; want only the plot", Light(train), Light(sample), Light(plot))
	}
	if Light(node("plot.grid", nil, experiment.Resources{Mem: 1 << 30})) {
		t.Errorf("a plot with resources set is light")
	}
}

// TestScript runs the batch script with a stand-in binary and checks the
// arguments it receives, quoting included.
func TestScript(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake difflab")
	os.WriteFile(bin, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"), 0o755)
	x := &Executor{cfg: Config{Binary: bin, Cache: "/shared/it's cache", StageArgs: []string{"--profile", "quick", "--set", "s.p=a b"}}}
	key := strings.Repeat("ab", 32)
	out, err := exec.Command("sh", "-c", x.script(node("plot.grid", nil, experiment.Resources{}), key, true)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run-stage", "--cache", "/shared/it's cache", "--root", "/x/experiments", "--profile", "quick",
		"--set", "s.p=a b", "--force", "/x/experiments/part_a/07 sdedit.yaml", "edited[i_start=10]", key}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("arguments:\n%q\nwant\n%q", got, want)
	}
	if name := logName(node("plot.grid", nil, experiment.Resources{}), key); name != "part_a_07_sdedit-edited_i_start=10_-abababababab-%j.log" {
		t.Errorf("log name %s", name)
	}
}

func TestFinal(t *testing.T) {
	for _, s := range []string{"PENDING", "RUNNING", "COMPLETING", "SUSPENDED"} {
		if final(s) {
			t.Errorf("%s is final", s)
		}
	}
	for _, s := range []string{"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"} {
		if !final(s) {
			t.Errorf("%s is not final", s)
		}
	}
}
