package onnxexport

import (
	"fmt"
	"os"
	"path/filepath"

	"difflab/models/modelfile"
	"difflab/models/safetensors"
	"difflab/models/tensor"
)

// WeightsFile is the name of the weights file in a model directory.
const WeightsFile = "weights.safetensors"

// UNetDescription returns the model.json of one of difflab's UNets trained
// to predict predicts ("velocity", "epsilon" or "x0"): inputs x, t, c as the
// UNet has them; timesteps fed as float32 (B, 1) scaled by 1 for flow models
// and 0.001 for DDPM models (t in 0..999); images in [0, 1], or [-1, 1] for
// DDPM models; class-conditioned UNets get a onehot condition of spec.Classes
// (add a prompt table to Prompts as needed).
func UNetDescription(spec modelfile.UNet, predicts string) (*modelfile.Description, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	d := &modelfile.Description{
		Format:    modelfile.Format,
		ONNX:      "model.onnx",
		Predicts:  predicts,
		Inputs:    modelfile.Inputs{Sample: "x"},
		Output:    modelfile.Output{Name: "u", Channels: spec.Channels, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: spec.Channels, Height: spec.Size, Width: spec.Size, Range: [2]float64{0, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionNone},
		UNet:      &spec,
	}
	scale := 1.0
	if predicts == modelfile.PredictsEpsilon {
		scale = 0.001
		d.Image.Range = [2]float64{-1, 1}
	}
	if spec.Cond != "none" {
		d.Inputs.Timestep = "t"
		d.Timestep = modelfile.Timestep{DType: "float32", Scale: scale, Shape: "b1"}
	}
	if spec.Cond == "time_class" {
		d.Inputs.Condition = "c"
		d.Condition = modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: spec.Classes}
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("onnxexport: %w", err)
	}
	return d, nil
}

// WriteUNetDir writes a complete model directory for the UNet d.UNet
// describes: the ONNX export of weights w (BatchNorm folded) under d.ONNX,
// the weights themselves as weights.safetensors, and model.json. The
// directory is created if needed.
func WriteUNetDir(dir string, d *modelfile.Description, w map[string]*tensor.Tensor) error {
	if d.UNet == nil {
		return fmt.Errorf("onnxexport: writing %s: the description has no unet field", dir)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("onnxexport: writing %s: %w", dir, err)
	}
	model, err := UNet(*d.UNet, w, nil)
	if err != nil {
		return fmt.Errorf("onnxexport: writing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("onnxexport: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, d.ONNX), model, 0o644); err != nil {
		return fmt.Errorf("onnxexport: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), w, map[string]string{"format": modelfile.Format}); err != nil {
		return fmt.Errorf("onnxexport: writing %s: %w", dir, err)
	}
	return modelfile.Write(dir, d)
}
