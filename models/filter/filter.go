// Package filter holds image filters on float32 planes, for the stage kinds
// that blur images and for samplers that filter noise estimates.
//
// # Overview
//
// The functions work on raw row-major planes, so that samplers can filter
// noise estimates as well as images: a slice of P*H*W values is P planes of
// H x W pixels (for an N x C x H x W batch, P = N*C). Filters are separable:
// a 1-D kernel runs along the rows, then along the columns.
//
//	k := filter.GaussianKernel(33, 2)
//	filter.Blur(low, x, h, w, k)     // low-pass: Gaussian blur
//	filter.HighPass(high, x, h, w, k) // high-pass: x - blur(x)
//
// # Invariants
//
// Borders use reflect padding without repeating the edge pixel (index -1
// reads index 1, index W reads W-2), like torchvision's gaussian_blur and
// NumPy's "reflect" mode; unlike torchvision, a kernel wider than the image
// keeps reflecting instead of failing. Kernels have odd sizes and sum to 1, so
// a constant image is unchanged. dst may be the same slice as src. Invalid
// sizes and kernels are programming errors and panic with an "filter:"
// message; stage kinds check user parameters before calling in.
package filter

import (
	"fmt"
	"math"
)

// GaussianKernel returns the normalized 1-D Gaussian kernel of the given odd
// size: weights proportional to exp(-x^2 / (2 sigma^2)) at
// x = -(size-1)/2 .. (size-1)/2, summing to 1 (torchvision's definition).
func GaussianKernel(size int, sigma float64) []float64 {
	if size < 1 || size%2 == 0 {
		panic(fmt.Sprintf("filter: kernel size %d is not a positive odd number", size))
	}
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		panic(fmt.Sprintf("filter: Gaussian sigma %g is not a positive number", sigma))
	}
	k := make([]float64, size)
	half := float64(size-1) / 2
	sum := 0.0
	for i := range k {
		x := (float64(i) - half) / sigma
		k[i] = math.Exp(-0.5 * x * x)
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// Reflect maps index i into [0, n) by mirroring at the borders without
// repeating the edge: for n = 4, indices -2..5 map to 2 1 0 1 2 3 2 1.
func Reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// Blur convolves each h x w plane of src with the separable kernel k along
// rows and then columns (a 2-D kernel equal to the outer product of k with
// itself), with reflect padding, and writes the result to dst.
func Blur(dst, src []float32, h, w int, k []float64) {
	checkPlanes("Blur", dst, src, h, w)
	if len(k)%2 == 0 {
		panic(fmt.Sprintf("filter: Blur with a kernel of even size %d", len(k)))
	}
	r := len(k) / 2
	tmp := make([]float64, h*w)
	// Column indices of every tap of every output column, reflected once.
	cols := make([]int, w*len(k))
	for x := 0; x < w; x++ {
		for j := range k {
			cols[x*len(k)+j] = Reflect(x+j-r, w)
		}
	}
	rows := make([]int, h*len(k))
	for y := 0; y < h; y++ {
		for j := range k {
			rows[y*len(k)+j] = Reflect(y+j-r, h)
		}
	}
	for p := 0; p < len(src); p += h * w {
		in, out := src[p:p+h*w], dst[p:p+h*w]
		for y := 0; y < h; y++ {
			row := in[y*w : (y+1)*w]
			for x := 0; x < w; x++ {
				s := 0.0
				for j, c := range cols[x*len(k) : (x+1)*len(k)] {
					s += k[j] * float64(row[c])
				}
				tmp[y*w+x] = s
			}
		}
		for y := 0; y < h; y++ {
			taps := rows[y*len(k) : (y+1)*len(k)]
			for x := 0; x < w; x++ {
				s := 0.0
				for j, ry := range taps {
					s += k[j] * tmp[ry*w+x]
				}
				out[y*w+x] = float32(s)
			}
		}
	}
}

// HighPass writes src - Blur(src) to dst: what the low-pass filter removes.
func HighPass(dst, src []float32, h, w int, k []float64) {
	checkPlanes("HighPass", dst, src, h, w)
	low := make([]float32, len(src))
	Blur(low, src, h, w, k)
	for i := range src {
		dst[i] = src[i] - low[i]
	}
}

// Rescale maps values linearly from [fromLo, fromHi] to [toLo, toHi],
// writing dst (which may be src). Values outside the range are extrapolated,
// not clipped.
func Rescale(dst, src []float32, fromLo, fromHi, toLo, toHi float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("filter: Rescale of %d values into %d", len(src), len(dst)))
	}
	if fromLo == fromHi {
		panic(fmt.Sprintf("filter: Rescale from the empty range [%g, %g]", fromLo, fromHi))
	}
	scale := float64(toHi-toLo) / float64(fromHi-fromLo)
	for i, v := range src {
		dst[i] = float32(float64(toLo) + (float64(v)-float64(fromLo))*scale)
	}
}

func checkPlanes(op string, dst, src []float32, h, w int) {
	if h < 1 || w < 1 || len(src)%(h*w) != 0 || len(dst) != len(src) {
		panic(fmt.Sprintf("filter: %s of %d values into %d as %d x %d planes", op, len(src), len(dst), h, w))
	}
}
