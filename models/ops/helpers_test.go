package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// randTensor returns a float64 tensor of normal values.
func randTensor(rng *rand.Rand, shape ...int) *tensor.Dense {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// to32 converts a float64 tensor to float32.
func to32(t *tensor.Dense) *tensor.Dense {
	src := t.Data().([]float64)
	dst := make([]float32, len(src))
	for i, v := range src {
		dst[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(t.Shape().Clone()...), tensor.WithBacking(dst))
}

// asF64 returns t's values as float64.
func asF64(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	}
	panic("asF64: not a float tensor")
}

// builder makes the node under test from input nodes (nil entries stay nil).
type builder func(in []*G.Node) (*G.Node, error)

// runGraph builds the op on inputs (nil tensors give nil nodes), runs it once
// and returns the output values.
func runGraph(t *testing.T, build builder, inputs []*tensor.Dense) []float64 {
	t.Helper()
	g := G.NewGraph()
	nodes := make([]*G.Node, len(inputs))
	for i, in := range inputs {
		if in != nil {
			nodes[i] = G.NodeFromAny(g, in, G.WithName(string(rune('a'+i))))
		}
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	var v G.Value
	G.Read(out, &v)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return asF64(v)
}

// checkGrad compares the gradients of L = Σ out·R (R a fixed random tensor)
// with respect to every non-nil float64 input against central finite
// differences, running the same tape machine for every evaluation.
func checkGrad(t *testing.T, build builder, inputs []*tensor.Dense, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	g := G.NewGraph()
	var nodes, wrt []*G.Node
	var wrtIn []*tensor.Dense
	for i, in := range inputs {
		if in == nil {
			nodes = append(nodes, nil)
			continue
		}
		n := G.NodeFromAny(g, in, G.WithName(string(rune('a'+i))))
		nodes = append(nodes, n)
		wrt = append(wrt, n)
		wrtIn = append(wrtIn, in)
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	r := randTensor(rng, out.Shape()...)
	seed := G.NodeFromAny(g, r, G.WithName("seed"))
	grads, err := G.Backpropagate(G.Nodes{out}, G.Nodes{seed}, wrt)
	if err != nil {
		t.Fatal(err)
	}
	var outV G.Value
	G.Read(out, &outV)
	gradV := make([]G.Value, len(grads))
	for i, gn := range grads {
		G.Read(gn, &gradV[i])
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	loss := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range asF64(outV) {
			s += v * r.Data().([]float64)[i]
		}
		return s
	}
	// Two runs, so that buffers kept from the first cannot hide in the second.
	loss()
	loss()
	analytic := make([][]float64, len(grads))
	for i := range grads {
		analytic[i] = asF64(gradV[i])
	}
	const h = 1e-5
	for k, in := range wrtIn {
		x := in.Data().([]float64)
		if len(analytic[k]) != len(x) {
			t.Fatalf("input %d: gradient has %d values, input %d", k, len(analytic[k]), len(x))
		}
		for j := range x {
			orig := x[j]
			x[j] = orig + h
			up := loss()
			x[j] = orig - h
			down := loss()
			x[j] = orig
			num := (up - down) / (2 * h)
			if d := math.Abs(num - analytic[k][j]); d > tol*(1+math.Abs(num)) {
				t.Fatalf("input %d element %d: analytic gradient %.8g, finite difference %.8g", k, j, analytic[k][j], num)
			}
		}
	}
}

// closeTo fails when got and want differ by more than tol·(1+|want|).
func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d is %.8g, want %.8g", what, i, got[i], want[i])
		}
	}
}

// gradients returns the gradients of Σ out·seed with respect to every input.
func gradients(t *testing.T, build builder, inputs []*tensor.Dense, seed *tensor.Dense) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	var nodes, wrt []*G.Node
	for i, in := range inputs {
		if in == nil {
			nodes = append(nodes, nil)
			continue
		}
		n := G.NodeFromAny(g, in, G.WithName(string(rune('a'+i))))
		nodes, wrt = append(nodes, n), append(wrt, n)
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Backpropagate(G.Nodes{out}, G.Nodes{G.NodeFromAny(g, seed, G.WithName("seed"))}, wrt)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]G.Value, len(grads))
	for i, gn := range grads {
		G.Read(gn, &vals[i])
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(vals))
	for i, v := range vals {
		res[i] = asF64(v)
	}
	return res
}

// checkFloat32Grad compares the float32 gradients of an op (which may run
// the native kernels) with its float64 gradients.
func checkFloat32Grad(t *testing.T, build builder, inputs []*tensor.Dense, outShape []int, tol float64) {
	t.Helper()
	seed := randTensor(rand.New(rand.NewPCG(9, 10)), outShape...)
	want := gradients(t, build, inputs, seed)
	in32 := make([]*tensor.Dense, len(inputs))
	for i, in := range inputs {
		if in != nil {
			in32[i] = to32(in)
		}
	}
	got := gradients(t, build, in32, to32(seed))
	for i := range want {
		closeTo(t, fmt.Sprintf("float32 gradient %d", i), got[i], want[i], tol)
	}
}
