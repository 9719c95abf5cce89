package ddpm

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Schedule is a DDPM noise schedule: AlphasCumprod[t] is abar_t for
// t = 0 .. T-1, decreasing from near 1 to near 0.
type Schedule struct {
	AlphasCumprod []float64
}

// T returns the number of timesteps of the schedule.
func (s Schedule) T() int { return len(s.AlphasCumprod) }

func (s Schedule) abar(t int) float64 {
	if t < 0 || t >= len(s.AlphasCumprod) {
		panic(fmt.Sprintf("ddpm: timestep %d outside 0..%d", t, len(s.AlphasCumprod)-1))
	}
	return s.AlphasCumprod[t]
}

// Abar returns abar_t.
func (s Schedule) Abar(t int) float64 { return s.abar(t) }

// StridedTimesteps returns the timesteps start, start-stride, ..., 0 where
// start is the largest multiple of stride below T: for T = 1000 and
// stride 30 that is 990, 960, ..., 0 (34 entries).
func StridedTimesteps(T, stride int) []int {
	if T <= 0 || stride <= 0 {
		panic(fmt.Sprintf("ddpm: StridedTimesteps(%d, %d): both must be positive", T, stride))
	}
	var ts []int
	for t := (T - 1) / stride * stride; t >= 0; t -= stride {
		ts = append(ts, t)
	}
	return ts
}

// TimestepsForSteps returns n timesteps k * (T / n) for k = n-1 down to 0
// (the "leading" spacing of common DDPM samplers): n = 20, T = 1000 gives
// 950, 900, ..., 0. n must lie in 1..T.
func TimestepsForSteps(T, n int) []int {
	if n < 1 || n > T {
		panic(fmt.Sprintf("ddpm: TimestepsForSteps(%d, %d): n must lie in 1..%d", T, n, T))
	}
	stride := T / n
	ts := make([]int, n)
	for k := range ts {
		ts[k] = (n - 1 - k) * stride
	}
	return ts
}

func sameLen(name string, a, b []float32) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("ddpm: %s: lengths %d and %d differ", name, len(a), len(b)))
	}
}

// Forward writes x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps into dst.
// dst may alias x0 or eps.
func Forward(dst, x0, eps []float32, s Schedule, t int) {
	sameLen("Forward", dst, x0)
	sameLen("Forward", dst, eps)
	a := s.abar(t)
	ca, cn := math.Sqrt(a), math.Sqrt(1-a)
	for i := range dst {
		dst[i] = float32(ca*float64(x0[i]) + cn*float64(eps[i]))
	}
}

// X0Estimate writes the one-step clean estimate
// x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) into dst. dst may alias
// xt or eps.
func X0Estimate(dst, xt, eps []float32, s Schedule, t int) {
	sameLen("X0Estimate", dst, xt)
	sameLen("X0Estimate", dst, eps)
	a := s.abar(t)
	ca, cn := math.Sqrt(a), math.Sqrt(1-a)
	for i := range dst {
		dst[i] = float32((float64(xt[i]) - cn*float64(eps[i])) / ca)
	}
}

// Coefficients are the scalars of one reverse step from t to t' < t.
type Coefficients struct {
	Alpha     float64 // alpha_t = abar_t / abar_t'
	Beta      float64 // beta_t = 1 - alpha_t
	CoefX0    float64 // sqrt(abar_t') beta_t / (1 - abar_t)
	CoefXt    float64 // sqrt(alpha_t) (1 - abar_t') / (1 - abar_t)
	BetaTilde float64 // posterior variance (1 - abar_t') / (1 - abar_t) beta_t
}

// StepCoefficients returns the coefficients of the reverse step from t to
// tPrev (tPrev < t).
func StepCoefficients(s Schedule, t, tPrev int) Coefficients {
	if tPrev >= t {
		panic(fmt.Sprintf("ddpm: step from %d to %d does not go down", t, tPrev))
	}
	a, ap := s.abar(t), s.abar(tPrev)
	alpha := a / ap
	beta := 1 - alpha
	return Coefficients{
		Alpha:     alpha,
		Beta:      beta,
		CoefX0:    math.Sqrt(ap) * beta / (1 - a),
		CoefXt:    math.Sqrt(alpha) * (1 - ap) / (1 - a),
		BetaTilde: (1 - ap) / (1 - a) * beta,
	}
}

// LearnedRangeVariance returns the variance interpolated in log space
// between beta_t and beta_tilde by a model output v in [-1, 1]:
// frac = (v + 1) / 2, log var = frac log beta_t + (1 - frac) log beta_tilde.
func (c Coefficients) LearnedRangeVariance(v float64) float64 {
	frac := (v + 1) / 2
	return math.Exp(frac*math.Log(c.Beta) + (1-frac)*math.Log(c.BetaTilde))
}

// Update writes the mean of the reverse step, CoefX0 x0 + CoefXt xt, into
// dst (no clipping of x0). dst may alias x0 or xt.
func Update(dst, x0, xt []float32, c Coefficients) {
	sameLen("Update", dst, x0)
	sameLen("Update", dst, xt)
	for i := range dst {
		dst[i] = float32(c.CoefX0*float64(x0[i]) + c.CoefXt*float64(xt[i]))
	}
}

// AddVariance adds v_sigma = sqrt(var) z, z ~ N(0, I) from rng, to x. With
// v nil the variance is the posterior BetaTilde everywhere; otherwise v holds
// one learned-range value per element of x (see LearnedRangeVariance).
func AddVariance(x, v []float32, c Coefficients, rng *rand.Rand) {
	if v == nil {
		sd := math.Sqrt(c.BetaTilde)
		for i := range x {
			x[i] += float32(sd * rng.NormFloat64())
		}
		return
	}
	sameLen("AddVariance", x, v)
	for i := range x {
		x[i] += float32(math.Sqrt(c.LearnedRangeVariance(float64(v[i]))) * rng.NormFloat64())
	}
}

// NewRand returns the seeded generator used for all noise in this package.
func NewRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// FillNormal fills dst with independent N(0, 1) samples from rng.
func FillNormal(dst []float32, rng *rand.Rand) {
	for i := range dst {
		dst[i] = float32(rng.NormFloat64())
	}
}
