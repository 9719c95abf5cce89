// Package classify trains a small image classifier (a one-hidden-layer
// perceptron) with Gorgonia, to score generated samples: how many of the
// digits a class-conditioned model drew for class k does the classifier
// read as k.
//
// Train fits the classifier with softmax cross-entropy and Adam on flat
// images (any value range, the same as at prediction); Predict and Accuracy
// run the forward pass in plain Go.
package classify

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Options sets the classifier's size and training. Zero fields take the
// defaults in brackets.
type Options struct {
	Hidden int     // hidden units [128]
	Epochs int     // passes over the data [5]
	Batch  int     // images per step [100]
	LR     float64 // Adam learning rate [3e-3]
	Seed   uint64  // initial weights and shuffling
}

func (o Options) withDefaults() Options {
	if o.Hidden == 0 {
		o.Hidden = 128
	}
	if o.Epochs == 0 {
		o.Epochs = 5
	}
	if o.Batch == 0 {
		o.Batch = 100
	}
	if o.LR == 0 {
		o.LR = 3e-3
	}
	return o
}

// Classifier is a trained perceptron: logits = ReLU(x W1 + B1) W2 + B2,
// weights stored row-major as (in, hidden) and (hidden, classes).
type Classifier struct {
	In, Hidden, Classes int
	W1, B1, W2, B2      []float32
}

// Train fits a classifier to n = len(labels) images of per values each with
// labels in 0..classes-1.
func Train(images []float32, labels []int64, per, classes int, opt Options) (*Classifier, error) {
	opt = opt.withDefaults()
	n := len(labels)
	if per < 1 || n < opt.Batch || len(images) != n*per {
		return nil, fmt.Errorf("classify: %d values and %d labels are not at least one batch of %d images of %d values", len(images), n, opt.Batch, per)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= classes {
			return nil, fmt.Errorf("classify: label %d of image %d is outside 0..%d", l, i, classes-1)
		}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x636c6173))
	c := &Classifier{In: per, Hidden: opt.Hidden, Classes: classes}
	c.W1, c.B1 = uniform(rng, per*opt.Hidden, per), uniform(rng, opt.Hidden, per)
	c.W2, c.B2 = uniform(rng, opt.Hidden*classes, opt.Hidden), uniform(rng, classes, opt.Hidden)

	B := opt.Batch
	g := G.NewGraph()
	mk := func(name string, data []float32, shape ...int) *G.Node {
		v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
		return G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	}
	xs, ys := make([]float32, B*per), make([]float32, B*classes)
	x, y := mk("x", xs, B, per), mk("y", ys, B, classes)
	w1, b1 := mk("w1", c.W1, per, opt.Hidden), mk("b1", c.B1, 1, opt.Hidden)
	w2, b2 := mk("w2", c.W2, opt.Hidden, classes), mk("b2", c.B2, 1, classes)
	h := G.Must(G.Rectify(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w2)), b2, nil, []byte{0}))
	prob := G.Must(G.SoftMax(logits))
	// Mean cross-entropy; the small constant keeps log away from zero.
	eps := G.NewConstant(float32(1e-7))
	logp := G.Must(G.Log(G.Must(G.Add(prob, eps))))
	loss := G.Must(G.Div(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, y)))))), G.NewConstant(float32(B))))
	params := G.Nodes{w1, b1, w2, b2}
	if _, err := G.Grad(loss, params...); err != nil {
		return nil, fmt.Errorf("classify: gradients: %w", err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(opt.LR))
	for e := 0; e < opt.Epochs; e++ {
		perm := rng.Perm(n)
		for s := 0; s+B <= n; s += B {
			clear(ys)
			for k, i := range perm[s : s+B] {
				copy(xs[k*per:(k+1)*per], images[i*per:(i+1)*per])
				ys[k*classes+int(labels[i])] = 1
			}
			if err := vm.RunAll(); err != nil {
				return nil, fmt.Errorf("classify: training step: %w", err)
			}
			if err := solver.Step(G.NodesToValueGrads(params)); err != nil {
				return nil, fmt.Errorf("classify: update: %w", err)
			}
			vm.Reset()
		}
	}
	return c, nil
}

// uniform returns n values uniform in ±1/sqrt(fanIn).
func uniform(rng *rand.Rand, n, fanIn int) []float32 {
	b := 1 / math.Sqrt(float64(fanIn))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * b)
	}
	return v
}

// Predict returns the most likely class of each image (In values each).
func (c *Classifier) Predict(images []float32) []int {
	n := len(images) / c.In
	out := make([]int, n)
	h := make([]float32, c.Hidden)
	for i := 0; i < n; i++ {
		x := images[i*c.In : (i+1)*c.In]
		copy(h, c.B1)
		for k, xv := range x {
			if xv == 0 {
				continue
			}
			row := c.W1[k*c.Hidden : (k+1)*c.Hidden]
			for j := range h {
				h[j] += xv * row[j]
			}
		}
		best, bestV := 0, float32(math.Inf(-1))
		for o := 0; o < c.Classes; o++ {
			v := c.B2[o]
			for j, hv := range h {
				if hv > 0 {
					v += hv * c.W2[j*c.Classes+o]
				}
			}
			if v > bestV {
				best, bestV = o, v
			}
		}
		out[i] = best
	}
	return out
}

// Accuracy is the fraction of images whose predicted class is their label.
func (c *Classifier) Accuracy(images []float32, labels []int64) float64 {
	if len(labels) == 0 {
		return 0
	}
	right := 0
	for i, p := range c.Predict(images) {
		if int64(p) == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}
