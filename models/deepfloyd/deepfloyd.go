// Package deepfloyd describes DeepFloyd IF stages I and II as difflab model
// directories: their model.json (StageI, StageII), the prompt embeddings
// file, and the export script (export.py, see README.md) that turns the
// diffusers weights into such a directory for users who have them.
//
// # The model directories
//
// Stage I (export.py --stage 1):
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
// Stage II, the 64 -> 256 upscaler (export.py --stage 2, into its own
// directory), is a super-resolution model (modelfile.LowRes):
//
//	model.json                 StageII's description
//	model.onnx                 the stage II UNet: sample (B, 6, 256, 256) float32, the noisy
//	                           256 x 256 image then the stage I image upscaled and noised to
//	                           the noise level; timestep (B) int64; encoder_hidden_states
//	                           (B, 77, 4096) float32; class_labels (B) int64, the noise level
//	                           -> noise_pred (B, 6, 256, 256)
//	prompt_embeds.safetensors  as stage I's
//
// Both use the squaredcos_cap_v2 schedule over 1000 steps.
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

//go:embed stage_ii.model.json
var stageIIJSON []byte

// EmbeddingsFile is the prompt embeddings file of the model directory.
const EmbeddingsFile = "prompt_embeds.safetensors"

// EmbeddingShape is the shape of one prompt's T5 embedding.
var EmbeddingShape = []int{77, 4096}

// StageI returns the description of DeepFloyd IF stage I (the file
// stage_i.model.json, which the export script copies).
func StageI() (*modelfile.Description, error) { return parse("stage_i.model.json", stageIJSON) }

// StageII returns the description of DeepFloyd IF stage II, the 64 -> 256
// upscaler (the file stage_ii.model.json, which the export script copies).
func StageII() (*modelfile.Description, error) { return parse("stage_ii.model.json", stageIIJSON) }

// parse reads and validates a shipped description.
func parse(name string, b []byte) (*modelfile.Description, error) {
	var d modelfile.Description
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("deepfloyd: %s: %w", name, err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("deepfloyd: %s: %w", name, err)
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

// WriteStageII writes StageII's model.json into dir, for an ONNX file
// exported by other means.
func WriteStageII(dir string) error {
	d, err := StageII()
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
