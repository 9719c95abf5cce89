package noise

import (
	"context"
	"math"
	"testing"

	"difflab/models/schedule"
	"difflab/stages"
	"difflab/stages/artifact"
)

func run(t *testing.T, kind string, p stages.Params, in *artifact.Images) (*artifact.Images, *artifact.Tensor) {
	t.Helper()
	k, err := stages.Lookup(kind)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "noisy", Params: p,
		In: map[string][]stages.Input{"images": {{Artifact: in}}}}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx.Outputs()["images"].(*artifact.Images), ctx.Outputs()["noise"].(*artifact.Tensor)
}

// clean returns a 1 x 1 x 2 x 2 image in [0, 1] with pixels 0, 1/3, 2/3, 1.
func clean() *artifact.Images {
	m := artifact.NewImages(1, 1, 2, 2, 0, 1)
	copy(m.Data, []float32{0, 1.0 / 3, 2.0 / 3, 1})
	return m
}

// moments returns the per-pixel mean and (unbiased) variance of samples.
func moments(samples [][]float32) (mean, variance []float64) {
	n := float64(len(samples))
	mean = make([]float64, len(samples[0]))
	variance = make([]float64, len(samples[0]))
	for _, s := range samples {
		for i, v := range s {
			mean[i] += float64(v) / n
		}
	}
	for _, s := range samples {
		for i, v := range s {
			d := float64(v) - mean[i]
			variance[i] += d * d / (n - 1)
		}
	}
	return mean, variance
}

// checkMoments asserts the sample moments of n draws are within 5 standard
// errors of the closed-form mean and variance.
func checkMoments(t *testing.T, what string, samples [][]float32, wantMean, wantVar []float64) {
	t.Helper()
	n := float64(len(samples))
	mean, variance := moments(samples)
	for i := range mean {
		if se := math.Sqrt(wantVar[i] / n); math.Abs(mean[i]-wantMean[i]) > 5*se+1e-7 {
			t.Errorf("%s pixel %d: mean %g, want %g (standard error %g)", what, i, mean[i], wantMean[i], se)
		}
		if se := wantVar[i] * math.Sqrt(2/(n-1)); math.Abs(variance[i]-wantVar[i]) > 5*se+1e-7 {
			t.Errorf("%s pixel %d: variance %g, want %g (standard error %g)", what, i, variance[i], wantVar[i], se)
		}
	}
}

func TestForwardMomentsOverSeeds(t *testing.T) {
	x0 := clean()
	for _, name := range schedule.Names() {
		s, _ := schedule.New(name, Steps)
		for _, step := range []int{0, 250, 500, 750, 999} {
			var samples [][]float32
			for seed := 0; seed < 4000; seed++ {
				out, _ := run(t, "noise.forward", stages.Params{"t": step, "seed": seed, "schedule": name}, x0)
				samples = append(samples, out.Data)
			}
			abar := s.AlphasCumprod[step]
			var wantMean, wantVar []float64
			for _, v := range x0.Data {
				wantMean = append(wantMean, math.Sqrt(abar)*(2*float64(v)-1)) // x0 mapped onto [-1, 1]
				wantVar = append(wantVar, 1-abar)
			}
			checkMoments(t, name, samples, wantMean, wantVar)
		}
	}
}

func TestForwardUsesReportedNoise(t *testing.T) {
	x0 := clean()
	x0.Lo, x0.Hi = 0, 2 // pixels now mean 0, 1/6, 1/3, 1/2 of the range
	out, eps := run(t, "noise.forward", stages.Params{"t": 500, "seed": 7, "schedule": "linear"}, x0)
	s, _ := schedule.New("linear", Steps)
	sig, noi := s.Coefficients(500)
	if out.Lo != -1 || out.Hi != 1 {
		t.Errorf("output range [%g, %g], want [-1, 1]", out.Lo, out.Hi)
	}
	if len(eps.Shape) != 4 || eps.Shape[0] != 1 || eps.Shape[2] != 2 {
		t.Errorf("noise shape %v, want [1 1 2 2]", eps.Shape)
	}
	for i, v := range x0.Data {
		want := sig*(float64(v)-1) + noi*float64(eps.Data[i])
		if math.Abs(float64(out.Data[i])-want) > 1e-6 {
			t.Errorf("pixel %d = %g, want %g", i, out.Data[i], want)
		}
	}
}

func TestSigmaMomentsOverSeeds(t *testing.T) {
	x := clean()
	for _, sigma := range []float64{0, 0.2, 0.5, 1} {
		var samples [][]float32
		for seed := 0; seed < 4000; seed++ {
			out, _ := run(t, "noise.sigma", stages.Params{"sigma": sigma, "seed": seed}, x)
			if out.Lo != 0 || out.Hi != 1 {
				t.Fatalf("output range [%g, %g], want the input's [0, 1]", out.Lo, out.Hi)
			}
			samples = append(samples, out.Data)
		}
		var wantMean, wantVar []float64
		for _, v := range x.Data {
			wantMean = append(wantMean, float64(v))
			wantVar = append(wantVar, sigma*sigma)
		}
		checkMoments(t, "sigma", samples, wantMean, wantVar)
	}
}

func TestGaussianNoise(t *testing.T) {
	a, b, c := gaussian(42, 100000), gaussian(42, 100000), gaussian(43, 100000)
	same, differ := true, 0
	for i := range a {
		same = same && a[i] == b[i]
		if a[i] != c[i] {
			differ++
		}
	}
	if !same {
		t.Error("the same seed gave different values")
	}
	if differ < len(a)-10 {
		t.Errorf("seeds 42 and 43 agree on %d of %d values", len(a)-differ, len(a))
	}
	samples := make([][]float32, len(a))
	for i, v := range a {
		samples[i] = []float32{v}
	}
	checkMoments(t, "Gaussian", samples, []float64{0}, []float64{1})
}
