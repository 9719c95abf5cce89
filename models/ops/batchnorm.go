package ops

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PyTorch's BatchNorm2d defaults.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// BNStats holds a batch-norm layer's running statistics, one entry per
// channel. Running a graph built with training set updates them the way
// PyTorch does: running = 0.9·running + 0.1·batch, with the unbiased batch
// variance.
type BNStats struct {
	// RunningMean is the running mean per channel (initially 0).
	RunningMean []float32
	// RunningVar is the running variance per channel (initially 1).
	RunningVar []float32
}

// NewBNStats returns fresh statistics for c channels: means 0, variances 1.
func NewBNStats(c int) *BNStats {
	st := &BNStats{RunningMean: make([]float32, c), RunningVar: make([]float32, c)}
	for i := range st.RunningVar {
		st.RunningVar[i] = 1
	}
	return st
}

// BatchNorm is PyTorch's BatchNorm2d over the channel axis 1 of x (N, C, ...)
// with per-channel scale gamma (C) and shift beta (C). In training mode it
// normalises with the batch statistics and updates st; otherwise it uses st's
// running statistics.
func BatchNorm(x, gamma, beta *G.Node, st *BNStats, training bool) (*G.Node, error) {
	return batchNorm("BatchNorm", x, gamma, beta, st, training, false)
}

// BatchNormGELU is GELU(BatchNorm(x, gamma, beta, st, training)) computed in
// one pass forward and one backward, without storing the normalised tensor.
func BatchNormGELU(x, gamma, beta *G.Node, st *BNStats, training bool) (*G.Node, error) {
	return batchNorm("BatchNormGELU", x, gamma, beta, st, training, true)
}

func batchNorm(name string, x, gamma, beta *G.Node, st *BNStats, training, withGELU bool) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("ops: %s: input x is nil", name)
	}
	dims := len(x.Shape())
	if dims < 2 {
		return nil, fmt.Errorf("ops: %s: input x has shape %v, want (N, C, ...)", name, x.Shape())
	}
	c := x.Shape()[1]
	for _, p := range []struct {
		what string
		n    *G.Node
	}{{"gamma", gamma}, {"beta", beta}} {
		if err := checkDims(name+" "+p.what, p.n, 1); err != nil {
			return nil, err
		}
		if p.n.Shape()[0] != c {
			return nil, fmt.Errorf("ops: %s: %s has %d entries, want %d (channels of x)", name, p.what, p.n.Shape()[0], c)
		}
	}
	if st == nil || len(st.RunningMean) != c || len(st.RunningVar) != c {
		return nil, fmt.Errorf("ops: %s: statistics must be NewBNStats(%d)", name, c)
	}
	if err := sameDtype(name, x, gamma, beta); err != nil {
		return nil, err
	}
	if training && x.Shape().TotalSize()/c < 2 {
		return nil, fmt.Errorf("ops: %s: training needs more than one value per channel, x has shape %v", name, x.Shape())
	}
	bn := &bnState{st: st, training: training, gelu: withGELU}
	o := newOp(name, []int{dims, 1, 1}, dims)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return bnForward[float32](bn, in, &out), nil
		}
		return bnForward[float64](bn, in, &out), nil
	}
	o.wrt = []bool{true, true, true}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		back := newOp(name+"Grad", []int{dims, 1, 1, dims}, dims)
		back.shape = o.shape
		var dxBuf buffer
		back.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
			if is32(in[0]) {
				return bnBackward[float32](bn, in, &dxBuf), nil
			}
			return bnBackward[float64](bn, in, &dxBuf), nil
		}
		dx, err := apply(back, in[0], in[1], in[2], grad)
		if err != nil {
			return nil, err
		}
		dgamma, err := apply(vectorOp(name+"GradGamma", c, dims, func() []float64 { return bn.dgamma }), dx)
		if err != nil {
			return nil, err
		}
		dbeta, err := apply(vectorOp(name+"GradBeta", c, dims, func() []float64 { return bn.dbeta }), dx)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dgamma, dbeta}, nil
	}
	return apply(o, x, gamma, beta)
}

// bnState is what a batch-norm forward pass leaves for its backward pass.
type bnState struct {
	st             *BNStats
	training, gelu bool
	// mean and invStd are the statistics the last forward pass normalised with.
	mean, invStd []float64
	// dgamma and dbeta are the parameter gradients of the last backward pass.
	dgamma, dbeta []float64
}

func bnForward[T float](bn *bnState, in []*tensor.Dense, out *buffer) *tensor.Dense {
	s := in[0].Shape()
	n, c := s[0], s[1]
	plane := s.TotalSize() / (n * c)
	x, gamma, beta := data[T](in[0]), data[T](in[1]), data[T](in[2])
	y := take[T](out, len(x))
	bn.mean = resize(bn.mean, c)
	bn.invStd = resize(bn.invStd, c)
	cnt := float64(n * plane)
	parallel(c, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			var mean, variance float64
			if bn.training {
				mean, variance = channelStats(x[ci*plane:], n, c*plane, plane)
				rm, rv := &bn.st.RunningMean[ci], &bn.st.RunningVar[ci]
				*rm = float32((1-bnMomentum)*float64(*rm) + bnMomentum*mean)
				*rv = float32((1-bnMomentum)*float64(*rv) + bnMomentum*variance*cnt/(cnt-1))
			} else {
				mean, variance = float64(bn.st.RunningMean[ci]), float64(bn.st.RunningVar[ci])
			}
			inv := 1 / math.Sqrt(variance+bnEps)
			bn.mean[ci], bn.invStd[ci] = mean, inv
			a := T(float64(gamma[ci]) * inv)
			b := T(float64(beta[ci]) - mean*float64(gamma[ci])*inv)
			channelAffine(x[ci*plane:], y[ci*plane:], n, c*plane, plane, a, b, bn.gelu)
		}
	})
	return dense(y, s...)
}

// bnBackward computes dx from (x, gamma, beta, dy) and records dgamma, dbeta.
func bnBackward[T float](bn *bnState, in []*tensor.Dense, out *buffer) *tensor.Dense {
	s := in[0].Shape()
	n, c := s[0], s[1]
	plane := s.TotalSize() / (n * c)
	x, gamma, beta, dy := data[T](in[0]), data[T](in[1]), data[T](in[2]), data[T](in[3])
	dx := take[T](out, len(x))
	bn.dgamma = resize(bn.dgamma, c)
	bn.dbeta = resize(bn.dbeta, c)
	cnt := float64(n * plane)
	parallel(c, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			o := ci * plane
			bn.dbeta[ci], bn.dgamma[ci] = channelBackward(x[o:], dy[o:], dx[o:], n, c*plane, plane,
				T(bn.mean[ci]), T(bn.invStd[ci]), gamma[ci], beta[ci], bn.gelu, bn.training, cnt)
		}
	})
	return dense(dx, s...)
}

// The per-channel kernels below see one channel of an (N, C, ...) tensor:
// n runs of plane values, the runs stride values apart.

// channelStats returns the mean and the biased variance of one channel.
func channelStats[T float](x []T, n, stride, plane int) (mean, variance float64) {
	if x32, ok := any(x).([]float32); ok && useNative() {
		return nativeStats(x32, n, stride, plane)
	}
	var sum float64
	for i := 0; i < n; i++ {
		for _, v := range x[i*stride : i*stride+plane] {
			sum += float64(v)
		}
	}
	cnt := float64(n * plane)
	mean = sum / cnt
	var ss float64
	for i := 0; i < n; i++ {
		for _, v := range x[i*stride : i*stride+plane] {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return mean, ss / cnt
}

// channelAffine writes y = x·a + b, or GELU(x·a + b), for one channel.
func channelAffine[T float](x, y []T, n, stride, plane int, a, b T, withGELU bool) {
	if x32, ok := any(x).([]float32); ok && useNative() {
		nativeAffine(x32, any(y).([]float32), n, stride, plane, float32(a), float32(b), withGELU)
		return
	}
	for i := 0; i < n; i++ {
		src, dst := x[i*stride:i*stride+plane], y[i*stride:i*stride+plane]
		if withGELU {
			for j, v := range src {
				dst[j] = gelu(v*a + b)
			}
		} else {
			for j, v := range src {
				dst[j] = v*a + b
			}
		}
	}
}

// channelBackward writes dx for one channel and returns the channel's
// sums of g and g·x̂, where g = dy·GELU'(z) (or dy) and z = γ·x̂ + β: dx is
// γ·σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)) in training and γ·σ⁻¹·g with fixed
// statistics.
func channelBackward[T float](x, dy, dx []T, n, stride, plane int, mean, inv, gm, bt T, withGELU, training bool, cnt float64) (sg, sgx float64) {
	if x32, ok := any(x).([]float32); ok && useNative() {
		return nativeBackward(x32, any(dy).([]float32), any(dx).([]float32), n, stride, plane,
			float32(mean), float32(inv), float32(gm), float32(bt), withGELU, training, cnt)
	}
	// Pass 1: g into dx, and the sums.
	for i := 0; i < n; i++ {
		xs, gs, ds := x[i*stride:i*stride+plane], dy[i*stride:i*stride+plane], dx[i*stride:i*stride+plane]
		for j, v := range xs {
			xh := (v - mean) * inv
			g := gs[j]
			if withGELU {
				g *= geluPrime(gm*xh + bt)
			}
			ds[j] = g
			sg += float64(g)
			sgx += float64(g * xh)
		}
	}
	// Pass 2: dx from g.
	scale := gm * inv
	var mg, mgx T
	if training {
		mg, mgx = T(sg/cnt), T(sgx/cnt)
	}
	for i := 0; i < n; i++ {
		xs, ds := x[i*stride:i*stride+plane], dx[i*stride:i*stride+plane]
		for j, v := range xs {
			xh := (v - mean) * inv
			ds[j] = scale * (ds[j] - mg - xh*mgx)
		}
	}
	return sg, sgx
}

// vectorOp returns, after its input ran, a copy of the vector src() of
// length c. Its input (of inDims dimensions) only orders it after the
// operation that fills src.
func vectorOp(name string, c, inDims int, src func() []float64) *op {
	o := newOp(name, []int{inDims}, 1)
	o.shape = func([]tensor.Shape) (tensor.Shape, error) { return tensor.Shape{c}, nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return copyVector[float32](&out, src()), nil
		}
		return copyVector[float64](&out, src()), nil
	}
	return o
}

func copyVector[T float](out *buffer, v []float64) *tensor.Dense {
	dst := take[T](out, len(v))
	for i, x := range v {
		dst[i] = T(x)
	}
	return dense(dst, len(v))
}

// resize returns s with length n, reallocating only when it is too short.
func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
