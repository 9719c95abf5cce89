package diffusion

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/modelfile/modelfiletest"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/stages"
	"difflab/stages/artifact"
)

// unetModelDir writes a class-conditioned epsilon UNet with random weights
// (hidden width 4) and a two-prompt table, as a training output with one
// epoch, and returns the output directory.
func unetModelDir(t *testing.T) string {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	spec := modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	d, err := onnxexport.UNetDescription(spec, modelfile.PredictsEpsilon)
	if err != nil {
		t.Fatal(err)
	}
	d.Prompts = []modelfile.Prompt{{Prompt: "a photo of a bag", Class: 8}, {Prompt: "a photo of a sneaker", Class: 7}}
	d.Schedule = &modelfile.Schedule{Name: "squaredcos_cap_v2", Steps: 1000}
	out := t.TempDir()
	if err := onnxexport.WriteUNetDir(filepath.Join(out, modelfile.EpochDir(1)), d, onnxexport.RandomWeights(spec, 1)); err != nil {
		t.Fatal(err)
	}
	if err := modelfile.WriteIndex(out, []int{1}); err != nil {
		t.Fatal(err)
	}
	return out
}

// runKind runs kind with the given inputs and parameters and returns its outputs.
func runKind(t *testing.T, kind string, in map[string]artifact.Artifact, with map[string]any) map[string]artifact.Artifact {
	t.Helper()
	ctx := newContext(t, kind, with)
	ctx.Workdir = t.TempDir()
	ctx.In = map[string][]stages.Input{}
	for name, a := range in {
		ctx.In[name] = []stages.Input{{Artifact: a, Stage: "input_" + name}}
	}
	if err := ctx.Kind.Run(ctx); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	for _, p := range ctx.Kind.Outputs {
		if ctx.Outputs()[p.Name] == nil {
			t.Fatalf("%s: no output %s", kind, p.Name)
		}
	}
	return ctx.Outputs()
}

func TestKindsRunThroughONNXRuntime(t *testing.T) {
	model := &artifact.Model{Dir: unetModelDir(t)}
	img := artifact.NewImages(2, 1, 28, 28, 0, 1)
	for i := range img.Data {
		img.Data[i] = float32(i%28) / 28
	}
	steps := map[string]any{"stride": 250} // 750, 500, 250, 0: keeps the test short
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range steps {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	out := runKind(t, "sample", map[string]artifact.Artifact{"model": model},
		with(map[string]any{"prompts": []string{"a photo of a bag", ""}, "n": 2, "cfg": 7.0}))
	if s := out["samples"].(*artifact.Images); s.N() != 4 || s.Lo != -1 {
		t.Errorf("sample: %v in [%v, %v]", s.Shape, s.Lo, s.Hi)
	}
	if l := out["labels"].(artifact.Labels); l[0] != 8 || l[3] != -1 {
		t.Errorf("sample labels %v, want 8 8 -1 -1", l)
	}
	out = runKind(t, "sdedit", map[string]artifact.Artifact{"model": model, "images": img},
		with(map[string]any{"prompt": "a photo of a sneaker", "i_start": 1}))
	if l := out["labels"].(artifact.Labels); len(l) != 2 || l[1] != 7 {
		t.Errorf("sdedit labels %v", l)
	}
	out = runKind(t, "denoise.iterative", map[string]artifact.Artifact{"model": model, "images": img},
		with(map[string]any{"i_start": 0, "every": 1}))
	if m := out["intermediate"].(*artifact.Images); m.N() != 8 {
		t.Errorf("intermediate: %d images, want 4 steps x 2", m.N())
	}
	runKind(t, "denoise.onestep", map[string]artifact.Artifact{"model": model, "images": img}, map[string]any{"t": 500})
	runKind(t, "inpaint", map[string]artifact.Artifact{"model": model, "images": img},
		with(map[string]any{"rect": []int{0, 0, 28, 10}}))
	out = runKind(t, "anagram", map[string]artifact.Artifact{"model": model},
		with(map[string]any{"prompts": []string{"a photo of a bag", "a photo of a sneaker"}, "views": []string{"skew"}}))
	if l := out["view_labels"].(artifact.Labels); len(l) != 1 || l[0] != 7 {
		t.Errorf("anagram view labels %v", l)
	}
	runKind(t, "hybrid", map[string]artifact.Artifact{"model": model},
		with(map[string]any{"low_prompt": "a photo of a bag", "high_prompt": "a photo of a sneaker"}))
	out = runKind(t, "upscale", map[string]artifact.Artifact{"images": img}, map[string]any{"factor": 2})
	if u := out["images"].(*artifact.Images); u.H() != 56 || u.Lo != 0 {
		t.Errorf("upscale: %v in [%v, %v]", u.Shape, u.Lo, u.Hi)
	}

	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"a photo of a cat"}})
	ctx.In = map[string][]stages.Input{"model": {{Artifact: model}}}
	if err := ctx.Kind.Run(ctx); err == nil {
		t.Error("unknown prompt accepted")
	}
}

func TestModelLoad(t *testing.T) {
	dir := filepath.Join(unetModelDir(t), modelfile.EpochDir(1))
	out := runKind(t, "model.load", nil, map[string]any{"path": filepath.Join(dir, modelfile.FileName)})
	if m := out["model"].(*artifact.Model); m.Dir != dir {
		t.Errorf("model.load: %s, want %s", m.Dir, dir)
	}
	k, _ := stages.Lookup("model.load")
	files, err := k.Files(stages.Params{"path": filepath.Join(dir, modelfile.FileName)})
	if err != nil || len(files) != 3 {
		t.Errorf("model.load files %v, %v: want model.json, model.onnx and weights.safetensors", files, err)
	}
	// An export may link to files kept elsewhere: those count too.
	linked := t.TempDir()
	for _, f := range files {
		if err := os.Symlink(f, filepath.Join(linked, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := k.Files(stages.Params{"path": filepath.Join(linked, modelfile.FileName)}); err != nil || len(got) != 3 {
		t.Errorf("model.load files of a directory of links: %v, %v", got, err)
	}
	bad := filepath.Join(t.TempDir(), "weights.json")
	if err := os.WriteFile(bad, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := k.Check(stages.Params{"path": bad}); err == nil || !strings.Contains(err.Error(), "is not a model.json file") {
		t.Errorf("model.load accepted a file that is not model.json: %v", err)
	}
	// A model.json the graph contradicts is an error before the run,
	// naming both files.
	d, err := modelfile.Read(linked)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(linked, modelfile.FileName))
	d.Image.Height *= 2
	if err := modelfile.Write(linked, d); err != nil {
		t.Fatal(err)
	}
	err = k.Check(stages.Params{"path": filepath.Join(linked, modelfile.FileName)})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(linked, "model.onnx")+" does not match "+filepath.Join(linked, modelfile.FileName)) {
		t.Errorf("model.load check of a model.json its graph contradicts: %v", err)
	}
}

func TestInterruptedSamplingStopsAtOnce(t *testing.T) {
	model := &artifact.Model{Dir: unetModelDir(t)}
	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"a photo of a bag"}, "n": 2, "stride": 1})
	cctx, cancel := context.WithCancel(context.Background())
	ctx.Context = cctx
	ctx.Workdir = t.TempDir()
	ctx.In = map[string][]stages.Input{"model": {{Artifact: model, Stage: "train"}}}
	steps := 0
	ctx.Progress = func(done, total int, _ string) {
		if steps = done; done == 3 {
			cancel() // a SIGTERM three steps into 1000
		}
	}
	if err := ctx.Kind.Run(ctx); !errors.Is(err, context.Canceled) || steps != 3 {
		t.Fatalf("an interrupted sampling loop ended with %v after %d steps, want context.Canceled after 3", err, steps)
	}
}

func TestX0Treatment(t *testing.T) {
	model := &artifact.Model{Dir: unetModelDir(t)}
	samples := func(x0 string) []float32 {
		out := runKind(t, "sample", map[string]artifact.Artifact{"model": model},
			map[string]any{"prompts": []string{"a photo of a bag"}, "n": 2, "stride": 250, "x0": x0})
		return out["samples"].(*artifact.Images).Data
	}
	none, clip, dynamic := samples("none"), samples("clip"), samples("dynamic")
	differ := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return true
			}
		}
		return false
	}
	// The random model's x0 estimates at t = 750 lie far outside [-1, 1].
	if !differ(none, clip) || !differ(none, dynamic) || !differ(clip, dynamic) {
		t.Error("parameter x0 does not change the samples")
	}
	if same := samples("none"); differ(none, same) {
		t.Error("sampling is not deterministic")
	}
}

// superResModelDir writes a super-resolution model of 1 x 8 x 8 images
// conditioned on 1 x 4 x 4 ones with a two-prompt table: its graph's
// prediction is a 1x1 convolution of the sample and the upscaled image, plus
// the class vector's weight and the noise level / 1000.
func superResModelDir(t *testing.T) string {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	g := onnxexport.NewGraph("super_resolution")
	x := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 2, 8, 8)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	c := g.Input("class", onnxexport.Float32, onnxexport.Batch, 2)
	level := g.Input("class_labels", onnxexport.Int64, onnxexport.Batch)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	y := g.Node("Conv", []string{x, g.Const("w", []int{1, 2, 1, 1}, []float32{0.3, -0.2})}, onnxexport.Ints("kernel_shape", 1, 1))
	y = g.Node("Add", []string{y, g.Node("Reshape", []string{g.Node("MatMul", []string{c, g.Const("v", []int{2, 1}, []float32{0.1, -0.1})}), shape4})})
	s := g.Node("Mul", []string{g.Node("Cast", []string{level}, onnxexport.Int("to", 1)), g.Const("k", []int{1}, []float32{0.001})})
	y = g.Node("Add", []string{y, g.Node("Reshape", []string{s, shape4})})
	tf := g.Node("Mul", []string{g.Node("Cast", []string{ts}, onnxexport.Int("to", 1)), g.Const("k2", []int{1}, []float32{0.0001})})
	g.NodeTo("out_sample", "Add", []string{y, g.Node("Reshape", []string{tf, shape4})})
	g.Output("out_sample", onnxexport.Float32, onnxexport.Batch, 1, 8, 8)
	dir := t.TempDir()
	d := &modelfile.Description{
		Format: modelfile.Format, ONNX: "model.onnx", Predicts: modelfile.PredictsEpsilon,
		Inputs:    modelfile.Inputs{Sample: "sample", Timestep: "timestep", Condition: "class", NoiseLevel: "class_labels"},
		Timestep:  modelfile.Timestep{DType: "int64", Scale: 1, Shape: "b"},
		Output:    modelfile.Output{Name: "noise_pred", Channels: 1, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: 1, Height: 8, Width: 8, Range: [2]float64{-1, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: 2},
		Prompts:   []modelfile.Prompt{{Prompt: "a photo of a bag", Class: 0}, {Prompt: "a photo of a sneaker", Class: 1}},
		Schedule:  &modelfile.Schedule{Name: "squaredcos_cap_v2", Steps: 1000},
		LowRes:    &modelfile.LowRes{Channels: 1, Height: 4, Width: 4},
	}
	modelfiletest.WriteDir(t, dir, g, d)
	return dir
}

// TestUpscaleRunsASuperResolutionModel runs kind upscale with a
// super-resolution model through ONNX Runtime: its output has the model's
// size and the input's value range and depends on the prompt and the noise
// level; the other kinds refuse the model.
func TestUpscaleRunsASuperResolutionModel(t *testing.T) {
	model := &artifact.Model{Dir: superResModelDir(t)}
	img := artifact.NewImages(2, 1, 4, 4, 0, 1)
	for i := range img.Data {
		img.Data[i] = float32(i%5) / 5
	}
	run := func(with map[string]any) *artifact.Images {
		t.Helper()
		base := map[string]any{"factor": 2, "stride": 250, "prompt": "a photo of a bag", "seed": 4}
		for k, v := range with {
			base[k] = v
		}
		return runKind(t, "upscale", map[string]artifact.Artifact{"images": img, "model": model}, base)["images"].(*artifact.Images)
	}
	a := run(nil)
	if a.N() != 2 || a.C() != 1 || a.H() != 8 || a.W() != 8 || a.Lo != 0 || a.Hi != 1 {
		t.Fatalf("upscaled %v in [%v, %v]", a.Shape, a.Lo, a.Hi)
	}
	same := func(x, y *artifact.Images) bool { return slices.Equal(x.Data, y.Data) }
	if !same(a, run(nil)) {
		t.Error("super-resolution is not deterministic")
	}
	if same(a, run(map[string]any{"prompt": "a photo of a sneaker"})) || same(a, run(map[string]any{"noise_level": 600})) {
		t.Error("the prompt or the noise level does not reach the model")
	}
	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"a photo of a bag"}, "stride": 250})
	ctx.Workdir = t.TempDir()
	ctx.In = map[string][]stages.Input{"model": {{Artifact: model, Stage: "stage_ii"}}}
	if err := ctx.Kind.Run(ctx); err == nil || !strings.Contains(err.Error(), "is a super-resolution model") {
		t.Errorf("sample with a super-resolution model: %v", err)
	}
}
