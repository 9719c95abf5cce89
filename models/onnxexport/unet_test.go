package onnxexport_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/tensor"
)

// session writes model to a temporary file and loads it into ONNX Runtime,
// skipping the test when the runtime library is not installed.
func session(t testing.TB, model []byte) *ort.Session {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ort.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Release)
	return s
}

func randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// maxDiff returns the largest |a-b| and the largest |b|.
func maxDiff(a []float32, b []float64) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i])-b[i]))
		scale = math.Max(scale, math.Abs(b[i]))
	}
	return diff, scale
}

func TestUNetMatchesReference(t *testing.T) {
	cases := []struct {
		spec modelfile.UNet
		keep bool
	}{
		{modelfile.UNet{Cond: "none", Hidden: 4, Channels: 1, Size: 8}, false},
		{modelfile.UNet{Cond: "time", Hidden: 3, Channels: 2, Size: 12}, false},
		{modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}, false},
		{modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 3, Classes: 5, Size: 16}, true},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s_D%d_C%d_S%d_keepBN=%v", tc.spec.Cond, tc.spec.Hidden, tc.spec.Channels, tc.spec.Size, tc.keep), func(t *testing.T) {
			w := onnxexport.RandomWeights(tc.spec, uint64(i))
			w["c0.0.1.num_batches_tracked"] = tensor.New(1) // in PyTorch state_dicts; ignored
			model, err := onnxexport.UNet(tc.spec, w, &onnxexport.Options{KeepBatchNorm: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			s := session(t, model)
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			B, C, S := 3, tc.spec.Channels, tc.spec.Size
			x := randn(rng, B*C*S*S)
			in := []ort.Value{{Name: "x", Shape: []int64{int64(B), int64(C), int64(S), int64(S)}, Float32: x}}
			var tv, cv []float32
			if tc.spec.Cond != "none" {
				tv = []float32{0, 0.37, 1}
				in = append(in, ort.Value{Name: "t", Shape: []int64{int64(B), 1}, Float32: tv})
			}
			if tc.spec.Cond == "time_class" {
				cv = make([]float32, B*tc.spec.Classes)
				cv[0*tc.spec.Classes+1] = 1 // class 1, class 3, unconditional
				cv[1*tc.spec.Classes+3] = 1
				in = append(in, ort.Value{Name: "c", Shape: []int64{int64(B), int64(tc.spec.Classes)}, Float32: cv})
			}
			out, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			want := refUNet(tc.spec, w, B, x, tv, cv)
			diff, scale := maxDiff(out[0].Float32, want)
			t.Logf("max |ORT - reference| = %.3g (max |reference| = %.3g)", diff, scale)
			if len(out[0].Float32) != len(want) || diff > 1e-5*math.Max(1, scale) {
				t.Fatalf("ONNX Runtime differs from the reference by %g (scale %g)", diff, scale)
			}
		})
	}
}

func TestUNetNamesBadWeights(t *testing.T) {
	spec := modelfile.UNet{Cond: "time", Hidden: 2, Channels: 1, Size: 8}
	w := onnxexport.RandomWeights(spec, 1)
	delete(w, "fc2_t.2.bias")
	w["un.1.running_var"].Shape = []int{3}
	w["fc1_c.0.weight"] = w["out.bias"]
	_, err := onnxexport.UNet(spec, w, nil)
	if err == nil {
		t.Fatal("no error for bad weights")
	}
	for _, want := range []string{`"fc2_t.2.bias" missing`, `"un.1.running_var" has shape [3], want [4]`, `unexpected weights [fc1_c.0.weight]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := onnxexport.UNet(modelfile.UNet{Cond: "time", Hidden: 2, Channels: 1, Size: 10}, w, nil); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
		t.Errorf("size 10: got %v", err)
	}
}

func TestWriteUNetDirRunsThroughPredictor(t *testing.T) {
	spec := modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	d, err := onnxexport.UNetDescription(spec, modelfile.PredictsEpsilon)
	if err != nil {
		t.Fatal(err)
	}
	if d.Timestep.Scale != 0.001 || d.Image.Range[0] != -1 || d.Condition.Size != 10 {
		t.Fatalf("DDPM description %+v", d)
	}
	dir := t.TempDir()
	w := onnxexport.RandomWeights(spec, 7)
	if err := onnxexport.WriteUNetDir(dir, d, w); err != nil {
		t.Fatal(err)
	}
	m, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := &tensor.Tensor{Shape: []int{2, 1, 28, 28}, Data: randn(rng, 2*784)}
	cond, _ := m.Conditions([]string{"", ""})
	cond[1][4] = 1
	p, err := m.Predict(x, []float64{500, 20}, cond)
	if err != nil {
		t.Fatal(err)
	}
	c := make([]float32, 20)
	c[14] = 1
	want := refUNet(spec, w, 2, x.Data, []float32{0.5, 0.02}, c)
	if diff, scale := maxDiff(p.Out.Data, want); diff > 1e-5*max(1, scale) {
		t.Fatalf("predictor differs from the reference by %g", diff)
	}
}
