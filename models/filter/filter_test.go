package filter

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestGaussianKernel(t *testing.T) {
	// torchvision.transforms.functional.gaussian_blur's kernel for size 3, sigma 1.
	k := GaussianKernel(3, 1)
	want := []float64{0.27406862, 0.45186276, 0.27406862}
	for i := range want {
		if math.Abs(k[i]-want[i]) > 1e-8 {
			t.Fatalf("GaussianKernel(3, 1) = %v, want %v", k, want)
		}
	}
	k = GaussianKernel(33, 2)
	sum := 0.0
	for i, v := range k {
		sum += v
		x := float64(i - 16)
		// Ratio to the centre is exp(-x^2 / (2 sigma^2)).
		if r := v / k[16]; math.Abs(r-math.Exp(-x*x/8)) > 1e-12 {
			t.Fatalf("k[%d]/k[16] = %g, want %g", i, r, math.Exp(-x*x/8))
		}
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("kernel sums to %g, want 1", sum)
	}
}

func TestGaussianKernelPanics(t *testing.T) {
	for _, c := range []struct {
		size  int
		sigma float64
	}{{4, 1}, {0, 1}, {3, 0}, {3, math.NaN()}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "filter: ") {
					t.Errorf("GaussianKernel(%d, %g) recovered %v, want a filter panic", c.size, c.sigma, r)
				}
			}()
			GaussianKernel(c.size, c.sigma)
		}()
	}
}

func TestReflect(t *testing.T) {
	got := []int{}
	for i := -7; i <= 8; i++ {
		got = append(got, Reflect(i, 4))
	}
	want := []int{1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Reflect(-7..8, 4) = %v, want %v", got, want)
		}
	}
	if Reflect(-3, 1) != 0 || Reflect(5, 1) != 0 {
		t.Error("Reflect on a one-pixel axis must give 0")
	}
}

// naiveBlur is an independent reference: pad each plane once by single
// reflection (valid for radius < size), then sum the full 2-D kernel.
func naiveBlur(src []float32, h, w int, k []float64) []float32 {
	r := len(k) / 2
	mirror := func(i, n int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*(n-1) - i
		}
		return i
	}
	out := make([]float32, len(src))
	for p := 0; p < len(src); p += h * w {
		ph, pw := h+2*r, w+2*r
		pad := make([]float64, ph*pw)
		for y := 0; y < ph; y++ {
			for x := 0; x < pw; x++ {
				pad[y*pw+x] = float64(src[p+mirror(y-r, h)*w+mirror(x-r, w)])
			}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				s := 0.0
				for i := range k {
					for j := range k {
						s += k[i] * k[j] * pad[(y+i)*pw+x+j]
					}
				}
				out[p+y*w+x] = float32(s)
			}
		}
	}
	return out
}

func randomPlanes(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestBlurMatchesNaiveConvolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		planes, h, w, size int
		sigma              float64
	}{{3, 9, 7, 5, 1.5}, {2, 28, 28, 7, 2}, {1, 64, 40, 33, 2}, {1, 5, 6, 1, 1}} {
		src := randomPlanes(rng, c.planes*c.h*c.w)
		k := GaussianKernel(c.size, c.sigma)
		got := make([]float32, len(src))
		Blur(got, src, c.h, c.w, k)
		want := naiveBlur(src, c.h, c.w, k)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("%+v: value %d = %g, naive convolution gives %g", c, i, got[i], want[i])
			}
		}
	}
}

func TestBlurKeepsConstantsAndAliases(t *testing.T) {
	src := make([]float32, 2*6*5)
	for i := range src {
		src[i] = 0.25
		if i >= 30 {
			src[i] = -3
		}
	}
	// A kernel wider than the image exercises repeated reflection.
	Blur(src, src, 6, 5, GaussianKernel(15, 3))
	for i, v := range src {
		want := float32(0.25)
		if i >= 30 {
			want = -3
		}
		if math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("constant plane changed: value %d = %g, want %g", i, v, want)
		}
	}
}

func TestHighPassPlusLowPassIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := randomPlanes(rng, 3*16*16)
	k := GaussianKernel(9, 2)
	low, high := make([]float32, len(src)), make([]float32, len(src))
	Blur(low, src, 16, 16, k)
	HighPass(high, src, 16, 16, k)
	for i := range src {
		if math.Abs(float64(low[i]+high[i]-src[i])) > 1e-5 {
			t.Fatalf("low + high = %g at %d, want %g", low[i]+high[i], i, src[i])
		}
	}
}

func TestRescale(t *testing.T) {
	src := []float32{0, 0.5, 1, 2}
	dst := make([]float32, 4)
	Rescale(dst, src, 0, 1, -1, 1)
	want := []float32{-1, 0, 1, 3}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("Rescale = %v, want %v", dst, want)
		}
	}
}
