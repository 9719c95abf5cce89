package train

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dataset is an in-memory set of images (N x Per values, row-major) with
// one label per image (Labels may be nil when the task ignores them).
type Dataset struct {
	Images []float32
	Labels []int64
	N, Per int
}

// Check reports a dataset whose sizes disagree.
func (d *Dataset) Check() error {
	if d.N < 1 || d.Per < 1 || len(d.Images) != d.N*d.Per {
		return fmt.Errorf("train: dataset of %d values is not %d images of %d values", len(d.Images), d.N, d.Per)
	}
	if d.Labels != nil && len(d.Labels) != d.N {
		return fmt.Errorf("train: dataset has %d labels for %d images", len(d.Labels), d.N)
	}
	return nil
}

// Batch holds one training batch: the model inputs X (Size x Per), T
// (Size, the time input; unused by unconditional models) and C (Size x
// classes, the class vector; unused without classes), and the Target the
// output is regressed on (Size x Per).
type Batch struct {
	Size            int
	X, T, C, Target []float32
}

// A Task turns a batch of clean images into model inputs and a target.
type Task interface {
	// Fill writes b.X, b.T, b.C and b.Target for the clean images (b.Size
	// images) and their labels, drawing randomness only from rng.
	Fill(rng *rand.Rand, clean []float32, labels []int64, b *Batch)
}

// Denoise is the single-step denoiser's task of Part B 1.2: input
// z = x + Sigma*eps (or z = eps when PureNoise), target x.
type Denoise struct {
	Sigma     float64
	PureNoise bool
}

// Fill implements Task.
func (d Denoise) Fill(rng *rand.Rand, clean []float32, _ []int64, b *Batch) {
	for i, x := range clean {
		e := rng.NormFloat64()
		if d.PureNoise {
			b.X[i] = float32(e)
		} else {
			b.X[i] = x + float32(d.Sigma*e)
		}
		b.Target[i] = x
	}
}

// Flow is flow matching's task of Part B 2: t ~ U[0, 1], x0 ~ N(0, I),
// input x_t = (1 - t) x0 + t x1 for the clean image x1, target x1 - x0.
// With Classes > 0 the class vector is the label's one-hot vector, replaced
// by zeros with probability PUncond.
type Flow struct {
	Classes int
	PUncond float64
}

// Fill implements Task.
func (f Flow) Fill(rng *rand.Rand, clean []float32, labels []int64, b *Batch) {
	per := len(clean) / b.Size
	for n := 0; n < b.Size; n++ {
		t := rng.Float64()
		b.T[n] = float32(t)
		for i := n * per; i < (n+1)*per; i++ {
			x0 := rng.NormFloat64()
			x1 := float64(clean[i])
			b.X[i] = float32((1-t)*x0 + t*x1)
			b.Target[i] = float32(x1 - x0)
		}
		oneHot(rng, b.C, n, f.Classes, labels, f.PUncond)
	}
}

// DDPM is epsilon prediction for a DDPM with cumulative products AlphaBar
// (one per timestep): t ~ U{0, ..., len(AlphaBar)-1}, eps ~ N(0, I), input
// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with time input t*TimeScale,
// target eps. With Classes > 0 the class vector is the label's one-hot
// vector, replaced by zeros (the empty prompt) with probability PUncond.
type DDPM struct {
	AlphaBar  []float64
	TimeScale float64
	Classes   int
	PUncond   float64
}

// Fill implements Task.
func (d DDPM) Fill(rng *rand.Rand, clean []float32, labels []int64, b *Batch) {
	per := len(clean) / b.Size
	for n := 0; n < b.Size; n++ {
		t := rng.IntN(len(d.AlphaBar))
		b.T[n] = float32(float64(t) * d.TimeScale)
		a, s := math.Sqrt(d.AlphaBar[t]), math.Sqrt(1-d.AlphaBar[t])
		for i := n * per; i < (n+1)*per; i++ {
			e := rng.NormFloat64()
			b.X[i] = float32(a*float64(clean[i]) + s*e)
			b.Target[i] = float32(e)
		}
		oneHot(rng, b.C, n, d.Classes, labels, d.PUncond)
	}
}

// oneHot writes row n of c: the one-hot vector of labels[n], or zeros with
// probability pUncond. It draws from rng only when classes > 0.
func oneHot(rng *rand.Rand, c []float32, n, classes int, labels []int64, pUncond float64) {
	if classes == 0 {
		return
	}
	row := c[n*classes : (n+1)*classes]
	clear(row)
	if rng.Float64() >= pUncond {
		row[labels[n]] = 1
	}
}
