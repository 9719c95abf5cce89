package train

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"difflab/models/safetensors"
	"difflab/models/tensor"
	"difflab/models/unet"
)

// TestStepsAgainstPyTorch runs the training steps of testdata/torch_steps.py
// (the PyTorch reference UNet, Adam, clipping) from the same weights on the
// same batches, and compares every step's loss and the weights after the
// last step.
func TestStepsAgainstPyTorch(t *testing.T) {
	all, _, err := safetensors.ReadFile("testdata/torch_steps.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefix string
		cfg    unet.Config
		clip   float64
	}{
		{"time/", unet.Config{Cond: unet.Time, Hidden: 4, Channels: 1, Size: 28}, 0},
		{"class/", unet.Config{Cond: unet.TimeClass, Hidden: 4, Channels: 1, Size: 28, Classes: 10}, 0.5},
	} {
		t.Run(strings.TrimSuffix(tc.prefix, "/"), func(t *testing.T) {
			want := all[tc.prefix+"loss"].Data
			init, final := tensorsUnder(all, tc.prefix+"init."), tensorsUnder(all, tc.prefix+"final.")
			opt := Options{Net: tc.cfg, Epochs: 1, Batch: 4, LR: 1e-2, Clip: tc.clip}
			tr, err := newTrainer(opt, &Checkpoint{Weights: init})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.net.Close()
			for k, w := range want {
				step := fmt.Sprintf("%sstep%d.", tc.prefix, k)
				copy(tr.batch.X, all[step+"x"].Data)
				copy(tr.batch.T, all[step+"t"].Data)
				copy(tr.batch.Target, all[step+"target"].Data)
				if c := all[step+"c"]; c != nil {
					copy(tr.batch.C, c.Data)
				}
				got, err := tr.step(opt.LR)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-float64(w)) > 1e-5*math.Abs(float64(w)) {
					t.Errorf("step %d: loss %.7g, PyTorch %.7g", k+1, got, w)
				}
			}
			// Conv biases right before a BatchNorm get gradients of rounding
			// noise only (the normalisation cancels them), which Adam scales up
			// to full steps of either sign: they are left out, and so are the
			// running means, which follow those biases.
			got := tr.net.Weights()
			for name, w := range final {
				if beforeBatchNorm(name) || strings.HasSuffix(name, ".running_mean") {
					continue
				}
				for i, v := range w.Data {
					if d := math.Abs(float64(got[name].Data[i] - v)); d > 1e-4+1e-4*math.Abs(float64(v)) {
						t.Fatalf("%s[%d] after %d steps = %v, PyTorch %v", name, i, len(want), got[name].Data[i], v)
					}
				}
			}
		})
	}
}

// tensorsUnder returns the tensors whose names start with prefix, under the
// rest of their names.
func tensorsUnder(all map[string]*tensor.Tensor, prefix string) unet.Weights {
	w := unet.Weights{}
	for n, v := range all {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			w[rest] = v
		}
	}
	return w
}

// beforeBatchNorm reports whether name is the bias of a convolution that a
// BatchNorm follows: every Conv, DownConv, UpConv and Unflatten ("<block>.0.bias").
func beforeBatchNorm(name string) bool {
	return strings.HasSuffix(name, ".0.bias") && !strings.HasPrefix(name, "fc") && name != "out.bias"
}
