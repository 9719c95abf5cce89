package ops

import (
	"fmt"
	"math"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GELU is the exact Gaussian error linear unit x·Φ(x) = x·(1+erf(x/√2))/2,
// PyTorch's nn.GELU() default, applied elementwise to a tensor of any shape.
func GELU(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("ops: GELU: input is nil")
	}
	if err := sameDtype("GELU", x); err != nil {
		return nil, err
	}
	return apply(geluOp(len(x.Shape())), x)
}

func geluOp(dims int) *op {
	o := newOp("GELU", []int{dims}, dims)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return mapInto(&out, in[0], geluF[float32]), nil
		}
		return mapInto(&out, in[0], geluF[float64]), nil
	}
	o.wrt = []bool{true}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		dx, err := apply(geluGradOp(dims), in[0], grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx}, nil
	}
	return o
}

// geluGradOp computes (x, dy) -> dy·GELU'(x).
func geluGradOp(dims int) *op {
	o := newOp("GELUGrad", []int{dims, dims}, dims)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return geluGradInto[float32](&out, in[0], in[1]), nil
		}
		return geluGradInto[float64](&out, in[0], in[1]), nil
	}
	return o
}

// mapInto applies f elementwise to x into the buffer out.
func mapInto[T float](out *buffer, x *tensor.Dense, f func(dst, src []T)) *tensor.Dense {
	src := data[T](x)
	dst := take[T](out, len(src))
	parallel(len(src), func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
	return dense(dst, x.Shape()...)
}

func geluGradInto[T float](out *buffer, x, dy *tensor.Dense) *tensor.Dense {
	xs, gs := data[T](x), data[T](dy)
	dst := take[T](out, len(xs))
	parallel(len(xs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = gs[i] * geluPrime(xs[i])
		}
	})
	return dense(dst, x.Shape()...)
}

// geluF writes GELU(src) into dst.
func geluF[T float](dst, src []T) {
	for i, v := range src {
		dst[i] = gelu(v)
	}
}

const (
	invSqrt2   = 0.70710678118654752440
	invSqrt2Pi = 0.39894228040143267794
)

// gelu is x·Φ(x).
func gelu[T float](x T) T { return x * phiCDF(x) }

// geluPrime is d/dx x·Φ(x) = Φ(x) + x·φ(x).
func geluPrime[T float](x T) T {
	if is32bit(x) {
		return phiCDF(x) + x*T(invSqrt2Pi*exp32(-0.5*float32(x)*float32(x)))
	}
	return phiCDF(x) + x*T(invSqrt2Pi*math.Exp(-0.5*float64(x)*float64(x)))
}

// is32bit reports whether T is float32. It is a constant for each
// instantiation, unlike a type switch on any(x), which boxes x.
func is32bit[T float](x T) bool { return unsafe.Sizeof(x) == 4 }

// exp32 is e^x for float32 to within a few float32 ulps: x = k·ln2 + r with
// |r| <= ln2/2, e^r from its Taylor polynomial of degree 7, and 2^k put
// into the exponent bits.
func exp32(x float32) float32 {
	switch {
	case x < -87:
		return 0
	case x > 88:
		return float32(math.Inf(1))
	}
	k := float32(math.Floor(float64(x)*math.Log2E + 0.5))
	r := x - k*0.693145751953125 - k*1.428606765330187045e-06
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return math.Float32frombits(uint32(int32(k)+127)<<23) * p
}

// phiCDF is the standard normal distribution function Φ(x) = (1+erf(x/√2))/2.
func phiCDF[T float](x T) T {
	if is32bit(x) {
		return T(0.5 + 0.5*erf32(float32(x)*invSqrt2))
	}
	return T(0.5 + 0.5*math.Erf(float64(x)*invSqrt2))
}

// erf32 is erf for float32 as a rational approximation on [-4, 4] (erf is ±1
// to float32 precision beyond), accurate to a few float32 ulps; it is the
// approximation vectorised libraries use for float32 erf.
func erf32(x float32) float32 {
	if x > 4 {
		x = 4
	} else if x < -4 {
		x = -4
	}
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p *= x
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return p / q
}
