package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/onnxtrain"
	"difflab/models/ort"
	"difflab/models/ort/orttest"
	"difflab/models/unet"
)

// gradStep is a step graph with gradient outputs, fed with the Gorgonia
// trainer's batch and weights.
type gradStep struct {
	sess *ort.Session
	tr   *trainer
}

func newGradStep(t *testing.T, opt Options, w unet.Weights, dev ort.Device, channelsLast bool) *gradStep {
	model, err := onnxtrain.Step(opt.Net, opt.Batch, &onnxtrain.Options{Gradients: true, ChannelsLast: channelsLast})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "step.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.Load(path, &ort.Options{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Release)
	tr, err := newTrainer(opt, &Checkpoint{Weights: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	return &gradStep{sess: sess, tr: tr}
}

// run evaluates the step graph on the trainer's batch with weights w and
// returns the loss and the gradients by name.
func (g *gradStep) run(t *testing.T, w unet.Weights) (float64, map[string][]float32) {
	t.Helper()
	o, err := newORTState(g.tr.opt, g.sess, w, g.tr.adam.clone())
	if err != nil {
		t.Fatal(err)
	}
	o.batcher = g.tr.batcher
	// The same inputs as a training step, read back with the gradients.
	o.adam.Steps = 1
	in := o.inputs(1e-3)
	out, err := g.sess.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float32{}
	var loss float64
	for _, v := range out {
		if name, ok := strings.CutPrefix(v.Name, onnxtrain.Grad); ok {
			grads[name] = v.Float32
		}
		if v.Name == onnxtrain.OutputLoss {
			loss = float64(v.Float32[0])
		}
	}
	return loss, grads
}

// gorgoniaGrads runs the Gorgonia trainer's graph on its batch and returns
// the loss and the gradients by name.
func gorgoniaGrads(t *testing.T, tr *trainer) (float64, map[string][]float32) {
	t.Helper()
	if err := tr.net.SetInputs(tr.batch.X, tr.batch.T, tr.batch.C); err != nil {
		t.Fatal(err)
	}
	defer tr.vm.Reset()
	if err := tr.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float32{}
	for i, n := range tr.net.Learned {
		g, _ := n.Grad()
		grads[tr.net.LearnedNames[i]] = append([]float32(nil), g.Data().([]float32)...)
		clear(g.Data().([]float32))
	}
	return float64(tr.loss.Data().(float32)), grads
}

// TestStepGradientsMatchGorgonia compares the loss and every parameter
// gradient of the ONNX step graph with the Gorgonia trainer's on the same
// batch, for each UNet variant, in both of the graph's layouts (the
// channels-last form is the GPU's; here the CPU provider runs it).
func TestStepGradientsMatchGorgonia(t *testing.T) {
	orttest.Require(t)
	for _, cond := range []unet.Conditioning{unet.Unconditional, unet.Time, unet.TimeClass} {
		for _, channelsLast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/channels_last=%v", cond, channelsLast), func(t *testing.T) {
				stepGradientsMatchGorgonia(t, cond, ort.CPU, channelsLast)
			})
		}
	}
}

// stepGradientsMatchGorgonia compares the loss and gradients of the step
// graph of a tiny UNet, in the given form and on dev, with Gorgonia's on
// the same batch.
func stepGradientsMatchGorgonia(t *testing.T, cond unet.Conditioning, dev ort.Device, channelsLast bool) {
	opt := tinyOptions(cond)
	w, _ := unet.Init(opt.Net, 4)
	g := newGradStep(t, opt, w, dev, channelsLast)
	rng := rand.New(rand.NewPCG(4, 4))
	g.tr.fill(rng, blobs(16), Flow{Classes: opt.Net.Classes, PUncond: 0.25}, rng.Perm(16))
	loss, grads := g.run(t, w)
	want, wantGrads := gorgoniaGrads(t, g.tr)
	compareGrads(t, loss, want, grads, wantGrads)
}

// compareGrads checks a loss within 1e-5 relative and every gradient
// within 1e-4 of the largest entry of its tensor. The gradients of the
// biases of convolutions that BatchNorm follows are zero but for rounding
// (BatchNorm subtracts the mean the bias shifts), so they have no size of
// their own: such a bias (largest entry below 1e-5, where real gradients
// here are above 1e-3) is held to the tolerance of its layer's weight
// gradient, the rounding the layer's arithmetic makes either way.
func compareGrads(t *testing.T, loss, want float64, grads, wantGrads map[string][]float32) {
	t.Helper()
	if math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %.8g, Gorgonia %.8g", loss, want)
	}
	if len(grads) != len(wantGrads) {
		t.Fatalf("%d gradients, Gorgonia has %d", len(grads), len(wantGrads))
	}
	var worst float64
	for name, wg := range wantGrads {
		g := grads[name]
		if len(g) != len(wg) {
			t.Fatalf("gradient of %s has %d values, want %d", name, len(g), len(wg))
		}
		var scale, diff float64
		for i := range wg {
			scale = max(scale, math.Abs(float64(wg[i])))
			diff = max(diff, math.Abs(float64(g[i]-wg[i])))
		}
		ref := max(scale, 1e-3)
		if w, ok := wantGrads[strings.TrimSuffix(name, ".bias")+".weight"]; ok && strings.HasSuffix(name, ".bias") && scale < 1e-5 {
			for _, v := range w {
				ref = max(ref, math.Abs(float64(v)))
			}
		}
		rel := diff / ref
		worst = max(worst, rel)
		if rel > 1e-4 {
			t.Errorf("gradient of %s differs from Gorgonia's by %.3g (largest entry %.3g)", name, diff, scale)
		}
	}
	t.Logf("loss %.8g (Gorgonia %.8g), worst relative gradient difference %.2g", loss, want, worst)
}

// TestStepGradientFiniteDifference checks the step graph's gradients
// against central differences of its own loss, for some entries of every
// kind of layer.
func TestStepGradientFiniteDifference(t *testing.T) {
	orttest.Require(t)
	opt := tinyOptions(unet.TimeClass)
	w, _ := unet.Init(opt.Net, 5)
	g := newGradStep(t, opt, w, ort.CPU, false)
	rng := rand.New(rand.NewPCG(5, 5))
	g.tr.fill(rng, blobs(16), Flow{Classes: 4}, rng.Perm(16))
	_, grads := g.run(t, w)
	names := []string{"c0.0.0.weight", "c0.1.1.bias", "d1.0.0.weight", "d2.0.0.weight", "un.0.weight", "un.0.bias", "un.1.weight",
		"u1.0.0.weight", "u2.0.0.bias", "u2.0.1.weight", "c1.1.0.weight", "out.weight", "out.bias",
		"fc1_t.0.weight", "fc2_t.2.bias", "fc1_c.0.weight", "fc2_c.2.weight"}
	const h = 1e-2
	for _, name := range names {
		p := w[name].Data
		for _, i := range []int{0, len(p) / 2, len(p) - 1} {
			old := p[i]
			p[i] = old + h
			up, _ := g.run(t, w)
			p[i] = old - h
			down, _ := g.run(t, w)
			p[i] = old
			fd := (up - down) / (2 * h)
			gv := float64(grads[name][i])
			if math.Abs(fd-gv) > 2e-4+0.05*math.Abs(gv) {
				t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", name, i, gv, fd)
			}
		}
	}
}

// TestTrainMatchesGorgonia trains the same runs with both engines, for the
// three training tasks (the denoiser's, flow matching with and without
// classes and CFG dropout, DDPM's epsilon prediction), with and without
// clipping: the losses agree within 1e-5 relative and the weights, running
// statistics and Adam moments within 1e-4 after every epoch.
func TestTrainMatchesGorgonia(t *testing.T) {
	orttest.Require(t)
	abar := make([]float64, 50)
	for i := range abar {
		abar[i] = math.Pow(math.Cos(float64(i+1)/51*math.Pi/2), 2)
	}
	for _, c := range []struct {
		name string
		cond unet.Conditioning
		task Task
		clip float64
	}{
		{"flow", unet.TimeClass, Flow{Classes: 4, PUncond: 0.25}, 0},
		{"flow_clip", unet.TimeClass, Flow{Classes: 4, PUncond: 0.25}, 0.5},
		{"flow_time", unet.Time, Flow{}, 0},
		{"denoiser", unet.Unconditional, Denoise{Sigma: 0.5}, 0},
		{"ddpm", unet.TimeClass, DDPM{AlphaBar: abar, TimeScale: 0.02, Classes: 4, PUncond: 0.1}, 1},
	} {
		t.Run(c.name, func(t *testing.T) { matchGorgonia(t, c.cond, c.task, c.clip, ort.CPU) })
	}
}

// matchGorgonia trains a tiny UNet for two epochs with both engines, ONNX
// Runtime on dev, and compares the checkpoints.
func matchGorgonia(t *testing.T, cond unet.Conditioning, task Task, clip float64, dev ort.Device) {
	data := blobs(48)
	opt := tinyOptions(cond)
	opt.Epochs, opt.Clip = 2, clip
	want, err := Train(context.Background(), opt, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	opt.Engine, opt.Device = ONNXRuntime, dev
	got, err := Train(context.Background(), opt, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	nearly(t, opt, want, got)
	t.Logf("%d steps, losses %.6f ... %.6f", len(got.LossIter), got.LossIter[0], got.LossIter[len(got.LossIter)-1])
}

// nearly checks that checkpoint b of a run with options opt equals a within
// float tolerances: losses within 1e-5 relative, weights, running
// statistics and Adam moments within 1e-4.
//
// The exception are the biases of the convolutions BatchNorm follows and
// that BatchNorm's running mean. BatchNorm subtracts whatever the bias
// adds, so its gradient is zero and the value each engine computes is
// rounding noise, which Adam scales up to steps of about the learning
// rate. Both engines (and PyTorch) move these biases by up to the learning
// rate per step in directions set by rounding; the loss does not depend on
// them. They are checked to stay within that bound.
func nearly(t *testing.T, opt Options, a, b *Checkpoint) {
	t.Helper()
	if a.Adam.Steps != b.Adam.Steps || len(a.LossIter) != len(b.LossIter) || a.Epoch != b.Epoch {
		t.Fatalf("%d optimiser steps, %d losses, epoch %d; want %d, %d, %d", b.Adam.Steps, len(b.LossIter), b.Epoch,
			a.Adam.Steps, len(a.LossIter), a.Epoch)
	}
	for i := range a.LossIter {
		if math.Abs(a.LossIter[i]-b.LossIter[i]) > 1e-5*math.Abs(a.LossIter[i]) {
			t.Errorf("step %d: loss %.8g, want %.8g", i+1, b.LossIter[i], a.LossIter[i])
		}
	}
	const tol = 1e-4
	noise := map[string]bool{}
	for n := range a.Weights {
		if bn, ok := strings.CutSuffix(n, ".0.bias"); ok && a.Weights[bn+".1.running_mean"] != nil {
			noise[n], noise[bn+".1.running_mean"] = true, true
		}
	}
	var worst float64
	var worstName string
	for n, w := range a.Weights {
		bound := tol
		if noise[n] {
			bound = 2 * opt.LR * float64(a.Adam.Steps)
		}
		for i, v := range w.Data {
			d := math.Abs(float64(b.Weights[n].Data[i] - v))
			if !noise[n] && d > worst {
				worst, worstName = d, n
			}
			if d > bound {
				t.Fatalf("%s[%d] = %v, want %v", n, i, b.Weights[n].Data[i], v)
			}
		}
	}
	for n, m := range a.Adam.M {
		for i := range m {
			if math.Abs(float64(b.Adam.M[n][i]-m[i])) > tol || math.Abs(float64(b.Adam.V[n][i]-a.Adam.V[n][i])) > tol {
				t.Fatalf("Adam moments of %s[%d] differ: m %v, %v; v %v, %v", n, i, b.Adam.M[n][i], m[i], b.Adam.V[n][i], a.Adam.V[n][i])
			}
		}
	}
	t.Logf("largest weight difference %.2g (%s)", worst, worstName)
}

// TestTrainOnGPUMatchesGorgonia runs the same comparison on the GPU device
// (lavapipe where there is no GPU).
func TestTrainOnGPUMatchesGorgonia(t *testing.T) {
	where := orttest.RequireGPU(t)
	t.Logf("GPU device: %s", where)
	matchGorgonia(t, unet.TimeClass, Flow{Classes: 4, PUncond: 0.25}, 0.5, ort.GPU)
}

// TestResumeAcrossEngines stops a Gorgonia run inside its second epoch,
// saves and loads the checkpoint, and resumes it with ONNX Runtime, and
// the other way round: both end where an uninterrupted Gorgonia run ends,
// within float tolerances.
func TestResumeAcrossEngines(t *testing.T) {
	orttest.Require(t)
	data := blobs(48)
	opt := tinyOptions(unet.TimeClass)
	opt.Epochs, opt.Clip = 2, 0.5
	task := Flow{Classes: 4, PUncond: 0.25}
	want, err := Train(context.Background(), opt, data, task, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	for _, c := range []struct{ first, second Engine }{{Gorgonia, ONNXRuntime}, {ONNXRuntime, Gorgonia}} {
		dir := t.TempDir()
		steps := 0
		first := opt
		first.Engine = c.first
		_, err := Train(context.Background(), first, data, task, nil, Hooks{
			MidwayEvery: 0,
			Midway: func(ck *Checkpoint) error {
				if steps++; steps < 3 { // the third midway checkpoint is after step 1 of epoch 2
					return nil
				}
				if err := ck.Save(dir); err != nil {
					return err
				}
				return stop
			},
		})
		if !errors.Is(err, stop) {
			t.Fatalf("%s run: %v", c.first, err)
		}
		ck, err := LoadCheckpoint(dir, opt.Net)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Epoch != 1 || ck.Step != 1 {
			t.Fatalf("checkpoint at epoch %d step %d, want 1 and 1", ck.Epoch, ck.Step)
		}
		second := opt
		second.Engine = c.second
		got, err := Train(context.Background(), second, data, task, ck, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s then %s:", c.first, c.second)
		nearly(t, opt, want, got)
	}
}

// TestStepGradientsOnGPUMatchGorgonia compares the step graph's loss and
// gradients on the GPU device (lavapipe where there is no GPU) with
// Gorgonia's.
func TestStepGradientsOnGPUMatchGorgonia(t *testing.T) {
	where := orttest.RequireGPU(t)
	t.Logf("GPU device: %s", where)
	stepGradientsMatchGorgonia(t, unet.TimeClass, ort.GPU, true)
}

// TestONNXRuntimeReproduces trains twice with the ONNX Runtime engine, with
// 1 and 3 intra-op threads: the same bits, as a cache key that leaves the
// thread count out promises.
func TestONNXRuntimeReproduces(t *testing.T) {
	orttest.Require(t)
	data := blobs(48)
	opt := tinyOptions(unet.TimeClass)
	opt.Epochs, opt.Clip, opt.Engine = 1, 0.5, ONNXRuntime
	opt.Net.Hidden = 8
	task := Flow{Classes: 4, PUncond: 0.25}
	var runs []*Checkpoint
	for _, threads := range []string{"1", "3"} {
		t.Setenv(ort.ThreadsEnv, threads)
		ck, err := Train(context.Background(), opt, data, task, nil, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, ck)
	}
	same(t, "3 threads against 1", runs[0], runs[1])
}
