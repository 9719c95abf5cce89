package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// naiveBN is PyTorch's batch norm written out: training normalises with the
// biased batch variance; otherwise with the given running statistics.
func naiveBN(x, gamma, beta *tensor.Dense, mean, variance []float64, training bool) (y, batchMean, batchVar []float64) {
	s := x.Shape()
	n, c, plane := s[0], s[1], s[2]*s[3]
	X, gm, bt := x.Data().([]float64), gamma.Data().([]float64), beta.Data().([]float64)
	y = make([]float64, len(X))
	batchMean, batchVar = make([]float64, c), make([]float64, c)
	for ci := 0; ci < c; ci++ {
		var vals []float64
		for i := 0; i < n; i++ {
			vals = append(vals, X[(i*c+ci)*plane:(i*c+ci+1)*plane]...)
		}
		var m, v float64
		for _, a := range vals {
			m += a
		}
		m /= float64(len(vals))
		for _, a := range vals {
			v += (a - m) * (a - m)
		}
		v /= float64(len(vals))
		batchMean[ci], batchVar[ci] = m, v
		um, uv := m, v
		if !training {
			um, uv = mean[ci], variance[ci]
		}
		for i := 0; i < n; i++ {
			for j := 0; j < plane; j++ {
				k := (i*c+ci)*plane + j
				y[k] = (X[k]-um)/math.Sqrt(uv+1e-5)*gm[ci] + bt[ci]
			}
		}
	}
	return y, batchMean, batchVar
}

func exactGELU(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func bnBuilder(st *BNStats, training, fused bool) builder {
	return func(in []*G.Node) (*G.Node, error) {
		if fused {
			return BatchNormGELU(in[0], in[1], in[2], st, training)
		}
		return BatchNorm(in[0], in[1], in[2], st, training)
	}
}

func TestBatchNormMatchesPyTorchSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n, c, h = 3, 4, 5
	x, gamma, beta := randTensor(rng, n, c, h, h), randTensor(rng, c), randTensor(rng, c)
	for _, fused := range []bool{false, true} {
		st := NewBNStats(c)
		got := runGraph(t, bnBuilder(st, true, fused), []*tensor.Dense{to32(x), to32(gamma), to32(beta)})
		want, bm, bv := naiveBN(x, gamma, beta, nil, nil, true)
		if fused {
			for i := range want {
				want[i] = exactGELU(want[i])
			}
		}
		closeTo(t, "training output", got, want, 2e-5)
		cnt := float64(n * h * h)
		for ci := 0; ci < c; ci++ {
			wm, wv := 0.1*bm[ci], 0.9+0.1*bv[ci]*cnt/(cnt-1)
			if math.Abs(float64(st.RunningMean[ci])-wm) > 1e-6 || math.Abs(float64(st.RunningVar[ci])-wv) > 1e-6 {
				t.Fatalf("channel %d: running stats (%g, %g), want (%g, %g)", ci, st.RunningMean[ci], st.RunningVar[ci], wm, wv)
			}
		}
		rm, rv := make([]float64, c), make([]float64, c)
		for ci := range rm {
			rm[ci], rv[ci] = float64(st.RunningMean[ci]), float64(st.RunningVar[ci])
		}
		got = runGraph(t, bnBuilder(st, false, fused), []*tensor.Dense{to32(x), to32(gamma), to32(beta)})
		want, _, _ = naiveBN(x, gamma, beta, rm, rv, false)
		if fused {
			for i := range want {
				want[i] = exactGELU(want[i])
			}
		}
		closeTo(t, "inference output", got, want, 2e-5)
		for ci := range rm {
			if float64(st.RunningMean[ci]) != rm[ci] || float64(st.RunningVar[ci]) != rv[ci] {
				t.Fatal("inference mode changed the running statistics")
			}
		}
	}
}

func TestBatchNormGradient(t *testing.T) {
	for _, fused := range []bool{false, true} {
		for _, training := range []bool{true, false} {
			rng := rand.New(rand.NewPCG(13, 14))
			st := NewBNStats(3)
			for i := range st.RunningMean {
				st.RunningMean[i], st.RunningVar[i] = float32(0.1*float64(i)), float32(0.5+float64(i))
			}
			in := []*tensor.Dense{randTensor(rng, 2, 3, 3, 4), randTensor(rng, 3), randTensor(rng, 3)}
			checkGrad(t, bnBuilder(st, training, fused), in, 1e-6)
		}
	}
}

func TestBatchNormGELUEqualsComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	in := []*tensor.Dense{to32(randTensor(rng, 4, 3, 4, 4)), to32(randTensor(rng, 3)), to32(randTensor(rng, 3))}
	fused := runGraph(t, bnBuilder(NewBNStats(3), true, true), in)
	composed := runGraph(t, func(n []*G.Node) (*G.Node, error) {
		y, err := BatchNorm(n[0], n[1], n[2], NewBNStats(3), true)
		if err != nil {
			return nil, err
		}
		return GELU(y)
	}, in)
	closeTo(t, "fused vs composed", fused, composed, 1e-6)
}

func TestBatchNormRejectsBadInput(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 4, 4), G.WithName("x"))
	v := G.NewTensor(g, tensor.Float32, 1, G.WithShape(3), G.WithName("v"))
	w := G.NewTensor(g, tensor.Float32, 1, G.WithShape(2), G.WithName("w"))
	if _, err := BatchNorm(x, v, w, NewBNStats(3), true); err == nil {
		t.Fatal("accepted a beta of the wrong length")
	}
	if _, err := BatchNorm(x, v, v, NewBNStats(2), true); err == nil {
		t.Fatal("accepted statistics of the wrong length")
	}
	if _, err := BatchNormGELU(x, nil, v, NewBNStats(3), true); err == nil {
		t.Fatal("accepted a nil gamma")
	}
}

func TestGELU(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	x := randTensor(rng, 2, 3, 4, 5)
	for i, v := range x.Data().([]float64) {
		x.Data().([]float64)[i] = 3 * v
	}
	want := make([]float64, x.Shape().TotalSize())
	for i, v := range x.Data().([]float64) {
		want[i] = exactGELU(v)
	}
	build := func(n []*G.Node) (*G.Node, error) { return GELU(n[0]) }
	closeTo(t, "float64", runGraph(t, build, []*tensor.Dense{x}), want, 1e-14)
	closeTo(t, "float32", runGraph(t, build, []*tensor.Dense{to32(x)}), want, 1e-6)
	checkGrad(t, build, []*tensor.Dense{x}, 1e-7)
	checkGrad(t, build, []*tensor.Dense{randTensor(rng, 3, 7)}, 1e-7)
}
