package ddpm

import (
	"math"
	"slices"
)

// Clip returns an Options.X0 that clamps every value of x0 to [-r, r]
// (diffusers' clip_sample with clip_sample_range r).
func Clip(r float64) func(x0 []float32, sh Shape) {
	lo, hi := float32(-r), float32(r)
	return func(x0 []float32, _ Shape) {
		for i, v := range x0 {
			x0[i] = min(max(v, lo), hi)
		}
	}
}

// DynamicThreshold returns an Options.X0 that thresholds each image of x0
// as Imagen and diffusers' DDPMScheduler (thresholding=True) do: s is the
// ratio-quantile of the image's absolute values (linear interpolation, as
// torch.quantile), clamped to [1, maxValue]; the image is clamped to
// [-s, s] and divided by s. DeepFloyd IF samples with ratio 0.95 and
// maxValue 1.5.
func DynamicThreshold(ratio, maxValue float64) func(x0 []float32, sh Shape) {
	return func(x0 []float32, sh Shape) {
		per := len(x0) / sh.N
		abs := make([]float64, per)
		for n := 0; n < sh.N; n++ {
			img := x0[n*per : (n+1)*per]
			for i, v := range img {
				abs[i] = math.Abs(float64(v))
			}
			s := min(max(quantile(abs, ratio), 1), maxValue)
			for i, v := range img {
				img[i] = float32(min(max(float64(v), -s), s) / s)
			}
		}
	}
}

// quantile returns the q-quantile of v (which it sorts) by linear
// interpolation between the closest ranks, as torch.quantile does.
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	return v[lo] + (pos-float64(lo))*(v[hi]-v[lo])
}
