// Package deepfloyd describes DeepFloyd IF stage I as a difflab model
// directory: its model.json (StageI), the prompt embeddings file, and the
// export script (export.py, see README.md) that turns the diffusers weights
// into that directory for users who have them.
//
// # The model directory
//
//	model.json                 StageI's description (written by the export script)
//	model.onnx                 the stage I UNet: sample (B, 3, 64, 64) float32 in [-1, 1],
//	                           timestep (B) int64 in 0..999, encoder_hidden_states
//	                           (B, 77, 4096) float32 -> noise_pred (B, 6, 64, 64): the noise
//	                           estimate, then the learned variance v in [-1, 1] (the only
//	                           output may have another name: see modelfile.Bind)
//	prompt_embeds.safetensors  one (1, 77, 4096) T5 embedding per prompt, named by the
//	                           prompt's text; the empty prompt under modelfile.UnconditionalKey
//
// The schedule is squaredcos_cap_v2 over 1000 steps. Stage II (the 64 -> 256
// upscaler) is exported too but not described by a model.json: its inputs
// (README.md) go beyond the model contract.
package deepfloyd

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"difflab/models/modelfile"
	"difflab/models/safetensors"
	"difflab/models/tensor"
)

//go:embed stage_i.model.json
var stageIJSON []byte

// EmbeddingsFile is the prompt embeddings file of the model directory.
const EmbeddingsFile = "prompt_embeds.safetensors"

// EmbeddingShape is the shape of one prompt's T5 embedding.
var EmbeddingShape = []int{77, 4096}

// StageI returns the description of DeepFloyd IF stage I (the file
// stage_i.model.json, which the export script copies).
func StageI() (*modelfile.Description, error) {
	var d modelfile.Description
	if err := json.Unmarshal(stageIJSON, &d); err != nil {
		return nil, fmt.Errorf("deepfloyd: stage_i.model.json: %w", err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("deepfloyd: stage_i.model.json: %w", err)
	}
	return &d, nil
}

// WriteStageI writes StageI's model.json into dir, for an ONNX file exported
// by other means.
func WriteStageI(dir string) error {
	d, err := StageI()
	if err != nil {
		return err
	}
	return modelfile.Write(dir, d)
}

// WriteEmbeddings writes prompt embeddings (each EmbeddingShape values,
// keyed by prompt; "" is the unconditional prompt and must be present) to
// dir/prompt_embeds.safetensors.
func WriteEmbeddings(dir string, emb map[string][]float32) error {
	n := EmbeddingShape[0] * EmbeddingShape[1]
	if _, ok := emb[""]; !ok {
		return fmt.Errorf("deepfloyd: the embeddings lack the empty (unconditional) prompt \"\"")
	}
	ts := map[string]*tensor.Tensor{}
	for p, e := range emb {
		if len(e) != n {
			return fmt.Errorf("deepfloyd: embedding of %q has %d values, want %d (%v)", p, len(e), n, EmbeddingShape)
		}
		if p == modelfile.UnconditionalKey {
			return fmt.Errorf("deepfloyd: %q is reserved for the empty prompt", p)
		}
		name := p
		if p == "" {
			name = modelfile.UnconditionalKey
		}
		ts[name] = &tensor.Tensor{Shape: []int{1, EmbeddingShape[0], EmbeddingShape[1]}, Data: e}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("deepfloyd: %w", err)
	}
	return safetensors.WriteFile(filepath.Join(dir, EmbeddingsFile), ts, map[string]string{"model": "T5 v1.1 XXL embeddings for DeepFloyd IF"})
}
