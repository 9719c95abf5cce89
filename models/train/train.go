package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"difflab/models/ops"
	"difflab/models/ort"
	"difflab/models/unet"
)

// Scheduler names a learning-rate schedule.
type Scheduler string

// The learning-rate schedules.
const (
	// Constant keeps the learning rate fixed.
	Constant Scheduler = "none"
	// Exponential multiplies the rate by 0.1^(1/epochs) after each epoch, so
	// that it falls tenfold over the run.
	Exponential Scheduler = "exponential"
)

// Options configures a training run.
type Options struct {
	// Net is the UNet to train.
	Net unet.Config
	// Epochs and Batch are the number of passes over the data and the
	// number of images per step.
	Epochs, Batch int
	// LR is the initial learning rate of Adam.
	LR float64
	// Scheduler is the learning-rate schedule ("" means Constant).
	Scheduler Scheduler
	// Clip, when positive, scales the gradients down to this global L2 norm
	// whenever their norm exceeds it.
	Clip float64
	// Seed seeds the initial weights and every random draw.
	Seed uint64
	// Engine computes the steps ("" means Gorgonia).
	Engine Engine
	// Device is where ONNX Runtime runs the steps of the ONNXRuntime
	// engine ("" means ort.CurrentDevice()); Gorgonia runs on the CPU.
	Device ort.Device
	// ORTProfile, when set, makes ONNX Runtime profile the steps of the
	// ONNXRuntime engine into a file whose name starts with it (see
	// ort.Options.Profile), written when training ends.
	ORTProfile string
}

// Check reports options that cannot train.
func (o *Options) Check(data *Dataset) error {
	if err := o.Net.Validate(); err != nil {
		return err
	}
	if o.Epochs < 1 {
		return fmt.Errorf("train: epochs %d must be at least 1", o.Epochs)
	}
	if o.Batch < 1 {
		return fmt.Errorf("train: batch %d must be at least 1", o.Batch)
	}
	if !(o.LR > 0) {
		return fmt.Errorf("train: learning rate %v must be positive", o.LR)
	}
	if o.Scheduler != "" && o.Scheduler != Constant && o.Scheduler != Exponential {
		return fmt.Errorf("train: unknown scheduler %q (want exponential or none)", o.Scheduler)
	}
	switch o.Engine {
	case "", Gorgonia, ONNXRuntime:
	default:
		return fmt.Errorf("train: unknown engine %q (want gorgonia or onnxruntime)", o.Engine)
	}
	if o.ORTProfile != "" && o.Engine != ONNXRuntime {
		return fmt.Errorf("train: ORTProfile profiles the %s engine, not %q", ONNXRuntime, o.Engine)
	}
	if o.Engine == ONNXRuntime && o.Batch < 2 {
		return fmt.Errorf("train: batch %d: the onnxruntime engine needs at least 2 images per batch", o.Batch)
	}
	if o.Clip < 0 {
		return fmt.Errorf("train: clip %v must be 0 (off) or positive", o.Clip)
	}
	if err := data.Check(); err != nil {
		return err
	}
	if per := o.Net.Channels * o.Net.Size * o.Net.Size; data.Per != per {
		return fmt.Errorf("train: images of %d values do not fit a %dx%dx%d UNet", data.Per, o.Net.Channels, o.Net.Size, o.Net.Size)
	}
	if data.N < o.Batch {
		return fmt.Errorf("train: %d images are fewer than one batch of %d; lower the batch size", data.N, o.Batch)
	}
	if o.Net.Cond == unet.TimeClass {
		if data.Labels == nil {
			return fmt.Errorf("train: a class-conditioned UNet needs labels")
		}
		for i, l := range data.Labels {
			if l < 0 || int(l) >= o.Net.Classes {
				return fmt.Errorf("train: label %d of image %d is outside 0..%d", l, i, o.Net.Classes-1)
			}
		}
	}
	return nil
}

// LRAt returns the learning rate used during epoch e (1-based).
func (o *Options) LRAt(e int) float64 {
	if o.Scheduler == Exponential {
		return o.LR * math.Pow(math.Pow(0.1, 1/float64(o.Epochs)), float64(e-1))
	}
	return o.LR
}

// StepsPerEpoch is the number of optimiser steps of one epoch over n images.
func (o *Options) StepsPerEpoch(n int) int { return n / o.Batch }

// Progress is a progress report, sent after every step.
type Progress struct {
	Epoch, Epochs int
	// Step counts the steps of this epoch done so far, of Steps.
	Step, Steps int
	// Loss is the loss of the last step.
	Loss float64
	// ImagesPerSec is the throughput of this run so far.
	ImagesPerSec float64
}

// Hooks receive what a training run produces while it runs. Any may be
// nil.
type Hooks struct {
	Progress func(Progress)
	// Epoch receives the checkpoint after each epoch; an error stops
	// training.
	Epoch func(*Checkpoint) error
	// Midway receives a checkpoint inside an epoch once MidwayEvery has
	// passed since the run started or since the last checkpoint (of either
	// hook; 0 means after every step), and when ctx stops the run inside an
	// epoch, so that a long epoch can be resumed where it stopped; an error
	// stops training.
	Midway      func(*Checkpoint) error
	MidwayEvery time.Duration
}

// Train trains a UNet on data with task and returns the checkpoint of the
// last epoch. It starts from the checkpoint from (after its epoch and step)
// or, when from is nil, from unet.Init(opt.Net, opt.Seed).
func Train(ctx context.Context, opt Options, data *Dataset, task Task, from *Checkpoint, hooks Hooks) (*Checkpoint, error) {
	if err := opt.Check(data); err != nil {
		return nil, err
	}
	ck := from
	if ck == nil {
		w, err := unet.Init(opt.Net, opt.Seed)
		if err != nil {
			return nil, err
		}
		ck = &Checkpoint{Weights: w}
	} else {
		ck = ck.clone()
		if err := ck.Weights.Check(opt.Net); err != nil {
			return nil, fmt.Errorf("train: resuming: %w", err)
		}
		if err := ck.check(opt, data); err != nil {
			return nil, fmt.Errorf("train: resuming: %w", err)
		}
	}
	if ck.Epoch == opt.Epochs {
		return ck, nil
	}
	tr, err := newStepper(opt, ck)
	if err != nil {
		return nil, err
	}
	defer tr.close()
	steps := opt.StepsPerEpoch(data.N)
	r := &trainRun{ctx: ctx, opt: opt, data: data, task: task, hooks: hooks, tr: tr, ck: ck,
		steps: steps, start: time.Now()}
	r.saved = r.start
	for e := ck.Epoch + 1; e <= opt.Epochs; e++ {
		if err := r.epoch(e); err != nil {
			return nil, err
		}
	}
	return ck, nil
}

// trainRun is one call of Train: the checkpoint it advances, the trainer,
// and the counters behind progress reports and midway checkpoints.
type trainRun struct {
	ctx   context.Context
	opt   Options
	data  *Dataset
	task  Task
	hooks Hooks
	tr    stepper
	ck    *Checkpoint
	// steps per epoch, and steps done in this call so far.
	steps, done int
	// start of this call, and of the last checkpoint.
	start, saved time.Time
}

// epoch trains epoch e (from step ck.Step when resuming inside it) and
// hands the checkpoint to the hooks.
func (r *trainRun) epoch(e int) error {
	ck, opt := r.ck, r.opt
	src := rand.NewPCG(opt.Seed, uint64(e))
	rng := rand.New(src)
	perm := rng.Perm(r.data.N)
	lr := opt.LRAt(e)
	first, sum := 0, 0.0
	unsaved := false // steps done since the last checkpoint of this epoch
	if ck.Step > 0 {
		// Resume inside the epoch: the permutation is drawn again, the
		// source continues from the saved state.
		if err := src.UnmarshalBinary(ck.RNG); err != nil {
			return fmt.Errorf("train: resuming: random state: %w", err)
		}
		first = ck.Step
		for _, l := range ck.LossIter[len(ck.LossIter)-first:] {
			sum += l
		}
	}
	for s := first; s < r.steps; s++ {
		if err := r.ctx.Err(); err != nil {
			// Stopped: keep the work done since the last checkpoint.
			if unsaved && r.hooks.Midway != nil {
				if serr := r.midway(s, src); serr != nil {
					return errors.Join(err, serr)
				}
			}
			return err
		}
		r.tr.fill(rng, r.data, r.task, perm[s*opt.Batch:(s+1)*opt.Batch])
		loss, err := r.tr.step(lr)
		if err != nil {
			return fmt.Errorf("train: epoch %d step %d: %w", e, s+1, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("train: epoch %d step %d: loss is %v; lower the learning rate or enable clipping", e, s+1, loss)
		}
		ck.LossIter = append(ck.LossIter, loss)
		sum += loss
		r.done++
		if r.hooks.Progress != nil {
			el := time.Since(r.start)
			r.hooks.Progress(Progress{Epoch: e, Epochs: opt.Epochs, Step: s + 1, Steps: r.steps, Loss: loss,
				ImagesPerSec: float64(r.done*opt.Batch) / el.Seconds()})
		}
		unsaved = true
		if r.hooks.Midway != nil && s+1 < r.steps && time.Since(r.saved) >= r.hooks.MidwayEvery {
			if err := r.midway(s+1, src); err != nil {
				return err
			}
			unsaved = false
		}
	}
	ck.Epoch, ck.Step, ck.RNG = e, 0, nil
	ck.LossEpoch = append(ck.LossEpoch, sum/float64(r.steps))
	ck.Weights = r.tr.weights()
	ck.Adam = r.tr.optimiser().clone()
	if r.hooks.Epoch != nil {
		if err := r.hooks.Epoch(ck.clone()); err != nil {
			return err
		}
		r.saved = time.Now()
	}
	return nil
}

// midway hands Hooks.Midway the state after step steps of the current
// epoch, whose random source is src.
func (r *trainRun) midway(step int, src *rand.PCG) error {
	ck := r.ck
	ck.Step, ck.Weights, ck.Adam = step, r.tr.weights(), r.tr.optimiser().clone()
	var err error
	if ck.RNG, err = src.MarshalBinary(); err != nil {
		return err
	}
	r.saved = time.Now()
	return r.hooks.Midway(ck.clone())
}

// Engine names what computes the training steps.
type Engine string

// The training engines.
const (
	// Gorgonia runs the steps in Go: Gorgonia graphs with difflab's ops
	// (package unet), on the CPU. It is the default and the reference the
	// other engine is tested against.
	Gorgonia Engine = "gorgonia"
	// ONNXRuntime runs each step as one ONNX graph (package onnxtrain)
	// through ONNX Runtime, on Options.Device.
	ONNXRuntime Engine = "onnxruntime"
)

// stepper is one engine's state of a run: it fills batches and takes
// optimiser steps.
type stepper interface {
	// fill gathers the images idx and lets the task write the batch.
	fill(rng *rand.Rand, data *Dataset, task Task, idx []int)
	// step runs forward and backward on the current batch and updates the
	// parameters; it returns the batch loss.
	step(lr float64) (float64, error)
	// weights returns a copy of the current weights.
	weights() unet.Weights
	// optimiser returns the optimiser state (not a copy).
	optimiser() *Adam
	close()
}

// newStepper returns the stepper of opt.Engine starting from ck.
func newStepper(opt Options, ck *Checkpoint) (stepper, error) {
	if opt.Engine == ONNXRuntime {
		return newORTTrainer(opt, ck)
	}
	return newTrainer(opt, ck)
}

// batcher holds the batch buffers both engines fill.
type batcher struct {
	batch  Batch
	clean  []float32
	labels []int64
}

func newBatcher(opt Options) batcher {
	per := opt.Net.Channels * opt.Net.Size * opt.Net.Size
	return batcher{
		batch: Batch{Size: opt.Batch, X: make([]float32, opt.Batch*per), T: make([]float32, opt.Batch),
			C: make([]float32, opt.Batch*max(opt.Net.Classes, 0)), Target: make([]float32, opt.Batch*per)},
		clean:  make([]float32, opt.Batch*per),
		labels: make([]int64, opt.Batch),
	}
}

func (b *batcher) fill(rng *rand.Rand, data *Dataset, task Task, idx []int) {
	for k, i := range idx {
		copy(b.clean[k*data.Per:(k+1)*data.Per], data.Images[i*data.Per:(i+1)*data.Per])
		if data.Labels != nil {
			b.labels[k] = data.Labels[i]
		}
	}
	task.Fill(rng, b.clean, b.labels, &b.batch)
}

// newAdam returns a copy of the optimiser state of ck, checked against the
// learned tensors of cfg, or a fresh state when ck has none.
func newAdam(cfg unet.Config, ck *Checkpoint) (*Adam, error) {
	specs, err := unet.Specs(cfg)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int{}
	for _, s := range specs {
		if s.Role.Learned() {
			n := 1
			for _, d := range s.Shape {
				n *= d
			}
			sizes[s.Name] = n
		}
	}
	if ck.Adam == nil {
		return NewAdam(sizes), nil
	}
	if err := ck.Adam.check(sizes); err != nil {
		return nil, err
	}
	return ck.Adam.clone(), nil
}

// trainer is the Gorgonia engine: the graph of one run, the UNet in
// training mode, the loss and the gradients.
type trainer struct {
	batcher
	opt    Options
	net    *unet.Net
	vm     G.VM
	loss   G.Value
	params [][]float32 // backing of the learned parameters, net.Learned order
	grads  [][]float32
	adam   *Adam
}

func newTrainer(opt Options, ck *Checkpoint) (*trainer, error) {
	net, err := unet.Build(opt.Net, ck.Weights, opt.Batch, true)
	if err != nil {
		return nil, err
	}
	tr := &trainer{batcher: newBatcher(opt), opt: opt, net: net}
	target := tr.batch.Target
	g := net.Graph
	tnode := G.NewVector(g, G.Float32, G.WithShape(len(target)), G.WithName("target"),
		G.WithValue(tensor.New(tensor.WithShape(len(target)), tensor.WithBacking(target))))
	flat, err := G.Reshape(net.Out, tensor.Shape{len(target)})
	if err != nil {
		return nil, err
	}
	diff, err := G.Sub(flat, tnode)
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(diff)
	if err != nil {
		return nil, err
	}
	loss, err := G.Mean(sq)
	if err != nil {
		return nil, err
	}
	G.Read(loss, &tr.loss)
	if _, err := G.Grad(loss, net.Learned...); err != nil {
		return nil, fmt.Errorf("train: gradients: %w", err)
	}
	tr.vm = G.NewTapeMachine(g, G.BindDualValues(net.Learned...))
	for _, name := range net.LearnedNames {
		tr.params = append(tr.params, net.Param(name))
	}
	tr.grads = make([][]float32, len(tr.params))
	if tr.adam, err = newAdam(opt.Net, ck); err != nil {
		return nil, err
	}
	return tr, nil
}

func (tr *trainer) weights() unet.Weights { return tr.net.Weights() }

func (tr *trainer) optimiser() *Adam { return tr.adam }

func (tr *trainer) close() { tr.vm.Close() }

// step runs forward and backward on the current batch and updates the
// parameters; it returns the batch loss.
func (tr *trainer) step(lr float64) (float64, error) {
	c := tr.batch.C
	if tr.opt.Net.Cond != unet.TimeClass {
		c = nil
	}
	if err := tr.net.SetInputs(tr.batch.X, tr.batch.T, c); err != nil {
		return 0, err
	}
	defer tr.vm.Reset()
	if err := tr.vm.RunAll(); err != nil {
		return 0, err
	}
	for i, n := range tr.net.Learned {
		g, err := n.Grad()
		if err != nil {
			return 0, fmt.Errorf("gradient of %s: %w", tr.net.LearnedNames[i], err)
		}
		tr.grads[i] = g.Data().([]float32)
	}
	if tr.opt.Clip > 0 {
		ops.ClipGlobalNorm(tr.grads, tr.opt.Clip)
	}
	tr.adam.Step(tr.net.LearnedNames, tr.params, tr.grads, lr)
	// The machine adds each run's gradients to the bound ones: zero them.
	for _, g := range tr.grads {
		clear(g)
	}
	return float64(tr.loss.Data().(float32)), nil
}
