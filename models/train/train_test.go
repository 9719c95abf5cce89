package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"difflab/models/unet"
)

// blobs returns n 1 x 8 x 8 images of a bright square at one of four
// positions (the label), values in [0, 1].
func blobs(n int) *Dataset {
	d := &Dataset{N: n, Per: 64, Images: make([]float32, n*64), Labels: make([]int64, n)}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < n; i++ {
		l := rng.IntN(4)
		d.Labels[i] = int64(l)
		r0, c0 := 4*(l/2), 4*(l%2)
		for r := r0; r < r0+3; r++ {
			for c := c0; c < c0+3; c++ {
				d.Images[i*64+r*8+c] = 1
			}
		}
	}
	return d
}

func tinyOptions(cond unet.Conditioning) Options {
	cfg := unet.Config{Cond: cond, Hidden: 4, Channels: 1, Size: 8}
	if cond == unet.TimeClass {
		cfg.Classes = 4
	}
	return Options{Net: cfg, Epochs: 3, Batch: 16, LR: 1e-2, Scheduler: Exponential, Seed: 3}
}

func TestLossFalls(t *testing.T) {
	data := blobs(64)
	ck, err := Train(context.Background(), tinyOptions(unet.Unconditional), data, Denoise{Sigma: 0.5}, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.LossIter) != 12 || len(ck.LossEpoch) != 3 {
		t.Fatalf("%d step losses, %d epoch losses; want 12 and 3", len(ck.LossIter), len(ck.LossEpoch))
	}
	first, last := ck.LossEpoch[0], ck.LossEpoch[2]
	t.Logf("epoch losses %v", ck.LossEpoch)
	if !(last < 0.7*first) {
		t.Errorf("loss went from %.4f to %.4f, want a clear fall", first, last)
	}
}

func TestDeterministicAndResumable(t *testing.T) {
	data := blobs(48)
	opt := tinyOptions(unet.TimeClass)
	opt.Epochs, opt.Clip = 2, 0.5
	task := Flow{Classes: 4, PUncond: 0.1}
	a, err := Train(context.Background(), opt, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(context.Background(), opt, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "second run", a, b)

	// interrupt trains from the checkpoint from until save, set in hooks as
	// Epoch or Midway, stops the run; it returns the checkpoint save wrote.
	dir := t.TempDir()
	stop := errors.New("stop")
	save := func(ck *Checkpoint) error {
		if err := ck.Save(dir); err != nil {
			return err
		}
		return stop
	}
	interrupt := func(what string, from *Checkpoint, hooks Hooks) *Checkpoint {
		t.Helper()
		if _, err := Train(context.Background(), opt, data, task, from, hooks); !errors.Is(err, stop) {
			t.Fatalf("%s: %v", what, err)
		}
		ck, err := LoadCheckpoint(dir, opt.Net)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}

	// Stop after epoch 1, save and load the checkpoint, resume.
	ck := interrupt("run stopped after an epoch", nil, Hooks{Epoch: save})
	if ck.Epoch != 1 || ck.Adam == nil || ck.Adam.Steps != 3 {
		t.Fatalf("checkpoint at epoch %d with optimiser %+v", ck.Epoch, ck.Adam)
	}
	c, err := Train(context.Background(), opt, data, task, ck, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "resumed run", a, c)

	// Stop inside epoch 2, after its first step (blobs(48) makes 3 steps per
	// epoch), and resume from there.
	mid := interrupt("run stopped inside an epoch", ck, Hooks{Midway: save, MidwayEvery: time.Nanosecond})
	if mid.Epoch != 1 || mid.Step != 1 || mid.Adam.Steps != 4 || len(mid.LossIter) != 4 {
		t.Fatalf("midway checkpoint at epoch %d step %d, %d optimiser steps, %d losses; want 1, 1, 4, 4",
			mid.Epoch, mid.Step, mid.Adam.Steps, len(mid.LossIter))
	}
	m, err := Train(context.Background(), opt, data, task, mid, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "run resumed inside an epoch", a, m)
	if m.LossEpoch[1] != a.LossEpoch[1] {
		t.Errorf("resumed epoch 2 mean loss %v, want %v", m.LossEpoch[1], a.LossEpoch[1])
	}
	short := mid.clone()
	short.LossIter = short.LossIter[:3]
	if _, err := Train(context.Background(), opt, data, task, short, Hooks{}); err == nil || !strings.Contains(err.Error(), "3 step and 1 epoch losses; want 4 and 1") {
		t.Errorf("checkpoint with a missing loss: err = %v", err)
	}
	mid.Step = 3
	if _, err := Train(context.Background(), opt, data, task, mid, Hooks{}); err == nil || !strings.Contains(err.Error(), "step 3") {
		t.Errorf("checkpoint past its epoch's end: err = %v", err)
	}

	other := opt
	other.Seed++
	d, err := Train(context.Background(), other, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if d.LossIter[0] == a.LossIter[0] {
		t.Error("another seed gave the same first loss")
	}
}

func same(t *testing.T, what string, a, b *Checkpoint) {
	t.Helper()
	if a.Adam.Steps != b.Adam.Steps {
		t.Fatalf("%s: %d optimiser steps, want %d", what, b.Adam.Steps, a.Adam.Steps)
	}
	for n, m := range a.Adam.M {
		for i := range m {
			if b.Adam.M[n][i] != m[i] || b.Adam.V[n][i] != a.Adam.V[n][i] {
				t.Fatalf("%s: Adam moments of %s[%d] differ", what, n, i)
			}
		}
	}
	for i := range a.LossIter {
		if a.LossIter[i] != b.LossIter[i] {
			t.Fatalf("%s: step %d loss %v, want %v", what, i, b.LossIter[i], a.LossIter[i])
		}
	}
	for n, w := range a.Weights {
		for i, v := range w.Data {
			if b.Weights[n].Data[i] != v {
				t.Fatalf("%s: %s[%d] = %v, want %v", what, n, i, b.Weights[n].Data[i], v)
			}
		}
	}
}

func TestProgressAndCancel(t *testing.T) {
	data := blobs(64)
	ctx, cancel := context.WithCancel(context.Background())
	var seen []Progress
	_, err := Train(ctx, tinyOptions(unet.Time), data, Flow{}, nil, Hooks{Progress: func(p Progress) {
		seen = append(seen, p)
		if p.Epoch == 2 && p.Step == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
	if len(seen) != 6 || seen[5].Epoch != 2 || seen[5].Steps != 4 || seen[0].ImagesPerSec <= 0 {
		t.Fatalf("progress reports %+v", seen)
	}
}

func TestCancelSavesCheckpoint(t *testing.T) {
	data := blobs(64)
	opt := tinyOptions(unet.Time)
	want, err := Train(context.Background(), opt, data, Flow{}, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var saved []*Checkpoint
	_, err = Train(ctx, opt, data, Flow{}, nil, Hooks{
		Progress: func(p Progress) {
			if p.Epoch == 2 && p.Step == 3 {
				cancel()
			}
		},
		Midway:      func(ck *Checkpoint) error { saved = append(saved, ck); return nil },
		MidwayEvery: time.Hour,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
	if len(saved) != 1 || saved[0].Epoch != 1 || saved[0].Step != 3 {
		t.Fatalf("checkpoints on cancellation: %+v", saved)
	}
	got, err := Train(context.Background(), opt, data, Flow{}, saved[0], Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "run resumed after cancellation", want, got)
}

func TestAdamFirstStep(t *testing.T) {
	// The first Adam step moves each parameter by lr*g/(|g|+eps/sqrt(...)),
	// that is by lr against the gradient's sign.
	a := NewAdam(map[string]int{"p": 3})
	p := []float32{1, 1, 1}
	a.Step([]string{"p"}, [][]float32{p}, [][]float32{{2, -0.5, 0}}, 0.1)
	want := []float32{0.9, 1.1, 1}
	for i := range p {
		if math.Abs(float64(p[i]-want[i])) > 1e-6 {
			t.Errorf("p[%d] = %v, want %v", i, p[i], want[i])
		}
	}
	// Second step with the same gradient: m and v bias corrections cancel
	// exactly again, so the move is lr once more.
	a.Step([]string{"p"}, [][]float32{p}, [][]float32{{2, -0.5, 0}}, 0.1)
	if math.Abs(float64(p[0]-0.8)) > 1e-6 {
		t.Errorf("after two steps p[0] = %v, want 0.8", p[0])
	}
}

func TestLRAt(t *testing.T) {
	o := Options{LR: 1e-2, Epochs: 10, Scheduler: Exponential}
	if o.LRAt(1) != 1e-2 {
		t.Errorf("epoch 1: %v", o.LRAt(1))
	}
	if got := o.LRAt(11); math.Abs(got-1e-3) > 1e-12 {
		t.Errorf("after 10 epochs the rate is %v, want 1e-3", got)
	}
	o.Scheduler = Constant
	if o.LRAt(7) != 1e-2 {
		t.Errorf("constant: %v", o.LRAt(7))
	}
}

func TestTasks(t *testing.T) {
	const B, per, classes = 200, 5, 3
	clean := make([]float32, B*per)
	labels := make([]int64, B)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range clean {
		clean[i] = rng.Float32()
	}
	for i := range labels {
		labels[i] = int64(i % classes)
	}
	newBatch := func() *Batch {
		return &Batch{Size: B, X: make([]float32, B*per), T: make([]float32, B), C: make([]float32, B*classes), Target: make([]float32, B*per)}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

	b := newBatch()
	Flow{Classes: classes, PUncond: 0.25}.Fill(rng, clean, labels, b)
	dropped := 0
	for n := 0; n < B; n++ {
		tt := float64(b.T[n])
		for i := n * per; i < (n+1)*per; i++ {
			// x_t + (1 - t)(x1 - x0) = x1.
			if !near(float64(b.X[i])+(1-tt)*float64(b.Target[i]), float64(clean[i])) {
				t.Fatalf("flow: image %d is not on the path to the data", n)
			}
		}
		row := b.C[n*classes : (n+1)*classes]
		switch {
		case row[0]+row[1]+row[2] == 0:
			dropped++
		case row[labels[n]] != 1:
			t.Fatalf("flow: class row %v for label %d", row, labels[n])
		}
	}
	if dropped < 30 || dropped > 70 {
		t.Errorf("flow: %d of %d class vectors dropped, want about 50", dropped, B)
	}

	abar := []float64{0.99, 0.5, 0.01}
	b = newBatch()
	DDPM{AlphaBar: abar, TimeScale: 0.001, Classes: classes}.Fill(rng, clean, labels, b)
	for n := 0; n < B; n++ {
		ti := int(math.Round(float64(b.T[n]) / 0.001))
		a := abar[ti]
		for i := n * per; i < (n+1)*per; i++ {
			if !near(float64(b.X[i]), math.Sqrt(a)*float64(clean[i])+math.Sqrt(1-a)*float64(b.Target[i])) {
				t.Fatalf("ddpm: image %d is not x_t of timestep %d", n, ti)
			}
		}
		if b.C[n*classes+int(labels[n])] != 1 {
			t.Fatalf("ddpm: p_uncond 0 dropped a class")
		}
	}

	b = newBatch()
	Denoise{Sigma: 0.5}.Fill(rng, clean, labels, b)
	var s2 float64
	for i := range clean {
		if b.Target[i] != clean[i] {
			t.Fatal("denoise: target is not the clean image")
		}
		d := float64(b.X[i] - clean[i])
		s2 += d * d
	}
	if sd := math.Sqrt(s2 / float64(len(clean))); math.Abs(sd-0.5) > 0.05 {
		t.Errorf("denoise: noise sd %.3f, want 0.5", sd)
	}
}

func TestOptionsCheck(t *testing.T) {
	data := blobs(16)
	for name, mod := range map[string]func(*Options){
		"epochs":    func(o *Options) { o.Epochs = 0 },
		"lr":        func(o *Options) { o.LR = 0 },
		"scheduler": func(o *Options) { o.Scheduler = "cosine" },
		"batch":     func(o *Options) { o.Batch = 17 },
		"size":      func(o *Options) { o.Net.Size = 12 },
		"classes":   func(o *Options) { o.Net.Classes = 3 },
	} {
		o := tinyOptions(unet.TimeClass)
		mod(&o)
		if err := o.Check(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestWeightsIndependentOfWorkers trains with 1, 2 and 4 workers per
// operation and wants the same weights, moments and losses to the bit.
func TestWeightsIndependentOfWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	data := blobs(40)
	opt := tinyOptions(unet.TimeClass)
	opt.Epochs, opt.Batch, opt.Clip = 1, 20, 0.5
	task := Flow{Classes: 4, PUncond: 0.1}
	var want *Checkpoint
	for _, w := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(w)
		ck, err := Train(context.Background(), opt, data, task, nil, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = ck
			continue
		}
		same(t, fmt.Sprintf("%d workers", w), want, ck)
	}
}
