package bench

import (
	"context"
	"errors"
	"testing"

	"difflab/models/ops"
	"difflab/models/ort"
	"difflab/models/train"
)

func TestTrainReportsASmallRun(t *testing.T) {
	r, err := Train(context.Background(), Options{Batch: 2, Hidden: 4, Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != ops.Engine || r.Batch != 2 || r.Steps != 2 {
		t.Fatalf("result %+v does not echo the options", r)
	}
	if !(r.SecondsPerStep > 0) || r.ImagesPerSecond != 2/r.SecondsPerStep {
		t.Fatalf("inconsistent timing %+v", r)
	}
	if !(r.Loss > 0) {
		t.Fatalf("loss %v, want a positive mean squared error", r.Loss)
	}
	if r.PeakRSSMB < 1 {
		t.Fatalf("peak RSS %v MB", r.PeakRSSMB)
	}
}

// TestTrainThroughONNXRuntime runs a small benchmark through the ONNX
// Runtime engine on the CPU.
func TestTrainThroughONNXRuntime(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	r, err := Train(context.Background(), Options{Batch: 2, Hidden: 4, Steps: 2, Engine: train.ONNXRuntime})
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer != "onnxruntime" || r.Engine != "onnxruntime "+ort.LibVersion || r.Device != "cpu" || r.Batch != 2 {
		t.Fatalf("result %+v does not say what ran", r)
	}
	if !(r.SecondsPerStep > 0) || !(r.Loss > 0) {
		t.Fatalf("result %+v: want a positive time and loss", r)
	}
}

func TestOptionsCheck(t *testing.T) {
	for _, o := range []Options{{Batch: 0, Hidden: 64, Steps: 1}, {Batch: 8, Hidden: 0, Steps: 1}, {Batch: 8, Hidden: 64, Steps: 0},
		{Batch: 8, Hidden: 64, Steps: 1, Engine: "torch"}} {
		if o.Check() == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
