package unet

import (
	"strings"
	"testing"

	"difflab/models/safetensors"
	"difflab/models/tensor"
)

// TestAgainstPyTorch compares the class-conditioned UNet with the PyTorch
// reference module on a golden case written by testdata/torch_golden.py:
// the state_dict names and shapes, the inference-mode output, the
// training-mode output and the running statistics after one training pass.
func TestAgainstPyTorch(t *testing.T) {
	all, _, err := safetensors.ReadFile("testdata/torch_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	w := Weights{}
	for n, v := range all {
		if !strings.HasPrefix(n, "input.") && !strings.HasPrefix(n, "output.") && !strings.HasPrefix(n, "after_train.") {
			w[n] = v
		}
	}
	cfg := Config{Cond: TimeClass, Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	if err := w.Check(cfg); err != nil {
		t.Fatalf("the PyTorch state_dict does not match Specs: %v", err)
	}
	x, c, tt := all["input.x"].Data, all["input.c"].Data, all["input.t"].Data
	got, err := Forward(cfg, w, x, tt, c)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "inference output", got, all["output.eval"], 1e-5)

	net, err := Build(cfg, w, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.SetInputs(x, tt, c); err != nil {
		t.Fatal(err)
	}
	if got, err = net.Run(); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "training output", got, all["output.train"], 1e-4)
	after := net.Weights()
	for n, v := range all {
		if name, ok := strings.CutPrefix(n, "after_train."); ok {
			closeTo(t, name+" after a training pass", after[name].Data, v, 1e-5)
		}
	}
}

func closeTo(t *testing.T, what string, got []float32, want *tensor.Tensor, tol float64) {
	t.Helper()
	if len(got) != len(want.Data) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want.Data))
	}
	if d := maxDiff(got, want.Data); d > tol {
		t.Errorf("%s differs from PyTorch by %g (tolerance %g)", what, d, tol)
	}
}
