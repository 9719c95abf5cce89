package ops_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"difflab/models/ops"
	"difflab/models/train"
	"difflab/models/unet"
)

// lossCurve trains a small class-conditioned UNet for a few steps on fixed
// random data and returns the loss of every step.
func lossCurve(t *testing.T) []float64 {
	cfg := unet.Config{Cond: unet.TimeClass, Hidden: 8, Channels: 1, Classes: 10, Size: 28}
	const batch, steps = 8, 6
	rng := rand.New(rand.NewPCG(3, 4))
	n, per := batch*steps, 28*28
	data := &train.Dataset{Images: make([]float32, n*per), Labels: make([]int64, n), N: n, Per: per}
	for i := range data.Images {
		data.Images[i] = rng.Float32()
	}
	for i := range data.Labels {
		data.Labels[i] = int64(rng.IntN(10))
	}
	opt := train.Options{Net: cfg, Epochs: 1, Batch: batch, LR: 1e-3, Seed: 5}
	ck, err := train.Train(context.Background(), opt, data, train.Flow{Classes: 10, PUncond: 0.1}, nil, train.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	return ck.LossIter
}

// TestLossCurveSameOnEveryEngine trains with the build's kernels and with
// the pure-Go kernels: the two loss curves must agree up to float32
// rounding (in the pure-Go build both runs take the same path).
func TestLossCurveSameOnEveryEngine(t *testing.T) {
	native := lossCurve(t)
	ops.SetPureGo(true)
	defer ops.SetPureGo(false)
	pure := lossCurve(t)
	for i := range pure {
		if math.Abs(native[i]-pure[i]) > 1e-4*math.Abs(pure[i]) {
			t.Fatalf("engine %s: loss of step %d is %.7g, pure Go gives %.7g", ops.Engine, i+1, native[i], pure[i])
		}
	}
	if !(pure[len(pure)-1] < pure[0]) {
		t.Fatalf("loss did not fall: %v", pure)
	}
}
