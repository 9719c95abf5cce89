package onnxtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"difflab/models/ort"
	"difflab/models/ort/orttest"
)

// operand is an input of a piece under test.
type operand struct {
	name  string
	shape []int
}

// piece is one operation of the tape: its operands and how to add it.
type piece struct {
	name     string
	operands []operand
	build    func(tp *tape) string
	// channelsLast writes the piece in Options.ChannelsLast's form.
	channelsLast bool
}

// pieceGraph is a piece's graph, loss = mean((y - target)^2), with the
// loss, y and the gradient of every operand as outputs.
type pieceGraph struct {
	tp     *tape
	sess   *ort.Session
	values map[string][]float32
	shapes map[string][]int
}

func newPieceGraph(t *testing.T, p piece, rng *rand.Rand) *pieceGraph {
	t.Helper()
	tp := newTape(p.name)
	tp.channelsLast = p.channelsLast
	pg := &pieceGraph{tp: tp, values: map[string][]float32{}, shapes: map[string][]int{}}
	for _, o := range p.operands {
		tp.input(o.name, true, o.shape...)
		pg.shapes[o.name] = o.shape
		v := make([]float32, count(o.shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		pg.values[o.name] = v
	}
	y := p.build(tp)
	target := tp.input("target", false, tp.shapes[y]...)
	pg.shapes[target] = tp.shapes[y]
	pg.values[target] = make([]float32, count(tp.shapes[y]))
	for i := range pg.values[target] {
		pg.values[target][i] = float32(rng.NormFloat64())
	}
	loss := tp.mse(y, target)
	tp.backward(loss)
	tp.output("loss", loss)
	tp.output("y", y)
	for _, o := range p.operands {
		g, ok := tp.grads[o.name]
		if !ok {
			t.Fatalf("%s: no gradient reaches %s", p.name, o.name)
		}
		tp.shapes[g] = o.shape
		tp.output("grad/"+o.name, g)
	}
	path := orttest.WriteGraph(t, tp.g)
	var err error
	if pg.sess, err = ort.Load(path, &ort.Options{Device: ort.CPU}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.sess.Release)
	return pg
}

// run evaluates the graph and returns its outputs by name.
func (pg *pieceGraph) run(t *testing.T) map[string][]float32 {
	t.Helper()
	var in []ort.Value
	for name, v := range pg.values {
		shape := make([]int64, len(pg.shapes[name]))
		for i, d := range pg.shapes[name] {
			shape[i] = int64(d)
		}
		in = append(in, ort.Value{Name: name, Shape: shape, Float32: v})
	}
	out, err := pg.sess.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]float32{}
	for _, o := range out {
		res[o.Name] = o.Float32
	}
	return res
}

// checkPiece compares the gradient of every operand of p with central
// differences of the loss (float32 graphs, step 1e-2), for up to 24
// entries of each operand.
//
// It returns the piece's graph, with the operands' values, and the outputs.
func checkPiece(t *testing.T, p piece) (pg *pieceGraph, outputs map[string][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(p.name))))
	pg = newPieceGraph(t, p, rng)
	base := pg.run(t)
	const h = 1e-2
	for _, o := range p.operands {
		v, g := pg.values[o.name], base["grad/"+o.name]
		idx := rng.Perm(len(v))
		if len(idx) > 24 {
			idx = idx[:24]
		}
		for _, i := range idx {
			old := v[i]
			v[i] = old + h
			up := float64(pg.run(t)["loss"][0])
			v[i] = old - h
			down := float64(pg.run(t)["loss"][0])
			v[i] = old
			fd := (up - down) / (2 * h)
			if gi := float64(g[i]); math.Abs(fd-gi) > 1e-4+1e-2*math.Abs(gi) {
				t.Errorf("%s: d loss / d %s[%d] = %.6g, finite difference %.6g", p.name, o.name, i, gi, fd)
			}
		}
	}
	return pg, base
}

// layouts are the two forms of Options.ChannelsLast, as subtest names.
var layouts = []struct {
	name         string
	channelsLast bool
}{{"channels_first", false}, {"channels_last", true}}

// TestConvGradients checks convolutions and transposed convolutions
// (their input, weight and bias gradients) in both forms.
func TestConvGradients(t *testing.T) {
	orttest.Require(t)
	for _, c := range []struct {
		name        string
		h, k        int
		stride, pad int
		transposed  bool
	}{{"conv3_s1", 6, 3, 1, 1, false}, {"conv3_s2", 6, 3, 2, 1, false}, {"conv3_s2_odd", 7, 3, 2, 1, false},
		{"upconv4_s2", 3, 4, 2, 1, true}, {"unflatten", 1, 3, 3, 0, true}} {
		w := []int{4, 3, c.k, c.k}
		build := func(tp *tape) string { return tp.conv("x", "w", "b", c.stride, c.pad) }
		if c.transposed {
			w = []int{3, 4, c.k, c.k}
			build = func(tp *tape) string { return tp.convT("x", "w", "b", c.stride, c.pad) }
		}
		for _, l := range layouts {
			t.Run(c.name+"/"+l.name, func(t *testing.T) {
				checkPiece(t, piece{name: c.name, channelsLast: l.channelsLast, build: build,
					operands: []operand{{name: "x", shape: []int{2, 3, c.h, c.h}}, {name: "w", shape: w}, {name: "b", shape: []int{4}}}})
			})
		}
	}
}

// TestWeightGradientsInRuns checks the channels-last weight gradients
// when the patches are gathered in runs of images (3 images in runs of 2
// and 1, and runs of one image each).
func TestWeightGradientsInRuns(t *testing.T) {
	orttest.Require(t)
	x := operand{name: "x", shape: []int{3, 3, 6, 6}}
	conv := func(tp *tape) string {
		tp.maxPatchBytes = 2 * 4 * 3 * patchChannels(3) * 3 * 3 // two images of 3x3 outputs
		return tp.conv("x", "w", "b", 2, 1)
	}
	convT := func(tp *tape) string {
		tp.maxPatchBytes = 1
		return tp.convT("x", "w", "b", 2, 1)
	}
	for _, c := range []struct {
		p    piece
		runs int
	}{
		{piece{name: "conv3_s2", operands: []operand{x, {name: "w", shape: []int{4, 3, 3, 3}}, {name: "b", shape: []int{4}}}, build: conv}, 2},
		{piece{name: "upconv4_s2", operands: []operand{x, {name: "w", shape: []int{3, 4, 4, 4}}, {name: "b", shape: []int{4}}}, build: convT}, 3},
	} {
		c.p.channelsLast = true
		t.Run(c.p.name, func(t *testing.T) {
			pg, _ := checkPiece(t, c.p)
			if got := patchConvs(t, pg.tp); got != c.runs {
				t.Errorf("patches gathered in %d runs, want %d", got, c.runs)
			}
		})
	}
}

// patchConvs counts the grouped convolutions (patches) in tp's graph.
func patchConvs(t *testing.T, tp *tape) int {
	t.Helper()
	b, err := tp.g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range m.Graph.Node {
		for _, a := range node.Attribute {
			if node.OpType == "Conv" && a.Name == "group" && a.I > 1 {
				n++
			}
		}
	}
	return n
}

// TestBatchNormGELU checks the gradients of training-mode BatchNorm with
// GELU against central differences, and its output and batch statistics
// against their closed form.
func TestBatchNormGELU(t *testing.T) {
	orttest.Require(t)
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) { checkBatchNormGELU(t, l.channelsLast) })
	}
}

func checkBatchNormGELU(t *testing.T, channelsLast bool) {
	const n, c, plane = 3, 2, 4
	pg, out := checkPiece(t, piece{name: "bn_gelu", channelsLast: channelsLast,
		operands: []operand{{name: "x", shape: []int{n, c, 2, 2}}, {name: "gamma", shape: []int{c}}, {name: "beta", shape: []int{c}}},
		build: func(tp *tape) string {
			y, stats := tp.batchNormGELU("x", "gamma", "beta")
			if stats.m != n*plane {
				t.Errorf("statistics over %d values, want %d", stats.m, n*plane)
			}
			tp.output("mean", stats.mean)
			tp.output("var", stats.variance)
			return y
		}})
	in := pg.values
	x := in["x"]
	for ci := 0; ci < c; ci++ {
		var vals []float64
		for i := 0; i < n; i++ {
			for _, v := range x[(i*c+ci)*plane : (i*c+ci+1)*plane] {
				vals = append(vals, float64(v))
			}
		}
		var mean, ss float64
		for _, v := range vals {
			mean += v / float64(len(vals))
		}
		for _, v := range vals {
			ss += (v - mean) * (v - mean)
		}
		biased := ss / float64(len(vals))
		if math.Abs(float64(out["mean"][ci])-mean) > 1e-6 || math.Abs(float64(out["var"][ci])-biased) > 1e-6 {
			t.Errorf("channel %d: batch mean %v, variance %v; want %v, %v", ci, out["mean"][ci], out["var"][ci], mean, biased)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < plane; j++ {
				k := (i*c+ci)*plane + j
				z := float64(in["gamma"][ci])*(float64(x[k])-mean)/math.Sqrt(biased+bnEpsilon) + float64(in["beta"][ci])
				want := z * (1 + math.Erf(z/math.Sqrt2)) / 2
				if math.Abs(float64(out["y"][k])-want) > 1e-5 {
					t.Errorf("y[%d] = %v, want %v", k, out["y"][k], want)
				}
			}
		}
	}
}

func TestSmallOpGradients(t *testing.T) {
	orttest.Require(t)
	x4 := operand{name: "x", shape: []int{2, 3, 2, 2}}
	for _, p := range []piece{
		{name: "gelu", operands: []operand{x4}, build: func(tp *tape) string { return tp.gelu("x") }},
		{name: "pool", operands: []operand{x4}, build: func(tp *tape) string { return tp.globalAvgPool("x") }},
		{name: "linear", operands: []operand{{name: "x", shape: []int{3, 2}}, {name: "w", shape: []int{4, 2}}, {name: "b", shape: []int{4}}},
			build: func(tp *tape) string { return tp.linear("x", "w", "b") }},
		{name: "reshape", operands: []operand{{name: "x", shape: []int{2, 3}}}, build: func(tp *tape) string { return tp.reshape("x", 2, 3, 1, 1) }},
		{name: "mul", operands: []operand{x4, {name: "s", shape: []int{2, 3, 1, 1}}}, build: func(tp *tape) string { return tp.mul("x", "s") }},
		{name: "add", operands: []operand{x4, {name: "s", shape: []int{2, 3, 1, 1}}}, build: func(tp *tape) string { return tp.add("x", "s") }},
		{name: "concat", operands: []operand{x4, {name: "z", shape: []int{2, 1, 2, 2}}}, build: func(tp *tape) string { return tp.concat("x", "z") }},
		{name: "reuse", operands: []operand{x4}, build: func(tp *tape) string { return tp.mul(tp.gelu("x"), "x") }},
	} {
		t.Run(p.name, func(t *testing.T) { checkPiece(t, p) })
	}
}

// TestPatches checks patches against its definition, on the CPU and on
// the GPU device (lavapipe where there is no GPU), for kernel sizes whose
// k*k is and is not a multiple of 4 and channel counts that make the
// total a multiple of 4 (where ONNX Runtime 1.30's WebGPU grouped
// convolution went wrong with k*k channels per group).
func TestPatches(t *testing.T) {
	where := orttest.RequireGPU(t)
	t.Logf("GPU device: %s", where)
	for _, c := range []struct{ b, h, k, stride, pad int }{{4, 6, 3, 1, 1}, {5, 7, 3, 2, 1}, {8, 3, 4, 2, 1}} {
		const n = 2
		tp := newTape("patches")
		x := tp.input("x", false, n, c.b, c.h, c.h)
		y, q := tp.patches(x, c.k, c.stride, c.pad), patchChannels(c.k)
		ho := (c.h+2*c.pad-c.k)/c.stride + 1
		tp.shapes[y] = []int{n, c.b * q, ho, ho}
		tp.output("y", y)
		path := orttest.WriteGraph(t, tp.g)
		rng := rand.New(rand.NewPCG(1, uint64(c.b)))
		xv := make([]float32, n*c.b*c.h*c.h)
		for i := range xv {
			xv[i] = float32(rng.NormFloat64())
		}
		// want[i, b q + kh k + kw, r, s] = x[i, b, stride r + kh - pad, stride s + kw - pad].
		want := make([]float32, n*c.b*q*ho*ho)
		for i := 0; i < n; i++ {
			for b := 0; b < c.b; b++ {
				for p := 0; p < c.k*c.k; p++ {
					for r := 0; r < ho; r++ {
						for s := 0; s < ho; s++ {
							yr, xs := c.stride*r+p/c.k-c.pad, c.stride*s+p%c.k-c.pad
							if yr >= 0 && yr < c.h && xs >= 0 && xs < c.h {
								want[(((i*c.b+b)*q+p)*ho+r)*ho+s] = xv[((i*c.b+b)*c.h+yr)*c.h+xs]
							}
						}
					}
				}
			}
		}
		for _, dev := range []ort.Device{ort.CPU, ort.GPU} {
			sess, err := ort.Load(path, &ort.Options{Device: dev})
			if err != nil {
				t.Fatal(err)
			}
			out, err := sess.Run([]ort.Value{{Name: "x", Shape: []int64{n, int64(c.b), int64(c.h), int64(c.h)}, Float32: xv}})
			sess.Release()
			if err != nil {
				t.Fatal(err)
			}
			if len(out[0].Float32) != len(want) {
				t.Fatalf("%+v on %s: %d values, want %d", c, dev, len(out[0].Float32), len(want))
			}
			for i, v := range out[0].Float32 {
				if v != want[i] {
					t.Errorf("%+v on %s: value %d is %v, want %v", c, dev, i, v, want[i])
					break
				}
			}
		}
	}
}

// TestSplit cuts vectors into up to 86 parts (the learned tensors of the
// class-conditioned UNet) through split's tree of Split nodes and checks
// every part against its slice of the vector.
func TestSplit(t *testing.T) {
	orttest.Require(t)
	rng := rand.New(rand.NewPCG(3, 3))
	for _, parts := range []int{1, 2, 7, 8, 49, 50, 86} {
		sizes := make([]int, parts)
		total := 0
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(5)
			total += sizes[i]
		}
		tp := newTape("split")
		v := tp.input("v", false, total)
		for i, p := range tp.split(v, sizes) {
			tp.shapes[p] = []int{sizes[i]}
			tp.output(fmt.Sprintf("part_%d", i), p)
		}
		path := orttest.WriteGraph(t, tp.g)
		sess, err := ort.Load(path, &ort.Options{Device: ort.CPU})
		if err != nil {
			t.Fatal(err)
		}
		values := make([]float32, total)
		for i := range values {
			values[i] = float32(i)
		}
		out, err := sess.Run([]ort.Value{{Name: "v", Shape: []int64{int64(total)}, Float32: values}})
		sess.Release()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]float32{}
		for _, o := range out {
			got[o.Name] = o.Float32
		}
		off := 0
		for i, n := range sizes {
			if p := got[fmt.Sprintf("part_%d", i)]; !slices.Equal(p, values[off:off+n]) {
				t.Errorf("%d parts: part %d is %v, want %v", parts, i, p, values[off:off+n])
			}
			off += n
		}
	}
}
