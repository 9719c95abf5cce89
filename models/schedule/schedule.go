// Package schedule computes the noise schedules of DDPM-style diffusion
// models: the per-step variances beta_t and the cumulative products
// abar_t = prod_{s<=t} (1 - beta_s) that the forward process and the samplers
// use.
//
// # Overview
//
// A Schedule holds, for the timesteps t = 0 .. T-1,
//
//	Betas[t]         = beta_t
//	Alphas[t]        = alpha_t = 1 - beta_t
//	AlphasCumprod[t] = abar_t  = alpha_0 * alpha_1 * ... * alpha_t
//
// so that the forward process is x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
// (see Coefficients). New builds a schedule by name:
//
//   - "linear": beta_t evenly spaced from 1e-4 to 0.02 (inclusive), as in
//     Ho et al., "Denoising Diffusion Probabilistic Models" (2020).
//   - "squaredcos_cap_v2": the cosine schedule of Nichol & Dhariwal,
//     "Improved Denoising Diffusion Probabilistic Models" (2021), as used by
//     DeepFloyd IF: with f(u) = cos^2((u + 0.008) / 1.008 * pi/2),
//     beta_t = min(1 - f((t+1)/T) / f(t/T), 0.999).
//
// FromAlphasCumprod builds a schedule from a model's published abar_t.
//
// # Invariants
//
// len(Betas) == len(Alphas) == len(AlphasCumprod) == T; every beta_t lies in
// (0, 1) and AlphasCumprod is strictly decreasing and positive. The slices
// belong to the Schedule: callers must not modify them.
package schedule

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// MaxSteps bounds T, so that a mistyped parameter cannot exhaust memory.
const MaxSteps = 1_000_000

// Schedule is a noise schedule over T timesteps. See the package
// documentation for the meaning of each field.
type Schedule struct {
	// Name is the schedule's name, as given to New.
	Name string
	// T is the number of timesteps.
	T             int
	Betas         []float64
	Alphas        []float64
	AlphasCumprod []float64
}

// betaFuncs builds the betas of each named schedule for T steps.
var betaFuncs = map[string]func(T int) []float64{
	"linear":            linearBetas,
	"squaredcos_cap_v2": cosineBetas,
}

// Names lists the schedule names New accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(betaFuncs))
	for n := range betaFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the schedule called name over T timesteps (1 <= T <= MaxSteps).
func New(name string, T int) (*Schedule, error) {
	f, ok := betaFuncs[name]
	if !ok {
		return nil, fmt.Errorf("schedule: unknown schedule %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if T < 1 || T > MaxSteps {
		return nil, fmt.Errorf("schedule: %s: T = %d timesteps, want 1 to %d", name, T, MaxSteps)
	}
	return fromBetas(name, f(T)), nil
}

// FromAlphasCumprod returns the schedule whose abar_t are the given values,
// which must be positive, below 1 and strictly decreasing. beta_0 is
// 1 - abar_0 and beta_t is 1 - abar_t / abar_{t-1}. The slice is copied.
func FromAlphasCumprod(name string, abar []float64) (*Schedule, error) {
	if len(abar) < 1 || len(abar) > MaxSteps {
		return nil, fmt.Errorf("schedule: %s: %d values of alphas_cumprod, want 1 to %d", name, len(abar), MaxSteps)
	}
	betas := make([]float64, len(abar))
	prev := 1.0
	for t, a := range abar {
		if !(a > 0 && a < prev) {
			return nil, fmt.Errorf("schedule: %s: alphas_cumprod[%d] = %g must be positive and below the previous value %g", name, t, a, prev)
		}
		betas[t] = 1 - a/prev
		prev = a
	}
	s := fromBetas(name, betas)
	copy(s.AlphasCumprod, abar) // exact values, not recomputed products
	return s, nil
}

// Coefficients returns sqrt(abar_t) and sqrt(1 - abar_t), the weights of the
// clean image and of the noise in x_t. It panics if t is outside [0, T).
func (s *Schedule) Coefficients(t int) (signal, noise float64) {
	if t < 0 || t >= s.T {
		panic(fmt.Sprintf("schedule: timestep %d outside [0, %d)", t, s.T))
	}
	a := s.AlphasCumprod[t]
	return math.Sqrt(a), math.Sqrt(1 - a)
}

func fromBetas(name string, betas []float64) *Schedule {
	s := &Schedule{
		Name:          name,
		T:             len(betas),
		Betas:         betas,
		Alphas:        make([]float64, len(betas)),
		AlphasCumprod: make([]float64, len(betas)),
	}
	prod := 1.0
	for t, b := range betas {
		s.Alphas[t] = 1 - b
		prod *= 1 - b
		s.AlphasCumprod[t] = prod
	}
	return s
}

// linearBetas spaces T betas evenly from 1e-4 to 0.02, both included.
func linearBetas(T int) []float64 {
	const lo, hi = 1e-4, 0.02
	b := make([]float64, T)
	if T == 1 {
		b[0] = lo
		return b
	}
	for t := range b {
		b[t] = lo + (hi-lo)*float64(t)/float64(T-1)
	}
	return b
}

// cosineBetas is the "squaredcos_cap_v2" schedule.
func cosineBetas(T int) []float64 {
	f := func(u float64) float64 {
		c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2)
		return c * c
	}
	b := make([]float64, T)
	for t := range b {
		b[t] = math.Min(1-f(float64(t+1)/float64(T))/f(float64(t)/float64(T)), 0.999)
	}
	return b
}
