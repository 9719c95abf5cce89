package flow

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/stages"
	"difflab/stages/artifact"
)

// fieldModel writes a velocity model u(x, t, c) = r*(<c, v> - x) + s*t with
// v = (1, 2, ..., K) on 1 x 2 x 2 images; K = 0 leaves out the class input.
func fieldModel(t *testing.T, r, s float32, K int) string {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	g := onnxexport.NewGraph("field")
	x := g.Input("x", onnxexport.Float32, onnxexport.Batch, 1, 2, 2)
	tt := g.Input("t", onnxexport.Float32, onnxexport.Batch, 1)
	shape4 := g.ConstInt64("shape4", -1, 1, 1, 1)
	target := g.Node("Neg", []string{x})
	d := &modelfile.Description{
		Format: modelfile.Format, ONNX: "model.onnx", Predicts: modelfile.PredictsVelocity,
		Inputs:    modelfile.Inputs{Sample: "x", Timestep: "t"},
		Timestep:  modelfile.Timestep{DType: "float32", Scale: 1, Shape: "b1"},
		Output:    modelfile.Output{Name: "u", Channels: 1, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: 1, Height: 2, Width: 2, Range: [2]float64{0, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionNone},
	}
	if K > 0 {
		c := g.Input("c", onnxexport.Float32, onnxexport.Batch, int64(K))
		v := make([]float32, K)
		for i := range v {
			v[i] = float32(i + 1)
		}
		a := g.Node("Reshape", []string{g.Node("MatMul", []string{c, g.Const("v", []int{K, 1}, v)}), shape4})
		target = g.Node("Add", []string{target, a})
		d.Inputs.Condition = "c"
		d.Condition = modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: K}
	}
	u := g.Node("Mul", []string{target, g.Const("r", []int{1}, []float32{r})})
	g.NodeTo("u", "Add", []string{u, g.Node("Mul", []string{g.Node("Reshape", []string{tt, shape4}), g.Const("s", []int{1}, []float32{s})})})
	g.Output("u", onnxexport.Float32, onnxexport.Batch, 1, 2, 2)
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string) *modelfile.Model {
	m, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// With u = a - x, Euler's x_{k+1} = x_k + (a - x_k)/T gives
// x_T = a + (1 - 1/T)^T (x_0 - a); with guidance a = a_u + gamma (a_c - a_u).
func TestEulerReachesClosedFormWithGuidance(t *testing.T) {
	m := open(t, fieldModel(t, 1, 0, 3))
	const T, gamma = 7, 2.5
	classes := []int{0, 2, Unconditional}
	x, err := Sample(context.Background(), m, classes, Options{Steps: T, CFG: gamma, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	x0 := InitialNoise(11, 3*4)
	decay := math.Pow(1-1.0/T, T)
	for i, got := range x.Data {
		a := 0.0
		if c := classes[i/4]; c >= 0 {
			a = gamma * float64(c+1) // a_u = 0
		}
		want := a + decay*(float64(x0[i])-a)
		if math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("value %d: got %g, want %g", i, got, want)
		}
	}
}

// With u = t and t_k = k/T, x_T = x_0 + sum_k k/T^2 = x_0 + (T-1)/(2T): this
// pins the timesteps and the exact number of steps.
func TestEulerTimesteps(t *testing.T) {
	m := open(t, fieldModel(t, 0, 1, 0))
	const T = 10
	x, err := Sample(context.Background(), m, []int{Unconditional, Unconditional}, Options{Steps: T, CFG: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x0 := InitialNoise(3, 8)
	for i, got := range x.Data {
		if want := float64(x0[i]) + float64(T-1)/(2*T); math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("value %d: got %g, want %g", i, got, want)
		}
	}
	if _, err := Sample(context.Background(), m, []int{1}, Options{Steps: T}); err == nil || !strings.Contains(err.Error(), "no class input") {
		t.Errorf("class for a class-free model: %v", err)
	}
}

func TestStageOutputsClippedSamplesAndLabels(t *testing.T) {
	dir := fieldModel(t, 1, 0, 3)
	k, err := stages.Lookup("sample.flow")
	if err != nil {
		t.Fatal(err)
	}
	params := stages.Params{"epoch": 0, "n": 0, "classes": []int{}, "per_class": 2, "steps": 20, "cfg": 1.0, "seed": 1, "clip": true}
	if err := k.Check(params); err != nil {
		t.Fatal(err)
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "s", Params: params,
		In: map[string][]stages.Input{"model": {{Artifact: &artifact.Model{Dir: dir}}}}}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	labels := ctx.Outputs()["labels"].(artifact.Labels)
	if want := []int64{0, 1, 2, 0, 1, 2}; len(labels) != 6 || labels[0] != want[0] || labels[5] != want[5] || labels[4] != want[4] {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	x := ctx.Outputs()["samples"].(*artifact.Images)
	if x.N() != 6 || x.Lo != 0 || x.Hi != 1 {
		t.Fatalf("samples %v in [%g, %g]", x.Shape, x.Lo, x.Hi)
	}
	// Class 0 is pulled towards 1, classes 1 and 2 towards 2 and 3: after 20
	// steps (decay 0.36) the class-2 samples exceed 1 and are clipped.
	for i, v := range x.Data {
		if v < 0 || v > 1 {
			t.Fatalf("value %d = %g outside [0, 1]", i, v)
		}
		if labels[i/4] == 2 && v != 1 {
			t.Fatalf("class-2 value %d = %g, want clipped to 1", i, v)
		}
	}
	params["per_class"], params["n"] = 0, 0
	if err := k.Check(params); err == nil {
		t.Error("Check accepted no sample count")
	}
}

func TestClasses(t *testing.T) {
	onehot := &modelfile.Description{Condition: modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: 10}}
	none := &modelfile.Description{Condition: modelfile.Condition{Kind: modelfile.ConditionNone}}
	got, _ := Classes(onehot, 0, nil, 4)
	if len(got) != 40 || got[9] != 9 || got[10] != 0 || got[39] != 9 {
		t.Errorf("per_class 4: %v", got)
	}
	got, _ = Classes(onehot, 12, nil, 0)
	if len(got) != 12 || got[11] != 1 {
		t.Errorf("n 12: %v", got)
	}
	got, _ = Classes(none, 3, nil, 0)
	if len(got) != 3 || got[0] != Unconditional {
		t.Errorf("unconditional n 3: %v", got)
	}
	if _, err := Classes(onehot, 0, []int{3, 10}, 0); err == nil || !strings.Contains(err.Error(), "entry 1 is 10, want 0..9") {
		t.Errorf("class 10: %v", err)
	}
	if _, err := Classes(none, 0, nil, 2); err == nil {
		t.Error("per_class on a model without classes: no error")
	}
}

// BenchmarkSampleStep80 is one guided sampling step of the D = 64 MNIST UNet
// at model batch 80 (40 samples with CFG).
func BenchmarkSampleStep80(b *testing.B) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		b.Skipf("ONNX Runtime not installed: %v", err)
	}
	r, err := Bench(BenchOptions{Batch: 80, Hidden: 64, Steps: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.ImagesPerSecond, "img/s")
	b.ReportMetric(r.OverheadFraction*100, "%overhead")
}

func TestStageRefusesWhatExceedsTheMemoryLimit(t *testing.T) {
	dir := fieldModel(t, 1, 0, 3)
	k, err := stages.Lookup("sample.flow")
	if err != nil {
		t.Fatal(err)
	}
	for param, p := range map[string]stages.Params{
		"n":         {"epoch": 0, "n": 100000, "classes": []int{}, "per_class": 0, "steps": 1, "cfg": 1.0, "seed": 1, "clip": true},
		"per_class": {"epoch": 0, "n": 0, "classes": []int{}, "per_class": 10000, "steps": 1, "cfg": 1.0, "seed": 1, "clip": true},
	} {
		ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "s", Params: p, MemoryLimit: 1 << 20,
			In: map[string][]stages.Input{"model": {{Artifact: &artifact.Model{Dir: dir}}}}}
		if err := k.Run(ctx); err == nil || !strings.Contains(err.Error(), "parameter "+param+":") || !strings.Contains(err.Error(), "1.0 MiB allowed") {
			t.Errorf("%s over a 1 MiB limit: %v, want a refusal naming %s", param, err, param)
		}
	}
}
