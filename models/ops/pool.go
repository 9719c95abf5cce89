package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GlobalAvgPool averages each channel of x (N, C, H, W) over its H×W map,
// giving (N, C, 1, 1); on 7×7 maps it is PyTorch's AvgPool2d(7).
func GlobalAvgPool(x *G.Node) (*G.Node, error) {
	if err := checkDims("GlobalAvgPool input x", x, 4); err != nil {
		return nil, err
	}
	if err := sameDtype("GlobalAvgPool", x); err != nil {
		return nil, err
	}
	xs := x.Shape().Clone()
	o := newOp("GlobalAvgPool", []int{4}, 4)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) { return tensor.Shape{s[0][0], s[0][1], 1, 1}, nil }
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		if is32(in[0]) {
			return planeMeans[float32](&out, in[0]), nil
		}
		return planeMeans[float64](&out, in[0]), nil
	}
	o.wrt = []bool{true}
	o.diff = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		back := newOp(fmt.Sprintf("GlobalAvgPoolGrad%v", xs), []int{4}, 4)
		back.shape = func([]tensor.Shape) (tensor.Shape, error) { return xs.Clone(), nil }
		var dxBuf buffer
		back.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
			if is32(in[0]) {
				return spreadPlanes[float32](&dxBuf, in[0], xs), nil
			}
			return spreadPlanes[float64](&dxBuf, in[0], xs), nil
		}
		dx, err := apply(back, grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx}, nil
	}
	return apply(o, x)
}

// planeMeans averages x (N, C, H, W) over H and W.
func planeMeans[T float](out *buffer, x *tensor.Dense) *tensor.Dense {
	s := x.Shape()
	plane := s[2] * s[3]
	src := data[T](x)
	dst := take[T](out, s[0]*s[1])
	for i := range dst {
		var acc float64
		for _, v := range src[i*plane : (i+1)*plane] {
			acc += float64(v)
		}
		dst[i] = T(acc / float64(plane))
	}
	return dense(dst, s[0], s[1], 1, 1)
}

// spreadPlanes is the gradient of planeMeans: every pixel of a map gets its
// channel's gradient divided by the map size.
func spreadPlanes[T float](out *buffer, g *tensor.Dense, xs tensor.Shape) *tensor.Dense {
	plane := xs[2] * xs[3]
	src := data[T](g)
	dst := take[T](out, xs.TotalSize())
	for i, v := range src {
		v /= T(plane)
		p := dst[i*plane : (i+1)*plane]
		for j := range p {
			p[j] = v
		}
	}
	return dense(dst, xs...)
}
