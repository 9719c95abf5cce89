package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ScaleShift computes x·scale + shift for x (N, C, H, W) with one scale and
// one shift per sample and channel, both (N, C); either may be nil (a scale
// of 1, a shift of 0). It replaces broadcasting (N, C, 1, 1) tensors over the
// maps, which would materialise full-size copies.
func ScaleShift(x, scale, shift *G.Node) (*G.Node, error) {
	if err := checkDims("ScaleShift input x", x, 4); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		what string
		n    *G.Node
	}{{"scale", scale}, {"shift", shift}} {
		if p.n == nil {
			continue
		}
		if err := checkDims("ScaleShift "+p.what, p.n, 2); err != nil {
			return nil, err
		}
		if p.n.Shape()[0] != x.Shape()[0] || p.n.Shape()[1] != x.Shape()[1] {
			return nil, fmt.Errorf("ops: ScaleShift: %s has shape %v, want (%d, %d)", p.what, p.n.Shape(), x.Shape()[0], x.Shape()[1])
		}
	}
	if err := sameDtype("ScaleShift", x, scale, shift); err != nil {
		return nil, err
	}
	if scale == nil && shift == nil {
		return x, nil
	}
	return apply(scaleShiftOp(scale != nil, shift != nil), nodesOf(x, scale, shift)...)
}

func nodesOf(ns ...*G.Node) []*G.Node {
	var out []*G.Node
	for _, n := range ns {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

func scaleShiftOp(hasScale, hasShift bool) *op {
	in := []int{4}
	if hasScale {
		in = append(in, 2)
	}
	if hasShift {
		in = append(in, 2)
	}
	o := newOp("ScaleShift", in, 4)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		var sc, sh *tensor.Dense
		i := 1
		if hasScale {
			sc, i = in[i], i+1
		}
		if hasShift {
			sh = in[i]
		}
		if is32(in[0]) {
			return scaleShift[float32](&out, in[0], sc, sh), nil
		}
		return scaleShift[float64](&out, in[0], sc, sh), nil
	}
	o.wrt = make([]bool, len(in))
	for i := range o.wrt {
		o.wrt[i] = true
	}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		var res G.Nodes
		dx := grad
		if hasScale {
			var err error
			if dx, err = apply(scaleShiftOp(true, false), grad, in[1]); err != nil {
				return nil, err
			}
		}
		res = append(res, dx)
		if hasScale {
			ds, err := apply(planeDotOp("ScaleShiftGradScale", true), in[0], grad)
			if err != nil {
				return nil, err
			}
			res = append(res, ds)
		}
		if hasShift {
			dt, err := apply(planeDotOp("ScaleShiftGradShift", false), grad)
			if err != nil {
				return nil, err
			}
			res = append(res, dt)
		}
		return res, nil
	}
	return o
}

func scaleShift[T float](out *buffer, x, scale, shift *tensor.Dense) *tensor.Dense {
	s := x.Shape()
	plane := s[2] * s[3]
	src := data[T](x)
	dst := take[T](out, len(src))
	var sc, sh []T
	if scale != nil {
		sc = data[T](scale)
	}
	if shift != nil {
		sh = data[T](shift)
	}
	parallel(s[0]*s[1], func(lo, hi int) {
		for i := lo; i < hi; i++ {
			a, b := T(1), T(0)
			if sc != nil {
				a = sc[i]
			}
			if sh != nil {
				b = sh[i]
			}
			d, x := dst[i*plane:(i+1)*plane], src[i*plane:(i+1)*plane]
			for j, v := range x {
				d[j] = v*a + b
			}
		}
	})
	return dense(dst, s...)
}

// planeDotOp sums, per sample and channel of (N, C, H, W) maps, the product
// of its two inputs (withX) or its single input, giving (N, C).
func planeDotOp(name string, withX bool) *op {
	in := []int{4}
	if withX {
		in = append(in, 4)
	}
	o := newOp(name, in, 2)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return tensor.Shape{s[0][0], s[0][1]}, nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return planeDot[float32](&out, in), nil
		}
		return planeDot[float64](&out, in), nil
	}
	return o
}

func planeDot[T float](out *buffer, in []*tensor.Dense) *tensor.Dense {
	s := in[0].Shape()
	plane := s[2] * s[3]
	a := data[T](in[0])
	var b []T
	if len(in) == 2 {
		b = data[T](in[1])
	}
	dst := take[T](out, s[0]*s[1])
	parallel(len(dst), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var acc float64
			if b == nil {
				for _, v := range a[i*plane : (i+1)*plane] {
					acc += float64(v)
				}
			} else {
				bb := b[i*plane : (i+1)*plane]
				for j, v := range a[i*plane : (i+1)*plane] {
					acc += float64(v * bb[j])
				}
			}
			dst[i] = T(acc)
		}
	})
	return dense(dst, s[0], s[1])
}
