package quality

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func gauss(mean []float64, cov ...float64) Gaussian {
	return Gaussian{Mean: mean, Cov: mat.NewSymDense(len(mean), cov)}
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.9g, want %.9g (tolerance %g)", what, got, want, tol)
	}
}

func frechet(t *testing.T, a, b Gaussian) float64 {
	t.Helper()
	d, err := Frechet(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFrechetDiagonal(t *testing.T) {
	// Commuting (diagonal) covariances: the distance is
	// |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
	a := gauss([]float64{1, 2, 3}, 4, 0, 0, 0, 9, 0, 0, 0, 1)
	b := gauss([]float64{0, 2, 5}, 1, 0, 0, 0, 16, 0, 0, 0, 0)
	want := 1.0 + 4 + (2-1)*(2-1) + (3-4)*(3-4) + 1
	near(t, "FD(diagonal)", frechet(t, a, b), want, 1e-9)
	near(t, "FD(b, a)", frechet(t, b, a), want, 1e-9)
	near(t, "FD(a, a)", frechet(t, a, a), 0, 1e-9)
}

// trSqrt2 is tr((A B)^(1/2)) of 2 x 2 positive semi-definite A and B in
// closed form: with eigenvalues l1, l2 of A B, (sqrt(l1) + sqrt(l2))^2 =
// tr(A B) + 2 sqrt(det(A B)).
func trSqrt2(a, b *mat.SymDense) float64 {
	var p mat.Dense
	p.Mul(a, b)
	return math.Sqrt(mat.Trace(&p) + 2*math.Sqrt(max(mat.Det(&p), 0)))
}

func TestFrechetNonCommutingClosedForm(t *testing.T) {
	a := gauss([]float64{0.5, -1}, 2, 0.7, 0.7, 1)
	b := gauss([]float64{-0.5, 1}, 1, -0.4, -0.4, 3)
	want := 1.0 + 4 + mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*trSqrt2(a.Cov, b.Cov)
	near(t, "FD", frechet(t, a, b), want, 1e-9)
	near(t, "FD swapped", frechet(t, b, a), want, 1e-9)
}

func TestFrechetSingularCovariance(t *testing.T) {
	// C1 = v v^T has rank 1: tr((C1 C2)^(1/2)) = sqrt(v^T C2 v).
	v := []float64{1, 2, -1}
	c1 := make([]float64, 9)
	for i := range 3 {
		for j := range 3 {
			c1[3*i+j] = v[i] * v[j]
		}
	}
	a := gauss([]float64{0, 0, 0}, c1...)
	b := gauss([]float64{1, 0, 1}, 2, 0.3, 0, 0.3, 1, 0.2, 0, 0.2, 1.5)
	vcv := mat.Inner(mat.NewVecDense(3, v), b.Cov, mat.NewVecDense(3, v))
	want := 2 + mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*math.Sqrt(vcv)
	// A zero eigenvalue computed as +-1e-16 has a square root of 1e-8.
	near(t, "FD(rank 1, full)", frechet(t, a, b), want, 1e-6)
	near(t, "FD(full, rank 1)", frechet(t, b, a), want, 1e-6)
	near(t, "FD(rank 1, itself)", frechet(t, a, a), 0, 1e-6)
	// Both singular: a point mass against a rank-1 Gaussian.
	zero := gauss([]float64{0, 0, 0}, make([]float64, 9)...)
	near(t, "FD(point mass, rank 1)", frechet(t, zero, a), mat.Trace(a.Cov), 1e-9)
}

func TestFitMatchesHandComputation(t *testing.T) {
	x := []float32{1, 2, 3, 6, 5, 4} // (1,2), (3,6), (5,4)
	g, err := Fit(x, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "mean x", g.Mean[0], 3, 1e-12)
	near(t, "mean y", g.Mean[1], 4, 1e-12)
	// deviations (-2,-2), (0,2), (2,0); divided by n-1 = 2
	near(t, "var x", g.Cov.At(0, 0), 4, 1e-12)
	near(t, "var y", g.Cov.At(1, 1), 4, 1e-12)
	near(t, "cov xy", g.Cov.At(0, 1), 2, 1e-12)
	if _, err := Fit(x[:2], 1, 2); err == nil {
		t.Error("Fit of one vector succeeded")
	}
}

func TestFrechetOfSampledGaussiansApproachesClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	x := make([]float32, 2*n)
	y := make([]float32, 2*n)
	for i := range n {
		x[2*i], x[2*i+1] = float32(rng.NormFloat64()), float32(2*rng.NormFloat64())
		y[2*i], y[2*i+1] = float32(3+rng.NormFloat64()), float32(rng.NormFloat64())
	}
	gx, _ := Fit(x, n, 2)
	gy, _ := Fit(y, n, 2)
	near(t, "FD of samples", frechet(t, gx, gy), 9+1, 0.15)
}

func line(vals ...float32) []float32 { return vals }

func TestPrecisionRecallConstructed(t *testing.T) {
	real := line(0, 1, 2, 3, 4, 5, 6, 7, 8, 9) // k = 1: every ball has radius 1
	fake := line(0.5, 1, 50, 51)               // radii 0.5, 0.5, 1, 1
	p, r, err := PrecisionRecall(real, 10, fake, 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "precision", p, 0.5, 0) // 0.5 and 1 lie in the real manifold, 50 and 51 do not
	near(t, "recall", r, 0.2, 0)    // only the reals 0 and 1 lie within 0.5 of a fake
	p, r, _ = PrecisionRecall(real, 10, real, 10, 1, 3)
	near(t, "precision of itself", p, 1, 0)
	near(t, "recall of itself", r, 1, 0)
	// A single point repeated: a manifold of radius 0 around it.
	same := line(4, 4, 4, 4)
	p, r, _ = PrecisionRecall(real, 10, same, 4, 1, 1)
	near(t, "precision of a repeated real point", p, 1, 0)
	near(t, "recall of a repeated real point", r, 0.1, 0)
	if _, _, err := PrecisionRecall(real, 10, same, 4, 1, 4); err == nil {
		t.Error("k = 4 with 4 fake vectors succeeded")
	}
}

func TestRadiiTwoDimensions(t *testing.T) {
	x := line(0, 0, 3, 4, 0, 1)
	r, err := Radii(x, 3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, 18, 1} { // squared distances
		near(t, "radius", r[i], want, 1e-12)
	}
	r, _ = Radii(x, 3, 2, 2)
	for i, want := range []float64{25, 25, 18} {
		near(t, "radius k=2", r[i], want, 1e-12)
	}
}

func TestShares(t *testing.T) {
	s := Shares([]int64{0, 0, 2, 3}, 4)
	for i, want := range []float64{0.5, 0, 0.25, 0.25} {
		near(t, "share", s[i], want, 0)
	}
}

func TestBootstrapIntervalOfAMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 400
	data := make([]bool, n)
	for i := range data {
		data[i] = i%4 == 0 // mean 0.25
	}
	mean := func(idx []int) float64 {
		k := 0
		for _, i := range idx {
			if data[i] {
				k++
			}
		}
		return float64(k) / float64(len(idx))
	}
	iv := Bootstrap(n, 2000, rng, mean)
	// The normal approximation: 0.25 -+ 1.96 sqrt(0.25 0.75 / 400).
	half := 1.96 * math.Sqrt(0.25*0.75/n)
	near(t, "lower bound", iv.Lo, 0.25-half, 0.01)
	near(t, "upper bound", iv.Hi, 0.25+half, 0.01)
	near(t, "mean of the resamples", iv.Mean, 0.25, 0.005)
	sh := iv.Shifted(0.3)
	near(t, "shifted lower bound", sh.Lo, iv.Lo+0.3-iv.Mean, 1e-12)
	near(t, "shifted upper bound", sh.Hi, iv.Hi+0.3-iv.Mean, 1e-12)
	one := Bootstrap(n, 1, rng, mean)
	if one.Lo != 0.25 || one.Hi != 0.25 {
		t.Errorf("one resample: %+v, want the statistic of all items", one)
	}
}

func TestDistanceToMatchesDistanceOfTheFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const d = 6
	ref := make([]float32, 50*d)
	for i := range ref {
		ref[i] = float32(rng.NormFloat64())
	}
	g, _ := Fit(ref, 50, d)
	r, err := NewReference(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 4, d, d + 3} { // singular covariances up to n = d, full above
		x := make([]float32, n*d)
		for i := range x {
			x[i] = float32(0.5 + 2*rng.NormFloat64())
		}
		fx, _ := Fit(x, n, d)
		want, err := r.Distance(fx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.DistanceTo(x, n)
		if err != nil {
			t.Fatal(err)
		}
		near(t, fmt.Sprintf("DistanceTo of %d vectors", n), got, want, 1e-6*want)
	}
}
