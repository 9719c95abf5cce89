package ort_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/ort/orttest"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

func TestLibraryPathExplainsHowToGetIt(t *testing.T) {
	t.Setenv(ort.LibEnv, filepath.Join(t.TempDir(), "missing.so"))
	_, err := ort.LibraryPath()
	if !errors.Is(err, ort.ErrNoLibrary) || !strings.Contains(err.Error(), "npm pack onnxruntime-node@1.30.0") {
		t.Fatalf("got %v", err)
	}
	lib := filepath.Join(t.TempDir(), ort.LibName)
	os.WriteFile(lib, nil, 0o644)
	t.Setenv(ort.LibEnv, lib)
	if p, err := ort.LibraryPath(); err != nil || p != lib {
		t.Fatalf("LibraryPath() = %q, %v; want %s", p, err, lib)
	}
}

func TestDefaultThreads(t *testing.T) {
	t.Setenv(ort.ThreadsEnv, "")
	if n := ort.DefaultThreads(); n != 2 {
		t.Errorf("default %d, want 2", n)
	}
	t.Setenv(ort.ThreadsEnv, "3")
	if n := ort.DefaultThreads(); n != 3 {
		t.Errorf("with %s=3: %d", ort.ThreadsEnv, n)
	}
}

// addModel writes a model computing y = x + k (x of shape batch x 2) to dir.
func addModel(t *testing.T, dir string, k float32) string {
	g := onnxexport.NewGraph("add")
	x := g.Input("x", onnxexport.Float32, onnxexport.Batch, 2)
	g.NodeTo("y", "Add", []string{x, g.Const("k", []int{1}, []float32{k})})
	g.Output("y", onnxexport.Float32, onnxexport.Batch, 2)
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSessionsAreSharedAndChecked(t *testing.T) {
	orttest.Require(t)
	p1 := addModel(t, t.TempDir(), 1)
	p2 := addModel(t, t.TempDir(), 1)
	p3 := addModel(t, t.TempDir(), 5)
	s1, err := ort.Load(p1, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := ort.Load(p2, nil)
	s3, _ := ort.Load(p3, nil)
	defer s1.Release()
	defer s2.Release()
	defer s3.Release()
	if s1 != s2 || s1 == s3 {
		t.Fatalf("same bytes must share a session, different bytes must not: %p %p %p", s1, s2, s3)
	}
	if in := s1.Inputs(); len(in) != 1 || in[0].Name != "x" || in[0].DType != ort.Float32 || in[0].Shape[1] != 2 {
		t.Fatalf("inputs %+v", in)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s3.Run([]ort.Value{{Name: "x", Shape: []int64{2, 2}, Float32: []float32{float32(i), 1, 2, 3}}})
			if err != nil || out[0].Float32[0] != float32(i)+5 || out[0].Float32[3] != 8 {
				t.Errorf("run %d: %v %v", i, out, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct {
		in   ort.Value
		want string
	}{
		{ort.Value{Name: "y", Shape: []int64{1, 2}, Float32: []float32{1, 2}}, `input "x" not given`},
		{ort.Value{Name: "x", Shape: []int64{1, 3}, Float32: []float32{1, 2, 3}}, "dimension 1 must be 2"},
		{ort.Value{Name: "x", Shape: []int64{2}, Float32: []float32{1, 2}}, "rank 1"},
		{ort.Value{Name: "x", Shape: []int64{1, 2}, Int64: []int64{1, 2}}, "must be float32"},
		{ort.Value{Name: "x", Shape: []int64{2, 2}, Float32: []float32{1, 2}}, "needs 4 values"},
	} {
		if _, err := s1.Run([]ort.Value{c.in}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %+v: want an error containing %q, got %v", c.in, c.want, err)
		}
	}
	if d, n := s3.RunTime(); n != 4 || d <= 0 {
		t.Errorf("RunTime() = %v, %d; want 4 runs", d, n)
	}
}

func TestReleasedSessionsAreKeptUpToTheIdleLimit(t *testing.T) {
	orttest.Require(t)
	defer func(n int) { ort.IdleSessions = n }(ort.IdleSessions)
	ort.IdleSessions = 1
	load := func(p string) *ort.Session {
		s, err := ort.Load(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pa, pb := addModel(t, t.TempDir(), 11), addModel(t, t.TempDir(), 12)
	a := load(pa)
	a2 := load(pa)
	b := load(pb)
	a.Release()
	b.Release()
	// a is still held once, so releasing b (the only idle one) destroys nothing.
	if s := load(pb); s != b {
		t.Fatalf("the idle session of b was not reused")
	} else {
		s.Release()
	}
	x := ort.Value{Name: "x", Shape: []int64{1, 2}, Float32: []float32{1, 2}}
	if out, err := a2.Run([]ort.Value{x}); err != nil || out[0].Float32[0] != 12 {
		t.Fatalf("a held session must keep running: %v %v", out, err)
	}
	a2.Release() // a is now idle too: b, released longer ago, goes
	if _, err := b.Run([]ort.Value{x}); err == nil || !strings.Contains(err.Error(), "released") {
		t.Fatalf("running a destroyed session: want an error, got %v", err)
	}
	if s := load(pa); s != a {
		t.Fatalf("the most recently released session should have stayed loaded")
	} else {
		s.Release()
	}
	if s := load(pb); s == b {
		t.Fatalf("a destroyed session was handed out again")
	} else {
		s.Release()
	}
}

// TestDiscardDestroysAtOnce discards a session: while another caller holds
// it, it keeps running; once nobody does, it is destroyed, not kept idle.
func TestDiscardDestroysAtOnce(t *testing.T) {
	orttest.Require(t)
	p := addModel(t, t.TempDir(), 13)
	a, err := ort.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := ort.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := ort.Value{Name: "x", Shape: []int64{1, 2}, Float32: []float32{1, 2}}
	a.Discard()
	if out, err := a2.Run([]ort.Value{x}); err != nil || out[0].Float32[0] != 14 {
		t.Fatalf("a held session must keep running: %v %v", out, err)
	}
	a2.Discard()
	if _, err := a2.Run([]ort.Value{x}); err == nil || !strings.Contains(err.Error(), "released") {
		t.Fatalf("running a discarded session: want an error, got %v", err)
	}
	b, err := ort.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if b == a {
		t.Fatal("a discarded session was handed out again")
	}
}

// TestExternalDataIsPartOfTheModel loads two models whose graphs are the
// same bytes and whose external data differ: each must get its own session.
func TestExternalDataIsPartOfTheModel(t *testing.T) {
	orttest.Require(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	pa, err := orttest.WriteScale(dirA, []float32{2, 3}, "model.onnx.data")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := orttest.WriteScale(dirB, []float32{5, 7}, "model.onnx.data")
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := os.ReadFile(pa)
	gb, _ := os.ReadFile(pb)
	if string(ga) != string(gb) {
		t.Fatal("the two graphs should be the same bytes")
	}
	x := []ort.Value{{Name: orttest.Input, Shape: []int64{1, 1, 1, 2}, Float32: []float32{1, 1}}}
	for _, c := range []struct {
		path string
		want []float32
	}{{pa, []float32{2, 3}}, {pb, []float32{5, 7}}} {
		s, err := ort.Load(c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(x)
		s.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out[0].Float32, c.want) {
			t.Errorf("%s: x * k = %v, want %v (the session of another model's weights?)", c.path, out[0].Float32, c.want)
		}
	}
	sa, _ := ort.Load(pa, nil)
	sb, _ := ort.Load(pb, nil)
	defer sa.Release()
	defer sb.Release()
	if sa == sb || sa.Digest() == sb.Digest() {
		t.Errorf("models with different external data share a session or a digest: %s", sa.Digest())
	}
	// Rewriting the external data in place makes a new model.
	if _, err := orttest.WriteScale(dirA, []float32{11, 13}, "model.onnx.data"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	os.Chtimes(filepath.Join(dirA, "model.onnx.data"), later, later)
	s, err := ort.Load(pa, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if out, err := s.Run(x); err != nil || !slices.Equal(out[0].Float32, []float32{11, 13}) {
		t.Errorf("after rewriting the external data: %v, %v; want [11 13]", out, err)
	}
}

func TestModelFilesListsExternalData(t *testing.T) {
	dir := t.TempDir()
	p, err := orttest.WriteScale(dir, []float32{1}, "weights/k.bin")
	if err != nil {
		t.Fatal(err)
	}
	files, err := ort.ModelFiles(p)
	if want := []string{p, filepath.Join(dir, "weights", "k.bin")}; err != nil || !slices.Equal(files, want) {
		t.Fatalf("ModelFiles = %v, %v; want %v", files, err, want)
	}
	inline, err := orttest.WriteScale(t.TempDir(), []float32{1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if files, err := ort.ModelFiles(inline); err != nil || !slices.Equal(files, []string{inline}) {
		t.Fatalf("ModelFiles of a model without external data = %v, %v", files, err)
	}
	os.Remove(filepath.Join(dir, "weights", "k.bin"))
	if _, err := ort.ModelFiles(p); err == nil || !strings.Contains(err.Error(), `"weights/k.bin"`) {
		t.Fatalf("a missing external data file: want an error naming it, got %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte{0x3a, 0x10, 1}, 0o644) // field 7 (graph) of 16 bytes, cut short
	if _, err := ort.ModelFiles(bad); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Fatalf("a truncated file: want an error, got %v", err)
	}
}

// TestGPUMatchesCPU evaluates a small UNet on the WebGPU execution provider
// (lavapipe where there is no GPU) and on the CPU one.
func TestGPUMatchesCPU(t *testing.T) {
	where := orttest.RequireGPU(t)
	spec := modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	d, err := onnxexport.UNetDescription(spec, modelfile.PredictsVelocity)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := onnxexport.WriteUNetDir(dir, d, onnxexport.RandomWeights(spec, 7)); err != nil {
		t.Fatal(err)
	}
	const n = 3
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	ts := []float32{0.1, 0.5, 0.9}
	c := make([]float32, n*10)
	c[3], c[10+7] = 1, 1 // the last row is unconditional
	in := []ort.Value{
		{Name: d.Inputs.Sample, Shape: []int64{n, 1, 28, 28}, Float32: x},
		{Name: d.Inputs.Timestep, Shape: []int64{n, 1}, Float32: ts},
		{Name: d.Inputs.Condition, Shape: []int64{n, 10}, Float32: c},
	}
	var outs [2][]float32
	for i, dev := range []ort.Device{ort.CPU, ort.GPU} {
		s, err := ort.Load(filepath.Join(dir, d.ONNX), &ort.Options{Device: dev})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(in)
		s.Release()
		if err != nil {
			t.Fatalf("%s: %v", dev, err)
		}
		outs[i] = out[0].Float32
	}
	var worst float64
	for i := range outs[0] {
		worst = max(worst, math.Abs(float64(outs[0][i]-outs[1][i])))
	}
	// Measured on lavapipe: about 1e-7.
	if worst > 1e-5 {
		t.Fatalf("GPU (%s) and CPU differ by up to %g", where, worst)
	}
	t.Logf("%s: largest difference to the CPU %.2g", where, worst)
}

func TestInitChecksTheLibrary(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	if v, err := ort.Version(); err != nil || v != ort.LibVersion {
		t.Fatalf("Version() = %q, %v; want %s", v, err, ort.LibVersion)
	}
}

func TestGraphInfoReadsTheSignature(t *testing.T) {
	dir := t.TempDir()
	p, err := orttest.WriteScale(dir, []float32{1, 2}, "model.onnx.data")
	if err != nil {
		t.Fatal(err)
	}
	// Older exports list initializers among the inputs: those are no inputs.
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	k := proto.Clone(m.Graph.Input[0]).(*onnx.ValueInfoProto)
	k.Name = "k"
	m.Graph.Input = append([]*onnx.ValueInfoProto{k}, m.Graph.Input...)
	if b, err = proto.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GraphInfo(p)
	want := func(name string) []ort.Info {
		return []ort.Info{{Name: name, DType: ort.Float32, Shape: []int64{-1, 1, 1, 2}}}
	}
	if err != nil || !reflect.DeepEqual(ins, want(orttest.Input)) || !reflect.DeepEqual(outs, want(orttest.Output)) {
		t.Fatalf("GraphInfo = %v, %v, %v; want inputs %v, outputs %v", ins, outs, err, want(orttest.Input), want(orttest.Output))
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte{0x3a, 0x10, 1}, 0o644)
	if _, _, err := ort.GraphInfo(bad); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Fatalf("a truncated file: want an error, got %v", err)
	}
}

// TestProfileIsWrittenWhenTheSessionEnds profiles a session: it gets a
// session of its own, and releasing it writes the trace of its runs (a
// profiled session is not kept idle).
func TestProfileIsWrittenWhenTheSessionEnds(t *testing.T) {
	orttest.Require(t)
	p := addModel(t, t.TempDir(), 3)
	plain, err := ort.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Release()
	prefix := filepath.Join(t.TempDir(), "trace")
	s, err := ort.Load(p, &ort.Options{Profile: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if s == plain {
		t.Fatal("a profiled load shares the unprofiled session")
	}
	x := ort.Value{Name: "x", Shape: []int64{1, 2}, Float32: []float32{1, 2}}
	for range 2 {
		if _, err := s.Run([]ort.Value{x}); err != nil {
			t.Fatal(err)
		}
	}
	s.Release()
	files, _ := filepath.Glob(prefix + "_*.json")
	if len(files) != 1 {
		t.Fatalf("want one trace file %s_*.json, got %v", prefix, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Name string `json:"name"`
		Cat  string `json:"cat"`
	}
	if err := json.Unmarshal(b, &events); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	runs, adds := 0, 0
	for _, e := range events {
		if e.Name == "model_run" {
			runs++
		}
		if e.Cat == "Node" && strings.Contains(e.Name, "kernel_time") {
			adds++
		}
	}
	if runs != 2 || adds != 2 {
		t.Fatalf("the trace holds %d runs and %d kernel times, want 2 and 2", runs, adds)
	}
}

// TestLoadRefusesOtherElementTypes loads a graph whose input is a float64
// tensor: Load names the input and its type.
func TestLoadRefusesOtherElementTypes(t *testing.T) {
	orttest.Require(t)
	double := onnxexport.Elem(onnx.TensorProto_DOUBLE)
	g := onnxexport.NewGraph("double")
	g.NodeTo("y", "Identity", []string{g.Input("x", double, 1, 2)})
	g.Output("y", double, 1, 2)
	s, err := ort.Load(orttest.WriteGraph(t, g), nil)
	if err == nil {
		s.Release()
		t.Fatal("a float64 model loaded")
	}
	if !strings.Contains(err.Error(), `"x" has element type double; only float32 and int64 are supported`) {
		t.Fatalf("error %q does not name the input and its type", err)
	}
}

// TestTensorsTooLargeForTheGPU runs, on the GPU device (lavapipe where
// there is no GPU), an operator whose output (600 million values, 2.4 GB)
// needs more buffer bindings than a shader may have: the error says what
// to do.
func TestTensorsTooLargeForTheGPU(t *testing.T) {
	where := orttest.RequireGPU(t)
	const n = 600_000_000
	g := onnxexport.NewGraph("huge")
	x := g.Input("x", onnxexport.Float32, 1)
	g.Output(g.NodeTo("y", "Expand", []string{x, g.ConstInt64("shape", n)}), onnxexport.Float32, n)
	s, err := ort.Load(orttest.WriteGraph(t, g), &ort.Options{Device: ort.GPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	_, err = s.Run([]ort.Value{{Name: "x", Shape: []int64{1}, Float32: []float32{1}}})
	if err == nil {
		t.Skipf("%s holds a 2.4 GB tensor in one operator", where)
	}
	if !strings.Contains(err.Error(), "use a smaller batch or width, or --device cpu") {
		t.Fatalf("the error gives no advice: %v", err)
	}
	t.Logf("%s: %v", where, err)
}
