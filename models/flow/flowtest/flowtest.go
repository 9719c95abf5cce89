// Package flowtest writes small velocity models with closed-form flows for
// tests of flow-matching samplers.
package flowtest

import (
	"errors"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/modelfile/modelfiletest"
	"difflab/models/onnxexport"
	"difflab/models/ort"
)

// FieldModel writes, in a temporary folder of t, the model directory of a velocity model u(x, t, c) = r*(<c, v> - x) + s*t with
// v = (1, 2, ..., K) on 1 x 2 x 2 images in [0, 1]; K = 0 leaves out the class
// input. It skips the test when ONNX Runtime is not installed.
func FieldModel(t testing.TB, r, s float32, K int) string {
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
	dir := t.TempDir()
	modelfiletest.WriteDir(t, dir, g, d)
	return dir
}
