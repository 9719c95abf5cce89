package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/ort"
	"difflab/models/ort/orttest"
	"difflab/models/tensor"
)

// writeScaleModel writes a model directory whose velocity model computes
// u = x * k on 1 x 1 x len(k) images, with k in the external data file
// model.onnx.data, and returns the directory.
func writeScaleModel(t *testing.T, dir string, k []float32) string {
	t.Helper()
	if _, err := orttest.WriteScale(dir, k, "model.onnx.data"); err != nil {
		t.Fatal(err)
	}
	d := &modelfile.Description{
		Format: modelfile.Format, ONNX: "model.onnx", Predicts: modelfile.PredictsVelocity,
		Inputs:    modelfile.Inputs{Sample: orttest.Input},
		Output:    modelfile.Output{Name: orttest.Output, Channels: 1, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: 1, Height: 1, Width: len(k), Range: [2]float64{-1, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionNone},
	}
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
	return dir
}

const twoModelsYAML = `name: two models
stages:
  load_a:
    kind: model.load
    with: {path: ../models/a/model.json}
  load_b:
    kind: model.load
    with: {path: ../models/b/model.json}
  sample_a:
    kind: sample.flow
    in: {model: load_a}
    with: {n: 2, steps: 2, clip: false}
  sample_b:
    kind: sample.flow
    in: {model: load_b}
    with: {n: 2, steps: 2, clip: false}
`

// TestModelsDifferingInExternalWeights runs two models whose graphs are the
// same bytes and whose external weights differ, in one process: each
// stage must sample its own model, under its own key.
func TestModelsDifferingInExternalWeights(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	w := newWS(t, map[string]string{"two.yaml": twoModelsYAML})
	writeScaleModel(t, filepath.Join(w.dir, "models", "a"), []float32{1, 2})
	writeScaleModel(t, filepath.Join(w.dir, "models", "b"), []float32{3, 4})
	s := w.summary(w.exp, "--jobs", "1")
	keys := map[string]string{}
	for _, st := range s.Stages {
		keys[st.ID] = st.Key
	}
	if keys["load_a"] == keys["load_b"] || keys["sample_a"] == keys["sample_b"] {
		t.Fatalf("stages reading different weights share keys: %v", keys)
	}
	samples := func(stage string) []float32 {
		b, err := os.ReadFile(filepath.Join(w.results, "two", stage, "samples.npy"))
		if err != nil {
			t.Fatal(err)
		}
		_, data, err := tensor.DecodeNPY(b)
		if err != nil {
			t.Fatal(err)
		}
		return data.([]float32)
	}
	// Two Euler steps of u = x k from the same noise: x (1 + k/2)^2.
	a, b := samples("sample_a"), samples("sample_b")
	for i := range a {
		ka, kb := float32(1+i%2), float32(3+i%2)
		x0 := a[i] / ((1 + ka/2) * (1 + ka/2))
		if want := x0 * (1 + kb/2) * (1 + kb/2); abs32(b[i]-want) > 1e-5*max(1, abs32(want)) {
			t.Fatalf("sample_b = %v, want %v from sample_a = %v: did it run model a?", b, want, a)
		}
	}

	// A missing external data file stops the run before anything starts,
	// naming the file.
	os.Remove(filepath.Join(w.dir, "models", "b", "model.onnx.data"))
	code, _, errs := w.do("plan", w.exp)
	if code != exitValidation || !strings.Contains(errs, `"model.onnx.data"`) {
		t.Fatalf("plan without model b's external data: exit %d\n%s", code, errs)
	}
}

func abs32(v float32) float32 { return max(v, -v) }

// TestModelTheGraphContradictsStopsThePlan: a model.json whose image size
// the graph contradicts is an error of plan and run before anything runs,
// naming both files.
func TestModelTheGraphContradictsStopsThePlan(t *testing.T) {
	w := newWS(t, map[string]string{"two.yaml": twoModelsYAML})
	writeScaleModel(t, filepath.Join(w.dir, "models", "a"), []float32{1, 2})
	b := writeScaleModel(t, filepath.Join(w.dir, "models", "b"), []float32{3, 4})
	d, err := modelfile.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	d.Image.Width = 3 // the graph's images are 2 wide
	if err := modelfile.Write(b, d); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(b, "model.onnx") + " does not match " + filepath.Join(b, "model.json")
	for _, cmd := range []string{"plan", "run"} {
		if code, _, errs := w.do(cmd, w.exp); code != exitValidation || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d\n%s", cmd, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(w.results, "two")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stage ran: %v", err)
	}
}
