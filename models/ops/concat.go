package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConcatChannels stacks tensors (N, Ci, H, W) along the channel axis 1 into
// (N, ΣCi, H, W), as torch.cat(xs, 1). It does what G.Concat(1, xs...) does
// with plain copies instead of Gorgonia's iterators, forward and backward.
func ConcatChannels(xs ...*G.Node) (*G.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("ops: ConcatChannels: no inputs")
	}
	if err := sameDtype("ConcatChannels", xs...); err != nil {
		return nil, err
	}
	chans := make([]int, len(xs))
	dims := make([]int, len(xs))
	for i, x := range xs {
		if err := checkDims(fmt.Sprintf("ConcatChannels input %d", i), x, 4); err != nil {
			return nil, err
		}
		s, s0 := x.Shape(), xs[0].Shape()
		if s[0] != s0[0] || s[2] != s0[2] || s[3] != s0[3] {
			return nil, fmt.Errorf("ops: ConcatChannels: input %d has shape %v, want (%d, C, %d, %d) like input 0", i, s, s0[0], s0[2], s0[3])
		}
		chans[i], dims[i] = s[1], 4
	}
	o := newOp("ConcatChannels", dims, 4)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		c := 0
		for _, x := range s {
			c += x[1]
		}
		return tensor.Shape{s[0][0], c, s[0][2], s[0][3]}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return concat[float32](&out, in), nil
		}
		return concat[float64](&out, in), nil
	}
	o.wrt = make([]bool, len(xs))
	for i := range o.wrt {
		o.wrt[i] = true
	}
	o.diff = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, len(xs))
		from := 0
		for i, c := range chans {
			d, err := apply(channelSliceOp(from, c), grad)
			if err != nil {
				return nil, err
			}
			res[i], from = d, from+c
		}
		return res, nil
	}
	return apply(o, xs...)
}

func concat[T float](out *buffer, in []*tensor.Dense) *tensor.Dense {
	s := in[0].Shape()
	n, plane, c := s[0], s[2]*s[3], 0
	for _, x := range in {
		c += x.Shape()[1]
	}
	dst := take[T](out, n*c*plane)
	parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			at := i * c * plane
			for _, x := range in {
				size := x.Shape()[1] * plane
				at += copy(dst[at:], data[T](x)[i*size:(i+1)*size])
			}
		}
	})
	return dense(dst, n, c, s[2], s[3])
}

// channelSliceOp takes channels [from, from+c) of (N, C, H, W).
func channelSliceOp(from, c int) *op {
	o := newOp(fmt.Sprintf("ChannelSlice(%d:%d)", from, from+c), []int{4}, 4)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		return tensor.Shape{s[0][0], c, s[0][2], s[0][3]}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return channelSlice[float32](&out, in[0], from, c), nil
		}
		return channelSlice[float64](&out, in[0], from, c), nil
	}
	return o
}

func channelSlice[T float](out *buffer, x *tensor.Dense, from, c int) *tensor.Dense {
	s := x.Shape()
	n, total, plane := s[0], s[1], s[2]*s[3]
	src := data[T](x)
	dst := take[T](out, n*c*plane)
	for i := 0; i < n; i++ {
		copy(dst[i*c*plane:(i+1)*c*plane], src[(i*total+from)*plane:(i*total+from+c)*plane])
	}
	return dense(dst, n, c, s[2], s[3])
}
