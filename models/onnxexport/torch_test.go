package onnxexport_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/safetensors"
	"difflab/models/tensor"
)

// TestMatchesPyTorch compares difflab's export with PyTorch itself: the
// PyTorch module's output on the same weights, and PyTorch's own ONNX export
// run in ONNX Runtime. It needs python3 with torch (Debian python3-torch)
// and skips without it; PyTorch is never a dependency of difflab.
func TestMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts Python")
	}
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} { // pyenv shims may hide Debian's torch
		if exec.Command(p, "-c", "import torch, numpy").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3 with torch and numpy not found (Debian: apt-get install python3-torch)")
	}
	spec := modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	w := onnxexport.RandomWeights(spec, 21)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	if err := safetensors.WriteFile(file("w.safetensors"), w, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	const B = 3
	x, tv, cv := randn(rng, B*784), []float32{0.1, 0.5, 0.9}, make([]float32, B*10)
	cv[2], cv[17] = 1, 1
	for name, v := range map[string]struct {
		shape []int
		data  []float32
	}{"x.npy": {[]int{B, 1, 28, 28}, x}, "t.npy": {[]int{B, 1}, tv}, "c.npy": {[]int{B, 10}, cv}} {
		b, err := tensor.EncodeNPY(v.shape, v.data)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(file(name), b, 0o644)
	}
	js, _ := json.Marshal(spec)
	cmd := exec.Command(python, "testdata/torch_unet.py", string(js), file("w.safetensors"), file("x.npy"), file("t.npy"), file("c.npy"), file("out.npy"), file("torch.onnx"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/torch_unet.py: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(file("out.npy"))
	_, data, err := tensor.DecodeNPY(b)
	if err != nil {
		t.Fatal(err)
	}
	want := data.([]float32)
	in := []ort.Value{
		{Name: "x", Shape: []int64{B, 1, 28, 28}, Float32: x},
		{Name: "t", Shape: []int64{B, 1}, Float32: tv},
		{Name: "c", Shape: []int64{B, 10}, Float32: cv},
	}
	ours, err := onnxexport.UNet(spec, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(file("torch.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for name, model := range map[string][]byte{"difflab export": ours, "PyTorch export": theirs} {
		got, err := session(t, model).Run(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		diff := 0.0
		for i := range want {
			diff = math.Max(diff, math.Abs(float64(got[0].Float32[i]-want[i])))
		}
		t.Logf("%s in ONNX Runtime vs PyTorch: max abs difference %.3g", name, diff)
		if diff > 1e-5 {
			t.Errorf("%s differs from PyTorch by %g", name, diff)
		}
	}
}
