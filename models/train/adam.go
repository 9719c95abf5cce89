package train

import (
	"fmt"
	"math"
)

// Adam is the state of the Adam optimiser with PyTorch's defaults (betas
// 0.9 and 0.999, eps 1e-8, no weight decay): the first and second moment
// of every parameter's gradient and the number of steps taken.
type Adam struct {
	Steps int
	M, V  map[string][]float32
}

// Adam's constants (torch.optim.Adam defaults).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// NewAdam returns a fresh optimiser state for parameters of the given
// sizes, by name.
func NewAdam(sizes map[string]int) *Adam {
	a := &Adam{M: map[string][]float32{}, V: map[string][]float32{}}
	for n, s := range sizes {
		a.M[n] = make([]float32, s)
		a.V[n] = make([]float32, s)
	}
	return a
}

// Step applies one Adam update with learning rate lr to the parameters
// params[i] (named names[i]) given their gradients grads[i], as
// torch.optim.Adam does:
//
//	m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//	p -= lr / (1 - b1^k) * m / (sqrt(v / (1 - b2^k)) + eps)
func (a *Adam) Step(names []string, params, grads [][]float32, lr float64) {
	a.Steps++
	c1 := 1 - math.Pow(adamBeta1, float64(a.Steps))
	c2 := math.Sqrt(1 - math.Pow(adamBeta2, float64(a.Steps)))
	step := lr / c1
	for i, name := range names {
		p, g, m, v := params[i], grads[i], a.M[name], a.V[name]
		for j := range p {
			gj := float64(g[j])
			mj := adamBeta1*float64(m[j]) + (1-adamBeta1)*gj
			vj := adamBeta2*float64(v[j]) + (1-adamBeta2)*gj*gj
			m[j], v[j] = float32(mj), float32(vj)
			p[j] -= float32(step * mj / (math.Sqrt(vj)/c2 + adamEps))
		}
	}
}

func (a *Adam) check(sizes map[string]int) error {
	for n, s := range sizes {
		if len(a.M[n]) != s || len(a.V[n]) != s {
			return fmt.Errorf("train: optimiser state for %q has %d values, want %d", n, len(a.M[n]), s)
		}
	}
	return nil
}

func (a *Adam) clone() *Adam {
	c := &Adam{Steps: a.Steps, M: map[string][]float32{}, V: map[string][]float32{}}
	for n, m := range a.M {
		c.M[n] = append([]float32(nil), m...)
		c.V[n] = append([]float32(nil), a.V[n]...)
	}
	return c
}
