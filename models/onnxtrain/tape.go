package onnxtrain

import (
	"fmt"
	"math"
	"strings"

	"difflab/models/onnxexport"
	"difflab/models/unet"
)

// tape builds a float32 ONNX graph forward and records, for every
// operation, the nodes of its backward pass. The gradient nodes are added
// by backward, in reverse order of the forward operations, so that each
// operation's output gradient is complete (summed over its uses) before
// its inputs' gradients are formed.
//
// All shapes are static: the batch size is part of the graph.
type tape struct {
	g      *onnxexport.Graph
	shapes map[string][]int  // shape of every value
	needs  map[string]bool   // values that depend on a trained parameter
	grads  map[string]string // gradient of a value, summed over its uses
	back   []func()
	consts map[string]string
	// channelsLast writes sums over maps and weight gradients in the form
	// that suits a runtime keeping activations channels-last (Options).
	channelsLast bool
	// maxPatchBytes bounds the buffers of one run of images in
	// correlatePatches.
	maxPatchBytes int
}

func newTape(name string) *tape {
	return &tape{g: onnxexport.NewGraph(name), shapes: map[string][]int{}, needs: map[string]bool{},
		grads: map[string]string{}, consts: map[string]string{}, maxPatchBytes: defaultMaxPatchBytes}
}

// input declares a float32 graph input; param marks a trained parameter,
// whose gradient backward forms.
func (tp *tape) input(name string, param bool, shape ...int) string {
	dims := make([]int64, len(shape))
	for i, s := range shape {
		dims[i] = int64(s)
	}
	tp.g.Input(name, onnxexport.Float32, dims...)
	tp.shapes[name] = shape
	tp.needs[name] = param
	return name
}

// views declares the tensors specs as consecutive parts of the flat
// vector from, in order, each reshaped to its Shape. backward forms the
// gradients of learned ones.
func (tp *tape) views(from string, specs []unet.Spec) {
	sizes := make([]int, len(specs))
	for i, s := range specs {
		sizes[i] = count(s.Shape)
	}
	for i, part := range tp.split(from, sizes) {
		s := specs[i]
		tp.g.NodeTo(s.Name, "Reshape", []string{part, tp.ints(s.Shape...)})
		tp.shapes[s.Name] = s.Shape
		tp.needs[s.Name] = s.Role.Learned()
	}
}

// splitParts is the most outputs of one Split node: a GPU kernel writes
// each output through a storage buffer of its own, and WebGPU promises 8
// per shader (one of them the input).
const splitParts = 7

// split cuts the vector v into consecutive parts of the given sizes with a
// tree of Split nodes of at most splitParts outputs each: a few GPU
// kernels, where a Slice per part took one each.
func (tp *tape) split(v string, sizes []int) []string {
	if len(sizes) == 1 {
		return []string{v}
	}
	if len(sizes) <= splitParts {
		return tp.g.Nodes("Split", []string{v, tp.ints(sizes...)}, len(sizes), onnxexport.Int("axis", 0))
	}
	// Groups of splitParts^d parts, the largest power below len(sizes).
	group := splitParts
	for group*splitParts < len(sizes) {
		group *= splitParts
	}
	var groupSizes []int
	for i := 0; i < len(sizes); i += group {
		n := 0
		for _, s := range sizes[i:min(i+group, len(sizes))] {
			n += s
		}
		groupSizes = append(groupSizes, n)
	}
	var parts []string
	for g, part := range tp.split(v, groupSizes) {
		parts = append(parts, tp.split(part, sizes[g*group:min((g+1)*group, len(sizes))])...)
	}
	return parts
}

// flat returns v reshaped to one dimension.
func (tp *tape) flat(v string) string {
	return tp.raw("Reshape", []string{v, tp.ints(-1)})
}

// output declares value v as a graph output called name.
func (tp *tape) output(name, v string) {
	out := tp.g.NodeTo(name, "Identity", []string{v})
	s := tp.shapes[v]
	dims := make([]int64, len(s))
	for i, d := range s {
		dims[i] = int64(d)
	}
	tp.g.Output(out, onnxexport.Float32, dims...)
}

// node adds a forward node whose output has the given shape and depends on
// a parameter when any of its inputs does.
func (tp *tape) node(shape []int, op string, in []string, attrs ...onnxexport.Attr) string {
	y := tp.g.Node(op, in, attrs...)
	tp.shapes[y] = shape
	for _, v := range in {
		if tp.needs[v] {
			tp.needs[y] = true
		}
	}
	return y
}

// raw adds a node of the backward pass or the optimiser (no gradient
// flows through it).
func (tp *tape) raw(op string, in []string, attrs ...onnxexport.Attr) string {
	return tp.g.Node(op, in, attrs...)
}

// scalar returns a float32 constant of shape (1).
func (tp *tape) scalar(v float64) string {
	key := fmt.Sprintf("f%v", float32(v))
	if n, ok := tp.consts[key]; ok {
		return n
	}
	n := tp.g.Const(fmt.Sprintf("const_%d", len(tp.consts)), []int{1}, []float32{float32(v)})
	tp.consts[key] = n
	return n
}

// ints returns an int64 vector constant.
func (tp *tape) ints(v ...int) string {
	parts := make([]string, len(v))
	d := make([]int64, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
		d[i] = int64(x)
	}
	key := "i" + strings.Join(parts, ",")
	if n, ok := tp.consts[key]; ok {
		return n
	}
	n := tp.g.ConstInt64(fmt.Sprintf("const_%d", len(tp.consts)), d...)
	tp.consts[key] = n
	return n
}

// addGrad adds dv to the gradient of v.
func (tp *tape) addGrad(v, dv string) {
	if !tp.needs[v] {
		return
	}
	if old, ok := tp.grads[v]; ok {
		dv = tp.raw("Add", []string{old, dv})
	}
	tp.grads[v] = dv
}

// onBack records the backward step of the forward operation with output y:
// f receives y's gradient, if any flows into y.
func (tp *tape) onBack(y string, f func(dy string)) {
	tp.back = append(tp.back, func() {
		if dy, ok := tp.grads[y]; ok {
			if _, known := tp.shapes[dy]; !known {
				tp.shapes[dy] = tp.shapes[y]
			}
			f(dy)
		}
	})
}

// backward seeds the gradient of loss with 1 and runs the recorded
// backward steps in reverse order.
func (tp *tape) backward(loss string) {
	tp.grads[loss] = tp.scalar(1)
	for i := len(tp.back) - 1; i >= 0; i-- {
		tp.back[i]()
	}
}

func count(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

var swap01 = onnxexport.Ints("perm", 1, 0, 2, 3)

// correlate returns the weight gradient shared by Conv and ConvTranspose,
// a correlation of two maps summed over the batch:
//
//	out[a, b, kh, kw] = sum over n, h, w of
//	    small[n, a, h, w] * big[n, b, stride*h + kh - pad, stride*w + kw - pad]
//
// for kh, kw < k, positions outside big counting zero; small is (n, A, h,
// w), big (n, B, H, W) and the result (A, B, k, k). The windows of big
// that the kernel offsets see are multiplied with small image by image (a
// MatMul batched over n, the sum over the positions inside it) and the n
// products summed. One product over all of n, h and w would be a matrix
// product of A x B k k outputs, each summing n*h*w terms: the WebGPU
// provider spreads a MatMul over its outputs only, which leaves most of a
// GPU idle (the whole training step took 2.9 times as long on an H100).
// ONNX's Conv could compute the same with the batch as channels and small
// as a kernel dilated by the stride, but ONNX Runtime's CPU convolution is
// slow for such large kernels and 3x3 outputs.
func (tp *tape) correlate(small, big string, k, stride, pad int) string {
	ss, bs := tp.shapes[small], tp.shapes[big]
	n, a, h, w, b := ss[0], ss[1], ss[2], ss[3], bs[1]
	if h == 1 && w == 1 && pad == 0 && stride >= k {
		// One position: every offset reads its own pixel of big, and one
		// product over the batch gives the whole kernel.
		lhs := tp.raw("Transpose", []string{tp.raw("Reshape", []string{small, tp.ints(n, a)})}, onnxexport.Ints("perm", 1, 0)) // (A, n)
		rhs := tp.raw("Reshape", []string{big, tp.ints(n, b*k*k)})
		return tp.raw("Reshape", []string{tp.raw("MatMul", []string{lhs, rhs}), tp.ints(a, b, k, k)})
	}
	if tp.channelsLast {
		return tp.correlatePatches(small, big, k, stride, pad)
	}
	return tp.correlateWindows(small, big, k, stride, pad)
}

// correlateWindows is correlate for channels-first runtimes: one Slice of
// big per kernel offset, one batched MatMul and one sum over the batch for
// each, the k*k sums stacked into the kernel. (correlatePatches took a
// fifth longer on ONNX Runtime's CPU provider, with half as much memory
// again.)
func (tp *tape) correlateWindows(small, big string, k, stride, pad int) string {
	ss, bs := tp.shapes[small], tp.shapes[big]
	n, a, h, w, b := ss[0], ss[1], ss[2], ss[3], bs[1]
	// (n, h w, A): the right factor of every offset's products.
	rhs := tp.raw("Transpose", []string{tp.raw("Reshape", []string{small, tp.ints(n, a, h*w)})}, onnxexport.Ints("perm", 0, 2, 1))
	H, W := bs[2], bs[3]
	if pad > 0 {
		big = tp.raw("Pad", []string{big, tp.ints(0, 0, pad, pad, 0, 0, pad, pad)})
		H, W = H+2*pad, W+2*pad
	}
	// (n B, H, W): every window is a slice of the last two axes.
	big = tp.raw("Reshape", []string{big, tp.ints(n*b, H, W)})
	parts := make([]string, 0, k*k)
	for kh := 0; kh < k; kh++ {
		for kw := 0; kw < k; kw++ {
			// Rows kh, kh+stride, ... of the padded map, h of them: for both
			// callers the window lies inside it (the forward pass's output
			// size is what fits).
			eh, ew := kh+stride*(h-1)+1, kw+stride*(w-1)+1
			win := tp.raw("Slice", []string{big, tp.ints(kh, kw), tp.ints(eh, ew), tp.ints(1, 2), tp.ints(stride, stride)})
			prod := tp.raw("MatMul", []string{tp.raw("Reshape", []string{win, tp.ints(n, b, h*w)}), rhs}) // (n, B, A)
			sum := tp.raw("ReduceSum", []string{prod, tp.ints(0)}, onnxexport.Int("keepdims", 0))         // (B, A)
			parts = append(parts, tp.raw("Unsqueeze", []string{sum, tp.ints(2)}))
		}
	}
	stacked := tp.raw("Concat", parts, onnxexport.Int("axis", 2)) // (B, A, k k)
	return tp.raw("Reshape", []string{tp.raw("Transpose", []string{stacked}, onnxexport.Ints("perm", 1, 0, 2)), tp.ints(a, b, k, k)})
}

// correlatePatches is correlate for channels-last runtimes: one grouped
// convolution gathers every offset's window (patches), channels-last, so a
// single MatMul batched over the images, (n, A, h w) x (n, h w, B q),
// forms all offsets' products, and a product with ones sums them over the
// batch, already in the kernel's layout. With the windows sliced one by
// one, the WebGPU provider moved each (or the whole map) out of its
// channels-last layout first: a third of its kernels per training step
// were such transposes and slices. The patches hold q times as many
// values as big (1.2 GB for the widest map at batch 256, D = 64), and the
// products A/h w times as many again on the smallest maps, so both are
// formed in runs of as many images as keep each within maxPatchBytes.
func (tp *tape) correlatePatches(small, big string, k, stride, pad int) string {
	ss, bs := tp.shapes[small], tp.shapes[big]
	n, a, hw, b := ss[0], ss[1], ss[2]*ss[3], bs[1]
	q := patchChannels(k)
	// The patches (B q x h w values per image) and the products (A x B q)
	// are the largest buffers.
	size := max(1, tp.maxPatchBytes/(4*b*q*max(hw, a)))
	var total string
	for i := 0; i < n; i += size {
		j := min(i+size, n)
		sm, bg := small, big
		if j-i < n {
			sm, bg = tp.batchSlice(small, i, j), tp.batchSlice(big, i, j)
		}
		win := tp.raw("Transpose", []string{tp.patches(bg, k, stride, pad)}, toChannelsLast)
		lhs := tp.raw("Reshape", []string{sm, tp.ints(j-i, a, hw)})
		prod := tp.raw("MatMul", []string{lhs, tp.raw("Reshape", []string{win, tp.ints(j-i, hw, b*q)})}) // (images, A, B q)
		sum := tp.raw("MatMul", []string{tp.ones(1, j-i), tp.raw("Reshape", []string{prod, tp.ints(j-i, a*b*q)})})
		if total == "" {
			total = sum
		} else {
			total = tp.raw("Add", []string{total, sum})
		}
	}
	// Drop the q - k k channels of zeros (see patches).
	kernel := tp.raw("Slice", []string{tp.raw("Reshape", []string{total, tp.ints(a, b, q)}), tp.ints(0), tp.ints(k * k), tp.ints(2)})
	return tp.raw("Reshape", []string{kernel, tp.ints(a, b, k, k)})
}

// batchSlice returns images i to j-1 of v.
func (tp *tape) batchSlice(v string, i, j int) string {
	part := tp.raw("Slice", []string{v, tp.ints(i), tp.ints(j), tp.ints(0)})
	tp.shapes[part] = append([]int{j - i}, tp.shapes[v][1:]...)
	return part
}

// defaultMaxPatchBytes bounds the patches and products of one run of
// images: WebGPU adapters cap the size of one buffer (maxBufferSize), and
// ONNX Runtime binds a large one in pieces, of which an operator may have
// only so many (on lavapipe 128 MiB each and 16 in all, so a 1 GiB
// patches tensor takes 8).
const defaultMaxPatchBytes = 1 << 30

// patchChannels is patches' q for a k x k kernel: k k rounded up to a
// multiple of 4.
func patchChannels(k int) int { return (k*k + 3) / 4 * 4 }

// toChannelsLast permutes (n, c, h, w) to (n, h, w, c).
var toChannelsLast = onnxexport.Ints("perm", 0, 2, 3, 1)

// patches returns the windows of v (n, B, H, W) that a k x k kernel with
// the given stride and padding sees, as (n, B q, h, w) with q =
// patchChannels(k) channels per channel of v: channel b q + kh k + kw
// holds the window at kernel offset (kh, kw) of channel b, and the
// channels from b q + k k to b q + q - 1 are zero. q is a multiple of 4
// because the WebGPU provider's grouped convolution (ONNX Runtime 1.30)
// gives wrong values when the output channels of a group are not a
// multiple of 4 but their total is. It is one grouped convolution with
// one-hot kernels, which copies each value exactly (products with 1 and 0).
func (tp *tape) patches(v string, k, stride, pad int) string {
	b, kk, q := tp.shapes[v][1], k*k, patchChannels(k)
	key := fmt.Sprint("onehot", b, k)
	kernel, ok := tp.consts[key]
	if !ok {
		data := make([]float32, b*q*kk)
		for c := 0; c < b; c++ {
			for p := 0; p < kk; p++ {
				data[(c*q+p)*kk+p] = 1
			}
		}
		kernel = tp.g.Const(fmt.Sprintf("const_%d", len(tp.consts)), []int{b * q, 1, k, k}, data)
		tp.consts[key] = kernel
	}
	return tp.raw("Conv", []string{v, kernel}, onnxexport.Int("group", int64(b)),
		onnxexport.Ints("kernel_shape", int64(k), int64(k)), onnxexport.Ints("strides", int64(stride), int64(stride)),
		onnxexport.Ints("pads", int64(pad), int64(pad), int64(pad), int64(pad)))
}

// ones returns a float32 constant of ones of the given shape.
func (tp *tape) ones(shape ...int) string { return tp.filled(1, shape...) }

// filled returns a float32 constant of the given shape with every value v.
func (tp *tape) filled(v float64, shape ...int) string {
	key := fmt.Sprint("filled", float32(v), shape)
	if n, ok := tp.consts[key]; ok {
		return n
	}
	data := make([]float32, count(shape))
	for i := range data {
		data[i] = float32(v)
	}
	n := tp.g.Const(fmt.Sprintf("const_%d", len(tp.consts)), shape, data)
	tp.consts[key] = n
	return n
}

// channelSum sums v (n, c, h, w) over n, h and w into a (c) vector; see
// sumMaps.
func (tp *tape) channelSum(v string) string {
	return tp.sumMaps(tp.toWork(v), 1)
}

// toWork returns v (n, c, h, w) in the layout the graph computes
// per-channel arithmetic in: as it is, or with Options.ChannelsLast
// transposed to (n, h, w, c), which cancels the WebGPU provider's
// transpose of a channels-last convolution's output. fromWork undoes it,
// giving shape (n, c, h, w).
func (tp *tape) toWork(v string) string {
	if !tp.channelsLast {
		return v
	}
	s := tp.shapes[v]
	return tp.node([]int{s[0], s[2], s[3], s[1]}, "Transpose", []string{v}, toChannelsLast)
}

func (tp *tape) fromWork(v string, shape []int) string {
	if !tp.channelsLast {
		return v
	}
	return tp.node(shape, "Transpose", []string{v}, onnxexport.Ints("perm", 0, 3, 1, 2))
}

// sumMaps sums v, in the layout of toWork, over the batch and the maps
// into a (c) vector, each term times weight, as two matrix products: with
// ones over each map (batched over the batch), then with weights over the
// batch. ReduceSum over those axes gives the same, but the WebGPU provider
// reduces each output in one workgroup, c of them for n*h*w terms each,
// which leaves most of a GPU idle (the training step took a fifth longer
// on an H100).
func (tp *tape) sumMaps(v string, weight float64) string {
	s := tp.shapes[v]
	var n, c, hw int
	var perMap string
	if tp.channelsLast {
		n, c, hw = s[0], s[3], s[1]*s[2]
		perMap = tp.raw("MatMul", []string{tp.ones(1, hw), tp.raw("Reshape", []string{v, tp.ints(n, hw, c)})}) // (n, 1, c)
	} else {
		n, c, hw = s[0], s[1], s[2]*s[3]
		perMap = tp.raw("MatMul", []string{tp.raw("Reshape", []string{v, tp.ints(n, c, hw)}), tp.ones(hw, 1)}) // (n, c, 1)
	}
	total := tp.raw("MatMul", []string{tp.filled(weight, 1, n), tp.raw("Reshape", []string{perMap, tp.ints(n, c)})}) // (1, c)
	return tp.raw("Reshape", []string{total, tp.ints(c)})
}

// conv is Conv2d (weight (out, in, k, k), bias (out)) with the given stride
// and padding. Backward: the input gradient is the transposed convolution
// of dy with the same weight (for stride 1, the convolution of dy with the
// kernel flipped and its channels swapped); the weight gradient correlates
// dy with the input (correlate); the bias gradient sums dy over batch and
// space.
func (tp *tape) conv(x, w, b string, stride, pad int) string {
	xs, ws := tp.shapes[x], tp.shapes[w]
	n, h, wd, out, k := xs[0], xs[2], xs[3], ws[0], ws[2]
	ho, wo := (h+2*pad-k)/stride+1, (wd+2*pad-k)/stride+1
	y := tp.node([]int{n, out, ho, wo}, "Conv", []string{x, w, b},
		onnxexport.Ints("kernel_shape", int64(k), int64(k)), onnxexport.Ints("strides", int64(stride), int64(stride)),
		onnxexport.Ints("pads", int64(pad), int64(pad), int64(pad), int64(pad)))
	tp.onBack(y, func(dy string) {
		if tp.needs[x] {
			if stride == 1 {
				// dx[i] = sum over o of dy[o] convolved with W[o, i] rotated
				// by 180 degrees, padded by k-1-pad.
				flipped := tp.raw("Slice", []string{tp.raw("Transpose", []string{w}, swap01),
					tp.ints(-1, -1), tp.ints(-k-1, -k-1), tp.ints(2, 3), tp.ints(-1, -1)})
				q := int64(k - 1 - pad)
				tp.addGrad(x, tp.raw("Conv", []string{dy, flipped},
					onnxexport.Ints("kernel_shape", int64(k), int64(k)), onnxexport.Ints("pads", q, q, q, q)))
			} else {
				// ConvTranspose of dy gives (ho-1)*stride - 2*pad + k rows;
				// output_padding adds the rows the forward pass's floor dropped.
				oph, opw := h-((ho-1)*stride-2*pad+k), wd-((wo-1)*stride-2*pad+k)
				tp.addGrad(x, tp.raw("ConvTranspose", []string{dy, w},
					onnxexport.Ints("kernel_shape", int64(k), int64(k)), onnxexport.Ints("strides", int64(stride), int64(stride)),
					onnxexport.Ints("pads", int64(pad), int64(pad), int64(pad), int64(pad)),
					onnxexport.Ints("output_padding", int64(oph), int64(opw))))
			}
		}
		if tp.needs[w] {
			tp.addGrad(w, tp.correlate(dy, x, k, stride, pad))
		}
		if tp.needs[b] {
			tp.addGrad(b, tp.channelSum(dy))
		}
	})
	return y
}

// convT is ConvTranspose2d (weight (in, out, k, k), bias (out)). Backward:
// the input gradient is the convolution of dy with the same weight; the
// weight gradient correlates the input with dy (correlate).
func (tp *tape) convT(x, w, b string, stride, pad int) string {
	xs, ws := tp.shapes[x], tp.shapes[w]
	n, h, wd, out, k := xs[0], xs[2], xs[3], ws[1], ws[2]
	ho, wo := (h-1)*stride-2*pad+k, (wd-1)*stride-2*pad+k
	attrs := []onnxexport.Attr{onnxexport.Ints("kernel_shape", int64(k), int64(k)), onnxexport.Ints("strides", int64(stride), int64(stride)),
		onnxexport.Ints("pads", int64(pad), int64(pad), int64(pad), int64(pad))}
	y := tp.node([]int{n, out, ho, wo}, "ConvTranspose", []string{x, w, b}, attrs...)
	tp.onBack(y, func(dy string) {
		if tp.needs[x] {
			tp.addGrad(x, tp.raw("Conv", []string{dy, w}, attrs...))
		}
		if tp.needs[w] {
			tp.addGrad(w, tp.correlate(x, dy, k, stride, pad))
		}
		if tp.needs[b] {
			tp.addGrad(b, tp.channelSum(dy))
		}
	})
	return y
}

// geluGrad returns dy * GELU'(x), GELU'(x) = Φ(x) + x φ(x).
func (tp *tape) geluGrad(x, dy string) string {
	cdf := tp.raw("Mul", []string{tp.scalar(0.5), tp.raw("Add", []string{tp.scalar(1),
		tp.raw("Erf", []string{tp.raw("Mul", []string{x, tp.scalar(1 / math.Sqrt2)})})})})
	pdf := tp.raw("Mul", []string{tp.scalar(1 / math.Sqrt(2*math.Pi)),
		tp.raw("Exp", []string{tp.raw("Mul", []string{tp.scalar(-0.5), tp.raw("Mul", []string{x, x})})})})
	d := tp.raw("Add", []string{cdf, tp.raw("Mul", []string{x, pdf})})
	return tp.raw("Mul", []string{dy, d})
}

// gelu is the exact GELU x Φ(x).
func (tp *tape) gelu(x string) string {
	y := tp.node(tp.shapes[x], "Gelu", []string{x})
	tp.onBack(y, func(dy string) { tp.addGrad(x, tp.geluGrad(x, dy)) })
	return y
}

// bnEpsilon and bnMomentum are BatchNorm2d's defaults.
const (
	bnEpsilon  = 1e-5
	bnMomentum = 0.1
)

// batchStats are the statistics of a training-mode BatchNorm's batch, as
// (c) vectors: the mean and the biased variance of m values per channel.
type batchStats struct {
	mean, variance string
	m              int
}

// batchNormGELU is GELU(BatchNorm2d(x)) in training mode: x normalised
// with its batch mean and biased variance per channel, scaled by gamma and
// shifted by beta. It also returns the batch's statistics, from which the
// caller updates the running ones.
//
// The normalised x never appears: with xc = x - mean, r = 1/(variance +
// eps) and the per-channel scale a = gamma sqrt(r), the forward pass is
// z = a xc + beta, and the backward pass needs two sums over the batch and
// the maps, s1 = sum(dz) and s2 = sum(dz xc):
//
//	dgamma = sqrt(r) s2;  dbeta = s1
//	dx = a dz - a s1/m - xc a r s2/m
//
// (the textbook rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with
// rstd = sqrt(r), dxhat = gamma dz and xhat = rstd xc). Every operator is
// a GPU kernel, those over small vectors too; this form needs two sums
// instead of four, and fewer products.
func (tp *tape) batchNormGELU(x, gamma, beta string) (y string, stats batchStats) {
	s := tp.shapes[x]
	c, m := s[1], s[0]*s[2]*s[3]
	// The arithmetic runs in toWork's layout, with per-channel values
	// shaped to broadcast over it: (1, c, 1, 1), or (c) channels-last.
	xw := tp.toWork(x)
	ws := tp.shapes[xw]
	stat := []int{1, c, 1, 1}
	if tp.channelsLast {
		stat = []int{c}
	}
	vec := tp.ints(c)
	// sum and avg reduce a value shaped like xw over the batch and the
	// maps, to (c) and to stat (the mean).
	sum := func(v string) string {
		tp.shapes[v] = ws
		return tp.sumMaps(v, 1)
	}
	avg := func(v string) string {
		tp.shapes[v] = ws
		return tp.raw("Reshape", []string{tp.sumMaps(v, 1/float64(m)), tp.ints(stat...)})
	}
	mean := avg(xw)
	xc := tp.node(ws, "Sub", []string{xw, mean})
	variance := avg(tp.raw("Mul", []string{xc, xc}))
	r := tp.raw("Reciprocal", []string{tp.raw("Add", []string{variance, tp.scalar(bnEpsilon)})})
	rstd := tp.node(stat, "Sqrt", []string{r})
	g4 := tp.node(stat, "Reshape", []string{gamma, tp.ints(stat...)})
	b4 := tp.node(stat, "Reshape", []string{beta, tp.ints(stat...)})
	a := tp.node(stat, "Mul", []string{g4, rstd})
	z := tp.node(ws, "Add", []string{tp.node(ws, "Mul", []string{xc, a}), b4})
	y = tp.fromWork(tp.node(ws, "Gelu", []string{z}), s)
	stats = batchStats{mean: tp.raw("Reshape", []string{mean, vec}), variance: tp.raw("Reshape", []string{variance, vec}), m: m}
	tp.shapes[stats.mean], tp.shapes[stats.variance] = []int{c}, []int{c}

	tp.onBack(y, func(dy string) {
		dz := tp.geluGrad(z, tp.toWork(dy))
		s1, s2 := sum(dz), sum(tp.raw("Mul", []string{dz, xc}))
		tp.addGrad(gamma, tp.raw("Mul", []string{s2, tp.raw("Reshape", []string{rstd, vec})}))
		tp.addGrad(beta, s1)
		if tp.needs[x] {
			am := tp.raw("Mul", []string{a, tp.scalar(1 / float64(m))})
			k1 := tp.raw("Mul", []string{tp.raw("Mul", []string{am, r}), tp.raw("Reshape", []string{s2, tp.ints(stat...)})}) // (stat)
			k2 := tp.raw("Mul", []string{am, tp.raw("Reshape", []string{s1, tp.ints(stat...)})})                             // (stat)
			dx := tp.raw("Sub", []string{tp.raw("Mul", []string{dz, a}), tp.raw("Add", []string{tp.raw("Mul", []string{xc, k1}), k2})})
			tp.shapes[dx] = ws
			tp.addGrad(x, tp.fromWork(dx, s))
		}
	})
	return y, stats
}

// globalAvgPool averages each channel map to (n, c, 1, 1); its gradient
// spreads dy evenly over the map.
func (tp *tape) globalAvgPool(x string) string {
	s := tp.shapes[x]
	y := tp.node([]int{s[0], s[1], 1, 1}, "GlobalAveragePool", []string{x})
	tp.onBack(y, func(dy string) {
		tp.addGrad(x, tp.raw("Expand", []string{tp.raw("Mul", []string{dy, tp.scalar(1 / float64(s[2]*s[3]))}), tp.ints(s...)}))
	})
	return y
}

// linear is x W^T + b for x (n, in), W (out, in), b (out).
func (tp *tape) linear(x, w, b string) string {
	n, out := tp.shapes[x][0], tp.shapes[w][0]
	y := tp.node([]int{n, out}, "Gemm", []string{x, w, b}, onnxexport.Int("transB", 1))
	tp.onBack(y, func(dy string) {
		if tp.needs[x] {
			tp.addGrad(x, tp.raw("MatMul", []string{dy, w}))
		}
		if tp.needs[w] {
			tp.addGrad(w, tp.raw("Gemm", []string{dy, x}, onnxexport.Int("transA", 1)))
		}
		if tp.needs[b] {
			tp.addGrad(b, tp.raw("ReduceSum", []string{dy, tp.ints(0)}, onnxexport.Int("keepdims", 0)))
		}
	})
	return y
}

// reshape gives x a new shape of the same size.
func (tp *tape) reshape(x string, shape ...int) string {
	y := tp.node(shape, "Reshape", []string{x, tp.ints(shape...)})
	tp.onBack(y, func(dy string) { tp.addGrad(x, tp.raw("Reshape", []string{dy, tp.ints(tp.shapes[x]...)})) })
	return y
}

// reduceTo sums dy (shaped like a broadcast result) down to shape, which
// differs from dy's shape only in dimensions of size 1.
func (tp *tape) reduceTo(dy string, from, shape []int) string {
	var axes []int
	for i := range shape {
		if shape[i] == 1 && from[i] != 1 {
			axes = append(axes, i)
		}
	}
	if len(axes) == 0 {
		return dy
	}
	return tp.raw("ReduceSum", []string{dy, tp.ints(axes...)}, onnxexport.Int("keepdims", 1))
}

// mul is the broadcasting product a * b, b of the shape of a or with
// dimensions of size 1 (a conditioning vector (n, c, 1, 1) over maps).
func (tp *tape) mul(a, b string) string {
	s := tp.shapes[a]
	y := tp.node(s, "Mul", []string{a, b})
	tp.onBack(y, func(dy string) {
		if tp.needs[a] {
			tp.addGrad(a, tp.raw("Mul", []string{dy, b}))
		}
		if tp.needs[b] {
			tp.addGrad(b, tp.reduceTo(tp.raw("Mul", []string{dy, a}), s, tp.shapes[b]))
		}
	})
	return y
}

// add is the broadcasting sum a + b, b as in mul.
func (tp *tape) add(a, b string) string {
	s := tp.shapes[a]
	y := tp.node(s, "Add", []string{a, b})
	tp.onBack(y, func(dy string) {
		tp.addGrad(a, dy)
		if tp.needs[b] {
			tp.addGrad(b, tp.reduceTo(dy, s, tp.shapes[b]))
		}
	})
	return y
}

// concat joins a and b along the channel axis 1; the gradient splits dy
// back along it.
func (tp *tape) concat(a, b string) string {
	sa, sb := tp.shapes[a], tp.shapes[b]
	s := []int{sa[0], sa[1] + sb[1], sa[2], sa[3]}
	y := tp.node(s, "Concat", []string{a, b}, onnxexport.Int("axis", 1))
	tp.onBack(y, func(dy string) {
		if tp.needs[a] {
			tp.addGrad(a, tp.raw("Slice", []string{dy, tp.ints(0), tp.ints(sa[1]), tp.ints(1)}))
		}
		if tp.needs[b] {
			tp.addGrad(b, tp.raw("Slice", []string{dy, tp.ints(sa[1]), tp.ints(s[1]), tp.ints(1)}))
		}
	})
	return y
}

// mse is the mean over all elements of (y - target)^2, of shape (1); its
// gradient is 2 (y - target) / count.
func (tp *tape) mse(y, target string) string {
	d := tp.node(tp.shapes[y], "Sub", []string{y, target})
	loss := tp.node([]int{1}, "Reshape", []string{tp.raw("ReduceMean", []string{tp.raw("Mul", []string{d, d})}), tp.ints(1)})
	tp.onBack(loss, func(dl string) {
		tp.addGrad(y, tp.raw("Mul", []string{d, tp.raw("Mul", []string{dl, tp.scalar(2 / float64(count(tp.shapes[y])))})}))
	})
	return loss
}
