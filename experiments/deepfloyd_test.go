package experiments_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"difflab/models/deepfloyd"
	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/stages/artifact"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// writeStandInIF writes into dir a stand-in for an exported DeepFloyd IF
// stage I: a tiny model with the UNet's exact inputs, sample (B, 3, 64, 64)
// float32, timestep (B) int64 and encoder_hidden_states (B, 77, 4096)
// float32, whose output is called out_sample (B, 6, 64, 64), as torch may
// name it; its weights are external data in model.onnx.data, as torch
// writes large models. model.json is deepfloyd.WriteStageI's, which calls
// the output noise_pred.
func writeStandInIF(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 3))
	g := onnxexport.NewGraph("if_stage_i_stand_in")
	x := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 3, 64, 64)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	e := g.Input("encoder_hidden_states", onnxexport.Float32, onnxexport.Batch, 77, 4096)
	eps, v := standInUNet(g, rng, x, ts, e, 3)
	g.NodeTo("out_sample", "Concat", []string{eps, v}, onnxexport.Int("axis", 1))
	g.Output("out_sample", onnxexport.Float32, onnxexport.Batch, 6, 64, 64)
	writeExternal(t, g, dir)
	if err := deepfloyd.WriteStageI(dir); err != nil {
		t.Fatal(err)
	}
}

// writeStandInIFII writes into dir a stand-in for an exported DeepFloyd IF
// stage II with IF-II's exact signature: sample (B, 6, 256, 256) float32
// (the noisy image, then the upscaled, noised stage I image), timestep (B)
// int64, encoder_hidden_states (B, 77, 4096) float32 and class_labels (B)
// int64, the noise level, whose output out_sample is (B, 6, 256, 256); its
// weights are in model.onnx.data. model.json is deepfloyd.WriteStageII's.
func writeStandInIFII(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(6, 4))
	g := onnxexport.NewGraph("if_stage_ii_stand_in")
	x := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 6, 256, 256)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	e := g.Input("encoder_hidden_states", onnxexport.Float32, onnxexport.Batch, 77, 4096)
	level := g.Input("class_labels", onnxexport.Int64, onnxexport.Batch)
	eps, v := standInUNet(g, rng, x, ts, e, 6)
	s := g.Node("Mul", []string{g.Node("Cast", []string{level}, onnxexport.Int("to", 1)), g.Const("k_level", []int{1}, []float32{0.001})})
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{s, g.ConstInt64("shape4_level", -1, 1, 1, 1)})})
	g.NodeTo("out_sample", "Concat", []string{eps, v}, onnxexport.Int("axis", 1))
	g.Output("out_sample", onnxexport.Float32, onnxexport.Batch, 6, 256, 256)
	writeExternal(t, g, dir)
	if err := deepfloyd.WriteStageII(dir); err != nil {
		t.Fatal(err)
	}
}

// standInUNet adds to g a stand-in UNet body over the sample x of inC
// channels: the noise estimate eps = W1 x + mean(e) + timestep / 1000 and
// the variance v = tanh(W2 x), each of 3 channels, W1 and W2 random 1x1
// convolutions.
func standInUNet(g *onnxexport.Graph, rng *rand.Rand, x, ts, e string, inC int) (eps, v string) {
	w := func() []float32 {
		v := make([]float32, 3*inC)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) / 3
		}
		return v
	}
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	eps = g.Node("Conv", []string{x, g.Const("w1", []int{3, inC, 1, 1}, w())}, onnxexport.Ints("kernel_shape", 1, 1))
	mean := g.Node("ReduceMean", []string{e, g.ConstInt64("axes", 1, 2)}, onnxexport.Int("keepdims", 0))
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{mean, shape4})})
	tf := g.Node("Mul", []string{g.Node("Cast", []string{ts}, onnxexport.Int("to", 1)), g.Const("k", []int{1}, []float32{0.001})})
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{tf, shape4})})
	v = g.Node("Tanh", []string{g.Node("Conv", []string{x, g.Const("w2", []int{3, inC, 1, 1}, w())}, onnxexport.Ints("kernel_shape", 1, 1))})
	return eps, v
}

// writeExternal writes g as dir/model.onnx with its float tensors as
// external data in dir/model.onnx.data.
func writeExternal(t *testing.T, g *onnxexport.Graph, dir string) {
	t.Helper()
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, init := range m.Graph.Initializer {
		if init.DataType != int32(onnx.TensorProto_FLOAT) {
			continue
		}
		init.DataLocation = onnx.TensorProto_EXTERNAL
		init.ExternalData = []*onnx.StringStringEntryProto{
			{Key: "location", Value: "model.onnx.data"},
			{Key: "offset", Value: strconv.Itoa(len(data))},
			{Key: "length", Value: strconv.Itoa(len(init.RawData))},
		}
		data = append(data, init.RawData...)
		init.RawData = nil
	}
	if b, err = proto.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx.data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// unknownPrompt finds the prompts the loader says a model lacks.
var unknownPrompt = regexp.MustCompile(`does not know the prompt ("(?:[^"\\]|\\.)*")`)

// standInDeepFloyd copies experiments/deepfloyd beside stand-ins for IF
// stages I and II (.difflab/models/deepfloyd and deepfloyd_ii), embeds the
// prompts of models/deepfloyd/prompts.txt and every other prompt the loader
// asks for in both, and returns the root and the loaded graph of the quick
// profile.
func standInDeepFloyd(t *testing.T) (string, *experiment.Graph) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"deepfloyd", "images"} {
		if err := os.CopyFS(filepath.Join(root, "experiments", d), os.DirFS(d)); err != nil {
			t.Fatal(err)
		}
	}
	models := []string{filepath.Join(root, ".difflab", "models", "deepfloyd"), filepath.Join(root, ".difflab", "models", "deepfloyd_ii")}
	writeStandInIF(t, models[0])
	writeStandInIFII(t, models[1])
	// Embed the unconditional prompt and those of prompts.txt, as the export
	// script does, then every prompt the loader asks for.
	rng := rand.New(rand.NewPCG(7, 1))
	emb := map[string][]float32{}
	embed := func(p string) {
		v := make([]float32, deepfloyd.EmbeddingShape[0]*deepfloyd.EmbeddingShape[1])
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		emb[p] = v
	}
	embed("")
	listed, err := os.ReadFile(filepath.Join("..", "models", "deepfloyd", "prompts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(string(listed), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			embed(p)
		}
	}
	for {
		for _, m := range models {
			if err := deepfloyd.WriteEmbeddings(m, emb); err != nil {
				t.Fatal(err)
			}
		}
		g, err := experiment.Load([]string{filepath.Join(root, "experiments", "deepfloyd")}, experiment.Options{Profile: "quick", MaxMemory: shippedMemory})
		if err == nil {
			return root, g
		}
		known := len(emb)
		for _, f := range unknownPrompt.FindAllStringSubmatch(err.Error(), -1) {
			if p, uerr := strconv.Unquote(f[1]); uerr == nil && emb[p] == nil {
				embed(p)
			}
		}
		if len(emb) == known {
			t.Fatalf("experiments/deepfloyd does not load on the stand-ins: %v", err)
		}
	}
}

// TestDeepFloydRunsOnAStandIn runs experiments/deepfloyd end to end in its
// quick profile, through the loader and the runner, on stand-ins for IF
// stages I and II whose output name differs from model.json's: every stage
// must run, and the course logo is IF stage II's 256 x 256 upscale.
func TestDeepFloydRunsOnAStandIn(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	root, g := standInDeepFloyd(t)
	for _, e := range g.Experiments {
		if e.Skipped != "" {
			t.Fatalf("%s is skipped beside the stand-in models: %s", e.Path, e.Skipped)
		}
	}
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := runner.Run(context.Background(), g, runner.Options{Cache: c, Results: filepath.Join(root, "results")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d stages executed, %d shared with another experiment's, in %.1f s", s.Executed, s.Cached, time.Since(start).Seconds())
	// The experiments share stages (the model, the images): those with the
	// same key run once, and the others find their entry in the cache.
	if s.Failed != 0 || s.Skipped != 0 || s.Executed == 0 || s.Executed+s.Cached != len(g.Nodes) {
		var failed []string
		for _, st := range s.Stages {
			if st.Status == runner.StatusFailed {
				failed = append(failed, st.ID+": "+st.Error)
			}
		}
		t.Fatalf("of %d stages, %d executed, %d cached, %d failed, %d skipped:\n%s", len(g.Nodes), s.Executed, s.Cached, s.Failed, s.Skipped, strings.Join(failed, "\n"))
	}
	var logo *artifact.Images
	for _, st := range s.Stages {
		for _, out := range st.Outputs {
			if strings.HasSuffix(out, filepath.Join("course_logo", "images.npy")) {
				a, err := artifact.Load(artifact.TypeImages, filepath.Dir(out), "images")
				if err != nil {
					t.Fatal(err)
				}
				logo = a.(*artifact.Images)
				t.Logf("IF stage II stand-in: %s took %.1f s", st.ID, st.Seconds)
			}
		}
	}
	if logo == nil || logo.N() != 1 || logo.C() != 3 || logo.H() != 256 || logo.W() != 256 || logo.Lo != -1 || logo.Hi != 1 {
		t.Fatalf("the course logo is not one 3 x 256 x 256 image in [-1, 1]: %+v", logo)
	}
}

// TestDeepFloydStageIIContradictionsStopThePlan: a stage II folder whose
// model.json its graph contradicts stops the load of the logo experiment
// before anything runs, with an error naming both files.
func TestDeepFloydStageIIContradictionsStopThePlan(t *testing.T) {
	root, _ := standInDeepFloyd(t)
	ii := filepath.Join(root, ".difflab", "models", "deepfloyd_ii")
	logo := filepath.Join(root, "experiments", "deepfloyd", "05_logo.yaml")
	files := filepath.Join(ii, "model.onnx") + " does not match " + filepath.Join(ii, "model.json")
	stageII, err := deepfloyd.StageII()
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(d *modelfile.Description)) {
		t.Helper()
		d := *stageII
		lr := *d.LowRes
		d.LowRes = &lr
		edit(&d)
		if err := modelfile.Write(ii, &d); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		what string
		edit func(d *modelfile.Description)
		want string
	}{
		{"stage I's description", func(d *modelfile.Description) { d.LowRes, d.Inputs.NoiseLevel = nil, "" },
			`the graph has inputs ["class_labels"] that model.json does not name`},
		{"a low-resolution image of one channel", func(d *modelfile.Description) { d.LowRes.Channels = 1 },
			`field "inputs.sample" names graph input "sample" float32 (?, 6, 256, 256), but model.json describes a float32 batch (B, 4, 256, 256)`},
		// Two int64 (B) inputs the graph names otherwise: the timestep and
		// the noise level could be either.
		{"a timestep and noise level named otherwise", func(d *modelfile.Description) { d.Inputs.Timestep, d.Inputs.NoiseLevel = "t", "noise_level" },
			`inputs.timestep "t", inputs.noise_level "noise_level": no such graph input, and several assignments of them fit`},
	} {
		rewrite(c.edit)
		_, err := experiment.Load([]string{logo}, experiment.Options{Profile: "quick", MaxMemory: shippedMemory})
		if err == nil || !strings.Contains(err.Error(), files) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error naming %s: %s", c.what, err, files, c.want)
		}
	}
	// Stage I's graph under stage II's description.
	rewrite(func(*modelfile.Description) {})
	writeStandInIF(t, ii)
	if err := deepfloyd.WriteStageII(ii); err != nil {
		t.Fatal(err)
	}
	if _, err := experiment.Load([]string{logo}, experiment.Options{Profile: "quick", MaxMemory: shippedMemory}); err == nil || !strings.Contains(err.Error(), files) {
		t.Errorf("stage I's graph with stage II's model.json: %v", err)
	}
}
