// Package quality measures how well a set of generated samples matches a
// set of real ones in a feature space: the Fréchet distance between the
// Gaussians fitted to the two sets, precision and recall by k-nearest-
// neighbour manifolds (Kynkäänniemi et al. 2019), the share of each class
// among classified samples, and bootstrap intervals for any statistic of a
// set.
//
// Feature sets are row-major float32 slices of n vectors of d values.
package quality

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// Gaussian is the mean and covariance of a set of feature vectors.
type Gaussian struct {
	Mean []float64
	Cov  *mat.SymDense
}

// Fit returns the mean and the sample covariance (normalised by n-1, as
// numpy.cov) of the n vectors of d values in x; n must be at least 2.
func Fit(x []float32, n, d int) (Gaussian, error) {
	if n < 2 || len(x) != n*d {
		return Gaussian{}, fmt.Errorf("quality: fitting a Gaussian needs at least 2 vectors of %d values, got %d values for %d vectors", d, len(x), n)
	}
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			c.Set(i, j, float64(v)-mean[j])
		}
	}
	cov := mat.NewSymDense(d, nil)
	cov.SymOuterK(1/float64(n-1), c.T())
	return Gaussian{Mean: mean, Cov: cov}, nil
}

// Frechet returns the Fréchet (2-Wasserstein) distance squared between two
// Gaussians, |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), the quantity
// reported as FID. See Reference for how it is computed.
func Frechet(a, b Gaussian) (float64, error) {
	r, err := NewReference(a)
	if err != nil {
		return 0, err
	}
	return r.Distance(b)
}

// Reference is a Gaussian prepared for many Fréchet distances to it (of
// bootstrap resamples, say): it holds the square root of its covariance.
type Reference struct {
	g    Gaussian
	sqrt *mat.SymDense
}

// NewReference prepares g for Distance.
func NewReference(g Gaussian) (*Reference, error) {
	if g.Cov == nil || g.Cov.SymmetricDim() != len(g.Mean) {
		return nil, fmt.Errorf("quality: a Gaussian of mean dimension %d needs a covariance of that size", len(g.Mean))
	}
	s, err := sqrtPSD(g.Cov)
	if err != nil {
		return nil, err
	}
	return &Reference{g: g, sqrt: s}, nil
}

// Distance returns the Fréchet distance squared between the reference and
// b. The trace of (C1 C2)^(1/2) is computed as that of (S C2 S)^(1/2) with
// S = C1^(1/2): both are symmetric positive semi-definite, so symmetric
// eigen-decompositions give it exactly, also for singular covariances (fewer
// vectors than dimensions), where a general matrix square root fails.
func (r *Reference) Distance(b Gaussian) (float64, error) {
	a, d := r.g, len(r.g.Mean)
	if len(b.Mean) != d || b.Cov == nil || b.Cov.SymmetricDim() != d {
		return 0, fmt.Errorf("quality: Gaussians of dimensions %d and %d", d, len(b.Mean))
	}
	var dist float64
	for i := range a.Mean {
		dist += (a.Mean[i] - b.Mean[i]) * (a.Mean[i] - b.Mean[i])
	}
	var sc, m mat.Dense
	sc.Mul(r.sqrt, b.Cov)
	m.Mul(&sc, r.sqrt)
	prod := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			prod.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2) // symmetric up to rounding
		}
	}
	vals, err := eigenvalues(prod)
	if err != nil {
		return 0, err
	}
	var trSqrt float64
	for _, v := range vals {
		trSqrt += math.Sqrt(max(v, 0))
	}
	return max(dist+mat.Trace(a.Cov)+mat.Trace(b.Cov)-2*trSqrt, 0), nil
}

// DistanceTo returns the Fréchet distance squared between the reference and
// the Gaussian fitted (as Fit) to the n vectors in x, the same number as
// Distance(Fit(x)) computed faster when n is at most the dimension d: the
// sample covariance is Xc^T Xc / (n-1) with the centred vectors Xc, so the
// non-zero eigenvalues of S C S are those of the n x n matrix
// (Xc S)(Xc S)^T / (n-1).
func (r *Reference) DistanceTo(x []float32, n int) (float64, error) {
	d := len(r.g.Mean)
	if n > d {
		g, err := Fit(x, n, d)
		if err != nil {
			return 0, err
		}
		return r.Distance(g)
	}
	if n < 2 || len(x) != n*d {
		return 0, fmt.Errorf("quality: a Fréchet distance needs at least 2 vectors of %d values, got %d values for %d vectors", d, len(x), n)
	}
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	var dist float64
	for j := range mean {
		mean[j] /= float64(n)
		dist += (mean[j] - r.g.Mean[j]) * (mean[j] - r.g.Mean[j])
	}
	xc := mat.NewDense(n, d, nil)
	var trCov float64
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			c := float64(v) - mean[j]
			xc.Set(i, j, c)
			trCov += c * c
		}
	}
	trCov /= float64(n - 1)
	var y mat.Dense
	y.Mul(xc, r.sqrt)
	gram := mat.NewSymDense(n, nil)
	gram.SymOuterK(1/float64(n-1), &y)
	vals, err := eigenvalues(gram)
	if err != nil {
		return 0, err
	}
	var trSqrt float64
	for _, v := range vals {
		trSqrt += math.Sqrt(max(v, 0))
	}
	return max(dist+mat.Trace(r.g.Cov)+trCov-2*trSqrt, 0), nil
}

// eigenvalues returns the eigenvalues of the symmetric matrix a.
func eigenvalues(a *mat.SymDense) ([]float64, error) {
	var e mat.EigenSym
	if !e.Factorize(a, false) {
		return nil, fmt.Errorf("quality: eigen-decomposition of a %d x %d matrix did not converge", a.SymmetricDim(), a.SymmetricDim())
	}
	return e.Values(nil), nil
}

// sqrtPSD returns the symmetric square root of the positive semi-definite
// matrix a: V diag(sqrt(max(l, 0))) V^T from its eigen-decomposition, so
// rounding that makes a zero eigenvalue slightly negative does no harm.
func sqrtPSD(a *mat.SymDense) (*mat.SymDense, error) {
	var e mat.EigenSym
	if !e.Factorize(a, true) {
		return nil, fmt.Errorf("quality: eigen-decomposition of a %d x %d matrix did not converge", a.SymmetricDim(), a.SymmetricDim())
	}
	vals := e.Values(nil)
	var v mat.Dense
	e.VectorsTo(&v)
	d := len(vals)
	scaled := mat.NewDense(d, d, nil)
	for j, l := range vals {
		r := math.Sqrt(math.Sqrt(max(l, 0))) // V D^(1/4) (V D^(1/4))^T = V D^(1/2) V^T
		for i := 0; i < d; i++ {
			scaled.Set(i, j, v.At(i, j)*r)
		}
	}
	out := mat.NewSymDense(d, nil)
	out.SymOuterK(1, scaled)
	return out, nil
}

// sqDist returns the squared Euclidean distance between two vectors.
func sqDist(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		t := float64(v) - float64(b[i])
		s += t * t
	}
	return s
}

// Radii returns, for each of the n vectors of d values in x, the squared
// distance to its k-th nearest neighbour among the others: the radius of its
// ball in the k-NN manifold of x. k must be below n.
func Radii(x []float32, n, d, k int) ([]float64, error) {
	if k < 1 || k >= n {
		return nil, fmt.Errorf("quality: k = %d nearest neighbours needs more than k vectors, got %d", k, n)
	}
	out := make([]float64, n)
	row := make([]float64, 0, n-1)
	for i := 0; i < n; i++ {
		row = row[:0]
		for j := 0; j < n; j++ {
			if j != i {
				row = append(row, sqDist(x[i*d:(i+1)*d], x[j*d:(j+1)*d]))
			}
		}
		sort.Float64s(row)
		out[i] = row[k-1]
	}
	return out, nil
}

// Inside reports, for each of the vectors of y, whether it lies in the
// k-NN manifold of x: within the ball of radius radii[i] (squared, from
// Radii) around some vector i of x.
func Inside(y []float32, x []float32, radii []float64, d int) []bool {
	out := make([]bool, len(y)/d)
	for i := range out {
		for j, r := range radii {
			if sqDist(y[i*d:(i+1)*d], x[j*d:(j+1)*d]) <= r {
				out[i] = true
				break
			}
		}
	}
	return out
}

// PrecisionRecall returns the improved precision (the share of fake vectors
// inside the k-NN manifold of the real ones) and recall (the share of real
// vectors inside the k-NN manifold of the fake ones) of Kynkäänniemi et al.
// (2019). real holds nReal and fake nFake vectors of d values.
func PrecisionRecall(real []float32, nReal int, fake []float32, nFake, d, k int) (precision, recall float64, err error) {
	rr, err := Radii(real, nReal, d, k)
	if err != nil {
		return 0, 0, err
	}
	fr, err := Radii(fake, nFake, d, k)
	if err != nil {
		return 0, 0, err
	}
	return Mean(Inside(fake, real, rr, d)), Mean(Inside(real, fake, fr, d)), nil
}

// Mean returns the share of true values in b (0 for none).
func Mean(b []bool) float64 {
	if len(b) == 0 {
		return 0
	}
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return float64(n) / float64(len(b))
}

// Shares returns the share of each class 0..classes-1 among pred.
func Shares(pred []int64, classes int) []float64 {
	out := make([]float64, classes)
	for _, p := range pred {
		if p >= 0 && p < int64(classes) {
			out[p]++
		}
	}
	for i := range out {
		if len(pred) > 0 {
			out[i] /= float64(len(pred))
		}
	}
	return out
}

// Interval is a bootstrap confidence interval.
type Interval struct {
	Lo, Hi float64
	// Mean is the mean of the statistic over the resamples.
	Mean float64
}

// Shifted returns the interval moved so that its resamples' mean is v: the
// bias-corrected interval of a statistic that resampling biases, such as a
// Fréchet distance (a resample repeats items, so its covariance has fewer
// distinct vectors and its distance comes out larger).
func (iv Interval) Shifted(v float64) Interval {
	b := iv.Mean - v
	return Interval{Lo: iv.Lo - b, Hi: iv.Hi - b, Mean: v}
}

// Bootstrap returns the 95% percentile interval of stat over reps resamples
// (with replacement, drawn from rng) of n items; stat gets the indices of one
// resample. With reps < 2 or n < 2 it returns stat of all items as both
// bounds' value.
func Bootstrap(n, reps int, rng *rand.Rand, stat func(idx []int) float64) Interval {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if reps < 2 || n < 2 {
		v := stat(all)
		return Interval{v, v, v}
	}
	vals := make([]float64, reps)
	idx := make([]int, n)
	var sum float64
	for r := range vals {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		vals[r] = stat(idx)
		sum += vals[r]
	}
	slices.Sort(vals)
	at := func(q float64) float64 { return vals[min(reps-1, max(0, int(math.Round(q*float64(reps-1)))))] }
	return Interval{at(0.025), at(0.975), sum / float64(reps)}
}
