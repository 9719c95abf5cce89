package bench

import (
	"context"
	"testing"

	"difflab/models/ops"
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

func TestOptionsCheck(t *testing.T) {
	for _, o := range []Options{{0, 64, 1}, {8, 0, 1}, {8, 64, 0}} {
		if o.Check() == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
