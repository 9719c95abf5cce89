// Package train defines the training stage kinds "train.denoiser",
// "train.flow" and "train.ddpm", which train the write-up's UNets with
// package models/train on MNIST or Fashion-MNIST, and "noise.pure", the
// pure-noise inputs of a denoiser trained on pure noise.
//
// # Outputs
//
// Every kind outputs a model directory (artifact type model) holding one
// model directory per kept epoch, epoch_001/, epoch_002/, ..., each with
// model.json, model.onnx and weights.safetensors, and a top-level
// model.json listing them (see models/modelfile); and the training loss as
// two series, loss_iter (per step) and loss_epoch (mean per epoch).
//
// # Engines
//
// The parameter engine picks what computes the steps: gorgonia (Go, on the
// CPU), onnxruntime (one ONNX graph per step through ONNX Runtime, on the
// run's --device), or auto, the default: onnxruntime when the run moves
// ONNX Runtime to the GPU (--device gpu), else gorgonia. Only the engine
// that runs enters the cache key (its engine lines, and the device line on
// the GPU), so auto on the CPU keeps the keys gorgonia always had, and a
// model trained on the GPU is another entry than one trained on the CPU.
// The outputs have the same form for both engines.
//
// # Resuming
//
// After each epoch, every ten minutes inside an epoch and when interrupted,
// the stage saves a checkpoint (weights, optimiser state, random state,
// losses and the kept epoch directories) in its resumable state, so a
// killed run continues from its last checkpoint and ends with the same
// outputs as a run that never stopped.
package train

import (
	"fmt"

	"difflab/models/schedule"
	"difflab/models/train"
	"difflab/stages"
	"difflab/stages/artifact"
)

// Version is the implementation version of the training kinds.
const Version = 2

// engineVersions versions what only the ONNX Runtime engine runs: the step
// graph of models/onnxtrain (1: its channels-last form on the GPU,
// BatchNorm's backward pass from two sums, the clipping norm in one sum).
var engineVersions = map[string]int{string(train.ONNXRuntime): 1}

func init() {
	stages.Register(&stages.Kind{
		Name: "train.denoiser",
		Doc: "Trains the unconditional UNet as a single-step denoiser on MNIST in [0, 1]: input z = x + sigma*eps " +
			"(or z = eps with pure_noise), L2 loss to the clean x, Adam.",
		Version:        Version,
		EngineVersions: engineVersions,
		Engine:         []string{string(train.Gorgonia), string(train.ONNXRuntime)},
		EngineParam:    "engine",
		Outputs:        outputs,
		Params: append(commonParams(datasetMNIST, 128, 5, 1e-4, "none"),
			stages.Param{Name: "sigma", Type: stages.Float, Default: 0.5, Min: stages.Bound(0), Max: stages.Bound(100),
				Doc: "noise level of the training inputs"},
			stages.Param{Name: "pure_noise", Type: stages.Bool, Default: false,
				Doc: "train on pure noise z = eps instead of x + sigma*eps"},
		),
		Check:  checkCommon,
		Memory: trainingMemory,
		Files:  datasetFiles,
		Run:    runDenoiser,
	})
	stages.Register(&stages.Kind{
		Name: "train.flow",
		Doc: "Trains a time- or time-and-class-conditioned UNet by flow matching on MNIST in [0, 1]: " +
			"x_t = (1-t) x0 + t x1 with x0 ~ N(0, I), t ~ U[0, 1], target x1 - x0; the class vector is dropped " +
			"to zeros with probability p_uncond. Adam with an exponential or constant learning rate, optional clipping.",
		Version:        Version,
		EngineVersions: engineVersions,
		Engine:         []string{string(train.Gorgonia), string(train.ONNXRuntime)},
		EngineParam:    "engine",
		Outputs:        outputs,
		Params: append(commonParams(datasetMNIST, 64, 10, 1e-2, "exponential"),
			stages.Param{Name: "cond", Type: stages.String, Default: "time_class", Enum: []string{"time", "time_class"},
				Doc: "time: u(x_t, t); time_class: u(x_t, t, c) with the digit's one-hot class c"},
			stages.Param{Name: "p_uncond", Type: stages.Float, Default: 0.1, Min: stages.Bound(0), Max: stages.Bound(1),
				Doc: "probability of training a step's image with the class vector set to zeros (time_class)"},
		),
		Check:  checkCommon,
		Memory: trainingMemory,
		Files:  datasetFiles,
		Run:    runFlow,
	})
	stages.Register(&stages.Kind{
		Name: "train.ddpm",
		Doc: "Trains the time-and-class-conditioned UNet as an epsilon-predicting DDPM on images in [-1, 1] " +
			"(Fashion-MNIST by default): t ~ U{0..steps-1}, x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps, target eps, " +
			"time input t/1000; the condition is the one-hot class of the prompt table, zeros (the empty prompt) " +
			"with probability p_uncond.",
		Version:        Version,
		EngineVersions: engineVersions,
		Engine:         []string{string(train.Gorgonia), string(train.ONNXRuntime)},
		EngineParam:    "engine",
		Outputs:        outputs,
		Params: append(commonParams(datasetFashion, 64, 10, 1e-3, "exponential"),
			stages.Param{Name: "schedule", Type: stages.String, Default: "squaredcos_cap_v2", Enum: schedule.Names(),
				Doc: "the noise schedule of alphas_cumprod"},
			stages.Param{Name: "steps", Type: stages.Int, Default: 1000, Min: stages.Bound(2), Max: stages.Bound(100000),
				Doc: "number of diffusion timesteps T"},
			stages.Param{Name: "prompts", Type: stages.Strings,
				Doc: "the prompt table: prompt i selects class i of the data set, such as \"a photo of a t-shirt\""},
			stages.Param{Name: "p_uncond", Type: stages.Float, Default: 0.1, Min: stages.Bound(0), Max: stages.Bound(1),
				Doc: "probability of training a step's image with the empty prompt (zeros)"},
		),
		Check:  checkDDPM,
		Memory: trainingMemory,
		Prompts: func(p stages.Params) ([]string, error) {
			return append([]string{""}, p.Strings("prompts")...), nil
		},
		Files: datasetFiles,
		Run:   runDDPM,
	})
}

var outputs = []stages.Port{
	{Name: "model", Type: artifact.TypeModel, Doc: "the trained model: epoch_NNN/ directories and an index model.json"},
	{Name: "loss_iter", Type: artifact.TypeSeries, Doc: "training loss of every step"},
	{Name: "loss_epoch", Type: artifact.TypeSeries, Doc: "mean training loss of every epoch"},
}

// The data sets a training stage can read.
const (
	datasetMNIST   = "mnist"
	datasetFashion = "fashion_mnist"
)

func commonParams(dataset string, hidden, epochs int, lr float64, scheduler string) []stages.Param {
	return []stages.Param{
		{Name: "dataset", Type: stages.String, Default: dataset, Enum: []string{datasetMNIST, datasetFashion},
			Doc: "the training data (the train split)"},
		{Name: "train_count", Type: stages.Int, Default: 0, Min: stages.Bound(0),
			Doc: "train on the first train_count images of the split; 0 uses all of them"},
		{Name: "hidden", Type: stages.Int, Default: hidden, Min: stages.Bound(1), Max: stages.Bound(1024),
			Doc: "the UNet's width D"},
		{Name: "epochs", Type: stages.Int, Default: epochs, Min: stages.Bound(1), Max: stages.Bound(10000),
			Doc: "passes over the training data"},
		{Name: "batch", Type: stages.Int, Default: 256, Min: stages.Bound(1), Max: stages.Bound(65536),
			Doc: "images per optimiser step (an incomplete last batch of an epoch is dropped)"},
		{Name: "lr", Type: stages.Float, Default: lr, Min: stages.Bound(0), Max: stages.Bound(10),
			Doc: "Adam's (initial) learning rate"},
		{Name: "scheduler", Type: stages.String, Default: scheduler, Enum: []string{"exponential", "none"},
			Doc: "exponential: the rate falls by 0.1^(1/epochs) after each epoch; none: constant"},
		{Name: "clip", Type: stages.Float, Default: 0.0, Min: stages.Bound(0),
			Doc: "clip the gradients to this global L2 norm; 0 turns clipping off"},
		{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0),
			Doc: "seeds the initial weights and all random draws"},
		{Name: "engine", Type: stages.String, Default: stages.AutoEngine,
			Enum: []string{stages.AutoEngine, string(train.Gorgonia), string(train.ONNXRuntime)},
			Doc: "what computes the training steps: gorgonia (Go, on the CPU), onnxruntime (one ONNX graph per step, " +
				"on the run's --device), or auto: onnxruntime with --device gpu, else gorgonia. Checkpoints and models " +
				"do not depend on it; results agree to float rounding, and the engine is part of the cache key"},
		{Name: "keep", Type: stages.Ints, Default: []int{}, Min: stages.Bound(1),
			Doc: "epochs whose model is kept in the output; empty keeps every epoch (the last is always kept)"},
	}
}

// trainingMemory estimates a training stage's peak memory: the UNet's
// activations and their gradients grow with batch x hidden (about 140 KB
// per image and channel of width, measured by bench train at hidden 64 and
// 128: 2.3 and 4.7 GB at batch 256), plus the data set and the process.
// The onnxruntime engine on the CPU keeps every intermediate of its step
// graph: about twice as much (4.7 GB at batch 256, hidden 64). With auto
// the estimate is Gorgonia's: on the CPU auto trains with Gorgonia, on the
// GPU the activations live in the GPU's memory.
func trainingMemory(p stages.Params) (int64, []string) {
	const base = 1 << 30
	perImageAndWidth := int64(160 << 10)
	if p.String("engine") == string(train.ONNXRuntime) {
		perImageAndWidth = 320 << 10
	}
	return perImageAndWidth*int64(p.Int("batch"))*int64(p.Int("hidden")) + base, []string{"batch", "hidden"}
}

func checkCommon(p stages.Params) error {
	if p.Float("lr") <= 0 {
		return fmt.Errorf("parameter lr: %v, want a positive learning rate such as 1e-3", p.Float("lr"))
	}
	for _, e := range p.Ints("keep") {
		if e > p.Int("epochs") {
			return fmt.Errorf("parameter keep: epoch %d is past the last epoch %d", e, p.Int("epochs"))
		}
	}
	n := datasets[p.String("dataset")].Sizes["train"]
	if c := p.Int("train_count"); c > n {
		return fmt.Errorf("parameter train_count: %d, but the train split of %s has %d images", c, p.String("dataset"), n)
	} else if c > 0 {
		n = c
	}
	if b := p.Int("batch"); b > n {
		return fmt.Errorf("parameter batch: %d is more than the %d training images; lower batch or raise train_count", b, n)
	}
	return nil
}

func checkDDPM(p stages.Params) error {
	if err := checkCommon(p); err != nil {
		return err
	}
	prompts := p.Strings("prompts")
	classes := len(datasets[p.String("dataset")].Classes)
	if len(prompts) != classes {
		return fmt.Errorf("parameter prompts: %d prompts, want one per class of %s (%d)", len(prompts), p.String("dataset"), classes)
	}
	seen := map[string]bool{}
	for i, s := range prompts {
		if s == "" {
			return fmt.Errorf("parameter prompts: prompt %d is empty; the empty prompt is the unconditional one", i)
		}
		if seen[s] {
			return fmt.Errorf("parameter prompts: %q appears twice", s)
		}
		seen[s] = true
	}
	return nil
}
