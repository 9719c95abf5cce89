package metrics

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/gonum/mat"

	"difflab/models/classifier"
	"difflab/models/dataset"
	"difflab/models/ddpm"
	"difflab/models/quality"
	"difflab/stages"
	"difflab/stages/artifact"
)

// judgeInfo is dataset.json of a saved judge: the data set it learned.
type judgeInfo struct {
	Dataset string `json:"dataset"`
}

func runClassifier(ctx *stages.Context) error {
	p := ctx.Params
	root, err := dataset.Root()
	if err != nil {
		return err
	}
	d := datasets[p.String("dataset")]
	epochs := p.Int("epochs")
	c, err := classifier.TrainOn(d, root, p.Int("train_count"), p.Int("hidden"), epochs, uint64(p.Int("seed")), func(e int, loss float64) {
		ctx.Report(e, epochs, fmt.Sprintf("classifier epoch %d loss %.4f", e, loss))
	})
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	dir := filepath.Join(ctx.Workdir, "classifier")
	if err := saveJudge(c.Classifier, p.String("dataset"), dir); err != nil {
		return err
	}
	rep := fmt.Sprintf("Perceptron 784-%d-10 trained on the %s training split (%d images, %d epochs); accuracy on its test split %.2f%%.\n",
		p.Int("hidden"), d.Name, c.TrainImages, epochs, 100*c.TestAccuracy)
	if err := ctx.Output("classifier", &artifact.Model{Dir: dir}); err != nil {
		return err
	}
	return ctx.Output("report", artifact.Text(rep))
}

// saveJudge writes the classifier and the name of its data set into dir.
func saveJudge(c *classifier.Classifier, name, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := c.Save(dir); err != nil {
		return err
	}
	b, _ := json.Marshal(judgeInfo{Dataset: name})
	return os.WriteFile(filepath.Join(dir, "dataset.json"), b, 0o644)
}

// loadJudge reads a classifier saved by saveJudge and its data set's name.
func loadJudge(dir string) (*classifier.Classifier, string, error) {
	c, err := classifier.Load(dir)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	if err != nil {
		return nil, "", err
	}
	var info judgeInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Join(dir, "dataset.json"), err)
	}
	return c, info.Dataset, nil
}

func runReference(ctx *stages.Context) error {
	p := ctx.Params
	m, ok := ctx.One("classifier").(*artifact.Model)
	if !ok {
		return fmt.Errorf("stage %s: input classifier is not a model", ctx.Stage)
	}
	c, learned, err := loadJudge(m.Dir)
	if err != nil {
		return fmt.Errorf("stage %s: the classifier: %w", ctx.Stage, err)
	}
	if learned != p.String("dataset") {
		return fmt.Errorf("stage %s: the classifier learned %s but dataset is %s; set dataset: %s or feed a classifier of %s",
			ctx.Stage, learned, p.String("dataset"), learned, p.String("dataset"))
	}
	root, err := dataset.Root()
	if err != nil {
		return err
	}
	var idx []int
	if n := p.Int("count"); n > 0 {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	}
	x, _, err := datasets[learned].Load(root, p.String("split"), idx)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	r, err := newReference(c, x.Data, x.Shape[0])
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	dir := filepath.Join(ctx.Workdir, "reference")
	if err := r.save(dir, learned); err != nil {
		return err
	}
	return ctx.Output("reference", &artifact.Model{Dir: dir})
}

// reference is what metrics.samples measures against: the judge, and the
// features of real images with their Gaussian.
type reference struct {
	judge    *classifier.Classifier
	features []float32 // n x dim
	n, dim   int
	gauss    quality.Gaussian
}

// newReference computes the judge's features of the n real images x (in
// [0, 1]) and fits their Gaussian.
func newReference(c *classifier.Classifier, x []float32, n int) (*reference, error) {
	r := &reference{judge: c, features: c.Features(x, n), n: n, dim: c.Hidden()}
	g, err := quality.Fit(r.features, n, r.dim)
	if err != nil {
		return nil, err
	}
	r.gauss = g
	return r, nil
}

// save writes the reference into dir: the judge, features.npy, mean.npy and
// cov.npy.
func (r *reference) save(dir, dataset string) error {
	if err := saveJudge(r.judge, dataset, dir); err != nil {
		return err
	}
	mean := artifact.NewTensor(r.dim)
	cov := artifact.NewTensor(r.dim, r.dim)
	for i := range r.dim {
		mean.Data[i] = float32(r.gauss.Mean[i])
		for j := range r.dim {
			cov.Data[i*r.dim+j] = float32(r.gauss.Cov.At(i, j))
		}
	}
	for name, t := range map[string]*artifact.Tensor{"features": {Shape: []int{r.n, r.dim}, Data: r.features}, "mean": mean, "cov": cov} {
		if _, err := t.Save(dir, name); err != nil {
			return err
		}
	}
	return nil
}

// loadReference reads a reference that save wrote into dir.
func loadReference(dir string) (*reference, error) {
	c, _, err := loadJudge(dir)
	if err != nil {
		return nil, err
	}
	load := func(name string, shape ...int) (*artifact.Tensor, error) {
		a, err := artifact.Load(artifact.TypeTensor, dir, name)
		if err != nil {
			return nil, err
		}
		t := a.(*artifact.Tensor)
		if fmt.Sprint(t.Shape[1:]) != fmt.Sprint(shape[1:]) || len(t.Shape) != len(shape) || (shape[0] > 0 && t.Shape[0] != shape[0]) {
			return nil, fmt.Errorf("%s.npy: shape %v does not fit a classifier of %d features", filepath.Join(dir, name), t.Shape, c.Hidden())
		}
		return t, nil
	}
	d := c.Hidden()
	f, err := load("features", 0, d)
	if err != nil {
		return nil, err
	}
	mean, err := load("mean", d)
	if err != nil {
		return nil, err
	}
	cov, err := load("cov", d, d)
	if err != nil {
		return nil, err
	}
	g := quality.Gaussian{Mean: make([]float64, d), Cov: mat.NewSymDense(d, nil)}
	for i := range d {
		g.Mean[i] = float64(mean.Data[i])
		for j := i; j < d; j++ {
			g.Cov.SetSym(i, j, float64(cov.Data[i*d+j]))
		}
	}
	return &reference{judge: c, features: f.Data, n: f.Shape[0], dim: d, gauss: g}, nil
}

func runSamples(ctx *stages.Context) error {
	p := ctx.Params
	im, ok := ctx.One("samples").(*artifact.Images)
	if !ok {
		return fmt.Errorf("stage %s: input samples is not images", ctx.Stage)
	}
	if im.C() != 1 || im.H() != 28 || im.W() != 28 {
		return fmt.Errorf("stage %s: samples of shape %v; the judge takes 1 x 28 x 28 images", ctx.Stage, im.Shape)
	}
	var labels artifact.Labels
	if a := ctx.One("labels"); a != nil {
		labels = a.(artifact.Labels)
		if len(labels) != im.N() {
			return fmt.Errorf("stage %s: %d labels for %d samples; give one label per sample", ctx.Stage, len(labels), im.N())
		}
	}
	m, ok := ctx.One("reference").(*artifact.Model)
	if !ok {
		return fmt.Errorf("stage %s: input reference is not a model", ctx.Stage)
	}
	ref, err := loadReference(m.Dir)
	if err != nil {
		return fmt.Errorf("stage %s: the reference: %w", ctx.Stage, err)
	}
	ms, err := measure(ref, unit(im), im.N(), labels, p.Int("k"), p.Int("real_count"), p.Int("bootstrap"), ddpm.NewRand(uint64(p.Int("seed"))))
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	if err := ctx.Output("metrics", ms); err != nil {
		return err
	}
	return ctx.Output("report", artifact.Text(Table(ms)))
}

// Table formats metrics as a Markdown table.
func Table(ms artifact.Metrics) string {
	var b strings.Builder
	b.WriteString("| metric | value | 95% interval | n |\n|---|---|---|---|\n")
	for _, m := range ms {
		iv := ""
		if m.Lo != nil && m.Hi != nil {
			iv = fmt.Sprintf("%.4g .. %.4g", *m.Lo, *m.Hi)
		}
		fmt.Fprintf(&b, "| %s | %.4g | %s | %d |\n", m.Name, m.Value, iv, m.N)
	}
	return b.String()
}

// unit returns the images' values mapped from their range to [0, 1].
func unit(m *artifact.Images) []float32 {
	out := make([]float32, len(m.Data))
	for i, v := range m.Data {
		out[i] = min(max((v-m.Lo)/(m.Hi-m.Lo), 0), 1)
	}
	return out
}

// measure computes the metrics of the n images x (in [0, 1]) against ref,
// with labels (nil for an unconditional set; -1 is not scored), k-NN
// manifolds of k neighbours over realCount real images (0: n) and reps
// bootstrap resamples drawn from rng.
func measure(ref *reference, x []float32, n int, labels artifact.Labels, k, realCount, reps int, rng *rand.Rand) (artifact.Metrics, error) {
	if n <= k {
		return nil, fmt.Errorf("%d samples are too few for k = %d nearest neighbours; set k below %d or generate more samples", n, k, n)
	}
	feat := ref.judge.Features(x, n)
	pred := ref.judge.Predict(x, n)
	var ms artifact.Metrics
	add := func(name string, v float64, count int, iv *quality.Interval) {
		m := artifact.Metric{Name: name, Value: v, N: count}
		if iv != nil && reps >= 2 {
			lo, hi := iv.Lo, iv.Hi
			m.Lo, m.Hi = &lo, &hi
		}
		ms = append(ms, m)
	}

	// Accuracy, overall and per asked class.
	var scored []int
	asked := make([]int, classes)
	for i, l := range labels {
		if l < -1 || l >= classes {
			return nil, fmt.Errorf("label %d of sample %d is not a class 0..%d (or -1, not scored)", l, i, classes-1)
		}
		if l >= 0 {
			scored = append(scored, i)
			asked[l]++
		}
	}
	if len(scored) > 0 {
		right := func(idx []int) float64 {
			r := 0
			for _, j := range idx {
				if pred[scored[j]] == labels[scored[j]] {
					r++
				}
			}
			return float64(r) / float64(len(idx))
		}
		all := make([]int, len(scored))
		for i := range all {
			all[i] = i
		}
		iv := quality.Bootstrap(len(scored), reps, rng, right)
		add("accuracy", right(all), len(scored), &iv)
		for c := range classes {
			if asked[c] == 0 {
				continue
			}
			r := 0
			for _, i := range scored {
				if labels[i] == int64(c) && pred[i] == int64(c) {
					r++
				}
			}
			add(fmt.Sprintf("accuracy_%d", c), float64(r)/float64(asked[c]), asked[c], nil)
		}
	}

	// Fréchet distance to the real features.
	fr, err := quality.NewReference(ref.gauss)
	if err != nil {
		return nil, err
	}
	fd := func(idx []int) (float64, error) {
		sub := make([]float32, 0, len(idx)*ref.dim)
		for _, i := range idx {
			sub = append(sub, feat[i*ref.dim:(i+1)*ref.dim]...)
		}
		return fr.DistanceTo(sub, len(idx))
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	v, err := fd(all)
	if err != nil {
		return nil, err
	}
	var fdErr error
	iv := quality.Bootstrap(n, reps, rng, func(idx []int) float64 {
		d, err := fd(idx)
		if err != nil {
			fdErr = err
		}
		return d
	})
	if fdErr != nil {
		return nil, fdErr
	}
	iv = iv.Shifted(v)
	add("fd", v, n, &iv)

	// Precision and recall against realCount real images (0: as many as
	// samples).
	nReal := min(ref.n, realCount)
	if realCount == 0 {
		nReal = min(ref.n, n)
	}
	if nReal <= k {
		return nil, fmt.Errorf("%d real images are too few for k = %d nearest neighbours; raise real_count or lower k", nReal, k)
	}
	real := make([]float32, 0, nReal*ref.dim)
	for _, i := range rng.Perm(ref.n)[:nReal] {
		real = append(real, ref.features[i*ref.dim:(i+1)*ref.dim]...)
	}
	radii, err := quality.Radii(real, nReal, ref.dim, k)
	if err != nil {
		return nil, err
	}
	inside := quality.Inside(feat, real, radii, ref.dim)
	iv = quality.Bootstrap(n, reps, rng, func(idx []int) float64 {
		s := make([]bool, len(idx))
		for j, i := range idx {
			s[j] = inside[i]
		}
		return quality.Mean(s)
	})
	add("precision", quality.Mean(inside), n, &iv)
	fakeRadii, err := quality.Radii(feat, n, ref.dim, k)
	if err != nil {
		return nil, err
	}
	add("recall", quality.Mean(quality.Inside(real, feat, fakeRadii, ref.dim)), n, nil)

	// Coverage: the asked classes (all without labels) found at least once,
	// and the smallest ratio of found to asked share.
	shares := quality.Shares(pred, classes)
	want := make([]float64, classes)
	for c := range classes {
		want[c] = 1 / float64(classes)
		if len(scored) > 0 {
			want[c] = float64(asked[c]) / float64(len(scored))
		}
	}
	covered, wanted, minShare := 0, 0, -1.0
	for c := range classes {
		if want[c] == 0 {
			continue
		}
		wanted++
		if shares[c] > 0 {
			covered++
		}
		if r := shares[c] / want[c]; minShare < 0 || r < minShare {
			minShare = r
		}
	}
	add("coverage", float64(covered)/float64(wanted), n, nil)
	add("min_share", minShare, n, nil)
	for c, s := range shares {
		add(fmt.Sprintf("share_%d", c), s, n, nil)
	}
	return ms, nil
}
