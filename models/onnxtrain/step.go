// Package onnxtrain writes ONNX graphs of one whole training step of
// difflab's UNets, so that ONNX Runtime can train them on any of its
// devices.
//
// # Overview
//
// Step returns the graph of one optimisation step for a UNet (the
// architecture and weight layout of package unet, with PyTorch state_dict
// names) at a fixed batch size: the forward pass in training mode
// (BatchNorm with batch statistics), the mean squared error to the target,
// the backward pass, clipping to a global gradient norm, and Adam. The
// backward pass is derived here op by op (tape.go): a convolution's weight
// gradient correlates its input with the output gradient, matrix products
// of its windows and the output gradient batched over the images; its
// input gradient is the transposed convolution of the output gradient;
// BatchNorm, GELU, the linear layers, the conditioning products,
// concatenation and pooling each have their closed form. Sums over the
// batch and the maps are products with ones. Both choices keep a GPU busy
// (see correlate and channelSum). Options.ChannelsLast writes both in the
// form that suits the GPU's channels-last layout.
//
// Weights, BatchNorm running statistics and Adam moments are graph inputs
// and their updated values graph outputs, so a caller runs the same session
// step after step and carries the state from outputs to inputs. The state
// travels as four flat vectors (Layout) rather than one input per tensor:
// on a GPU every input and output is a copy of its own between host and
// device (about 300 of each per tensor), and Adam runs as a dozen
// operators over one vector instead of a dozen per tensor.
//
// # Inputs and outputs
//
// Inputs: the flat state InputParams (every learned tensor of unet.Specs,
// laid out by Layout), InputBuffers (the running statistics), InputAdamM
// and InputAdamV (Adam's moments, laid out like InputParams); "x" (batch,
// channels, size, size), "t" (batch, 1) for the conditioned UNets, "c"
// (batch, classes) for time_class, "target" shaped like x; the scalars
// (shape (1)) "lr" (Adam's learning rate), "step" (Adam's step count
// including this step, for the bias corrections) and "clip" (the largest
// global gradient norm; a huge value turns clipping off).
//
// Outputs: "loss" (1), the batch's loss before the update; Next+InputParams
// after the Adam update, Next+InputBuffers after this batch, Next+InputAdamM
// and Next+InputAdamV; with Options.Gradients also Grad+name for every
// learned tensor, the gradient of the loss before clipping.
//
// # Invariants
//
//   - The step computes what package train's Gorgonia trainer computes for
//     the same batch (the same loss, PyTorch's Adam and BatchNorm, the same
//     clipping rule), up to float32 rounding.
//   - Graphs are float32, ONNX opset 20, and use only standard operators.
package onnxtrain

import (
	"fmt"

	"difflab/models/onnxexport"
	"difflab/models/unet"
)

// Name prefixes of the step graph's outputs.
const (
	// Next prefixes the outputs holding updated state.
	Next = "next/"
	// Grad prefixes the gradient outputs of Options.Gradients.
	Grad = "grad/"
)

// The names of the step graph's inputs and of its loss.
const (
	InputParams  = "params"
	InputBuffers = "buffers"
	InputAdamM   = "adam_m"
	InputAdamV   = "adam_v"
	InputX       = "x"
	InputT       = "t"
	InputC       = "c"
	InputTarget  = "target"
	InputLR      = "lr"
	InputStep    = "step"
	InputClip    = "clip"
	OutputLoss   = "loss"
)

// Adam's constants (torch.optim.Adam's defaults, as package train uses).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// clipEpsilon is added to the gradient norm before dividing by it, as
// torch.nn.utils.clip_grad_norm_ does.
const clipEpsilon = 1e-6

// Options tunes Step. A nil *Options means the defaults.
type Options struct {
	// Gradients adds the raw gradients as outputs (for tests).
	Gradients bool
	// ChannelsLast writes the graph for a runtime that keeps activations
	// channels-last, as ONNX Runtime's WebGPU provider does: sums over maps
	// and weight gradients read the activations in that order, so that the
	// provider's layout transposes cancel instead of running before each of
	// them. Both forms compute the same values.
	ChannelsLast bool
}

// Step returns the ONNX model of one training step of the UNet cfg
// describes on batches of batch images.
func Step(cfg unet.Config, batch int, opts *Options) ([]byte, error) {
	specs, err := unet.Specs(cfg)
	if err != nil {
		return nil, err
	}
	if batch < 2 {
		return nil, fmt.Errorf("onnxtrain: batch size %d: BatchNorm's unbiased variance needs at least 2 images", batch)
	}
	tp := newTape(fmt.Sprintf("difflab_train_step_%s", cfg.Cond))
	tp.channelsLast = opts != nil && opts.ChannelsLast
	b := &stepBuilder{tp: tp, cfg: cfg, batch: batch, stats: map[string]string{}, momentum: map[string]float64{}}
	l := NewLayout(specs)
	params := tp.input(InputParams, false, l.Params)
	buffers := tp.input(InputBuffers, false, l.Buffers)
	var learned, others []unet.Spec
	for _, s := range specs {
		if s.Role.Learned() {
			learned = append(learned, s)
		} else {
			others = append(others, s)
		}
	}
	tp.views(params, learned)
	tp.views(buffers, others)
	S, C := cfg.Size, cfg.Channels
	x := tp.input(InputX, false, batch, C, S, S)
	var t, c string
	if cfg.Cond != unet.Unconditional {
		t = tp.input(InputT, false, batch, 1)
	}
	if cfg.Cond == unet.TimeClass {
		c = tp.input(InputC, false, batch, cfg.Classes)
	}
	target := tp.input(InputTarget, false, batch, C, S, S)
	lr := tp.input(InputLR, false, 1)
	step := tp.input(InputStep, false, 1)
	clip := tp.input(InputClip, false, 1)

	loss := tp.mse(b.unet(x, t, c), target)
	tp.backward(loss)
	tp.output(OutputLoss, loss)

	var grads, stats []string
	var momentum []float32
	for _, s := range specs {
		if !s.Role.Learned() {
			st, ok := b.stats[s.Name]
			if !ok {
				return nil, fmt.Errorf("onnxtrain: no batch statistic updates %q", s.Name)
			}
			stats = append(stats, st)
			for range count(s.Shape) {
				momentum = append(momentum, float32(b.momentum[s.Name]))
			}
			continue
		}
		g, ok := tp.grads[s.Name]
		if !ok {
			return nil, fmt.Errorf("onnxtrain: no gradient reaches %q", s.Name)
		}
		grads = append(grads, g)
		if opts != nil && opts.Gradients {
			tp.shapes[g] = s.Shape
			tp.output(Grad+s.Name, g)
		}
	}
	// All running statistics at once: (1 - momentum) running + momentum'
	// batch, where momentum' includes a variance's m/(m-1).
	batchStats := tp.raw("Concat", stats, onnxexport.Int("axis", 0))
	nextBuffers := tp.raw("Add", []string{tp.raw("Mul", []string{tp.scalar(1 - bnMomentum), buffers}),
		tp.raw("Mul", []string{batchStats, tp.g.Const("momentum", []int{l.Buffers}, momentum)})})
	tp.shapes[nextBuffers] = []int{l.Buffers}
	tp.output(Next+InputBuffers, nextBuffers)
	flatGrads := make([]string, len(grads))
	for i, g := range grads {
		flatGrads[i] = tp.flat(g)
	}
	g := tp.raw("Concat", flatGrads, onnxexport.Int("axis", 0))
	g = tp.raw("Mul", []string{g, clipScale(tp, g, clip)})
	adam(tp, l.Params, params, g, lr, step)
	return tp.g.Marshal()
}

// Layout places the tensors of unet.Specs in the step graph's flat state:
// the learned ones one after another in InputParams, the others (running
// statistics) in InputBuffers, each in the order of the specs.
type Layout struct {
	// Specs are the tensors laid out.
	Specs []unet.Spec
	// Offset is the position of a tensor's first value in its vector.
	Offset map[string]int
	// Params and Buffers are the lengths of the two vectors.
	Params, Buffers int
}

// NewLayout lays out specs.
func NewLayout(specs []unet.Spec) Layout {
	l := Layout{Specs: specs, Offset: map[string]int{}}
	for _, s := range specs {
		if s.Role.Learned() {
			l.Offset[s.Name], l.Params = l.Params, l.Params+count(s.Shape)
		} else {
			l.Offset[s.Name], l.Buffers = l.Buffers, l.Buffers+count(s.Shape)
		}
	}
	return l
}

// Pack returns the vector of the learned tensors (learned true) or of the
// others, with each tensor's values taken from get; a tensor of the wrong
// size is an error.
func (l Layout) Pack(learned bool, get func(name string) []float32) ([]float32, error) {
	n := l.Buffers
	if learned {
		n = l.Params
	}
	flat := make([]float32, n)
	for _, s := range l.Specs {
		if s.Role.Learned() != learned {
			continue
		}
		v := get(s.Name)
		if len(v) != count(s.Shape) {
			return nil, fmt.Errorf("onnxtrain: %q has %d values, want %d for shape %v", s.Name, len(v), count(s.Shape), s.Shape)
		}
		copy(flat[l.Offset[s.Name]:], v)
	}
	return flat, nil
}

// Unpack hands put every tensor of the vector flat (learned as for Pack),
// as a slice of flat.
func (l Layout) Unpack(learned bool, flat []float32, put func(name string, values []float32)) {
	for _, s := range l.Specs {
		if s.Role.Learned() == learned {
			off := l.Offset[s.Name]
			put(s.Name, flat[off:off+count(s.Shape)])
		}
	}
}

// clipScale returns the factor that scales the flat gradient g to the
// global L2 norm clip when its norm exceeds it: clip/(norm+1e-6), else 1.
func clipScale(tp *tape, g, clip string) string {
	norm := tp.raw("Sqrt", []string{tp.raw("ReduceSumSquare", []string{g}, onnxexport.Int("keepdims", 1))})
	return tp.raw("Where", []string{tp.raw("Greater", []string{norm, clip}),
		tp.raw("Div", []string{clip, tp.raw("Add", []string{norm, tp.scalar(clipEpsilon)})}), tp.scalar(1)})
}

// adam adds PyTorch's Adam update of the n flat parameters params, given
// their flat gradient g, and the outputs of the updated parameters and
// moments:
//
//	m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//	p -= lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)
func adam(tp *tape, n int, params, g, lr, step string) {
	c1 := tp.raw("Sub", []string{tp.scalar(1), tp.raw("Pow", []string{tp.scalar(adamBeta1), step})})
	c2 := tp.raw("Sqrt", []string{tp.raw("Sub", []string{tp.scalar(1), tp.raw("Pow", []string{tp.scalar(adamBeta2), step})})})
	size := tp.raw("Div", []string{lr, c1})
	m := tp.input(InputAdamM, false, n)
	v := tp.input(InputAdamV, false, n)
	m2 := tp.raw("Add", []string{tp.raw("Mul", []string{tp.scalar(adamBeta1), m}), tp.raw("Mul", []string{tp.scalar(1 - adamBeta1), g})})
	v2 := tp.raw("Add", []string{tp.raw("Mul", []string{tp.scalar(adamBeta2), v}),
		tp.raw("Mul", []string{tp.scalar(1 - adamBeta2), tp.raw("Mul", []string{g, g})})})
	den := tp.raw("Add", []string{tp.raw("Div", []string{tp.raw("Sqrt", []string{v2}), c2}), tp.scalar(adamEps)})
	p2 := tp.raw("Sub", []string{params, tp.raw("Mul", []string{size, tp.raw("Div", []string{m2, den})})})
	for _, o := range [][2]string{{Next + InputParams, p2}, {Next + InputAdamM, m2}, {Next + InputAdamV, v2}} {
		tp.shapes[o[1]] = []int{n}
		tp.output(o[0], o[1])
	}
}
