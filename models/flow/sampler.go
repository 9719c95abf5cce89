// Package flow samples from flow-matching models: it integrates a velocity
// model u(x, t) from noise at t = 0 to data at t = 1 with Euler steps,
// optionally with classifier-free guidance. The stage kind sample.flow of
// package difflab/stages/flow runs it.
//
// # Algorithm
//
// x_0 ~ N(0, I) from the seed; for k = 0 .. T-1: x <- x + u(x, k/T) / T,
// exactly T model evaluations. With guidance gamma the conditional and
// unconditional evaluations run as one batch and u = u_u + gamma (u_c - u_u).
// The result is clipped to the model's value range when asked.
package flow

import (
	"context"
	"fmt"
	"math/rand/v2"

	"difflab/models/modelfile"
	"difflab/models/tensor"
)

// Unconditional is the class value of a sample drawn without a class.
const Unconditional = -1

// Options configures Sample. Steps must be positive.
type Options struct {
	// Steps is the number of Euler steps T.
	Steps int
	// CFG is the guidance scale gamma of class-conditioned models; 1 uses
	// the conditional velocity alone (one model batch of N instead of 2N).
	// Models without a condition input ignore it.
	CFG float64
	// Seed seeds the initial noise.
	Seed uint64
	// Clip clamps the result to the model's value range.
	Clip bool
	// Progress, if set, is called after each step.
	Progress func(done, total int)
}

// InitialNoise returns n standard normal values drawn from seed: the
// sampler's x_0.
func InitialNoise(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x666c6f77))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// Sampler holds the state of one Euler integration; Sample drives it, and
// benchmarks time single steps.
type Sampler struct {
	m      *modelfile.Model
	opts   Options
	n      int
	x      *tensor.Tensor // current samples, N x C x H x W
	in     *tensor.Tensor // model batch: x, or x twice with guidance
	cond   [][]float32    // per batch row; nil for models without a condition
	guided bool
	t      []float64
}

// NewSampler prepares sampling len(classes) images from m (a velocity
// model). classes holds one class per image, Unconditional for none; models
// without a condition input need every entry Unconditional.
func NewSampler(m *modelfile.Model, classes []int, opts Options) (*Sampler, error) {
	d := m.Desc
	if d.Predicts != modelfile.PredictsVelocity {
		return nil, fmt.Errorf("flow: %s predicts %q; sampling needs a flow-matching velocity model (train.flow)", m.Dir, d.Predicts)
	}
	if opts.Steps < 1 {
		return nil, fmt.Errorf("flow: steps %d: want at least 1", opts.Steps)
	}
	n := len(classes)
	if n < 1 {
		return nil, fmt.Errorf("flow: nothing to sample (no classes)")
	}
	s := &Sampler{m: m, opts: opts, n: n}
	switch d.Condition.Kind {
	case modelfile.ConditionOnehot:
		s.guided = opts.CFG != 1
		rows := n
		if s.guided {
			rows = 2 * n
		}
		s.cond = make([][]float32, rows)
		for i, c := range classes {
			v, err := m.ClassCondition(c)
			if err != nil {
				return nil, fmt.Errorf("flow: sample %d: %w", i, err)
			}
			s.cond[i] = v
			if s.guided {
				s.cond[n+i], _ = m.ClassCondition(Unconditional)
			}
		}
	case modelfile.ConditionNone:
		for i, c := range classes {
			if c != Unconditional {
				return nil, fmt.Errorf("flow: sample %d asks for class %d, but %s has no class input", i, c, m.Dir)
			}
		}
	default:
		return nil, fmt.Errorf("flow: %s has a %q condition; sample.flow handles class-conditioned (onehot) and unconditioned models", m.Dir, d.Condition.Kind)
	}
	im := d.Image
	if d.Output.Channels != im.Channels {
		return nil, fmt.Errorf("flow: %s predicts %d channels for %d-channel images", m.Dir, d.Output.Channels, im.Channels)
	}
	s.x = &tensor.Tensor{Shape: []int{n, im.Channels, im.Height, im.Width}, Data: InitialNoise(opts.Seed, n*im.Channels*im.Height*im.Width)}
	rows := len(s.cond)
	if rows == 0 {
		rows = n
	}
	s.in = tensor.New(rows, im.Channels, im.Height, im.Width)
	s.t = make([]float64, rows)
	return s, nil
}

// Step performs Euler step k (from t = k/T to (k+1)/T).
func (s *Sampler) Step(k int) error {
	T := s.opts.Steps
	for i := range s.t {
		s.t[i] = float64(k) / float64(T)
	}
	copy(s.in.Data, s.x.Data)
	if s.guided {
		copy(s.in.Data[len(s.x.Data):], s.x.Data)
	}
	p, err := s.m.Predict(s.in, s.t, s.cond)
	if err != nil {
		return fmt.Errorf("flow: step %d of %d: %w", k+1, T, err)
	}
	u := p.Out.Data
	h := float32(1 / float64(T))
	if s.guided {
		g := float32(s.opts.CFG)
		uu := u[len(s.x.Data):]
		for i := range s.x.Data {
			s.x.Data[i] += h * (uu[i] + g*(u[i]-uu[i]))
		}
	} else {
		for i := range s.x.Data {
			s.x.Data[i] += h * u[i]
		}
	}
	return nil
}

// Result returns a copy of the current samples, meant to lie in the model's
// value range and clipped to it when Options.Clip is set.
func (s *Sampler) Result() *tensor.Tensor {
	r := s.m.Desc.Image.Range
	lo, hi := float32(r[0]), float32(r[1])
	out := &tensor.Tensor{Shape: append([]int(nil), s.x.Shape...), Data: append([]float32(nil), s.x.Data...)}
	if s.opts.Clip {
		for i, v := range out.Data {
			out.Data[i] = min(max(v, lo), hi)
		}
	}
	return out
}

// Sample integrates from noise to data and returns the images, one per
// entry of classes (see NewSampler).
func Sample(ctx context.Context, m *modelfile.Model, classes []int, opts Options) (*tensor.Tensor, error) {
	s, err := NewSampler(m, classes, opts)
	if err != nil {
		return nil, err
	}
	for k := 0; k < opts.Steps; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.Step(k); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(k+1, opts.Steps)
		}
	}
	return s.Result(), nil
}
