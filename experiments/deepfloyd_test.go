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
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"

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
	w := func() []float32 {
		v := make([]float32, 9)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) / 3
		}
		return v
	}
	g := onnxexport.NewGraph("if_stage_i_stand_in")
	x := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 3, 64, 64)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	e := g.Input("encoder_hidden_states", onnxexport.Float32, onnxexport.Batch, 77, 4096)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	eps := g.Node("Conv", []string{x, g.Const("w1", []int{3, 3, 1, 1}, w())}, onnxexport.Ints("kernel_shape", 1, 1))
	mean := g.Node("ReduceMean", []string{e, g.ConstInt64("axes", 1, 2)}, onnxexport.Int("keepdims", 0))
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{mean, shape4})})
	tf := g.Node("Mul", []string{g.Node("Cast", []string{ts}, onnxexport.Int("to", 1)), g.Const("k", []int{1}, []float32{0.001})})
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{tf, shape4})})
	v := g.Node("Tanh", []string{g.Node("Conv", []string{x, g.Const("w2", []int{3, 3, 1, 1}, w())}, onnxexport.Ints("kernel_shape", 1, 1))})
	g.NodeTo("out_sample", "Concat", []string{eps, v}, onnxexport.Int("axis", 1))
	g.Output("out_sample", onnxexport.Float32, onnxexport.Batch, 6, 64, 64)
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
	if err := deepfloyd.WriteStageI(dir); err != nil {
		t.Fatal(err)
	}
}

// unknownPrompt finds the prompts the loader says a model lacks.
var unknownPrompt = regexp.MustCompile(`does not know the prompt ("(?:[^"\\]|\\.)*")`)

// TestDeepFloydRunsOnAStandIn runs experiments/deepfloyd end to end in its
// quick profile, through the loader and the runner, on a stand-in IF stage
// I whose output name differs from model.json's: every stage must run.
func TestDeepFloydRunsOnAStandIn(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"deepfloyd", "images"} {
		if err := os.CopyFS(filepath.Join(root, "experiments", d), os.DirFS(d)); err != nil {
			t.Fatal(err)
		}
	}
	model := filepath.Join(root, ".difflab", "models", "deepfloyd")
	writeStandInIF(t, model)
	// Embed the unconditional prompt, then every prompt the loader asks for.
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
	var g *experiment.Graph
	for {
		if err := deepfloyd.WriteEmbeddings(model, emb); err != nil {
			t.Fatal(err)
		}
		var err error
		g, err = experiment.Load([]string{filepath.Join(root, "experiments", "deepfloyd")}, experiment.Options{Profile: "quick", MaxMemory: shippedMemory})
		if err == nil {
			break
		}
		known := len(emb)
		for _, f := range unknownPrompt.FindAllStringSubmatch(err.Error(), -1) {
			if p, uerr := strconv.Unquote(f[1]); uerr == nil && emb[p] == nil {
				embed(p)
			}
		}
		if len(emb) == known {
			t.Fatalf("experiments/deepfloyd does not load on the stand-in: %v", err)
		}
	}
	for _, e := range g.Experiments {
		if e.Skipped != "" {
			t.Fatalf("%s is skipped beside the stand-in model: %s", e.Path, e.Skipped)
		}
	}
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := runner.Run(context.Background(), g, runner.Options{Cache: c})
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
}
