// Package noise adds Gaussian noise to images: the DDPM forward process
// ("noise.forward") and plain additive noise of a given standard deviation
// ("noise.sigma").
//
// # Overview
//
// gaussian draws standard normal values from a seeded generator, so that a
// stage's noise depends only on its seed parameter and the batch's size.
// Forward computes x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps for a
// schedule of package difflab/models/schedule; AddScaled computes
// z = x + sigma eps.
//
// # Value ranges
//
// The DDPM forward process is defined on pixels in [-1, 1]: noise.forward
// first maps its input linearly from the input's [Lo, Hi] onto [-1, 1] and
// outputs images whose nominal range is [-1, 1] (noisy values fall outside
// it). noise.sigma works in the input's own range (MNIST in [0, 1] for the
// flow-matching part) and keeps it.
package noise

import (
	"fmt"

	"difflab/models/ddpm"
	"difflab/models/filter"
	"difflab/models/schedule"
	"difflab/stages/artifact"
)

// gaussian returns n independent standard normal values drawn from the
// seeded generator of package difflab/models/ddpm. The same seed always
// gives the same values.
func gaussian(seed uint64, n int) []float32 {
	eps := make([]float32, n)
	ddpm.FillNormal(eps, ddpm.NewRand(seed))
	return eps
}

// Forward returns x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, with x0 the
// images mapped from [Lo, Hi] onto [-1, 1]; the result's range is [-1, 1].
// eps must have one value per pixel of x0. It panics if t is outside the
// schedule or eps has the wrong length.
func Forward(x0 *artifact.Images, s *schedule.Schedule, t int, eps []float32) *artifact.Images {
	if len(eps) != len(x0.Data) {
		panic(fmt.Sprintf("noise: Forward of %d pixels with %d noise values", len(x0.Data), len(eps)))
	}
	signal, noise := s.Coefficients(t)
	out := artifact.NewImages(x0.N(), x0.C(), x0.H(), x0.W(), -1, 1)
	filter.Rescale(out.Data, x0.Data, x0.Lo, x0.Hi, -1, 1)
	for i, v := range out.Data {
		out.Data[i] = float32(signal*float64(v) + noise*float64(eps[i]))
	}
	return out
}

// AddScaled returns z = x + sigma eps in x's own value range. eps must have
// one value per pixel of x.
func AddScaled(x *artifact.Images, sigma float64, eps []float32) *artifact.Images {
	if len(eps) != len(x.Data) {
		panic(fmt.Sprintf("noise: AddScaled of %d pixels with %d noise values", len(x.Data), len(eps)))
	}
	out := artifact.NewImages(x.N(), x.C(), x.H(), x.W(), x.Lo, x.Hi)
	for i, v := range x.Data {
		out.Data[i] = float32(float64(v) + sigma*float64(eps[i]))
	}
	return out
}
