package deepfloyd_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"difflab/models/deepfloyd"
	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/tensor"
)

func randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// stageIGraph returns a small random model with exactly stage I's signature:
// noise_pred = concat(W1 * sample + mean(encoder_hidden_states) + timestep/1000,
// tanh(W2 * sample)), W1 and W2 random 1x1 convolutions of 3 channels.
func stageIGraph(t *testing.T, w1, w2 []float32) []byte {
	g := onnxexport.NewGraph("if_stage_i_test")
	x := g.Input("sample", onnxexport.Float32, onnxexport.Batch, 3, 64, 64)
	ts := g.Input("timestep", onnxexport.Int64, onnxexport.Batch)
	e := g.Input("encoder_hidden_states", onnxexport.Float32, onnxexport.Batch, 77, 4096)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	eps := g.Node("Conv", []string{x, g.Const("w1", []int{3, 3, 1, 1}, w1)}, onnxexport.Ints("kernel_shape", 1, 1))
	mean := g.Node("ReduceMean", []string{e, g.ConstInt64("axes", 1, 2)}, onnxexport.Int("keepdims", 0))
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{mean, shape4})})
	tf := g.Node("Mul", []string{g.Node("Cast", []string{ts}, onnxexport.Int("to", 1)), g.Const("k", []int{1}, []float32{0.001})})
	eps = g.Node("Add", []string{eps, g.Node("Reshape", []string{tf, shape4})})
	v := g.Node("Tanh", []string{g.Node("Conv", []string{x, g.Const("w2", []int{3, 3, 1, 1}, w2)}, onnxexport.Ints("kernel_shape", 1, 1))})
	g.NodeTo("noise_pred", "Concat", []string{eps, v}, onnxexport.Int("axis", 1))
	g.Output("noise_pred", onnxexport.Float32, onnxexport.Batch, 6, 64, 64)
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStageIDescription(t *testing.T) {
	d, err := deepfloyd.StageI()
	if err != nil {
		t.Fatal(err)
	}
	if d.Timestep.DType != "int64" || d.Timestep.Shape != "b" || d.Output.Variance != modelfile.VarianceLearnedRange ||
		d.Image.Height != 64 || d.Image.Range != [2]float64{-1, 1} || d.Schedule.Name != "squaredcos_cap_v2" ||
		d.Condition.EmbeddingShape[1] != 4096 || d.Condition.Embeddings != deepfloyd.EmbeddingsFile {
		t.Fatalf("stage I description: %+v", d)
	}
}

// TestStageIIDescription binds stage II's description to the inputs and
// output of IF-II as the export script writes them, and to a stage I graph,
// which it must refuse.
func TestStageIIDescription(t *testing.T) {
	d, err := deepfloyd.StageII()
	if err != nil {
		t.Fatal(err)
	}
	info := func(name string, dt ort.DType, shape ...int64) ort.Info {
		return ort.Info{Name: name, DType: dt, Shape: shape}
	}
	ifII := []ort.Info{
		info("sample", ort.Float32, -1, 6, 256, 256), info("timestep", ort.Int64, -1),
		info("encoder_hidden_states", ort.Float32, -1, 77, 4096), info("class_labels", ort.Int64, -1),
	}
	out := []ort.Info{info("out_sample", ort.Float32, -1, 6, 256, 256)}
	b, err := modelfile.Bind("/if2", d, ifII, out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Inputs.NoiseLevel != "class_labels" || b.Output.Name != "out_sample" || d.LowRes.Height != 64 || d.Image.Height != 256 ||
		d.Condition.Embeddings != deepfloyd.EmbeddingsFile || d.Schedule.Name != "squaredcos_cap_v2" {
		t.Errorf("stage II description bound as %+v: %+v", b, d)
	}
	ifI := []ort.Info{info("sample", ort.Float32, -1, 3, 64, 64), info("timestep", ort.Int64, -1), info("encoder_hidden_states", ort.Float32, -1, 77, 4096)}
	if _, err := modelfile.Bind("/if2", d, ifI, []ort.Info{info("noise_pred", ort.Float32, -1, 6, 64, 64)}); err == nil || !strings.Contains(err.Error(), `inputs.noise_level "class_labels": no such graph input`) {
		t.Errorf("stage II description on a stage I graph: %v", err)
	}
}

func TestStageIRunsThroughPredictor(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	rng := rand.New(rand.NewPCG(4, 2))
	w1, w2 := randn(rng, 9), randn(rng, 9)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), stageIGraph(t, w1, w2), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := deepfloyd.WriteStageI(dir); err != nil {
		t.Fatal(err)
	}
	const n = 77 * 4096
	emb := map[string][]float32{"": make([]float32, n), "a photo of a dog": randn(rng, n)}
	if err := deepfloyd.WriteEmbeddings(dir, emb); err != nil {
		t.Fatal(err)
	}
	m, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	x := &tensor.Tensor{Shape: []int{2, 3, 64, 64}, Data: randn(rng, 2*3*64*64)}
	prompts := []string{"a photo of a dog", ""}
	p, err := m.PredictPrompts(x, []float64{990, 0}, prompts)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for b := range 2 {
		mean := 0.0
		for _, v := range emb[prompts[b]] {
			mean += float64(v)
		}
		mean /= n
		for o := range 3 {
			for i := range 64 * 64 {
				s, s2 := 0.0, 0.0
				for c := range 3 {
					xv := float64(x.Data[(b*3+c)*4096+i])
					s += float64(w1[o*3+c]) * xv
					s2 += float64(w2[o*3+c]) * xv
				}
				k := (b*3+o)*4096 + i
				eps := s + mean + []float64{0.99, 0}[b]
				worst = max(worst, math.Abs(float64(p.Out.Data[k])-eps), math.Abs(float64(p.Variance.Data[k])-math.Tanh(s2)))
			}
		}
	}
	if worst > 1e-4 {
		t.Fatalf("noise or variance differs from the closed form by %g", worst)
	}
	if _, err := m.PredictPrompts(x, []float64{1, 1}, []string{"a cat", ""}); err == nil || !strings.Contains(err.Error(), `prompt "a cat" has no embedding`) {
		t.Errorf("unknown prompt: %v", err)
	}
}

func TestWriteEmbeddingsChecks(t *testing.T) {
	if err := deepfloyd.WriteEmbeddings(t.TempDir(), map[string][]float32{"x": make([]float32, 77*4096)}); err == nil || !strings.Contains(err.Error(), "unconditional") {
		t.Errorf("missing empty prompt: %v", err)
	}
	if err := deepfloyd.WriteEmbeddings(t.TempDir(), map[string][]float32{"": make([]float32, 5)}); err == nil || !strings.Contains(err.Error(), "has 5 values") {
		t.Errorf("wrong size: %v", err)
	}
}

// TestExportKeepsAUsersDescription runs export.py's description step: it
// writes model.json where there is none or where it wrote the one there,
// and never overwrites one a user edited.
func TestExportKeepsAUsersDescription(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: export.py's description step is not checked")
	}
	out := t.TempDir()
	write := func(stage int) string {
		t.Helper()
		cmd := exec.Command(py, "-c", "import sys, export; export.write_description(sys.argv[1], int(sys.argv[2]))", out, strconv.Itoa(stage))
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("export.write_description: %v\n%s", err, b)
		}
		return string(b)
	}
	shipped, err := os.ReadFile("stage_i.model.json")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(out, name))
		return string(b)
	}
	write(1)
	write(1) // its own earlier copy is replaced
	if read("model.json") != string(shipped) {
		t.Fatal("export.py did not write model.json")
	}
	edited := strings.Replace(string(shipped), `"noise_pred"`, `"out_sample"`, 1)
	os.WriteFile(filepath.Join(out, "model.json"), []byte(edited), 0o644)
	if msg := write(1); !strings.Contains(msg, "kept") || read("model.json") != edited || read("model.json.new") != string(shipped) {
		t.Fatalf("export.py overwrote an edited model.json (%q)", msg)
	}
	// Stage II: its own description, and a stage I one it did not write
	// into this folder is kept too.
	shippedII, err := os.ReadFile("stage_ii.model.json")
	if err != nil {
		t.Fatal(err)
	}
	if msg := write(2); !strings.Contains(msg, "kept") || read("model.json") != edited || read("model.json.new") != string(shippedII) {
		t.Fatalf("export.py --stage 2 overwrote an edited model.json (%q)", msg)
	}
	out = t.TempDir()
	if write(2); read("model.json") != string(shippedII) {
		t.Fatal("export.py --stage 2 did not write stage II's model.json")
	}
}
