package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// float is the element type the kernels are written for.
type float interface{ ~float32 | ~float64 }

// opIDs makes every operation instance distinct, so that Gorgonia's hash
// consing never merges two nodes whose operations hold different state.
var opIDs atomic.Uint64

// op is a Gorgonia operation assembled from closures. All operations of this
// package are values of this type; the closures hold their state (buffers,
// batch statistics).
type op struct {
	name    string
	id      uint64
	inDims  []int
	outDims int
	shape   func(in []tensor.Shape) (tensor.Shape, error)
	do      func(in []*tensor.Dense) (*tensor.Dense, error)
	diff    func(in G.Nodes, out, grad *G.Node) (G.Nodes, error)
	wrt     []bool
}

var (
	_ G.Op   = (*op)(nil)
	_ G.SDOp = (*op)(nil)
)

func newOp(name string, inDims []int, outDims int) *op {
	return &op{name: name, id: opIDs.Add(1), inDims: inDims, outDims: outDims}
}

// Arity implements G.Op.
func (o *op) Arity() int { return len(o.inDims) }

// Type implements G.Op: every input and the output share one element type.
func (o *op) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: o.outDims, Of: a})
	return hm.NewFnType(ts...)
}

// InferShape implements G.Op.
func (o *op) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	shapes, err := G.DimSizersToShapes(ds)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", o.name, err)
	}
	return o.shape(shapes)
}

// Do implements G.Op.
func (o *op) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != len(o.inDims) {
		return nil, fmt.Errorf("ops: %s takes %d inputs, got %d", o.name, len(o.inDims), len(vs))
	}
	in := make([]*tensor.Dense, len(vs))
	for i, v := range vs {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("ops: %s: input %d is a %T, want a dense tensor", o.name, i, v)
		}
		if d.Dtype() != tensor.Float32 && d.Dtype() != tensor.Float64 {
			return nil, fmt.Errorf("ops: %s: input %d has dtype %v, want float32 or float64", o.name, i, d.Dtype())
		}
		in[i] = d
	}
	return o.do(in)
}

// ReturnsPtr implements G.Op.
func (o *op) ReturnsPtr() bool { return false }

// CallsExtern implements G.Op.
func (o *op) CallsExtern() bool { return false }

// OverwritesInput implements G.Op: no operation writes into its inputs.
func (o *op) OverwritesInput() int { return -1 }

// WriteHash implements G.Op.
func (o *op) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.name, o.id) }

// Hashcode implements G.Op.
func (o *op) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// String implements G.Op.
func (o *op) String() string { return o.name }

// DiffWRT implements G.SDOp.
func (o *op) DiffWRT(n int) []bool {
	out := make([]bool, n)
	copy(out, o.wrt)
	return out
}

// SymDiff implements G.SDOp.
func (o *op) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if o.diff == nil {
		return nil, fmt.Errorf("ops: %s is not differentiable", o.name)
	}
	return o.diff(in, out, grad)
}

// buffer is an output or scratch buffer that an operation reuses on every run.
type buffer struct {
	f32 []float32
	f64 []float64
}

// take returns the buffer's first n elements, growing it when needed. The
// contents are whatever the previous run left there.
func take[T float](b *buffer, n int) []T {
	var z T
	switch any(z).(type) {
	case float32:
		if cap(b.f32) < n {
			b.f32 = make([]float32, n)
		}
		return any(b.f32[:n]).([]T)
	default:
		if cap(b.f64) < n {
			b.f64 = make([]float64, n)
		}
		return any(b.f64[:n]).([]T)
	}
}

// data returns the elements of t as []T.
func data[T float](t *tensor.Dense) []T { return t.Data().([]T) }

// dense wraps buf as a tensor of the given shape.
func dense[T float](buf []T, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(buf))
}

// is32 reports whether t holds float32 elements.
func is32(t *tensor.Dense) bool { return t.Dtype() == tensor.Float32 }

// nodeShape returns n's shape, or an error naming what was expected.
func checkDims(what string, n *G.Node, dims int) error {
	if n == nil {
		return fmt.Errorf("ops: %s is nil", what)
	}
	if len(n.Shape()) != dims {
		return fmt.Errorf("ops: %s has shape %v, want %d dimensions", what, n.Shape(), dims)
	}
	return nil
}

// sameDtype checks that every non-nil node has the element type of the first.
func sameDtype(what string, ns ...*G.Node) error {
	var want tensor.Dtype
	for _, n := range ns {
		if n == nil {
			continue
		}
		if want == (tensor.Dtype{}) {
			want = n.Dtype()
			if want != tensor.Float32 && want != tensor.Float64 {
				return fmt.Errorf("ops: %s: dtype %v, want float32 or float64", what, want)
			}
			continue
		}
		if n.Dtype() != want {
			return fmt.Errorf("ops: %s: inputs mix dtypes %v and %v", what, want, n.Dtype())
		}
	}
	return nil
}

// apply adds o to the graph with the given inputs.
func apply(o *op, in ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, in...)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", o.name, err)
	}
	return n, nil
}
