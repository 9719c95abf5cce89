package flow_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"difflab/models/flow"
	"difflab/models/flow/flowtest"
	"difflab/models/modelfile"
	"difflab/models/ort"
)

func open(t *testing.T, dir string) *modelfile.Model {
	t.Helper()
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
	m := open(t, flowtest.FieldModel(t, 1, 0, 3))
	const T, gamma = 7, 2.5
	classes := []int{0, 2, flow.Unconditional}
	x, err := flow.Sample(context.Background(), m, classes, flow.Options{Steps: T, CFG: gamma, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	x0 := flow.InitialNoise(11, 3*4)
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
	m := open(t, flowtest.FieldModel(t, 0, 1, 0))
	const T = 10
	x, err := flow.Sample(context.Background(), m, []int{flow.Unconditional, flow.Unconditional}, flow.Options{Steps: T, CFG: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x0 := flow.InitialNoise(3, 8)
	for i, got := range x.Data {
		if want := float64(x0[i]) + float64(T-1)/(2*T); math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("value %d: got %g, want %g", i, got, want)
		}
	}
	if _, err := flow.Sample(context.Background(), m, []int{1}, flow.Options{Steps: T}); err == nil || !strings.Contains(err.Error(), "no class input") {
		t.Errorf("class for a class-free model: %v", err)
	}
}

// BenchmarkSampleStep80 is one guided sampling step of the D = 64 MNIST UNet
// at model batch 80 (40 samples with CFG).
func BenchmarkSampleStep80(b *testing.B) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		b.Skipf("ONNX Runtime not installed: %v", err)
	}
	r, err := flow.Bench(flow.BenchOptions{Batch: 80, Hidden: 64, Steps: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.ImagesPerSecond, "img/s")
	b.ReportMetric(r.OverheadFraction*100, "%overhead")
}
