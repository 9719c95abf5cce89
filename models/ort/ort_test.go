package ort_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"difflab/models/onnxexport"
	"difflab/models/ort"
)

func TestLibraryPathExplainsHowToGetIt(t *testing.T) {
	t.Setenv(ort.LibEnv, filepath.Join(t.TempDir(), "missing.so"))
	_, err := ort.LibraryPath()
	if !errors.Is(err, ort.ErrNoLibrary) || !strings.Contains(err.Error(), "rust-just@1.57.0 setup") || !strings.Contains(err.Error(), "npm pack onnxruntime-node@1.30.0") {
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
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
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
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
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
