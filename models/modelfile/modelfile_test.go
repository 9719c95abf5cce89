package modelfile_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/modelfile/modelfiletest"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/ort/orttest"
	"difflab/models/safetensors"
	"difflab/models/tensor"
)

func validDesc() *modelfile.Description {
	return &modelfile.Description{
		Format:    modelfile.Format,
		ONNX:      "model.onnx",
		Predicts:  modelfile.PredictsVelocity,
		Inputs:    modelfile.Inputs{Sample: "x", Timestep: "t", Condition: "c"},
		Timestep:  modelfile.Timestep{DType: "float32", Scale: 1, Shape: "b1"},
		Output:    modelfile.Output{Name: "u", Channels: 1, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: 1, Height: 4, Width: 3, Range: [2]float64{0, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: 3},
		Prompts:   []modelfile.Prompt{{Prompt: "zero", Class: 0}, {Prompt: "two", Class: 2}},
		UNet:      &modelfile.UNet{Cond: "time_class", Hidden: 8, Channels: 1, Classes: 3, Size: 4},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := validDesc()
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
	got, err := modelfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Prompts[1].Prompt != "two" || got.Timestep.Shape != "b1" || got.UNet.Classes != 3 || got.Image.Width != 3 {
		t.Fatalf("round trip changed the description: %+v", got)
	}
}

func TestValidateNamesFields(t *testing.T) {
	cases := []struct {
		edit func(*modelfile.Description)
		want string
	}{
		{func(d *modelfile.Description) { d.Format = "v0" }, `field "format"`},
		{func(d *modelfile.Description) { d.ONNX = "../x.onnx" }, `field "onnx"`},
		{func(d *modelfile.Description) { d.Predicts = "noise" }, `field "predicts": is "noise", want epsilon, velocity or x0`},
		{func(d *modelfile.Description) { d.Timestep.DType = "int32" }, `field "timestep.dtype"`},
		{func(d *modelfile.Description) { d.Timestep.Shape = "1b" }, `field "timestep.shape"`},
		{func(d *modelfile.Description) { d.Output.Variance = "learned" }, `field "output.variance"`},
		{func(d *modelfile.Description) { d.Image.Range = [2]float64{1, 0} }, `field "image.range"`},
		{func(d *modelfile.Description) { d.Prompts[1].Class = 3 }, `field "prompts[1].class": is 3, want 0..2`},
		{func(d *modelfile.Description) { d.Prompts[1].Prompt = "zero" }, `listed twice`},
		{func(d *modelfile.Description) { d.Condition.Kind = "text" }, `field "condition.kind"`},
		{func(d *modelfile.Description) { d.Condition = modelfile.Condition{Kind: "embedding"} }, `field "condition.embeddings"`},
		{func(d *modelfile.Description) { d.Schedule = &modelfile.Schedule{Name: "cosine"} }, `field "schedule.name"`},
		{func(d *modelfile.Description) { d.UNet.Cond = "class" }, `field "unet.cond"`},
		{func(d *modelfile.Description) { d.Inputs.NoiseLevel = "class_labels" }, `field "inputs.noise_level": is "class_labels" but low_res is missing`},
		{func(d *modelfile.Description) { d.LowRes = &modelfile.LowRes{Channels: 1, Height: 2, Width: 1} }, `field "inputs.noise_level": is empty`},
		{func(d *modelfile.Description) { d.LowRes = &modelfile.LowRes{Channels: 1, Height: 2, Width: 1} }, `field "schedule": is missing`},
		{func(d *modelfile.Description) { d.LowRes = &modelfile.LowRes{Channels: 1, Height: 2, Width: 3} }, `field "low_res": 2 x 3 does not scale to image's 4 x 3`},
	}
	for _, c := range cases {
		d := validDesc()
		c.edit(d)
		err := d.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error containing %q, got %v", c.want, err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "model.json"), []byte(`{"format":"difflab-model v1","onnx":"m.onnx","predicts":"x0","inputs":{"sample":"x"},"colour":1}`), 0o644)
	if _, err := modelfile.Read(dir); err == nil || !strings.Contains(err.Error(), "colour") || !strings.Contains(err.Error(), dir) {
		t.Errorf("unknown field: got %v", err)
	}
}

func TestResolveEpochs(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []int{1, 5, 10} {
		d := validDesc()
		d.Trained = &modelfile.Trained{Kind: "train.flow", Epoch: e, Loss: 0.1}
		if err := modelfile.Write(filepath.Join(dir, modelfile.EpochDir(e)), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := modelfile.WriteIndex(dir, []int{10, 1, 5}); err != nil {
		t.Fatal(err)
	}
	for epoch, want := range map[int]string{0: "epoch_010", 1: "epoch_001", 5: "epoch_005"} {
		got, err := modelfile.Resolve(dir, epoch)
		if err != nil || got != filepath.Join(dir, want) {
			t.Errorf("Resolve(%d) = %q, %v; want %s", epoch, got, err, want)
		}
	}
	if _, err := modelfile.Resolve(dir, 3); err == nil || !strings.Contains(err.Error(), "saved epochs: [1 5 10]") {
		t.Errorf("Resolve(3): %v", err)
	}
	if _, err := modelfile.Read(dir); err == nil || !strings.Contains(err.Error(), "training output") {
		t.Errorf("Read of an index: %v", err)
	}
	single := filepath.Join(dir, "epoch_005")
	if got, err := modelfile.Resolve(single, 0); err != nil || got != single {
		t.Errorf("Resolve(single, 0) = %q, %v", got, err)
	}
	if _, err := modelfile.Resolve(single, 4); err == nil {
		t.Error("Resolve(single, 4): no error")
	}
	if err := modelfile.WriteIndex(dir, []int{1, 2}); err == nil {
		t.Error("WriteIndex listed a missing epoch without error")
	}
}

// testModel writes a model directory whose graph computes
// out = a*x + t + <c, v> (v = 1, 2, 3, ...), followed, with variance, by the
// channels -x. With intT the timestep is an int64 vector (B).
func testModel(t *testing.T, d *modelfile.Description, a float32, variance, intT bool) *modelfile.Model {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	dir := t.TempDir()
	C, H, W := int64(d.Image.Channels), int64(d.Image.Height), int64(d.Image.Width)
	g := onnxexport.NewGraph("test")
	x := g.Input("x", onnxexport.Float32, onnxexport.Batch, C, H, W)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	var tt string
	if intT {
		tt = g.Node("Cast", []string{g.Input("t", onnxexport.Int64, onnxexport.Batch)}, onnxexport.Int("to", 1))
	} else {
		tt = g.Input("t", onnxexport.Float32, onnxexport.Batch, 1)
	}
	y := g.Node("Add", []string{g.Node("Mul", []string{x, g.Const("a", []int{1}, []float32{a})}), g.Node("Reshape", []string{tt, shape4})})
	if d.Inputs.Condition != "" {
		n := 1
		dims := []int64{onnxexport.Batch}
		if d.Condition.Kind == modelfile.ConditionEmbedding {
			for _, k := range d.Condition.EmbeddingShape {
				n *= k
				dims = append(dims, int64(k))
			}
		} else {
			n = d.Condition.Size
			dims = append(dims, int64(n))
		}
		c := g.Input("c", onnxexport.Float32, dims...)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i + 1)
		}
		flat := g.Node("Reshape", []string{c, g.ConstInt64("shape2", 0, -1)})
		dot := g.Node("MatMul", []string{flat, g.Const("v", []int{n, 1}, v)})
		y = g.Node("Add", []string{y, g.Node("Reshape", []string{dot, shape4})})
	}
	outC := C
	if variance {
		y = g.Node("Concat", []string{y, g.Node("Neg", []string{x})}, onnxexport.Int("axis", 1))
		outC *= 2
	}
	g.NodeTo("u", "Identity", []string{y})
	g.Output("u", onnxexport.Float32, onnxexport.Batch, outC, H, W)
	modelfiletest.WriteDir(t, dir, g, d)
	m, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func batch(n, c, h, w int) *tensor.Tensor {
	x := tensor.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(i%17) / 4
	}
	return x
}

func TestPredictOnehot(t *testing.T) {
	m := testModel(t, validDesc(), 2, false, false)
	m.MaxBatch = 2 // split 5 images into calls of 2, 2 and 1
	x := batch(5, 1, 4, 3)
	ts := []float64{0, 0.25, 0.5, 0.75, 1}
	prompts := []string{"zero", "two", "", "zero", "two"}
	p, err := m.PredictPrompts(x, ts, prompts)
	if err != nil {
		t.Fatal(err)
	}
	cdot := []float32{1, 3, 0, 1, 3}
	for i := range x.Data {
		n := i / 12
		want := 2*x.Data[i] + float32(ts[n]) + cdot[n]
		if math.Abs(float64(p.Out.Data[i]-want)) > 1e-6 {
			t.Fatalf("value %d: got %g, want %g", i, p.Out.Data[i], want)
		}
	}
	if p.Variance != nil {
		t.Error("a model without variance returned one")
	}
	if _, err := m.PredictPrompts(x, ts, []string{"zero", "one", "", "", ""}); err == nil || !strings.Contains(err.Error(), `unknown prompt "one"`) {
		t.Errorf("unknown prompt: %v", err)
	}
	m.Close()
	if _, err := m.PredictPrompts(x, ts, prompts); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Predict after Close: want an error saying the model was closed, got %v", err)
	}
	if _, err := m.Predict(batch(2, 1, 3, 4), ts[:2], nil); err == nil || !strings.Contains(err.Error(), "the model wants B x 1 x 4 x 3") {
		t.Errorf("wrong size: %v", err)
	}
	if _, err := m.Predict(batch(2, 2, 4, 3), ts[:2], nil); err == nil || !strings.Contains(err.Error(), "[2 2 4 3]") {
		t.Errorf("wrong channels: %v", err)
	}
	if _, err := m.Predict(x, ts[:2], nil); err == nil || !strings.Contains(err.Error(), "2 timesteps for a batch of 5") {
		t.Errorf("wrong timesteps: %v", err)
	}
	if _, err := m.Predict(x, ts, [][]float32{{1}, {1}, {1}, {1}, {1}}); err == nil || !strings.Contains(err.Error(), "a class vector of 3") {
		t.Errorf("wrong condition: %v", err)
	}
}

func TestPredictEmbeddingsIntTimestepAndVariance(t *testing.T) {
	d := validDesc()
	d.Predicts = modelfile.PredictsEpsilon
	d.Timestep = modelfile.Timestep{DType: "int64", Scale: 1, Shape: "b"}
	d.Output.Variance = modelfile.VarianceLearnedRange
	d.Image = modelfile.Image{Channels: 2, Height: 2, Width: 2, Range: [2]float64{-1, 1}}
	d.Output.Channels = 2
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionEmbedding, Embeddings: "prompts.safetensors", EmbeddingShape: []int{2, 3}}
	d.Prompts = nil
	d.UNet = nil
	m := testModel(t, d, 1, true, true)
	emb := map[string]*tensor.Tensor{
		modelfile.UnconditionalKey: {Shape: []int{1, 2, 3}, Data: make([]float32, 6)},
		"a photo of a dog":         {Shape: []int{1, 2, 3}, Data: []float32{1, 0, 0, 0, 0, 1}}, // <e, v> = 1 + 6
	}
	if err := safetensors.WriteFile(filepath.Join(m.Dir, "prompts.safetensors"), emb, nil); err != nil {
		t.Fatal(err)
	}
	x := batch(2, 2, 2, 2)
	p, err := m.PredictPrompts(x, []float64{990, 3.4}, []string{"a photo of a dog", ""})
	if err != nil {
		t.Fatal(err)
	}
	for i := range x.Data {
		n := i / 8
		want := x.Data[i] + []float32{990 + 7, 3}[n]
		if p.Out.Data[i] != want || p.Variance.Data[i] != -x.Data[i] {
			t.Fatalf("value %d: got %g and variance %g, want %g and %g", i, p.Out.Data[i], p.Variance.Data[i], want, -x.Data[i])
		}
	}
	if _, err := m.PredictPrompts(x, []float64{1, 1}, []string{"a cat", ""}); err == nil || !strings.Contains(err.Error(), "has no embedding") {
		t.Errorf("unknown prompt: %v", err)
	}
}

// TestSessionBindsNamesTheGraphDecides runs models whose model.json names
// differ from the graph's where the graph leaves no doubt, and reports a
// mismatch it cannot resolve, naming model.json and the fix.
func TestSessionBindsNamesTheGraphDecides(t *testing.T) {
	d := validDesc()
	want, err := testModel(t, d, 1, false, false).Predict(batch(1, 1, 4, 3), []float64{2}, [][]float32{{0, 1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	m := testModel(t, d, 1, false, false)
	m.Desc.Inputs.Condition = "cond" // the graph calls it "c"
	m.Desc.Output.Name = "pred"      // and its only output "u"
	got, err := m.Predict(batch(1, 1, 4, 3), []float64{2}, [][]float32{{0, 1, 0}})
	if err != nil || !slices.Equal(got.Out.Data, want.Out.Data) {
		t.Fatalf("renamed condition and output: %v, %v; want %v", got, err, want.Out.Data)
	}
	m = testModel(t, d, 1, false, false)
	m.Desc.Timestep.DType = "int64" // the graph's t is float32
	_, err = m.Predict(batch(1, 1, 4, 3), []float64{0}, [][]float32{{0, 0, 0}})
	if err == nil || !strings.Contains(err.Error(), `field "inputs.timestep" names graph input "t" float32 (?, 1)`) || !strings.Contains(err.Error(), filepath.Join(m.Dir, "model.json")) {
		t.Errorf("int64 timestep for a float32 input: %v", err)
	}
}

func TestPromptTable(t *testing.T) {
	dir := t.TempDir()
	d := validDesc()
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
	if got, err := modelfile.PromptTable(dir); err != nil || strings.Join(got, "|") != "|zero|two" {
		t.Errorf("onehot: %q, %v", got, err)
	}
	// Embedding models: the tensor names of the embeddings file, read from
	// its header.
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionEmbedding, Embeddings: "prompts.safetensors", EmbeddingShape: []int{2, 3}}
	d.Prompts, d.UNet = nil, nil
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
	emb := map[string]*tensor.Tensor{
		modelfile.UnconditionalKey: {Shape: []int{1, 2, 3}, Data: make([]float32, 6)},
		"a photo of a dog":         {Shape: []int{1, 2, 3}, Data: make([]float32, 6)},
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "prompts.safetensors"), emb, map[string]string{"note": "x"}); err != nil {
		t.Fatal(err)
	}
	if got, err := modelfile.PromptTable(dir); err != nil || strings.Join(got, "|") != "|a photo of a dog" {
		t.Errorf("embedding: %q, %v", got, err)
	}
	os.Truncate(filepath.Join(dir, "prompts.safetensors"), 20)
	if _, err := modelfile.PromptTable(dir); err == nil || !strings.Contains(err.Error(), "prompts.safetensors") {
		t.Errorf("truncated embeddings: %v", err)
	}
}

func TestFilesListsWhatTheModelReads(t *testing.T) {
	dir := t.TempDir()
	if _, err := orttest.WriteScale(dir, []float32{1, 2}, "weights/k.bin"); err != nil {
		t.Fatal(err)
	}
	d := validDesc()
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionEmbedding, Embeddings: "prompts.safetensors", EmbeddingShape: []int{2}}
	d.Prompts = nil
	if _, err := d.Files(dir); err == nil || !strings.Contains(err.Error(), "condition.embeddings") {
		t.Fatalf("missing embeddings: want an error naming the field, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "prompts.safetensors"), nil, 0o644)
	files, err := d.Files(dir)
	want := []string{"model.json", "model.onnx", "prompts.safetensors", "weights/k.bin"}
	for i := range want {
		want[i] = filepath.Join(dir, want[i])
	}
	if err != nil || !slices.Equal(files, want) {
		t.Fatalf("Files = %v, %v; want %v", files, err, want)
	}
}

// TestBindReadsTheContractFromTheGraph binds an embedding model's names to
// graphs that name things their own way.
func TestBindReadsTheContractFromTheGraph(t *testing.T) {
	d := validDesc()
	d.Inputs = modelfile.Inputs{Sample: "sample", Timestep: "timestep", Condition: "encoder_hidden_states"}
	d.Timestep = modelfile.Timestep{DType: "int64", Scale: 1, Shape: "b"}
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionEmbedding, Embeddings: "e.safetensors", EmbeddingShape: []int{2, 3}}
	d.Output.Name = "noise_pred"
	in := func(name string, dt ort.DType, shape ...int64) ort.Info {
		return ort.Info{Name: name, DType: dt, Shape: shape}
	}
	out := []ort.Info{in("out_sample", ort.Float32, -1, 1, 4, 3)}
	graph := []ort.Info{in("t", ort.Int64, -1), in("emb", ort.Float32, -1, 2, 3), in("x", ort.Float32, -1, 1, 4, 3)}
	b, err := modelfile.Bind("/m", d, graph, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (modelfile.Inputs{Sample: "x", Timestep: "t", Condition: "emb"}); b.Inputs != want || b.Output.Name != "out_sample" || d.Output.Name != "noise_pred" {
		t.Errorf("bound %+v, output %q (description's now %q)", b.Inputs, b.Output.Name, d.Output.Name)
	}
	for _, c := range []struct {
		inputs, outputs []ort.Info
		want            string
	}{
		{graph, append(out, in("extra", ort.Float32, -1, 1, 4, 3)),
			`several outputs: "out_sample" float32 (?, 1, 4, 3), "extra" float32 (?, 1, 4, 3) (fix: set output.name in /m/model.json to the output that holds the prediction, one of "out_sample", "extra")`},
		{[]ort.Info{in("a", ort.Float32), in("b", ort.Float32), graph[0]}, out, "several assignments of them fit"},
		{graph[:2], out, `inputs.condition "encoder_hidden_states": no such graph input (graph inputs: "t" int64 (?), "emb" float32 (?, 2, 3))`},
		{append(graph, in("mask", ort.Float32, -1, 1, 4, 3)), out, `the graph has 4 inputs, model.json names 3`},
		{graph, []ort.Info{in("y", ort.Float32, -1, 2, 4, 3)}, `graph output "y" float32 (?, 2, 4, 3) is not a float32 batch of shape (B, 1, 4, 3)`},
	} {
		if _, err := modelfile.Bind("/m", d, c.inputs, c.outputs); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/m/model.onnx does not match /m/model.json") {
			t.Errorf("inputs %v, outputs %v: %v; want %q", c.inputs, c.outputs, err, c.want)
		}
	}
}

// superResDesc describes a super-resolution model of 2-channel 4 x 4 images
// conditioned on 1-channel 2 x 2 ones, with an int64 timestep and a
// learned-range variance, like DeepFloyd IF stage II.
func superResDesc() *modelfile.Description {
	d := validDesc()
	d.Predicts = modelfile.PredictsEpsilon
	d.Inputs = modelfile.Inputs{Sample: "sample", Timestep: "timestep", NoiseLevel: "class_labels"}
	d.Timestep = modelfile.Timestep{DType: "int64", Scale: 1, Shape: "b"}
	d.Output = modelfile.Output{Name: "noise_pred", Channels: 2, Variance: modelfile.VarianceLearnedRange}
	d.Image = modelfile.Image{Channels: 2, Height: 4, Width: 4, Range: [2]float64{-1, 1}}
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionNone}
	d.Prompts, d.UNet = nil, nil
	d.Schedule = &modelfile.Schedule{Name: "squaredcos_cap_v2", Steps: 1000}
	d.LowRes = &modelfile.LowRes{Channels: 1, Height: 2, Width: 2}
	return d
}

// TestPredictUpscaled runs a super-resolution graph whose prediction is
// x_k + 10 up + level / 2 for sample channel k, with variance -x: the
// sample input must hold each image's own x and upscaled image, and the
// noise-level input each image's level.
func TestPredictUpscaled(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	d := superResDesc()
	dir := t.TempDir()
	g := onnxexport.NewGraph("super_resolution")
	in := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 3, 4, 4)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	level := g.Input("class_labels", onnxexport.Int64, onnxexport.Batch)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	// Channels 0 and 1 of the sample are x, channel 2 the upscaled image.
	y := g.Node("Conv", []string{in, g.Const("w", []int{2, 3, 1, 1}, []float32{1, 0, 10, 0, 1, 10})}, onnxexport.Ints("kernel_shape", 1, 1))
	half := g.Node("Mul", []string{g.Node("Cast", []string{level}, onnxexport.Int("to", 1)), g.Const("half", []int{1}, []float32{0.5})})
	y = g.Node("Add", []string{y, g.Node("Reshape", []string{half, shape4})})
	y = g.Node("Add", []string{y, g.Node("Reshape", []string{g.Node("Cast", []string{ts}, onnxexport.Int("to", 1)), shape4})})
	v := g.Node("Neg", []string{g.Node("Conv", []string{in, g.Const("w2", []int{2, 3, 1, 1}, []float32{1, 0, 0, 0, 1, 0})}, onnxexport.Ints("kernel_shape", 1, 1))})
	g.NodeTo("out_sample", "Concat", []string{y, v}, onnxexport.Int("axis", 1))
	g.Output("out_sample", onnxexport.Float32, onnxexport.Batch, 4, 4, 4)
	modelfiletest.WriteDir(t, dir, g, d)
	m, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.MaxBatch = 2 // 3 images: calls of 2 and 1
	x, up := batch(3, 2, 4, 4), tensor.New(3, 1, 4, 4)
	for i := range up.Data {
		up.Data[i] = float32(i) / 100
	}
	levels := []int{250, 0, 999}
	p, err := m.PredictUpscaled(x, []float64{7, 8, 9}, nil, up, levels)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x.Data {
		n, pix := i/32, i%16
		want := float64(x.Data[i]) + 10*float64(up.Data[n*16+pix]) + float64(levels[n])/2 + float64(7+n)
		if math.Abs(float64(p.Out.Data[i])-want) > 1e-4 || p.Variance.Data[i] != -x.Data[i] {
			t.Fatalf("value %d: got %g and variance %g, want %g and %g", i, p.Out.Data[i], p.Variance.Data[i], want, -x.Data[i])
		}
	}
	if _, err := m.Predict(x, []float64{1, 1, 1}, nil); err == nil || !strings.Contains(err.Error(), "is a super-resolution model") {
		t.Errorf("Predict of a super-resolution model: %v", err)
	}
	if _, err := m.PredictUpscaled(x, []float64{1, 1, 1}, nil, tensor.New(3, 1, 2, 2), levels); err == nil || !strings.Contains(err.Error(), "the model wants 3 x 1 x 4 x 4") {
		t.Errorf("low-resolution images not upscaled: %v", err)
	}
	if _, err := m.PredictUpscaled(x, []float64{1, 1, 1}, nil, up, levels[:1]); err == nil || !strings.Contains(err.Error(), "1 noise levels for a batch of 3") {
		t.Errorf("too few noise levels: %v", err)
	}
	plain := testModel(t, validDesc(), 1, false, false)
	if _, err := plain.PredictUpscaled(batch(1, 1, 4, 3), []float64{0}, [][]float32{{0, 0, 0}}, up, levels); err == nil || !strings.Contains(err.Error(), "not a super-resolution model") {
		t.Errorf("PredictUpscaled of a plain model: %v", err)
	}
}

// TestBindSuperResolution binds a super-resolution model's description to
// graphs: its noise level by name, and the errors when the description and
// the graph disagree about the extra input or the sample's channels.
func TestBindSuperResolution(t *testing.T) {
	in := func(name string, dt ort.DType, shape ...int64) ort.Info {
		return ort.Info{Name: name, DType: dt, Shape: shape}
	}
	graph := []ort.Info{in("sample", ort.Float32, -1, 3, 4, 4), in("timestep", ort.Int64, -1), in("class_labels", ort.Int64, -1)}
	out := []ort.Info{in("out_sample", ort.Float32, -1, 4, 4, 4)}
	d := superResDesc()
	b, err := modelfile.Bind("/m", d, graph, out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Inputs.NoiseLevel != "class_labels" || b.Output.Name != "out_sample" {
		t.Errorf("bound %+v, output %q", b.Inputs, b.Output.Name)
	}
	// Only the sample's name differs: the graph decides.
	renamed := append([]ort.Info{in("x", ort.Float32, -1, 3, 4, 4)}, graph[1:]...)
	if b, err := modelfile.Bind("/m", d, renamed, out); err != nil || b.Inputs.Sample != "x" {
		t.Errorf("renamed sample: %+v, %v", b, err)
	}
	wrongChannels := superResDesc()
	wrongChannels.LowRes.Channels = 2
	plain := superResDesc()
	plain.LowRes, plain.Inputs.NoiseLevel, plain.Schedule = nil, "", nil
	both := superResDesc()
	both.Inputs.NoiseLevel, both.Inputs.Timestep = "level", "t"
	for _, c := range []struct {
		d      *modelfile.Description
		inputs []ort.Info
		want   string
	}{
		{wrongChannels, graph, `field "inputs.sample" names graph input "sample" float32 (?, 3, 4, 4), but model.json describes a float32 batch (B, 4, 4, 4): image.channels 2 of noisy sample, then low_res.channels 2`},
		{plain, graph, `the graph has inputs ["class_labels"] that model.json does not name`},
		{plain, graph, `names its noise-level input in inputs.noise_level and describes the low-resolution image in low_res`},
		{d, graph[:2], `inputs.noise_level "class_labels": no such graph input`},
		{both, graph, "several assignments of them fit"},
	} {
		if _, err := modelfile.Bind("/m", c.d, c.inputs, out); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/m/model.onnx does not match /m/model.json") {
			t.Errorf("inputs %v: %v; want %q", c.inputs, err, c.want)
		}
	}
}
