package train

import (
	"fmt"
	"os"
	"path/filepath"

	"difflab/models/onnxtrain"
	"difflab/models/ort"
	"difflab/models/unet"
)

// ortTrainer is the ONNX Runtime engine: the session of one training step
// graph (package onnxtrain) and the state it carries from one step to the
// next, the weights and the optimiser's moments, as the graph's flat
// vectors.
type ortTrainer struct {
	batcher
	opt    Options
	sess   *ort.Session
	layout onnxtrain.Layout
	// w holds the starting weights, whose tensors weights() copies and
	// fills from params and buffers, the current values.
	w                                 unet.Weights
	params, buffers, moment1, moment2 []float32
	adam                              *Adam
}

func newORTTrainer(opt Options, ck *Checkpoint) (*ortTrainer, error) {
	adam, err := newAdam(opt.Net, ck)
	if err != nil {
		return nil, err
	}
	sess, err := loadStep(opt)
	if err != nil {
		return nil, err
	}
	tr, err := newORTState(opt, sess, ck.Weights, adam)
	if err != nil {
		sess.Discard()
		return nil, err
	}
	return tr, nil
}

// newORTState returns the trainer that runs sess from weights w (copied)
// and optimiser state adam (kept: its moments are filled in by optimiser).
func newORTState(opt Options, sess *ort.Session, w unet.Weights, adam *Adam) (*ortTrainer, error) {
	specs, err := unet.Specs(opt.Net)
	if err != nil {
		return nil, err
	}
	l := onnxtrain.NewLayout(specs)
	tr := &ortTrainer{batcher: newBatcher(opt), opt: opt, sess: sess, layout: l, w: w.Clone(), adam: adam}
	weight := func(name string) []float32 {
		if t := w[name]; t != nil {
			return t.Data
		}
		return nil
	}
	if tr.params, err = l.Pack(true, weight); err != nil {
		return nil, err
	}
	if tr.buffers, err = l.Pack(false, weight); err != nil {
		return nil, err
	}
	if tr.moment1, err = l.Pack(true, func(name string) []float32 { return adam.M[name] }); err != nil {
		return nil, err
	}
	if tr.moment2, err = l.Pack(true, func(name string) []float32 { return adam.V[name] }); err != nil {
		return nil, err
	}
	return tr, nil
}

// loadStep writes the step graph of opt's UNet and batch size and loads it
// on opt.Device.
func loadStep(opt Options) (*ort.Session, error) {
	model, err := onnxtrain.Step(opt.Net, opt.Batch, &onnxtrain.Options{ChannelsLast: opt.Device == ort.GPU})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "difflab-train-step-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "step.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		return nil, err
	}
	sess, err := ort.Load(path, &ort.Options{Device: opt.Device, Profile: opt.ORTProfile})
	if err != nil {
		return nil, fmt.Errorf("train: loading the training step graph: %w", err)
	}
	return sess, nil
}

func (tr *ortTrainer) step(lr float64) (float64, error) {
	tr.adam.Steps++
	out, err := tr.sess.Run(tr.inputs(lr))
	if err != nil {
		tr.adam.Steps--
		return 0, err
	}
	var loss float64
	for _, o := range out {
		switch o.Name {
		case onnxtrain.OutputLoss:
			loss = float64(o.Float32[0])
		case onnxtrain.Next + onnxtrain.InputParams:
			tr.params = o.Float32
		case onnxtrain.Next + onnxtrain.InputBuffers:
			tr.buffers = o.Float32
		case onnxtrain.Next + onnxtrain.InputAdamM:
			tr.moment1 = o.Float32
		case onnxtrain.Next + onnxtrain.InputAdamV:
			tr.moment2 = o.Float32
		}
	}
	return loss, nil
}

// inputs returns the step graph's inputs for the current batch, weights
// and optimiser state, at Adam step tr.adam.Steps.
func (tr *ortTrainer) inputs(lr float64) []ort.Value {
	cfg, b := tr.opt.Net, &tr.batch
	S, B := int64(cfg.Size), int64(b.Size)
	clip := tr.opt.Clip
	if clip <= 0 {
		clip = 3e38 // no gradient norm reaches it: clipping is off
	}
	P, N := int64(tr.layout.Params), int64(tr.layout.Buffers)
	in := []ort.Value{
		{Name: onnxtrain.InputX, Shape: []int64{B, int64(cfg.Channels), S, S}, Float32: b.X},
		{Name: onnxtrain.InputTarget, Shape: []int64{B, int64(cfg.Channels), S, S}, Float32: b.Target},
		{Name: onnxtrain.InputLR, Shape: []int64{1}, Float32: []float32{float32(lr)}},
		{Name: onnxtrain.InputStep, Shape: []int64{1}, Float32: []float32{float32(tr.adam.Steps)}},
		{Name: onnxtrain.InputClip, Shape: []int64{1}, Float32: []float32{float32(clip)}},
		{Name: onnxtrain.InputParams, Shape: []int64{P}, Float32: tr.params},
		{Name: onnxtrain.InputBuffers, Shape: []int64{N}, Float32: tr.buffers},
		{Name: onnxtrain.InputAdamM, Shape: []int64{P}, Float32: tr.moment1},
		{Name: onnxtrain.InputAdamV, Shape: []int64{P}, Float32: tr.moment2},
	}
	if cfg.Cond != unet.Unconditional {
		in = append(in, ort.Value{Name: onnxtrain.InputT, Shape: []int64{B, 1}, Float32: b.T})
	}
	if cfg.Cond == unet.TimeClass {
		in = append(in, ort.Value{Name: onnxtrain.InputC, Shape: []int64{B, int64(cfg.Classes)}, Float32: b.C})
	}
	return in
}

func (tr *ortTrainer) weights() unet.Weights {
	w := tr.w.Clone()
	put := func(name string, v []float32) { copy(w[name].Data, v) }
	tr.layout.Unpack(true, tr.params, put)
	tr.layout.Unpack(false, tr.buffers, put)
	return w
}

// optimiser fills tr.adam's moments from the flat vectors: the state after
// the last step, until the next.
func (tr *ortTrainer) optimiser() *Adam {
	tr.layout.Unpack(true, tr.moment1, func(name string, v []float32) { copy(tr.adam.M[name], v) })
	tr.layout.Unpack(true, tr.moment2, func(name string, v []float32) { copy(tr.adam.V[name], v) })
	return tr.adam
}

func (tr *ortTrainer) close() { tr.sess.Discard() }
