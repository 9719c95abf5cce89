package ddpm

import (
	"math"
	"testing"
)

// cosineSchedule is an independent squaredcos_cap_v2 schedule for tests.
func cosineSchedule(T int) Schedule {
	f := func(t float64) float64 {
		c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
		return c * c
	}
	ac := make([]float64, T)
	prod := 1.0
	for i := range ac {
		beta := math.Min(1-f(float64(i+1)/float64(T))/f(float64(i)/float64(T)), 0.999)
		prod *= 1 - beta
		ac[i] = prod
	}
	return Schedule{AlphasCumprod: ac}
}

func TestStridedTimesteps(t *testing.T) {
	ts := StridedTimesteps(1000, 30)
	if len(ts) != 34 || ts[0] != 990 || ts[33] != 0 || ts[10] != 690 {
		t.Fatalf("StridedTimesteps(1000, 30) = %v", ts)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i-1]-ts[i] != 30 {
			t.Fatalf("stride at %d: %d -> %d", i, ts[i-1], ts[i])
		}
	}
	for _, n := range []int{1, 5, 20, 34, 100, 1000} {
		ts := TimestepsForSteps(1000, n)
		if len(ts) != n || ts[n-1] != 0 || ts[0] != (n-1)*(1000/n) {
			t.Errorf("TimestepsForSteps(1000, %d) = %v", n, ts)
		}
	}
	if ts := TimestepsForSteps(1000, 20); ts[0] != 950 || ts[1] != 900 {
		t.Errorf("TimestepsForSteps(1000, 20) starts %v", ts[:2])
	}
}

func TestForwardInvertsX0Estimate(t *testing.T) {
	s := cosineSchedule(1000)
	rng := NewRand(1)
	x0 := make([]float32, 500)
	eps := make([]float32, 500)
	FillNormal(x0, rng)
	FillNormal(eps, rng)
	for _, tt := range []int{0, 1, 250, 500, 750, 990, 999} {
		xt := make([]float32, len(x0))
		Forward(xt, x0, eps, s, tt)
		a := s.Abar(tt)
		got := make([]float32, len(x0))
		X0Estimate(got, xt, eps, s, tt)
		// float32 rounding of x_t is amplified by 1/sqrt(abar_t).
		tol := 4e-7 * (1 + 3/math.Sqrt(a)) * 4
		for i := range got {
			want := math.Sqrt(a)*float64(x0[i]) + math.Sqrt(1-a)*float64(eps[i])
			if math.Abs(float64(xt[i])-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("t=%d: forward[%d] = %v, want %v", tt, i, xt[i], want)
			}
			if d := math.Abs(float64(got[i] - x0[i])); d > tol {
				t.Fatalf("t=%d: x0 estimate[%d] = %v, want %v (diff %g > %g)", tt, i, got[i], x0[i], d, tol)
			}
		}
	}
}

func TestUpdateAtEveryStridedStep(t *testing.T) {
	s := cosineSchedule(1000)
	ts := StridedTimesteps(1000, 30)
	rng := NewRand(2)
	x0 := make([]float32, 64)
	xt := make([]float32, 64)
	FillNormal(x0, rng)
	FillNormal(xt, rng)
	for i := 0; i+1 < len(ts); i++ {
		t1, t2 := ts[i], ts[i+1]
		c := StepCoefficients(s, t1, t2)
		got := make([]float32, len(x0))
		Update(got, x0, xt, c)
		ab, abp := s.AlphasCumprod[t1], s.AlphasCumprod[t2]
		alpha := ab / abp
		beta := 1 - alpha
		for k := range got {
			want := math.Sqrt(abp)*beta/(1-ab)*float64(x0[k]) + math.Sqrt(alpha)*(1-abp)/(1-ab)*float64(xt[k])
			if math.Abs(float64(got[k])-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("step %d (%d -> %d) element %d: %v, want %v", i, t1, t2, k, got[k], want)
			}
		}
	}
}

func TestVarianceMatchesSchedule(t *testing.T) {
	s := cosineSchedule(1000)
	for _, tt := range []int{1, 30, 500, 990, 999} {
		c := StepCoefficients(s, tt, tt-1)
		// For consecutive timesteps beta_t is the schedule's own beta.
		beta := 1 - s.AlphasCumprod[tt]/s.AlphasCumprod[tt-1]
		if math.Abs(c.Beta-beta) > 1e-12 {
			t.Errorf("t=%d: beta %v, want %v", tt, c.Beta, beta)
		}
		bt := (1 - s.AlphasCumprod[tt-1]) / (1 - s.AlphasCumprod[tt]) * beta
		if math.Abs(c.BetaTilde-bt) > 1e-12 || c.BetaTilde > c.Beta {
			t.Errorf("t=%d: beta_tilde %v, want %v (<= beta %v)", tt, c.BetaTilde, bt, c.Beta)
		}
	}
	ts := StridedTimesteps(1000, 30)
	for i := 0; i+1 < len(ts); i++ {
		c := StepCoefficients(s, ts[i], ts[i+1])
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, b) }
		if !near(c.LearnedRangeVariance(-1), c.BetaTilde) || !near(c.LearnedRangeVariance(1), c.Beta) ||
			!near(c.LearnedRangeVariance(0), math.Sqrt(c.Beta*c.BetaTilde)) {
			t.Errorf("step %d: learned range endpoints wrong: %v %v %v vs beta %v tilde %v", i,
				c.LearnedRangeVariance(-1), c.LearnedRangeVariance(0), c.LearnedRangeVariance(1), c.Beta, c.BetaTilde)
		}
	}
}

func TestAddVarianceStatistics(t *testing.T) {
	s := cosineSchedule(1000)
	c := StepCoefficients(s, 500, 470)
	n := 200000
	for _, tc := range []struct {
		v    []float32
		want float64
	}{{nil, c.BetaTilde}, {constant(n, 1), c.Beta}, {constant(n, -1), c.BetaTilde}} {
		x := make([]float32, n)
		AddVariance(x, tc.v, c, NewRand(3))
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		if got := ss / float64(n); math.Abs(got/tc.want-1) > 0.02 {
			t.Errorf("variance %v, want %v", got, tc.want)
		}
	}
}

func constant(n int, v float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = v
	}
	return x
}
