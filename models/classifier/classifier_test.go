package classifier

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/ddpm"
)

func TestClassifierGradient(t *testing.T) {
	rng := ddpm.NewRand(11)
	c := New(6, 5, 3, rng)
	for i := range c.b1 {
		c.b1[i] = 0.1 // keep ReLUs away from their kink
	}
	n := 4
	x := make([]float32, n*6)
	ddpm.FillNormal(x, rng)
	y := []int64{0, 2, 1, 2}
	_, grads := c.lossGrad(x, y, n)
	for pi, p := range c.params() {
		for k := range p {
			old := p[k]
			const h = 1e-2
			p[k] = old + h
			lp, _ := c.lossGrad(x, y, n)
			p[k] = old - h
			lm, _ := c.lossGrad(x, y, n)
			p[k] = old
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - float64(grads[pi][k])); d > 2e-3+0.02*math.Abs(fd) {
				t.Fatalf("param %d[%d]: gradient %v, finite difference %v", pi, k, grads[pi][k], fd)
			}
		}
	}
}

func TestClassifierLearnsSeparableClasses(t *testing.T) {
	rng := ddpm.NewRand(12)
	const in, classes, n = 16, 4, 400
	x := make([]float32, n*in)
	y := make([]int64, n)
	for i := 0; i < n; i++ {
		y[i] = int64(i % classes)
		for k := 0; k < in; k++ {
			v := 0.1 * rng.NormFloat64()
			if k/4 == int(y[i]) {
				v += 1
			}
			x[i*in+k] = float32(v)
		}
	}
	c := New(in, 8, classes, rng)
	var first, last float64
	c.Train(x, y, n, 20, 20, 1e-2, rng, func(e int, loss float64) {
		if e == 1 {
			first = loss
		}
		last = loss
	})
	if !(last < first/4) {
		t.Errorf("loss went from %v to %v", first, last)
	}
	if a := Accuracy(c.Predict(x, n), y); a < 0.99 {
		t.Errorf("training accuracy %v on separable classes", a)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	rng := ddpm.NewRand(13)
	c := New(6, 5, 3, rng)
	dir := t.TempDir()
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4*6)
	ddpm.FillNormal(x, rng)
	a, b := c.Features(x, 4), l.Features(x, 4)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("feature %d: %v before saving, %v after loading", i, a[i], b[i])
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "weights.bin") {
		t.Errorf("truncated weights: error %v, want one naming weights.bin", err)
	}
}
