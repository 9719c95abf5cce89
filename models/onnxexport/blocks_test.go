package onnxexport_test

import (
	"math/rand/v2"
	"testing"

	"difflab/models/onnxexport"
	"difflab/models/ort"
)

// runBlock builds a one-node graph op(x, consts...) on input x of the given
// shape and returns ONNX Runtime's output.
func runBlock(t *testing.T, x *tensor4, op string, consts [][]float32, shapes [][]int, outDims []int64, attrs ...onnxexport.Attr) []float32 {
	t.Helper()
	g := onnxexport.NewGraph("block")
	in := []string{g.Input("x", onnxexport.Float32, onnxexport.Batch, int64(x.c), int64(x.h), int64(x.w))}
	for i, c := range consts {
		in = append(in, g.Const(string(rune('a'+i)), shapes[i], c))
	}
	g.NodeTo("y", op, in, attrs...)
	g.Output("y", onnxexport.Float32, outDims...)
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	xs := make([]float32, len(x.d))
	for i, v := range x.d {
		xs[i] = float32(v)
	}
	out, err := session(t, model).Run([]ort.Value{{Name: "x", Shape: []int64{int64(x.n), int64(x.c), int64(x.h), int64(x.w)}, Float32: xs}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Float32
}

func randT4(rng *rand.Rand, n, c, h, w int) *tensor4 {
	t := newT4(n, c, h, w)
	for i := range t.d {
		t.d[i] = float64(float32(rng.NormFloat64()))
	}
	return t
}

func check(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	diff, scale := maxDiff(got, want)
	t.Logf("%s: max abs difference %.3g (scale %.3g)", what, diff, scale)
	if diff > tol*max(1, scale) {
		t.Fatalf("%s: ONNX Runtime differs from the naive implementation by %g", what, diff)
	}
}

func TestConvTransposeStride2Pad1(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randT4(rng, 2, 3, 5, 5)
	w, b := randn(rng, 3*4*4*4), randn(rng, 4)
	got := runBlock(t, x, "ConvTranspose", [][]float32{w, b}, [][]int{{3, 4, 4, 4}, {4}}, []int64{onnxexport.Batch, 4, 10, 10},
		onnxexport.Ints("kernel_shape", 4, 4), onnxexport.Ints("strides", 2, 2), onnxexport.Ints("pads", 1, 1, 1, 1))
	check(t, "ConvTranspose(4, 2, 1)", got, convT2d(x, w, b, 4, 4, 2, 1).d, 1e-5)
}

func TestUnflattenConvTranspose7x7Stride7(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randT4(rng, 3, 6, 1, 1)
	w, b := randn(rng, 6*6*7*7), randn(rng, 6)
	got := runBlock(t, x, "ConvTranspose", [][]float32{w, b}, [][]int{{6, 6, 7, 7}, {6}}, []int64{onnxexport.Batch, 6, 7, 7},
		onnxexport.Ints("kernel_shape", 7, 7), onnxexport.Ints("strides", 7, 7), onnxexport.Ints("pads", 0, 0, 0, 0))
	check(t, "ConvTranspose(7, 7, 0)", got, convT2d(x, w, b, 6, 7, 7, 0).d, 1e-5)
}

func TestGelu(t *testing.T) {
	x := newT4(1, 1, 1, 81)
	for i := range x.d {
		x.d[i] = float64(i-40) / 8 // -5 .. 5
	}
	got := runBlock(t, x, "Gelu", nil, nil, []int64{onnxexport.Batch, 1, 1, 81})
	check(t, "Gelu", got, geluT(x).d, 1e-6)
}

func TestBatchNormalizationAndFolding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randT4(rng, 2, 4, 3, 3)
	gamma, beta, mean := randn(rng, 4), randn(rng, 4), randn(rng, 4)
	variance := []float32{0.5, 1, 2, 0.01}
	want := batchNorm(x, gamma, beta, mean, variance)
	got := runBlock(t, x, "BatchNormalization", [][]float32{gamma, beta, mean, variance}, [][]int{{4}, {4}, {4}, {4}}, []int64{onnxexport.Batch, 4, 3, 3},
		onnxexport.Float("epsilon", onnxexport.BNEpsilon))
	check(t, "BatchNormalization", got, want.d, 1e-5)

	// Folding BN into a convolution, plain and transposed, matches conv then BN.
	w, b := randn(rng, 4*4*3*3), randn(rng, 4)
	wf, bf := onnxexport.FoldBatchNorm(w, b, gamma, beta, mean, variance, []int{4, 4, 3, 3}, false)
	check(t, "folded Conv", toF32(conv2d(x, wf, bf, 4, 3, 1, 1).d), batchNorm(conv2d(x, w, b, 4, 3, 1, 1), gamma, beta, mean, variance).d, 1e-5)
	wt := randn(rng, 4*4*4*4)
	wf, bf = onnxexport.FoldBatchNorm(wt, b, gamma, beta, mean, variance, []int{4, 4, 4, 4}, true)
	check(t, "folded ConvTranspose", toF32(convT2d(x, wf, bf, 4, 4, 2, 1).d), batchNorm(convT2d(x, wt, b, 4, 4, 2, 1), gamma, beta, mean, variance).d, 1e-5)
}

func toF32(d []float64) []float32 {
	out := make([]float32, len(d))
	for i, v := range d {
		out[i] = float32(v)
	}
	return out
}
