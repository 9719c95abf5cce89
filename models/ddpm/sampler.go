package ddpm

import (
	"fmt"
	"math/rand/v2"
)

// Shape describes a batch of N images of C channels, H x W pixels, stored
// as a flat slice in N x C x H x W order.
type Shape struct{ N, C, H, W int }

// Len returns N*C*H*W.
func (s Shape) Len() int { return s.N * s.C * s.H * s.W }

// WithN returns the shape with N replaced by n.
func (s Shape) WithN(n int) Shape { s.N = n; return s }

// Estimate is a model's answer for a batch: the noise estimate Eps and,
// for models with a learned variance, one learned-range value per element
// in Var (nil otherwise).
type Estimate struct {
	Eps []float32
	Var []float32
}

// Estimator returns the noise estimate for the batch x (of shape sh) at
// timestep t. Guidance, anagrams and hybrids are Estimators built from a
// Model.
type Estimator func(x []float32, sh Shape, t int) (Estimate, error)

// Model evaluates a noise model on a batch: image i of x is paired with the
// condition cond[i], an index into a condition table the caller owns (such
// as a list of prompts). A batch holds everything one step needs, so a
// model runs once per step.
type Model func(x []float32, sh Shape, t int, cond []int) (Estimate, error)

// Options tunes Sample. Rng is required.
type Options struct {
	// Rng draws the noise v_sigma (and the forward noise of Inpaint).
	Rng *rand.Rand
	// Project, if set, is applied to x after every step, with the timestep
	// x now has (see Inpaint).
	Project func(x []float32, t int)
	// Snapshot, if set, is called after every step with the step's index i
	// into the timestep list (x now has timestep ts[i+1]) and x itself,
	// which it must not keep or change.
	Snapshot func(i, t int, x []float32)
	// X0, if set, processes every step's x0 estimate before the update
	// (Clip, DynamicThreshold); nil keeps it as it is, as the write-up does.
	X0 func(x0 []float32, sh Shape)
}

// Sample runs the reverse process on x, which holds images at timestep
// ts[iStart], stepping through ts[iStart+1:] down to the last entry (usually
// 0). At each step it asks est for the noise, forms the one-step x0
// estimate, applies Update and adds the variance (learned when the estimate
// has Var, else the posterior beta_tilde). x is updated in place.
func Sample(x []float32, sh Shape, s Schedule, ts []int, iStart int, est Estimator, o Options) error {
	if len(x) != sh.Len() {
		panic(fmt.Sprintf("ddpm: Sample: %d values for shape %+v", len(x), sh))
	}
	if iStart < 0 || iStart >= len(ts) {
		return fmt.Errorf("ddpm: i_start %d outside 0..%d", iStart, len(ts)-1)
	}
	if o.Rng == nil {
		panic("ddpm: Sample: Options.Rng is nil")
	}
	x0 := make([]float32, len(x))
	for i := iStart; i < len(ts)-1; i++ {
		t, tp := ts[i], ts[i+1]
		e, err := est(x, sh, t)
		if err != nil {
			return fmt.Errorf("ddpm: step %d (t=%d): %w", i, t, err)
		}
		sameLen("Sample estimate", x, e.Eps)
		c := StepCoefficients(s, t, tp)
		X0Estimate(x0, x, e.Eps, s, t)
		if o.X0 != nil {
			o.X0(x0, sh)
		}
		Update(x, x0, x, c)
		AddVariance(x, e.Var, c, o.Rng)
		if o.Project != nil {
			o.Project(x, tp)
		}
		if o.Snapshot != nil {
			o.Snapshot(i, tp, x)
		}
	}
	return nil
}

// Inpaint returns a projection for Options.Project that keeps the region
// where mask is 0 equal to the original, noised to the current timestep:
// x <- m x + (1 - m) forward(orig, t) with fresh noise from rng. mask and
// orig have the layout of x.
func Inpaint(orig, mask []float32, s Schedule, rng *rand.Rand) func(x []float32, t int) {
	sameLen("Inpaint", orig, mask)
	noisy := make([]float32, len(orig))
	return func(x []float32, t int) {
		sameLen("Inpaint", x, orig)
		FillNormal(noisy, rng)
		Forward(noisy, orig, noisy, s, t)
		for i := range x {
			m := mask[i]
			x[i] = m*x[i] + (1-m)*noisy[i]
		}
	}
}

// CFG returns the classifier-free guided estimator
// eps = eps_u + gamma (eps_c - eps_u), with the conditional and the
// unconditional halves in one model call; the variance is the conditional
// one.
func CFG(model Model, cond []int, uncond int, gamma float64) Estimator {
	return Guided(model, []Branch{{Cond: cond}}, uncond, gamma, func(e []Estimate, sh Shape) Estimate { return e[0] })
}

// Branch is one guided noise estimate of a composite estimator: the model
// sees View(x) (x itself when View is nil) under the conditions Cond, and
// its guided noise is mapped back with View.Inverse. A branch with a view
// reports no variance (Var nil): composites take it from an unviewed branch.
type Branch struct {
	View View
	Cond []int
}

// Guided evaluates every branch with classifier-free guidance of scale
// gamma (the unconditional estimate uses condition uncond; gamma = 1 skips
// it), all in one model call, and lets combine merge the per-branch
// estimates (already mapped back through their views) into one. The batch
// is the branches' conditional halves followed by their unconditional
// halves.
func Guided(model Model, branches []Branch, uncond int, gamma float64, combine func([]Estimate, Shape) Estimate) Estimator {
	return func(x []float32, sh Shape, t int) (Estimate, error) {
		n, per := sh.N, sh.Len()
		k := len(branches)
		halves := 2
		if gamma == 1 {
			halves = 1
		}
		batch := make([]float32, 0, halves*k*per)
		conds := make([]int, 0, halves*k*n)
		viewed := make([][]float32, k)
		for b, br := range branches {
			checkConds(br.Cond, sh)
			viewed[b] = x
			if br.View != nil {
				viewed[b] = make([]float32, per)
				br.View.Apply(viewed[b], x, sh)
			}
			batch = append(batch, viewed[b]...)
			conds = append(conds, br.Cond...)
		}
		if halves == 2 {
			for b := range branches {
				batch = append(batch, viewed[b]...)
				for range n {
					conds = append(conds, uncond)
				}
			}
		}
		out, err := model(batch, sh.WithN(halves*k*n), t, conds)
		if err != nil {
			return Estimate{}, err
		}
		if len(out.Eps) != len(batch) || (out.Var != nil && len(out.Var) != len(batch)) {
			return Estimate{}, fmt.Errorf("model returned %d values for a batch of %d", len(out.Eps), len(batch))
		}
		ests := make([]Estimate, k)
		for b, br := range branches {
			c := out.Eps[b*per : (b+1)*per]
			eps := make([]float32, per)
			copy(eps, c)
			if halves == 2 {
				u := out.Eps[(k+b)*per : (k+b+1)*per]
				g := float32(gamma)
				for i := range eps {
					eps[i] = u[i] + g*(c[i]-u[i])
				}
			}
			if br.View != nil {
				inv := make([]float32, per)
				br.View.Inverse(inv, eps, sh)
				eps = inv
			}
			ests[b].Eps = eps
			if out.Var != nil && br.View == nil {
				ests[b].Var = out.Var[b*per : (b+1)*per]
			}
		}
		return combine(ests, sh), nil
	}
}

// Anagram returns the visual-anagram estimator: the mean of the branches'
// guided estimates, each mapped back through its view's inverse. With
// branches {cond1} and {view, cond2} that is
// (eps(x, p1) + view^-1(eps(view(x), p2))) / 2. The variance is the first
// branch's (which should have no view).
func Anagram(model Model, branches []Branch, uncond int, gamma float64) Estimator {
	return Guided(model, branches, uncond, gamma, func(e []Estimate, sh Shape) Estimate {
		eps := make([]float32, len(e[0].Eps))
		for _, b := range e {
			for i, v := range b.Eps {
				eps[i] += v
			}
		}
		k := float32(len(e))
		for i := range eps {
			eps[i] /= k
		}
		return Estimate{Eps: eps, Var: e[0].Var}
	})
}

// Filter writes a filtered copy of src (shape sh) to dst, such as a
// Gaussian blur. dst does not alias src.
type Filter func(dst, src []float32, sh Shape)

// Hybrid returns the hybrid-image estimator
// eps = lowpass(eps1) + highpass(eps2), highpass(e) = e - lowpass(e), where
// eps1 and eps2 are the guided estimates under cond1 and cond2. The variance
// is the first branch's.
func Hybrid(model Model, lowpass Filter, cond1, cond2 []int, uncond int, gamma float64) Estimator {
	return Guided(model, []Branch{{Cond: cond1}, {Cond: cond2}}, uncond, gamma,
		func(e []Estimate, sh Shape) Estimate {
			return Estimate{Eps: CombineFrequencies(e[0].Eps, e[1].Eps, sh, lowpass), Var: e[0].Var}
		})
}

// CombineFrequencies returns lowpass(low) + (high - lowpass(high)).
func CombineFrequencies(low, high []float32, sh Shape, lowpass Filter) []float32 {
	sameLen("CombineFrequencies", low, high)
	a := make([]float32, len(low))
	b := make([]float32, len(high))
	lowpass(a, low, sh)
	lowpass(b, high, sh)
	for i := range a {
		a[i] += high[i] - b[i]
	}
	return a
}

// Highpass writes src - lowpass(src) to dst.
func Highpass(dst, src []float32, sh Shape, lowpass Filter) {
	sameLen("Highpass", dst, src)
	lowpass(dst, src, sh)
	for i := range dst {
		dst[i] = src[i] - dst[i]
	}
}

func checkConds(cond []int, sh Shape) {
	if len(cond) != sh.N {
		panic(fmt.Sprintf("ddpm: %d conditions for %d images", len(cond), sh.N))
	}
}
