package onnxexport

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"difflab/models/modelfile"
	"difflab/models/tensor"
)

// BNEpsilon is BatchNorm's epsilon (PyTorch's default).
const BNEpsilon = 1e-5

// Options tunes UNet. A nil *Options means the defaults.
type Options struct {
	// KeepBatchNorm writes BatchNorm as BatchNormalization nodes instead of
	// folding it into the preceding convolution's weights and bias (the
	// default, which is faster and equal up to rounding).
	KeepBatchNorm bool
}

// UNet returns an ONNX model of the UNet spec describes with weights w, named
// as in the PyTorch reference's state_dict ("c0.0.0.weight", "un.1.running_var",
// "fc1_c.2.bias", ...; num_batches_tracked entries are ignored). BatchNorm
// runs in inference mode (running statistics).
//
// Inputs: "x" (batch, Channels, Size, Size) float32; "t" (batch, 1) float32
// for the "time" and "time_class" UNets; "c" (batch, Classes) float32 for
// "time_class". Output: "u" (batch, Channels, Size, Size).
//
// A missing, misshapen or unexpected weight is an error naming it.
func UNet(spec modelfile.UNet, w map[string]*tensor.Tensor, opts *Options) ([]byte, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	e := &exporter{g: NewGraph("difflab_unet_" + spec.Cond), w: w, used: map[string]bool{}, fold: opts == nil || !opts.KeepBatchNorm}
	e.build(spec)
	if err := e.finish(); err != nil {
		return nil, err
	}
	return e.g.Marshal()
}

func checkSpec(s modelfile.UNet) error {
	switch s.Cond {
	case "none", "time", "time_class":
	default:
		return fmt.Errorf("onnxexport: unet cond %q: want none, time or time_class", s.Cond)
	}
	if s.Hidden < 1 || s.Channels < 1 || s.Size < 4 || s.Size%4 != 0 {
		return fmt.Errorf("onnxexport: unet hidden %d, channels %d, size %d: want positive sizes and a size that is a multiple of 4", s.Hidden, s.Channels, s.Size)
	}
	if s.Cond == "time_class" && s.Classes < 1 {
		return fmt.Errorf("onnxexport: unet classes %d: a time_class UNet needs at least one class", s.Classes)
	}
	return nil
}

type exporter struct {
	g    *Graph
	w    map[string]*tensor.Tensor
	used map[string]bool
	fold bool
	errs []error
}

// param returns weight name, checking its shape; problems are collected.
func (e *exporter) param(name string, shape ...int) []float32 {
	e.used[name] = true
	t, ok := e.w[name]
	n := 1
	for _, s := range shape {
		n *= s
	}
	switch {
	case !ok || t == nil:
		e.errs = append(e.errs, fmt.Errorf("weight %q missing (want shape %v)", name, shape))
	case !sameShape(t.Shape, shape) || len(t.Data) != n:
		e.errs = append(e.errs, fmt.Errorf("weight %q has shape %v, want %v", name, t.Shape, shape))
	default:
		return t.Data
	}
	return make([]float32, n)
}

func (e *exporter) finish() error {
	var extra []string
	for name := range e.w {
		if !e.used[name] && !strings.HasSuffix(name, "num_batches_tracked") {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		e.errs = append(e.errs, fmt.Errorf("unexpected weights %v (wrong conditioning or size?)", extra))
	}
	if len(e.errs) > 0 {
		return fmt.Errorf("onnxexport: %w", errors.Join(e.errs...))
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bnConv adds a convolution (transposed when transposed is set) with kernel k,
// followed by the BatchNorm at bn and a GELU. Weight layout is PyTorch's:
// (out, in, k, k) for Conv2d, (in, out, k, k) for ConvTranspose2d.
func (e *exporter) bnConv(conv, bn string, x string, in, out, k, stride, pad int, transposed bool) string {
	wshape := []int{out, in, k, k}
	op := "Conv"
	if transposed {
		wshape = []int{in, out, k, k}
		op = "ConvTranspose"
	}
	W := e.param(conv+".weight", wshape...)
	b := e.param(conv+".bias", out)
	gamma := e.param(bn+".weight", out)
	beta := e.param(bn+".bias", out)
	mean := e.param(bn+".running_mean", out)
	variance := e.param(bn+".running_var", out)
	attrs := []Attr{Ints("kernel_shape", int64(k), int64(k)), Ints("strides", int64(stride), int64(stride)), Ints("pads", int64(pad), int64(pad), int64(pad), int64(pad))}
	var y string
	if e.fold {
		Wf, bf := FoldBatchNorm(W, b, gamma, beta, mean, variance, wshape, transposed)
		y = e.g.Node(op, []string{x, e.g.Const(conv+".weight", wshape, Wf), e.g.Const(conv+".bias", []int{out}, bf)}, attrs...)
	} else {
		y = e.g.Node(op, []string{x, e.g.Const(conv+".weight", wshape, W), e.g.Const(conv+".bias", []int{out}, b)}, attrs...)
		y = e.g.Node("BatchNormalization", []string{y,
			e.g.Const(bn+".weight", []int{out}, gamma), e.g.Const(bn+".bias", []int{out}, beta),
			e.g.Const(bn+".running_mean", []int{out}, mean), e.g.Const(bn+".running_var", []int{out}, variance)},
			Float("epsilon", BNEpsilon))
	}
	return e.g.Node("Gelu", []string{y})
}

// FoldBatchNorm returns convolution weights and bias that compute
// BN(conv(x)) in inference mode: each output channel o is scaled by
// gamma[o]/sqrt(var[o]+eps) and the bias becomes (b-mean)*scale+beta. shape
// is the weight's PyTorch shape; transposed says the output channel is its
// second dimension (ConvTranspose2d) rather than its first.
func FoldBatchNorm(W, b, gamma, beta, mean, variance []float32, shape []int, transposed bool) ([]float32, []float32) {
	out := shape[0]
	if transposed {
		out = shape[1]
	}
	scale := make([]float64, out)
	bf := make([]float32, out)
	for o := range out {
		scale[o] = float64(gamma[o]) / math.Sqrt(float64(variance[o])+BNEpsilon)
		bf[o] = float32((float64(b[o])-float64(mean[o]))*scale[o] + float64(beta[o]))
	}
	inner := len(W) / (shape[0] * shape[1]) // kernel area
	Wf := make([]float32, len(W))
	for i := range W {
		o := i / (shape[1] * inner) // first dimension
		if transposed {
			o = (i / inner) % shape[1]
		}
		Wf[i] = float32(float64(W[i]) * scale[o])
	}
	return Wf, bf
}

func (e *exporter) convBlock(prefix, x string, in, out int) string {
	x = e.bnConv(prefix+".0.0", prefix+".0.1", x, in, out, 3, 1, 1, false)
	return e.bnConv(prefix+".1.0", prefix+".1.1", x, out, out, 3, 1, 1, false)
}

func (e *exporter) downBlock(prefix, x string, in, out int) string {
	x = e.bnConv(prefix+".0.0", prefix+".0.1", x, in, out, 3, 2, 1, false)
	return e.convBlock(prefix+".1", x, out, out)
}

func (e *exporter) upBlock(prefix, x string, in, out int) string {
	x = e.bnConv(prefix+".0.0", prefix+".0.1", x, in, out, 4, 2, 1, true)
	return e.convBlock(prefix+".1", x, out, out)
}

// fc adds FCBlock prefix (Linear, GELU, Linear) on x (batch, in) and returns
// its output reshaped to (batch, out, 1, 1) for broadcasting over maps.
func (e *exporter) fc(prefix, x string, in, out int) string {
	gemm := func(layer, x string, in int) string {
		W := e.g.Const(layer+".weight", []int{out, in}, e.param(layer+".weight", out, in))
		b := e.g.Const(layer+".bias", []int{out}, e.param(layer+".bias", out))
		return e.g.Node("Gemm", []string{x, W, b}, Int("transB", 1))
	}
	y := gemm(prefix+".0", x, in)
	y = e.g.Node("Gelu", []string{y})
	y = gemm(prefix+".2", y, out)
	return e.g.Node("Unsqueeze", []string{y, e.axes23()})
}

func (e *exporter) axes23() string {
	const name = "axes_2_3"
	for _, t := range e.g.g.Initializer {
		if t.Name == name {
			return name
		}
	}
	return e.g.ConstInt64(name, 2, 3)
}

func (e *exporter) build(s modelfile.UNet) {
	D, C, S := s.Hidden, s.Channels, s.Size
	x := e.g.Input("x", Float32, Batch, int64(C), int64(S), int64(S))
	var t, c string
	if s.Cond != "none" {
		t = e.g.Input("t", Float32, Batch, 1)
	}
	if s.Cond == "time_class" {
		c = e.g.Input("c", Float32, Batch, int64(s.Classes))
	}
	e1 := e.convBlock("c0", x, C, D)
	e2 := e.downBlock("d1", e1, D, D)
	e3 := e.downBlock("d2", e2, D, 2*D)
	f := e.g.Node("Gelu", []string{e.g.Node("GlobalAveragePool", []string{e3})})
	u := e.bnConv("un.0", "un.1", f, 2*D, 2*D, S/4, S/4, 0, true)
	var t1, t2, c1, c2 string
	if t != "" {
		t1, t2 = e.fc("fc1_t", t, 1, 2*D), e.fc("fc2_t", t, 1, D)
	}
	if c != "" {
		c1, c2 = e.fc("fc1_c", c, s.Classes, 2*D), e.fc("fc2_c", c, s.Classes, D)
	}
	u = e.modulate(u, t1, c1)
	u = e.upBlock("u1", e.g.Node("Concat", []string{e3, u}, Int("axis", 1)), 4*D, D)
	u = e.modulate(u, t2, c2)
	u = e.upBlock("u2", e.g.Node("Concat", []string{e2, u}, Int("axis", 1)), 2*D, D)
	u = e.convBlock("c1", e.g.Node("Concat", []string{e1, u}, Int("axis", 1)), 2*D, D)
	W := e.g.Const("out.weight", []int{C, D, 3, 3}, e.param("out.weight", C, D, 3, 3))
	b := e.g.Const("out.bias", []int{C}, e.param("out.bias", C))
	e.g.NodeTo("u", "Conv", []string{u, W, b}, Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1))
	e.g.Output("u", Float32, Batch, int64(C), int64(S), int64(S))
}

// modulate applies the write-up's conditioning: x*c + t (class), x*t (time
// only), or nothing.
func (e *exporter) modulate(x, t, c string) string {
	switch {
	case c != "":
		return e.g.Node("Add", []string{e.g.Node("Mul", []string{x, c}), t})
	case t != "":
		return e.g.Node("Mul", []string{x, t})
	}
	return x
}
