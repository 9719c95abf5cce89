package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"difflab/models/onnxtrain"
	"difflab/models/ort"
	"difflab/models/unet"
)

// ortTrainer is the ONNX Runtime engine: the session of one training step
// graph (package onnxtrain) and the state it carries from one step to the
// next, the weights and the optimiser's moments.
type ortTrainer struct {
	batcher
	opt   Options
	sess  *ort.Session
	specs []unet.Spec
	w     unet.Weights
	adam  *Adam
}

func newORTTrainer(opt Options, ck *Checkpoint) (*ortTrainer, error) {
	specs, err := unet.Specs(opt.Net)
	if err != nil {
		return nil, err
	}
	adam, err := newAdam(opt.Net, ck)
	if err != nil {
		return nil, err
	}
	sess, err := loadStep(opt)
	if err != nil {
		return nil, err
	}
	return &ortTrainer{batcher: newBatcher(opt), opt: opt, sess: sess, specs: specs, w: ck.Weights.Clone(), adam: adam}, nil
}

// loadStep writes the step graph of opt's UNet and batch size and loads it
// on opt.Device.
func loadStep(opt Options) (*ort.Session, error) {
	model, err := onnxtrain.Step(opt.Net, opt.Batch, nil)
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
	sess, err := ort.Load(path, &ort.Options{Device: opt.Device})
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
		next, isNext := strings.CutPrefix(o.Name, onnxtrain.Next)
		if !isNext {
			if o.Name == onnxtrain.OutputLoss {
				loss = float64(o.Float32[0])
			}
			continue
		}
		if name, ok := strings.CutPrefix(next, onnxtrain.AdamM); ok {
			tr.adam.M[name] = o.Float32
		} else if name, ok := strings.CutPrefix(next, onnxtrain.AdamV); ok {
			tr.adam.V[name] = o.Float32
		} else {
			tr.w[next].Data = o.Float32
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
	in := []ort.Value{
		{Name: onnxtrain.InputX, Shape: []int64{B, int64(cfg.Channels), S, S}, Float32: b.X},
		{Name: onnxtrain.InputTarget, Shape: []int64{B, int64(cfg.Channels), S, S}, Float32: b.Target},
		{Name: onnxtrain.InputLR, Shape: []int64{1}, Float32: []float32{float32(lr)}},
		{Name: onnxtrain.InputStep, Shape: []int64{1}, Float32: []float32{float32(tr.adam.Steps)}},
		{Name: onnxtrain.InputClip, Shape: []int64{1}, Float32: []float32{float32(clip)}},
	}
	if cfg.Cond != unet.Unconditional {
		in = append(in, ort.Value{Name: onnxtrain.InputT, Shape: []int64{B, 1}, Float32: b.T})
	}
	if cfg.Cond == unet.TimeClass {
		in = append(in, ort.Value{Name: onnxtrain.InputC, Shape: []int64{B, int64(cfg.Classes)}, Float32: b.C})
	}
	for _, s := range tr.specs {
		shape := make([]int64, len(s.Shape))
		for i, d := range s.Shape {
			shape[i] = int64(d)
		}
		in = append(in, ort.Value{Name: s.Name, Shape: shape, Float32: tr.w[s.Name].Data})
		if s.Role.Learned() {
			in = append(in, ort.Value{Name: onnxtrain.AdamM + s.Name, Shape: shape, Float32: tr.adam.M[s.Name]},
				ort.Value{Name: onnxtrain.AdamV + s.Name, Shape: shape, Float32: tr.adam.V[s.Name]})
		}
	}
	return in
}

func (tr *ortTrainer) weights() unet.Weights { return tr.w.Clone() }

func (tr *ortTrainer) optimiser() *Adam { return tr.adam }

func (tr *ortTrainer) close() { tr.sess.Discard() }
