package onnxexport_test

import (
	"math/rand/v2"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
)

// BenchmarkUNetBatch80 times one evaluation of the exported class-conditioned
// UNet (D = 64, MNIST size) at batch 80 in ONNX Runtime.
func BenchmarkUNetBatch80(b *testing.B) {
	spec := modelfile.UNet{Cond: "time_class", Hidden: 64, Channels: 1, Classes: 10, Size: 28}
	model, err := onnxexport.UNet(spec, onnxexport.RandomWeights(spec, 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	s := session(b, model)
	rng := rand.New(rand.NewPCG(1, 1))
	const B = 80
	in := []ort.Value{
		{Name: "x", Shape: []int64{B, 1, 28, 28}, Float32: randn(rng, B*784)},
		{Name: "t", Shape: []int64{B, 1}, Float32: randn(rng, B)},
		{Name: "c", Shape: []int64{B, 10}, Float32: make([]float32, B*10)},
	}
	if _, err := s.Run(in); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "img/s")
}
