package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := randTensor(rng, 2, 3, 7, 7)
	X := x.Data().([]float64)
	want := make([]float64, 6)
	for i := range want {
		for _, v := range X[i*49 : (i+1)*49] {
			want[i] += v / 49
		}
	}
	build := func(n []*G.Node) (*G.Node, error) { return GlobalAvgPool(n[0]) }
	closeTo(t, "float64", runGraph(t, build, []*tensor.Dense{x}), want, 1e-14)
	closeTo(t, "float32", runGraph(t, build, []*tensor.Dense{to32(x)}), want, 1e-6)
	checkGrad(t, build, []*tensor.Dense{randTensor(rng, 2, 2, 3, 4)}, 1e-7)
}

func TestLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x, w, b := randTensor(rng, 4, 3), randTensor(rng, 5, 3), randTensor(rng, 5)
	X, W, B := x.Data().([]float64), w.Data().([]float64), b.Data().([]float64)
	want := make([]float64, 20)
	for i := 0; i < 4; i++ {
		for o := 0; o < 5; o++ {
			want[i*5+o] = B[o]
			for k := 0; k < 3; k++ {
				want[i*5+o] += X[i*3+k] * W[o*3+k]
			}
		}
	}
	build := func(n []*G.Node) (*G.Node, error) { return Linear(n[0], n[1], n[2]) }
	closeTo(t, "float64", runGraph(t, build, []*tensor.Dense{x, w, b}), want, 1e-13)
	closeTo(t, "float32", runGraph(t, build, []*tensor.Dense{to32(x), to32(w), to32(b)}), want, 1e-5)
	checkGrad(t, build, []*tensor.Dense{x, w, b}, 1e-7)
	checkGrad(t, build, []*tensor.Dense{randTensor(rng, 3, 1), randTensor(rng, 6, 1), nil}, 1e-7)
}

func TestScaleShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	x, sc, sh := randTensor(rng, 2, 3, 4, 5), randTensor(rng, 2, 3), randTensor(rng, 2, 3)
	X, S, H := x.Data().([]float64), sc.Data().([]float64), sh.Data().([]float64)
	for _, tc := range []struct {
		name         string
		scale, shift bool
	}{{"both", true, true}, {"scale", true, false}, {"shift", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]float64, len(X))
			for i := range X {
				a, b := 1.0, 0.0
				if tc.scale {
					a = S[i/20]
				}
				if tc.shift {
					b = H[i/20]
				}
				want[i] = X[i]*a + b
			}
			in := []*tensor.Dense{x, nil, nil}
			if tc.scale {
				in[1] = sc
			}
			if tc.shift {
				in[2] = sh
			}
			build := func(n []*G.Node) (*G.Node, error) { return ScaleShift(n[0], n[1], n[2]) }
			closeTo(t, "float64", runGraph(t, build, in), want, 1e-14)
			checkGrad(t, build, in, 1e-7)
		})
	}
}

func TestClipGlobalNorm(t *testing.T) {
	grads := [][]float32{{3, 0}, {0, 4}}
	if n := ClipGlobalNorm(grads, 10); n != 5 || grads[0][0] != 3 || grads[1][1] != 4 {
		t.Fatalf("norm %g below the limit changed the gradients to %v", n, grads)
	}
	if n := ClipGlobalNorm(grads, 1); n != 5 {
		t.Fatalf("norm %g, want 5", n)
	}
	var ss float64
	for _, g := range grads {
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
	}
	if math.Abs(math.Sqrt(ss)-1) > 1e-6 || math.Abs(float64(grads[0][0])-0.6) > 1e-6 {
		t.Fatalf("clipped gradients %v, want norm 1 in the same direction", grads)
	}
}

// TestRepeatedRunsReuseBuffers runs one float32 graph of every operation
// twice with different inputs and checks each run against a fresh graph, so
// that buffers kept between runs never leak values from one run to the next.
func TestRepeatedRunsReuseBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	build := func(g *G.ExprGraph) (x, out *G.Node) {
		x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 2, 6, 6), G.WithName("x"))
		w1 := G.NodeFromAny(g, to32(randTensor(rand.New(rand.NewPCG(1, 1)), 3, 2, 3, 3)), G.WithName("w1"))
		w2 := G.NodeFromAny(g, to32(randTensor(rand.New(rand.NewPCG(2, 2)), 3, 2, 4, 4)), G.WithName("w2"))
		gm := G.NodeFromAny(g, to32(randTensor(rand.New(rand.NewPCG(3, 3)), 3)), G.WithName("g"))
		bt := G.NodeFromAny(g, to32(randTensor(rand.New(rand.NewPCG(4, 4)), 3)), G.WithName("b"))
		h := G.Must(Conv2d(x, w1, nil, 2, 1))
		h = G.Must(BatchNormGELU(h, gm, bt, NewBNStats(3), true))
		h = G.Must(ConvTranspose2d(h, w2, nil, 2, 1))
		return x, G.Must(GlobalAvgPool(h))
	}
	g := G.NewGraph()
	x, out := build(g)
	var v G.Value
	G.Read(out, &v)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	for run := 0; run < 2; run++ {
		in := to32(randTensor(rng, 2, 2, 6, 6))
		if err := G.Let(x, in); err != nil {
			t.Fatal(err)
		}
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := asF64(v)
		g2 := G.NewGraph()
		x2, out2 := build(g2)
		if err := G.Let(x2, in); err != nil {
			t.Fatal(err)
		}
		var v2 G.Value
		G.Read(out2, &v2)
		vm2 := G.NewTapeMachine(g2)
		if err := vm2.RunAll(); err != nil {
			t.Fatal(err)
		}
		want := asF64(v2)
		vm2.Close()
		closeTo(t, "second graph", got, want, 1e-6)
	}
}

func TestConcatChannels(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	a, b := randTensor(rng, 2, 2, 3, 3), randTensor(rng, 2, 3, 3, 3)
	A, B := a.Data().([]float64), b.Data().([]float64)
	var want []float64
	for i := 0; i < 2; i++ {
		want = append(want, A[i*18:(i+1)*18]...)
		want = append(want, B[i*27:(i+1)*27]...)
	}
	build := func(n []*G.Node) (*G.Node, error) { return ConcatChannels(n[0], n[1]) }
	closeTo(t, "float64", runGraph(t, build, []*tensor.Dense{a, b}), want, 0)
	closeTo(t, "float32", runGraph(t, build, []*tensor.Dense{to32(a), to32(b)}), want, 1e-7)
	checkGrad(t, build, []*tensor.Dense{a, b}, 1e-7)
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 2, 3, 3), G.WithName("x"))
	y := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 2, 4, 3), G.WithName("y"))
	if _, err := ConcatChannels(x, y); err == nil {
		t.Fatal("accepted maps of different heights")
	}
}
