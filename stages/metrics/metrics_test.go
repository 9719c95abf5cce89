package metrics

import (
	"os"
	"testing"

	"difflab/models/classifier"
	"difflab/models/dataset"
	"difflab/models/ddpm"
	"difflab/models/tensor"
	"difflab/stages/artifact"
)

// mnistReference trains a small judge on MNIST and returns the reference of
// the test split, with the training split for drawing sets to measure. It
// skips without data sets.
func mnistReference(t *testing.T) (*reference, *tensor.Tensor, []int64) {
	t.Helper()
	if os.Getenv("DIFFLAB_DATA") == "" {
		t.Skip("DIFFLAB_DATA is not set: no MNIST to measure")
	}
	root, err := dataset.Root()
	if err != nil {
		t.Fatal(err)
	}
	trainX, trainY, err := dataset.MNIST.Load(root, dataset.Train, nil)
	if err != nil {
		t.Fatal(err)
	}
	testX, _, err := dataset.MNIST.Load(root, dataset.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := ddpm.NewRand(1)
	const fit = 20000 // the judge learns the first 20000 training images
	c := classifier.New(28*28, 64, classes, rng)
	c.Train(trainX.Data[:fit*28*28], trainY[:fit], fit, 2, 128, 1e-3, rng, nil)
	ref, err := newReference(c, testX.Data, testX.Shape[0])
	if err != nil {
		t.Fatal(err)
	}
	return ref, trainX, trainY
}

func values(t *testing.T, ms artifact.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range ms {
		out[m.Name] = m.Value
	}
	t.Log(Table(ms))
	return out
}

func TestRealImagesScoreWellAndBadSetsBadly(t *testing.T) {
	ref, trainX, trainY := mnistReference(t)
	const n, from = 1000, 30000 // training images the judge never saw
	px := 28 * 28
	realX := trainX.Data[from*px : (from+n)*px]
	rm, err := measure(ref, realX, n, trainY[from:from+n], 3, 1000, 20, ddpm.NewRand(2))
	if err != nil {
		t.Fatal(err)
	}
	r := values(t, rm)
	if r["accuracy"] < 0.85 || r["precision"] < 0.7 || r["recall"] < 0.7 || r["coverage"] != 1 || r["min_share"] < 0.7 {
		t.Errorf("real training images against the test split: %v, want accuracy >= 0.85, precision and recall >= 0.7, full coverage", r)
	}
	acc := rm.Get("accuracy")
	fd := rm.Get("fd")
	if fd.Lo == nil || !(*fd.Lo <= fd.Value && fd.Value <= *fd.Hi) {
		t.Errorf("fd interval %v .. %v does not hold %v", fd.Lo, fd.Hi, fd.Value)
	}
	if acc.Lo == nil || !(*acc.Lo <= acc.Value && acc.Value <= *acc.Hi) || *acc.Hi-*acc.Lo > 0.1 {
		t.Errorf("accuracy interval %v .. %v does not hold %v or is too wide for 1000 samples", acc.Lo, acc.Hi, acc.Value)
	}

	noise := make([]float32, n*px)
	rng := ddpm.NewRand(4)
	for i := range noise {
		noise[i] = rng.Float32()
	}
	nm, err := measure(ref, noise, n, trainY[from:from+n], 3, 1000, 20, ddpm.NewRand(2))
	if err != nil {
		t.Fatal(err)
	}
	z := values(t, nm)
	if z["accuracy"] > 0.3 || z["precision"] > 0.05 || z["fd"] < 20*r["fd"] {
		t.Errorf("uniform noise: %v, want accuracy <= 0.3, precision <= 0.05 and fd >= 20 x that of real images (%v)", z, r["fd"])
	}

	one := make([]float32, 0, n*px)
	for range n {
		one = append(one, realX[:px]...)
	}
	om, err := measure(ref, one, n, nil, 3, 1000, 20, ddpm.NewRand(2))
	if err != nil {
		t.Fatal(err)
	}
	o := values(t, om)
	if o["recall"] > 0.05 || o["coverage"] != 0.1 || o["min_share"] != 0 || o["fd"] < 10*r["fd"] {
		t.Errorf("one digit repeated: %v, want recall <= 0.05, coverage 0.1, min_share 0 and fd >= 10 x that of real images (%v)", o, r["fd"])
	}
	if _, ok := o["accuracy"]; ok {
		t.Error("an unlabelled set reports an accuracy")
	}
}

func TestReferenceSaveLoadRoundTrip(t *testing.T) {
	rng := ddpm.NewRand(5)
	c := classifier.New(28*28, 8, classes, rng)
	x := make([]float32, 20*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	r, err := newReference(c, x, 20)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := r.save(dir, "mnist"); err != nil {
		t.Fatal(err)
	}
	l, err := loadReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.n != 20 || l.dim != 8 || len(l.features) != 160 {
		t.Fatalf("loaded %d x %d features, want 20 x 8", l.n, l.dim)
	}
	for i := range 8 {
		if d := l.gauss.Cov.At(i, 7-i) - r.gauss.Cov.At(i, 7-i); d > 1e-5 || d < -1e-5 {
			t.Errorf("covariance (%d, %d): %v saved, %v loaded", i, 7-i, r.gauss.Cov.At(i, 7-i), l.gauss.Cov.At(i, 7-i))
		}
	}
	if err := os.Remove(dir + "/mean.npy"); err != nil {
		t.Fatal(err)
	}
	if _, err := loadReference(dir); err == nil {
		t.Error("a reference without mean.npy loaded")
	}
}

func TestTooFewSamplesForK(t *testing.T) {
	rng := ddpm.NewRand(6)
	c := classifier.New(28*28, 4, classes, rng)
	x := make([]float32, 5*28*28)
	r, err := newReference(c, x, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := measure(r, x[:3*28*28], 3, nil, 3, 0, 0, rng); err == nil {
		t.Error("3 samples with k = 3 were measured")
	}
}
