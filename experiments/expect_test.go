package experiments_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"
)

// brokenModelYAML is an experiment whose expectations a model that does not
// learn must break.
const brokenModelYAML = `name: A tiny class-conditioned flow model measured against MNIST
doc: |
  A narrow flow-matching UNet trained briefly, forty samples of it measured by a small judge. With a learning
  rate of 1e-12 the model keeps its random weights, and the expectations below must fail the run.
stages:
  flow:
    kind: train.flow
    with: {cond: time_class, p_uncond: 0.1, hidden: 8, epochs: 2, batch: 64, train_count: 2048, lr: 1.0e-2, seed: 0}
  samples:
    kind: sample.flow
    in: {model: flow}
    with: {per_class: 4, cfg: 5, steps: 30, seed: 0}
  judge:
    kind: metrics.classifier
    with: {dataset: mnist, hidden: 64, epochs: 1, train_count: 10000}
  reference:
    kind: metrics.reference
    in: {classifier: judge}
    with: {dataset: mnist, count: 2000}
  metrics:
    kind: metrics.samples
    in: {samples: samples, labels: samples.labels, reference: reference}
    expect:
      accuracy: {min: 0.3}
      precision: {min: 0.1}
`

// TestFrozenModelBreaksExpectations trains a tiny flow model with a
// learning rate of 1e-12 (--set flow.lr=1e-12; a rate of 0 is refused by
// the kind): its weights stay random, its samples noise to the judge, and
// the run must report both expectations unmet with the values that broke
// them.
func TestFrozenModelBreaksExpectations(t *testing.T) {
	needData(t)
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	file := filepath.Join(t.TempDir(), "broken_model.yaml")
	if err := os.WriteFile(file, []byte(brokenModelYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := experiment.Load([]string{file}, experiment.Options{Sets: []string{"flow.lr=1e-12"}, MaxMemory: shippedMemory})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := runner.Run(context.Background(), g, runner.Options{Cache: c, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed > 0 || s.Unmet != 2 {
		t.Fatalf("%d failed, %d expectations unmet, want 0 and 2: %+v", s.Failed, s.Unmet, s.Stages)
	}
	for _, st := range s.Stages {
		for _, e := range st.Expectations {
			t.Logf("%s %s = %.3g (n %d), expected min %g", st.ID, e.Metric, e.Value, e.N, *e.Min)
			if e.Met || e.N != 40 || e.Value >= *e.Min {
				t.Errorf("%s: %+v, want an unmet bound on 40 samples", e.Metric, e)
			}
		}
	}
}
