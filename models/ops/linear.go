package ops

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear is PyTorch's Linear: x (N, in) times w (out, in) transposed, plus
// b (out) per output when b is not nil, giving (N, out).
func Linear(x, w, b *G.Node) (*G.Node, error) {
	if err := checkDims("Linear input x", x, 2); err != nil {
		return nil, err
	}
	if err := checkDims("Linear weight w", w, 2); err != nil {
		return nil, err
	}
	if x.Shape()[1] != w.Shape()[1] {
		return nil, fmt.Errorf("ops: Linear: x has %d features but w (%v) expects %d", x.Shape()[1], w.Shape(), w.Shape()[1])
	}
	if b != nil {
		if err := checkDims("Linear bias b", b, 1); err != nil {
			return nil, err
		}
		if b.Shape()[0] != w.Shape()[0] {
			return nil, fmt.Errorf("ops: Linear: b has %d entries, want %d (outputs)", b.Shape()[0], w.Shape()[0])
		}
	}
	if err := sameDtype("Linear", x, w, b); err != nil {
		return nil, err
	}
	o := matmulOp("Linear", false, true, b != nil)
	o.wrt = []bool{true, true, b != nil}
	o.diff = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		dx, err := apply(matmulOp("LinearGradX", false, false, false), grad, in[1])
		if err != nil {
			return nil, err
		}
		dw, err := apply(matmulOp("LinearGradW", true, false, false), grad, in[0])
		if err != nil {
			return nil, err
		}
		res := G.Nodes{dx, dw}
		if len(in) == 3 {
			db, err := apply(biasGradOp(2), grad)
			if err != nil {
				return nil, err
			}
			res = append(res, db)
		}
		return res, nil
	}
	return apply(o, nodes(x, w, b)...)
}

// matmulOp is (a, b[, bias]) -> op(a)·op(b) + bias, where op transposes
// when ta or tb is set and bias is added to every row.
func matmulOp(name string, ta, tb, bias bool) *op {
	in := []int{2, 2}
	if bias {
		in = append(in, 1)
	}
	o := newOp(name, in, 2)
	dims := func(as, bs tensor.Shape) (m, n, k int) {
		m, k = as[0], as[1]
		if ta {
			m, k = k, m
		}
		n = bs[1]
		if tb {
			n = bs[0]
		}
		return m, n, k
	}
	o.shape = func(s []tensor.Shape) (tensor.Shape, error) {
		m, n, _ := dims(s[0], s[1])
		return tensor.Shape{m, n}, nil
	}
	var out buffer
	o.do = func(in []*tensor.Dense) (*tensor.Dense, error) {
		m, n, k := dims(in[0].Shape(), in[1].Shape())
		if is32(in[0]) {
			return runMatmul[float32](in, ta, tb, m, n, k, &out), nil
		}
		return runMatmul[float64](in, ta, tb, m, n, k, &out), nil
	}
	return o
}

func runMatmul[T float](in []*tensor.Dense, ta, tb bool, m, n, k int, out *buffer) *tensor.Dense {
	a, b := data[T](in[0]), data[T](in[1])
	c := take[T](out, m*n)
	beta := T(0)
	if len(in) == 3 {
		bias := data[T](in[2])
		for i := 0; i < m; i++ {
			copy(c[i*n:(i+1)*n], bias)
		}
		beta = 1
	}
	if k == 0 {
		if beta == 0 {
			clear(c)
		}
		return dense(c, m, n)
	}
	gemm(ta, tb, m, n, k, 1, a, in[0].Shape()[1], b, in[1].Shape()[1], beta, c, n)
	return dense(c, m, n)
}
