// Package classifier is a small image classifier written in Go: a
// one-hidden-layer perceptron that serves as an independent judge of
// generated images (it knows nothing of the generating model) and whose
// hidden layer is the feature space of the sample-quality metrics.
package classifier

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"difflab/models/train"
)

// Classifier is a one-hidden-layer perceptron (ReLU) over flattened images
// in [0, 1]: logits = relu(x W1 + b1) W2 + b2.
type Classifier struct {
	in, hidden, classes int
	w1, b1, w2, b2      []float32 // w1: in x hidden, w2: hidden x classes, row-major
}

// New returns a classifier of in inputs, hidden units and classes with
// He-initialised weights from rng.
func New(in, hidden, classes int, rng *rand.Rand) *Classifier {
	c := &Classifier{in: in, hidden: hidden, classes: classes,
		w1: make([]float32, in*hidden), b1: make([]float32, hidden),
		w2: make([]float32, hidden*classes), b2: make([]float32, classes)}
	for i := range c.w1 {
		c.w1[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(in)))
	}
	for i := range c.w2 {
		c.w2[i] = float32(rng.NormFloat64() * math.Sqrt(1/float64(hidden)))
	}
	return c
}

// params returns the parameter slices in a fixed order.
func (c *Classifier) params() [][]float32 { return [][]float32{c.w1, c.b1, c.w2, c.b2} }

func gemm(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, cm []float32) {
	blas32.Implementation().Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, beta, cm, n)
}

// Hidden reports the number of hidden units: the dimension of Features.
func (c *Classifier) Hidden() int { return c.hidden }

// Features returns the hidden activations of the n images x (n x Hidden(),
// row-major): the feature space in which the quality metrics compare sets.
func (c *Classifier) Features(x []float32, n int) []float32 {
	h, _ := c.forward(x, n)
	return h
}

// forward returns the hidden activations (n x hidden) and logits
// (n x classes) of the n images x.
func (c *Classifier) forward(x []float32, n int) (h, logits []float32) {
	h = make([]float32, n*c.hidden)
	gemm(blas.NoTrans, blas.NoTrans, n, c.hidden, c.in, x, c.in, c.w1, c.hidden, 0, h)
	for i := range h {
		h[i] = max(0, h[i]+c.b1[i%c.hidden])
	}
	logits = make([]float32, n*c.classes)
	gemm(blas.NoTrans, blas.NoTrans, n, c.classes, c.hidden, h, c.hidden, c.w2, c.classes, 0, logits)
	for i := range logits {
		logits[i] += c.b2[i%c.classes]
	}
	return h, logits
}

// lossGrad returns the mean cross-entropy of the batch and its gradients
// with respect to params(), in the same order.
func (c *Classifier) lossGrad(x []float32, y []int64, n int) (float64, [][]float32) {
	h, logits := c.forward(x, n)
	var loss float64
	d := logits // becomes dL/dlogits
	for i := 0; i < n; i++ {
		row := d[i*c.classes : (i+1)*c.classes]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - mx))
		}
		loss += math.Log(s) - float64(row[y[i]]-mx)
		for k, v := range row {
			p := math.Exp(float64(v-mx)) / s
			if int64(k) == y[i] {
				p--
			}
			row[k] = float32(p / float64(n))
		}
	}
	gw2 := make([]float32, len(c.w2))
	gemm(blas.Trans, blas.NoTrans, c.hidden, c.classes, n, h, c.hidden, d, c.classes, 0, gw2)
	gb2 := make([]float32, c.classes)
	for i, v := range d {
		gb2[i%c.classes] += v
	}
	dh := make([]float32, n*c.hidden)
	gemm(blas.NoTrans, blas.Trans, n, c.hidden, c.classes, d, c.classes, c.w2, c.classes, 0, dh)
	gb1 := make([]float32, c.hidden)
	for i := range dh {
		if h[i] <= 0 {
			dh[i] = 0
		}
		gb1[i%c.hidden] += dh[i]
	}
	gw1 := make([]float32, len(c.w1))
	gemm(blas.Trans, blas.NoTrans, c.in, c.hidden, n, x, c.in, dh, c.hidden, 0, gw1)
	return loss / float64(n), [][]float32{gw1, gb1, gw2, gb2}
}

// Predict returns the most likely class of each of the n images x.
func (c *Classifier) Predict(x []float32, n int) []int64 {
	_, logits := c.forward(x, n)
	out := make([]int64, n)
	for i := range out {
		row := logits[i*c.classes : (i+1)*c.classes]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		out[i] = int64(best)
	}
	return out
}

// Train fits the classifier to the n images x with labels y by Adam
// (learning rate lr, batch size batch) for the given epochs, shuffling with
// rng; report, if set, gets the mean loss of each epoch.
func (c *Classifier) Train(x []float32, y []int64, n, epochs, batch int, lr float64, rng *rand.Rand, report func(epoch int, loss float64)) {
	ps := c.params()
	names := []string{"w1", "b1", "w2", "b2"}
	sizes := map[string]int{}
	for i, p := range ps {
		sizes[names[i]] = len(p)
	}
	adam := train.NewAdam(sizes)
	xb := make([]float32, batch*c.in)
	yb := make([]int64, batch)
	for e := 1; e <= epochs; e++ {
		perm := rng.Perm(n)
		var sum float64
		batches := 0
		for lo := 0; lo+batch <= n; lo += batch {
			for i := 0; i < batch; i++ {
				j := perm[lo+i]
				copy(xb[i*c.in:(i+1)*c.in], x[j*c.in:(j+1)*c.in])
				yb[i] = y[j]
			}
			loss, gs := c.lossGrad(xb, yb, batch)
			sum += loss
			batches++
			adam.Step(names, ps, gs, lr)
		}
		if report != nil && batches > 0 {
			report(e, sum/float64(batches))
		}
	}
}

// shape is what model.json records of a saved classifier.
type shape struct {
	In      int `json:"in"`
	Hidden  int `json:"hidden"`
	Classes int `json:"classes"`
}

// Save writes the classifier into dir: model.json (its sizes) and
// weights.bin (w1, b1, w2, b2 as little-endian float32).
func (c *Classifier) Save(dir string) error {
	meta, _ := json.Marshal(shape{c.in, c.hidden, c.classes})
	if err := os.WriteFile(filepath.Join(dir, "model.json"), meta, 0o644); err != nil {
		return err
	}
	var buf []byte
	for _, p := range c.params() {
		for _, v := range p {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	return os.WriteFile(filepath.Join(dir, "weights.bin"), buf, 0o644)
}

// Load reads a classifier that Save wrote into dir.
func Load(dir string) (*Classifier, error) {
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, err
	}
	var s shape
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "model.json"), err)
	}
	if s.In <= 0 || s.Hidden <= 0 || s.Classes <= 0 {
		return nil, fmt.Errorf("%s: sizes %+v must be positive", filepath.Join(dir, "model.json"), s)
	}
	c := &Classifier{in: s.In, hidden: s.Hidden, classes: s.Classes,
		w1: make([]float32, s.In*s.Hidden), b1: make([]float32, s.Hidden),
		w2: make([]float32, s.Hidden*s.Classes), b2: make([]float32, s.Classes)}
	w, err := os.ReadFile(filepath.Join(dir, "weights.bin"))
	if err != nil {
		return nil, err
	}
	want := 4 * (len(c.w1) + len(c.b1) + len(c.w2) + len(c.b2))
	if len(w) != want {
		return nil, fmt.Errorf("%s: %d bytes, want %d for sizes %+v", filepath.Join(dir, "weights.bin"), len(w), want, s)
	}
	for _, p := range c.params() {
		for i := range p {
			p[i] = math.Float32frombits(binary.LittleEndian.Uint32(w))
			w = w[4:]
		}
	}
	return c, nil
}

// Accuracy returns the fraction of pred equal to want.
func Accuracy(pred, want []int64) float64 {
	right := 0
	for i, p := range pred {
		if p == want[i] {
			right++
		}
	}
	return float64(right) / float64(len(pred))
}
