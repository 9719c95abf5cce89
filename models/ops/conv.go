package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv2d is PyTorch's Conv2d: x (N, C, H, W) convolved with w (O, C, K, K)
// at the given stride and zero padding, plus b (O) per output channel when b
// is not nil. The output is (N, O, (H+2·pad-K)/stride+1, (W+2·pad-K)/stride+1).
func Conv2d(x, w, b *G.Node, stride, pad int) (*G.Node, error) {
	if err := checkConv("Conv2d", x, w, b, stride, pad); err != nil {
		return nil, err
	}
	xs, ws := x.Shape(), w.Shape()
	if xs[1] != ws[1] {
		return nil, fmt.Errorf("ops: Conv2d: x has %d channels but w (%v) expects %d", xs[1], ws, ws[1])
	}
	if b != nil && b.Shape()[0] != ws[0] {
		return nil, fmt.Errorf("ops: Conv2d: b has %d entries, want %d (output channels)", b.Shape()[0], ws[0])
	}
	if xs[2]+2*pad < ws[2] || xs[3]+2*pad < ws[3] {
		return nil, fmt.Errorf("ops: Conv2d: %dx%d kernel larger than the padded %dx%d input", ws[2], ws[3], xs[2]+2*pad, xs[3]+2*pad)
	}
	return apply(convForwardOp(stride, pad, b != nil), nodes(x, w, b)...)
}

// ConvTranspose2d is PyTorch's ConvTranspose2d (no output padding, no
// dilation): x (N, Cin, H, W) and w (Cin, Cout, K, K) give
// (N, Cout, (H-1)·stride-2·pad+K, (W-1)·stride-2·pad+K), plus b (Cout) per
// output channel when b is not nil.
func ConvTranspose2d(x, w, b *G.Node, stride, pad int) (*G.Node, error) {
	if err := checkConv("ConvTranspose2d", x, w, b, stride, pad); err != nil {
		return nil, err
	}
	xs, ws := x.Shape(), w.Shape()
	if xs[1] != ws[0] {
		return nil, fmt.Errorf("ops: ConvTranspose2d: x has %d channels but w (%v) expects %d", xs[1], ws, ws[0])
	}
	if b != nil && b.Shape()[0] != ws[1] {
		return nil, fmt.Errorf("ops: ConvTranspose2d: b has %d entries, want %d (output channels)", b.Shape()[0], ws[1])
	}
	oh, ow := (xs[2]-1)*stride-2*pad+ws[2], (xs[3]-1)*stride-2*pad+ws[3]
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("ops: ConvTranspose2d: padding %d leaves an empty %dx%d output", pad, oh, ow)
	}
	o := convDataOp("ConvTranspose2d", stride, pad, oh, ow, b != nil)
	o.wrt = []bool{true, true, b != nil}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		dx, err := apply(convForwardOp(stride, pad, false), grad, in[1])
		if err != nil {
			return nil, err
		}
		dw, err := apply(convWeightOp(stride, pad, ws[2]), grad, in[0])
		if err != nil {
			return nil, err
		}
		out := G.Nodes{dx, dw}
		if len(in) == 3 {
			db, err := apply(biasGradOp(len(grad.Shape())), grad)
			if err != nil {
				return nil, err
			}
			out = append(out, db)
		}
		return out, nil
	}
	return apply(o, nodes(x, w, b)...)
}

func checkConv(name string, x, w, b *G.Node, stride, pad int) error {
	if err := checkDims(name+" input x", x, 4); err != nil {
		return err
	}
	if err := checkDims(name+" weight w", w, 4); err != nil {
		return err
	}
	if ws := w.Shape(); ws[2] != ws[3] {
		return fmt.Errorf("ops: %s: kernel %dx%d is not square", name, ws[2], ws[3])
	}
	if b != nil {
		if err := checkDims(name+" bias b", b, 1); err != nil {
			return err
		}
	}
	if stride < 1 {
		return fmt.Errorf("ops: %s: stride %d, want >= 1", name, stride)
	}
	if pad < 0 {
		return fmt.Errorf("ops: %s: padding %d, want >= 0", name, pad)
	}
	return sameDtype(name, x, w, b)
}

// nodes drops a trailing nil (an absent bias).
func nodes(x, w, b *G.Node) []*G.Node {
	if b == nil {
		return []*G.Node{x, w}
	}
	return []*G.Node{x, w, b}
}

// convForwardOp is the convolution (x, w[, b]) -> y.
func convForwardOp(stride, pad int, bias bool) *op {
	in := []int{4, 4}
	if bias {
		in = append(in, 1)
	}
	o := newOp(fmt.Sprintf("Conv2d(s%d,p%d)", stride, pad), in, 4)
	geometry := func(xs, ws tensor.Shape) geom {
		k := ws[2]
		return geom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], k: k, s: stride, p: pad,
			ho: (xs[2]+2*pad-k)/stride + 1, wo: (xs[3]+2*pad-k)/stride + 1}
	}
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		g := geometry(s[0], s[1])
		return tensor.Shape{g.n, g.o, g.ho, g.wo}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		g := geometry(in[0].Shape(), in[1].Shape())
		if is32(in[0]) {
			return runConvForward[float32](g, in, &out), nil
		}
		return runConvForward[float64](g, in, &out), nil
	}
	o.wrt = []bool{true, true, bias}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		xs := in[0].Shape()
		dx, err := apply(convDataOp("Conv2dGradX", stride, pad, xs[2], xs[3], false), grad, in[1])
		if err != nil {
			return nil, err
		}
		dw, err := apply(convWeightOp(stride, pad, in[1].Shape()[2]), in[0], grad)
		if err != nil {
			return nil, err
		}
		res := G.Nodes{dx, dw}
		if len(in) == 3 {
			db, err := apply(biasGradOp(len(grad.Shape())), grad)
			if err != nil {
				return nil, err
			}
			res = append(res, db)
		}
		return res, nil
	}
	return o
}

func runConvForward[T float](g geom, in []*tensor.Dense, out *buffer) *tensor.Dense {
	y := take[T](out, g.n*g.o*g.ho*g.wo)
	var b []T
	if len(in) == 3 {
		b = data[T](in[2])
	}
	convForward(g, data[T](in[0]), data[T](in[1]), b, y)
	return dense(y, g.n, g.o, g.ho, g.wo)
}

// convDataOp is the transposed convolution (dy, w[, b]) -> dx of spatial size
// h×w: the input gradient of a convolution, and the forward pass of
// ConvTranspose2d. The caller sets wrt and diff when it is differentiated.
func convDataOp(name string, stride, pad, h, w int, bias bool) *op {
	in := []int{4, 4}
	if bias {
		in = append(in, 1)
	}
	o := newOp(fmt.Sprintf("%s(s%d,p%d,%dx%d)", name, stride, pad, h, w), in, 4)
	geometry := func(ys, ws tensor.Shape) geom {
		return geom{n: ys[0], c: ws[1], h: h, w: w, o: ws[0], k: ws[2], s: stride, p: pad, ho: ys[2], wo: ys[3]}
	}
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		g := geometry(s[0], s[1])
		return tensor.Shape{g.n, g.c, g.h, g.w}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		g := geometry(in[0].Shape(), in[1].Shape())
		if is32(in[0]) {
			return runConvData[float32](g, in, &out), nil
		}
		return runConvData[float64](g, in, &out), nil
	}
	return o
}

func runConvData[T float](g geom, in []*tensor.Dense, out *buffer) *tensor.Dense {
	dx := take[T](out, g.n*g.c*g.h*g.w)
	var b []T
	if len(in) == 3 {
		b = data[T](in[2])
	}
	convBackData(g, data[T](in[0]), data[T](in[1]), b, dx)
	return dense(dx, g.n, g.c, g.h, g.w)
}

// convWeightOp is the weight gradient (x, dy) -> dw (O, C, k, k) of a
// convolution with input x and output gradient dy.
func convWeightOp(stride, pad, k int) *op {
	o := newOp(fmt.Sprintf("Conv2dGradW(s%d,p%d,k%d)", stride, pad, k), []int{4, 4}, 4)
	geometry := func(xs, ys tensor.Shape) geom {
		return geom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ys[1], k: k, s: stride, p: pad, ho: ys[2], wo: ys[3]}
	}
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		g := geometry(s[0], s[1])
		return tensor.Shape{g.o, g.c, k, k}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		g := geometry(in[0].Shape(), in[1].Shape())
		if is32(in[0]) {
			return runConvWeight[float32](g, in, &out), nil
		}
		return runConvWeight[float64](g, in, &out), nil
	}
	return o
}

func runConvWeight[T float](g geom, in []*tensor.Dense, out *buffer) *tensor.Dense {
	dw := take[T](out, g.o*g.ckk())
	convBackWeight(g, data[T](in[0]), data[T](in[1]), dw)
	return dense(dw, g.o, g.c, g.k, g.k)
}

// biasGradOp sums dy (N, C, ...) of the given number of dimensions over every
// axis but the channel axis 1.
func biasGradOp(dims int) *op {
	o := newOp("BiasGrad", []int{dims}, 1)
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		if len(s[0]) < 2 {
			return nil, fmt.Errorf("ops: BiasGrad: shape %v has no channel axis", s[0])
		}
		return tensor.Shape{s[0][1]}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		s := in[0].Shape()
		n, c := s[0], s[1]
		plane := in[0].Shape().TotalSize() / (n * c)
		if is32(in[0]) {
			db := take[float32](&out, c)
			channelSums(data[float32](in[0]), n, c, plane, db)
			return dense(db, c), nil
		}
		db := take[float64](&out, c)
		channelSums(data[float64](in[0]), n, c, plane, db)
		return dense(db, c), nil
	}
	return o
}
