package onnxexport_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/unet"
)

// TestGorgoniaAndONNXRuntimeAgree runs the same weights through the
// Gorgonia inference forward pass (models/unet) and through the ONNX export
// in ONNX Runtime, and bounds the largest difference.
func TestGorgoniaAndONNXRuntimeAgree(t *testing.T) {
	for i, spec := range []modelfile.UNet{
		{Cond: "none", Hidden: 4, Channels: 1, Size: 28},
		{Cond: "time", Hidden: 4, Channels: 1, Size: 28},
		{Cond: "time_class", Hidden: 8, Channels: 1, Classes: 10, Size: 28},
	} {
		t.Run(spec.Cond, func(t *testing.T) {
			w := onnxexport.RandomWeights(spec, uint64(10+i))
			model, err := onnxexport.UNet(spec, w, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := session(t, model)
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			const B = 4
			x := randn(rng, B*784)
			tv := []float32{0, 0.25, 0.6, 1}
			cv := make([]float32, B*10)
			for b := range 3 { // the last row stays unconditional
				cv[b*10+(3*b+1)%10] = 1
			}
			in := []ort.Value{{Name: "x", Shape: []int64{B, 1, 28, 28}, Float32: x}}
			cfg := unet.Config{Cond: unet.Conditioning(spec.Cond), Hidden: spec.Hidden, Channels: 1, Classes: spec.Classes, Size: 28}
			var gt, gc []float32
			if spec.Cond != "none" {
				in = append(in, ort.Value{Name: "t", Shape: []int64{B, 1}, Float32: tv})
				gt = tv
			}
			if spec.Cond == "time_class" {
				in = append(in, ort.Value{Name: "c", Shape: []int64{B, 10}, Float32: cv})
				gc = cv
			}
			got, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := unet.Forward(cfg, unet.Weights(w), x, gt, gc)
			if err != nil {
				t.Fatal(err)
			}
			diff, scale := 0.0, 0.0
			for k := range want {
				diff = math.Max(diff, math.Abs(float64(got[0].Float32[k]-want[k])))
				scale = math.Max(scale, math.Abs(float64(want[k])))
			}
			t.Logf("max |ONNX Runtime - Gorgonia| = %.3g (max |output| = %.3g)", diff, scale)
			if len(want) != len(got[0].Float32) || diff > 1e-5*math.Max(1, scale) {
				t.Fatalf("ONNX Runtime and Gorgonia differ by %g", diff)
			}
		})
	}
}
