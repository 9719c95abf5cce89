package ddpm

import (
	"fmt"
	"math"
	"testing"
)

// oracle returns the exact noise of x_t for data that is the single image
// x0 (repeated for every image of the batch).
func oracle(s Schedule, x0 []float32) Estimator {
	return func(x []float32, sh Shape, t int) (Estimate, error) {
		a := s.Abar(t)
		eps := make([]float32, len(x))
		for i := range x {
			eps[i] = float32((float64(x[i]) - math.Sqrt(a)*float64(x0[i%len(x0)])) / math.Sqrt(1-a))
		}
		return Estimate{Eps: eps}, nil
	}
}

func TestSampleWithOracleLandsOnX0(t *testing.T) {
	s := cosineSchedule(1000)
	sh := Shape{N: 3, C: 1, H: 8, W: 8}
	x0 := make([]float32, sh.C*sh.H*sh.W)
	for i := range x0 {
		x0[i] = float32(math.Sin(float64(i)))
	}
	for _, ts := range [][]int{StridedTimesteps(1000, 30), TimestepsForSteps(1000, 5)} {
		x := make([]float32, sh.Len())
		rng := NewRand(4)
		FillNormal(x, rng)
		steps := 0
		err := Sample(x, sh, s, ts, 0, oracle(s, x0), Options{Rng: rng, Snapshot: func(i, tp int, _ []float32) {
			if tp != ts[i+1] {
				t.Fatalf("snapshot %d has t=%d, want %d", i, tp, ts[i+1])
			}
			steps++
		}})
		if err != nil {
			t.Fatal(err)
		}
		if steps != len(ts)-1 {
			t.Fatalf("%d steps, want %d", steps, len(ts)-1)
		}
		// The last step draws from q(x_0 | x0), whose spread is sqrt(1 - abar_0).
		sd := math.Sqrt(1 - s.Abar(0))
		var maxd float64
		for i := range x {
			maxd = math.Max(maxd, math.Abs(float64(x[i]-x0[i%len(x0)])))
		}
		if maxd > 6*sd+1e-4 {
			t.Errorf("%d steps: max |x - x0| = %g, want <= %g", len(ts), maxd, 6*sd)
		}
	}
}

func TestSampleFromIStart(t *testing.T) {
	s := cosineSchedule(1000)
	ts := StridedTimesteps(1000, 30)
	sh := Shape{N: 1, C: 1, H: 4, W: 4}
	x := make([]float32, sh.Len())
	var seen []int
	est := func(x []float32, sh Shape, tt int) (Estimate, error) {
		seen = append(seen, tt)
		return Estimate{Eps: make([]float32, len(x))}, nil
	}
	if err := Sample(x, sh, s, ts, 10, est, Options{Rng: NewRand(1)}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(ts)-11 || seen[0] != 690 || seen[len(seen)-1] != 30 {
		t.Errorf("timesteps seen from i_start 10: %v", seen)
	}
	if err := Sample(x, sh, s, ts, 34, est, Options{Rng: NewRand(1)}); err == nil {
		t.Error("i_start 34 accepted for 34 timesteps")
	}
	boom := func([]float32, Shape, int) (Estimate, error) { return Estimate{}, fmt.Errorf("boom") }
	if err := Sample(x, sh, s, ts, 0, boom, Options{Rng: NewRand(1)}); err == nil {
		t.Error("estimator error not returned")
	}
}

func TestInpaintKeepsUnmaskedRegion(t *testing.T) {
	s := cosineSchedule(1000)
	ts := StridedTimesteps(1000, 30)
	sh := Shape{N: 2, C: 1, H: 6, W: 6}
	orig := make([]float32, sh.Len())
	mask := make([]float32, sh.Len())
	for i := range orig {
		orig[i] = float32(math.Cos(float64(i)))
		if i%6 >= 3 {
			mask[i] = 1
		}
	}
	x := make([]float32, sh.Len())
	FillNormal(x, NewRand(9))
	replay := NewRand(5) // replays the projection's noise draws
	noise := make([]float32, sh.Len())
	want := make([]float32, sh.Len())
	checked := 0
	snap := func(i, tp int, x []float32) {
		FillNormal(noise, replay)
		Forward(want, orig, noise, s, tp)
		for k := range x {
			if mask[k] == 0 && x[k] != want[k] {
				t.Fatalf("step %d element %d: %v, want forward-noised original %v", i, k, x[k], want[k])
			}
		}
		checked++
	}
	err := Sample(x, sh, s, ts, 0, oracle(s, make([]float32, sh.C*sh.H*sh.W)),
		Options{Rng: NewRand(6), Project: Inpaint(orig, mask, s, NewRand(5)), Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	if checked != len(ts)-1 {
		t.Fatalf("checked %d steps", checked)
	}
}

// affineModel is a fake model whose estimate depends on the condition and
// on the input: eps = x + 10 * cond; it counts its calls.
type affineModel struct {
	calls   int
	batches []int
}

func (m *affineModel) run(x []float32, sh Shape, t int, cond []int) (Estimate, error) {
	m.calls++
	m.batches = append(m.batches, sh.N)
	per := sh.C * sh.H * sh.W
	eps := make([]float32, len(x))
	for i := range x {
		eps[i] = x[i] + 10*float32(cond[i/per])
	}
	return Estimate{Eps: eps}, nil
}

func TestCFGCombine(t *testing.T) {
	sh := Shape{N: 2, C: 1, H: 2, W: 2}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	m := &affineModel{}
	e, err := CFG(m.run, []int{3, 1}, 0, 7)(x, sh, 500)
	if err != nil {
		t.Fatal(err)
	}
	if m.calls != 1 || m.batches[0] != 4 {
		t.Fatalf("CFG made %d calls with batches %v, want one call of 4", m.calls, m.batches)
	}
	for i := range x {
		c := []float32{3, 1}[i/4]
		u := x[i]
		want := u + 7*(x[i]+10*c-u)
		if e.Eps[i] != want {
			t.Errorf("eps[%d] = %v, want %v", i, e.Eps[i], want)
		}
	}
	m = &affineModel{}
	e, _ = CFG(m.run, []int{3, 1}, 0, 1)(x, sh, 500)
	if m.batches[0] != 2 || e.Eps[0] != 31 {
		t.Errorf("gamma 1: batch %v eps[0] %v, want a conditional-only batch of 2 and 31", m.batches, e.Eps[0])
	}
}

func TestAnagramOneCallAndInverse(t *testing.T) {
	sh := Shape{N: 1, C: 1, H: 3, W: 2}
	x := []float32{1, 2, 3, 4, 5, 6}
	m := &affineModel{}
	e, err := Anagram(m.run, []Branch{{Cond: []int{1}}, {View: Flip{}, Cond: []int{2}}}, 0, 3)(x, sh, 10)
	if err != nil {
		t.Fatal(err)
	}
	if m.calls != 1 || m.batches[0] != 4 {
		t.Fatalf("anagram made %d calls with batches %v, want one call of 4", m.calls, m.batches)
	}
	// Branch 1: eps = x + 30 (gamma 3 on +10); branch 2 sees flip(x) under
	// condition 2: flip(x) + 60, flipped back: x + 60. Mean: x + 45.
	for i := range x {
		if want := x[i] + 45; e.Eps[i] != want {
			t.Errorf("eps[%d] = %v, want %v", i, e.Eps[i], want)
		}
	}
}

func TestHybridOfConstantFilters(t *testing.T) {
	sh := Shape{N: 1, C: 1, H: 2, W: 2}
	x := []float32{1, 2, 3, 4}
	m := &affineModel{}
	// A lowpass that keeps only the mean: the hybrid is mean(eps1) + eps2 - mean(eps2).
	mean := func(dst, src []float32, sh Shape) {
		var s float32
		for _, v := range src {
			s += v
		}
		for i := range dst {
			dst[i] = s / float32(len(src))
		}
	}
	e, err := Hybrid(m.run, mean, []int{1}, []int{4}, 0, 1)(x, sh, 10)
	if err != nil {
		t.Fatal(err)
	}
	if m.calls != 1 || m.batches[0] != 2 {
		t.Fatalf("hybrid made %d calls with batches %v, want one call of 2", m.calls, m.batches)
	}
	for i := range x {
		if want := (2.5 + 10) + (x[i] + 40) - (2.5 + 40); e.Eps[i] != want {
			t.Errorf("eps[%d] = %v, want %v", i, e.Eps[i], want)
		}
	}
}

func TestLowpassPlusHighpassIsIdentity(t *testing.T) {
	sh := Shape{N: 2, C: 3, H: 7, W: 5}
	x := make([]float32, sh.Len())
	FillNormal(x, NewRand(7))
	box := func(dst, src []float32, sh Shape) {
		for p := 0; p < sh.N*sh.C; p++ {
			for y := 0; y < sh.H; y++ {
				for xx := 0; xx < sh.W; xx++ {
					var s float32
					for d := -1; d <= 1; d++ {
						yy := min(max(y+d, 0), sh.H-1)
						s += src[p*sh.H*sh.W+yy*sh.W+xx]
					}
					dst[p*sh.H*sh.W+y*sh.W+xx] = s / 3
				}
			}
		}
	}
	low := make([]float32, len(x))
	high := make([]float32, len(x))
	box(low, x, sh)
	Highpass(high, x, sh, box)
	same := CombineFrequencies(x, x, sh, box)
	for i := range x {
		if d := math.Abs(float64(low[i] + high[i] - x[i])); d > 1e-6 {
			t.Fatalf("low+high[%d] differs from x by %g", i, d)
		}
		if d := math.Abs(float64(same[i] - x[i])); d > 1e-6 {
			t.Fatalf("CombineFrequencies(x, x)[%d] differs from x by %g", i, d)
		}
	}
}
