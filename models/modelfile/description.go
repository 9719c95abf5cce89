// Package modelfile defines the model directory difflab exchanges between
// stages (model.json, model.onnx, weights.safetensors) and runs such a model
// through ONNX Runtime.
//
// # Overview
//
// A model directory holds model.json (a Description), the ONNX graph it names
// and optionally weights.safetensors. A training stage's output holds one
// model directory per saved epoch (epoch_001/, epoch_002/, ...) and a
// top-level model.json that is an Index of them; Resolve picks one epoch.
//
// Open reads a model directory; Model.Predict runs a batch through the ONNX
// graph. Sessions are created lazily and cached process-wide by the SHA-256 of
// the ONNX file and of its external data files (package ort), so every stage
// using one model shares one session. Files lists the files a model reads.
//
// # Invariants
//
//   - A Description that passed Validate names inputs and sizes consistently:
//     Predict checks every batch against it and never feeds the graph a
//     tensor of another shape.
//   - The condition for the empty prompt "" is the unconditional one: zeros
//     for onehot models, the stored embedding of "" for embedding models.
package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"difflab/models/ort"
)

// Format is the value of the "format" field of every model.json.
const Format = "difflab-model v1"

// FileName is the description file's name inside a model directory.
const FileName = "model.json"

// What a model predicts.
const (
	PredictsEpsilon  = "epsilon"  // DDPM noise
	PredictsVelocity = "velocity" // flow-matching velocity u
	PredictsX0       = "x0"       // a direct denoiser's clean image
)

// Condition kinds.
const (
	ConditionNone      = "none"      // no condition input
	ConditionOnehot    = "onehot"    // a class vector; prompts map to classes
	ConditionEmbedding = "embedding" // prompt embeddings from a safetensors file
)

// Output variance kinds.
const (
	VarianceNone         = "none"          // the output is the prediction only
	VarianceLearnedRange = "learned_range" // Channels more channels follow: v in [-1, 1]
)

// Description is the content of a model directory's model.json.
type Description struct {
	Format    string    `json:"format"`
	ONNX      string    `json:"onnx"`
	Predicts  string    `json:"predicts"`
	Inputs    Inputs    `json:"inputs"`
	Timestep  Timestep  `json:"timestep"`
	Output    Output    `json:"output"`
	Image     Image     `json:"image"`
	Condition Condition `json:"condition"`
	// Prompts is the prompt table of onehot models: each prompt selects a class.
	Prompts []Prompt `json:"prompts,omitempty"`
	// Schedule is the noise schedule of DDPM models.
	Schedule *Schedule `json:"schedule,omitempty"`
	// LowRes describes the low-resolution image a super-resolution model is
	// conditioned on; nil for other models.
	LowRes *LowRes `json:"low_res,omitempty"`
	// UNet describes the architecture of difflab's own UNets.
	UNet *UNet `json:"unet,omitempty"`
	// Trained records how a trained model was made.
	Trained *Trained `json:"trained,omitempty"`
}

// Inputs names the ONNX graph's inputs. Timestep and Condition may be empty
// when the model has no such input; NoiseLevel names the noise-level input
// of a super-resolution model (see LowRes) and is empty for other models.
type Inputs struct {
	Sample     string `json:"sample"`
	Timestep   string `json:"timestep"`
	Condition  string `json:"condition"`
	NoiseLevel string `json:"noise_level,omitempty"`
}

// Timestep says how a timestep t is fed: the value is t*Scale, of element
// type DType ("float32" or "int64", rounded), in shape "b1" (B, 1) or "b" (B).
type Timestep struct {
	DType string  `json:"dtype"`
	Scale float64 `json:"scale"`
	Shape string  `json:"shape"`
}

// Output describes the graph output holding the prediction (see Bind):
// Channels prediction channels, followed by Channels variance channels when
// Variance is "learned_range".
type Output struct {
	Name     string `json:"name"`
	Channels int    `json:"channels"`
	Variance string `json:"variance"`
}

// Image is the sample's shape and value range.
type Image struct {
	Channels int        `json:"channels"`
	Height   int        `json:"height"`
	Width    int        `json:"width"`
	Range    [2]float64 `json:"range"`
}

// LowRes describes the conditioning of a super-resolution model such as
// DeepFloyd IF stage II. The model upscales Channels x Height x Width images
// to the model's image size. Its sample input holds, per image, the noisy
// sample (image.channels) followed by the low-resolution image upscaled to
// the image size and noised to a noise level s, sqrt(abar_s) x +
// sqrt(1 - abar_s) eps under the model's schedule (Channels channels); its
// noise-level input (inputs.noise_level) is s, int64 of shape (B).
type LowRes struct {
	Channels int `json:"channels"`
	Height   int `json:"height"`
	Width    int `json:"width"`
}

// Condition describes the condition input.
type Condition struct {
	Kind string `json:"kind"`
	// Size is the class-vector length of onehot models.
	Size int `json:"size,omitempty"`
	// Embeddings names the safetensors file (relative to the model directory)
	// holding one embedding per prompt, keyed by the prompt text.
	Embeddings string `json:"embeddings,omitempty"`
	// EmbeddingShape is the shape of one prompt's embedding, such as [77, 4096].
	EmbeddingShape []int `json:"embedding_shape,omitempty"`
}

// Prompt maps a prompt to a class of a onehot model.
type Prompt struct {
	Prompt string `json:"prompt"`
	Class  int    `json:"class"`
}

// Schedule is a DDPM noise schedule: a named one of Steps steps, or explicit
// alphas_cumprod.
type Schedule struct {
	Name          string    `json:"name,omitempty"`
	Steps         int       `json:"steps,omitempty"`
	AlphasCumprod []float64 `json:"alphas_cumprod,omitempty"`
}

// UNet describes one of difflab's UNets. Cond is "none", "time" or
// "time_class" (the values of unet.Conditioning).
type UNet struct {
	Cond     string `json:"cond"`
	Hidden   int    `json:"hidden"`
	Channels int    `json:"channels"`
	Classes  int    `json:"classes,omitempty"`
	Size     int    `json:"size"`
}

// Trained records the training stage, epoch and final loss of a model.
type Trained struct {
	Kind  string  `json:"kind"`
	Epoch int     `json:"epoch"`
	Loss  float64 `json:"loss"`
}

// Known schedule names.
var scheduleNames = []string{"squaredcos_cap_v2", "linear"}

// Validate checks the description. Errors name the field and the allowed
// values.
func (d *Description) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("field %q: %s", field, fmt.Sprintf(format, args...)))
	}
	if d.Format != Format {
		bad("format", "is %q, want %q", d.Format, Format)
	}
	if d.ONNX == "" {
		bad("onnx", "is empty; name the ONNX file, such as \"model.onnx\"")
	} else if !localPath(d.ONNX) {
		bad("onnx", "%q must be a file name inside the model directory", d.ONNX)
	}
	if !oneOf(d.Predicts, PredictsEpsilon, PredictsVelocity, PredictsX0) {
		bad("predicts", "is %q, want epsilon, velocity or x0", d.Predicts)
	}
	if d.Inputs.Sample == "" {
		bad("inputs.sample", "is empty; name the graph's image input")
	}
	if d.Inputs.Timestep != "" {
		if !oneOf(d.Timestep.DType, "float32", "int64") {
			bad("timestep.dtype", "is %q, want float32 or int64", d.Timestep.DType)
		}
		if !(d.Timestep.Scale > 0) {
			bad("timestep.scale", "is %g, want a positive number (1 feeds t unchanged)", d.Timestep.Scale)
		}
		if !oneOf(d.Timestep.Shape, "b1", "b") {
			bad("timestep.shape", "is %q, want b1 (B x 1) or b (B)", d.Timestep.Shape)
		}
	}
	if d.Output.Name == "" {
		bad("output.name", "is empty; name the graph's output")
	}
	if d.Output.Channels < 1 {
		bad("output.channels", "is %d, want at least 1", d.Output.Channels)
	}
	if !oneOf(d.Output.Variance, VarianceNone, VarianceLearnedRange) {
		bad("output.variance", "is %q, want none or learned_range", d.Output.Variance)
	}
	if d.Image.Channels < 1 || d.Image.Height < 1 || d.Image.Width < 1 {
		bad("image", "channels, height and width must be positive, got %d, %d, %d", d.Image.Channels, d.Image.Height, d.Image.Width)
	}
	if !(d.Image.Range[0] < d.Image.Range[1]) {
		bad("image.range", "%v is not an interval [lo, hi] with lo < hi", d.Image.Range)
	}
	switch d.Condition.Kind {
	case ConditionNone:
		if d.Inputs.Condition != "" {
			bad("inputs.condition", "is %q but condition.kind is none", d.Inputs.Condition)
		}
		if len(d.Prompts) > 0 {
			bad("prompts", "a model without a condition has no prompt table")
		}
	case ConditionOnehot:
		if d.Inputs.Condition == "" {
			bad("inputs.condition", "is empty; a onehot model needs a condition input")
		}
		if d.Condition.Size < 1 {
			bad("condition.size", "is %d, want the class-vector length", d.Condition.Size)
		}
		seen := map[string]bool{}
		for i, p := range d.Prompts {
			if p.Class < 0 || p.Class >= d.Condition.Size {
				bad(fmt.Sprintf("prompts[%d].class", i), "is %d, want 0..%d", p.Class, d.Condition.Size-1)
			}
			if p.Prompt == "" {
				bad(fmt.Sprintf("prompts[%d].prompt", i), "is empty; \"\" is always the unconditional prompt")
			}
			if seen[p.Prompt] {
				bad(fmt.Sprintf("prompts[%d].prompt", i), "%q is listed twice", p.Prompt)
			}
			seen[p.Prompt] = true
		}
	case ConditionEmbedding:
		if d.Inputs.Condition == "" {
			bad("inputs.condition", "is empty; an embedding model needs a condition input")
		}
		if d.Condition.Embeddings == "" || !localPath(d.Condition.Embeddings) {
			bad("condition.embeddings", "%q must name a safetensors file inside the model directory", d.Condition.Embeddings)
		}
		if len(d.Condition.EmbeddingShape) == 0 {
			bad("condition.embedding_shape", "is empty; give one prompt's embedding shape, such as [77, 4096]")
		}
		for _, n := range d.Condition.EmbeddingShape {
			if n < 1 {
				bad("condition.embedding_shape", "%v has a non-positive dimension", d.Condition.EmbeddingShape)
				break
			}
		}
	default:
		bad("condition.kind", "is %q, want none, onehot or embedding", d.Condition.Kind)
	}
	if lr := d.LowRes; lr != nil {
		if lr.Channels < 1 || lr.Height < 1 || lr.Width < 1 {
			bad("low_res", "channels, height and width must be positive, got %d, %d, %d", lr.Channels, lr.Height, lr.Width)
		} else if d.Image.Height%lr.Height != 0 || d.Image.Width%lr.Width != 0 || d.Image.Height/lr.Height != d.Image.Width/lr.Width {
			bad("low_res", "%d x %d does not scale to image's %d x %d by one integer factor", lr.Height, lr.Width, d.Image.Height, d.Image.Width)
		}
		if d.Inputs.NoiseLevel == "" {
			bad("inputs.noise_level", "is empty; a super-resolution model (low_res) needs the graph's noise-level input, such as \"class_labels\"")
		}
		if d.Schedule == nil {
			bad("schedule", "is missing; a super-resolution model (low_res) noises the upscaled image with it")
		}
	} else if d.Inputs.NoiseLevel != "" {
		bad("inputs.noise_level", "is %q but low_res is missing; only a super-resolution model has a noise-level input", d.Inputs.NoiseLevel)
	}
	if s := d.Schedule; s != nil {
		switch {
		case len(s.AlphasCumprod) > 0:
			for i, a := range s.AlphasCumprod {
				if !(a > 0 && a <= 1) {
					bad("schedule.alphas_cumprod", "entry %d is %g, want a value in (0, 1]", i, a)
					break
				}
			}
		case oneOf(s.Name, scheduleNames...):
			if s.Steps < 1 {
				bad("schedule.steps", "is %d, want the number of diffusion steps (such as 1000)", s.Steps)
			}
		default:
			bad("schedule.name", "is %q, want one of %v or alphas_cumprod", s.Name, scheduleNames)
		}
	}
	if u := d.UNet; u != nil {
		if !oneOf(u.Cond, "none", "time", "time_class") {
			bad("unet.cond", "is %q, want none, time or time_class", u.Cond)
		}
		if u.Hidden < 1 || u.Channels < 1 || u.Size < 4 || u.Size%4 != 0 {
			bad("unet", "hidden %d, channels %d, size %d: want positive sizes and a size that is a multiple of 4", u.Hidden, u.Channels, u.Size)
		}
		if u.Cond == "time_class" && u.Classes < 1 {
			bad("unet.classes", "is %d, want the number of classes", u.Classes)
		}
	}
	return errors.Join(errs...)
}

// Read reads and validates the model.json of the model directory dir.
func Read(dir string) (*Description, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	var peek struct {
		Epochs []int `json:"epochs"`
	}
	if json.Unmarshal(b, &peek) == nil && peek.Epochs != nil {
		return nil, fmt.Errorf("modelfile: %s lists epochs %v: it is a training output, not one model; pick an epoch (parameter epoch, 0 = the last)", path, peek.Epochs)
	}
	var d Description
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return &d, nil
}

// Write validates d and writes it as dir/model.json.
func Write(dir string, d *Description) error {
	path := filepath.Join(dir, FileName)
	if err := d.Validate(); err != nil {
		return fmt.Errorf("modelfile: writing %s: %w", path, err)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("modelfile: writing %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Files returns the files of the model directory dir that the model d
// describes reads, as absolute paths, sorted: model.json, the ONNX graph, every file holding
// external data of the graph's tensors (ort.ModelFiles), and the prompt
// embeddings of embedding models. The error names a missing one.
func (d *Description) Files(dir string) ([]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	files := []string{filepath.Join(dir, FileName)}
	graph, err := ort.ModelFiles(filepath.Join(dir, d.ONNX))
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	files = append(files, graph...)
	if d.Condition.Kind == ConditionEmbedding {
		p := filepath.Join(dir, d.Condition.Embeddings)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("modelfile: field \"condition.embeddings\": %w", err)
		}
		files = append(files, p)
	}
	slices.Sort(files)
	return files, nil
}

// localPath reports whether p names a file inside a directory (relative, no "..").
func localPath(p string) bool {
	return filepath.IsLocal(p)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}
