package artifact

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModelSaveLinksFiles(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "epoch_001"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.json", "epoch_001/weights.safetensors"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A leftover at one of the names is replaced.
	if err := os.MkdirAll(filepath.Join(dst, "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "model", "model.json"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := (&Model{Dir: src}).Save(dst, "model")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0] != filepath.Join("model", "epoch_001", "weights.safetensors") || files[1] != filepath.Join("model", "model.json") {
		t.Fatalf("Save wrote %v", files)
	}
	for _, f := range []string{"model.json", "epoch_001/weights.safetensors"} {
		b, err := os.ReadFile(filepath.Join(dst, "model", f))
		if err != nil || string(b) != f {
			t.Fatalf("%s = %q, %v", f, b, err)
		}
	}
	a, _ := os.Stat(filepath.Join(src, "epoch_001", "weights.safetensors"))
	b, _ := os.Stat(filepath.Join(dst, "model", "epoch_001", "weights.safetensors"))
	if !os.SameFile(a, b) {
		t.Error("a model file on the same file system was copied, not linked")
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")
	if err := os.WriteFile(from, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(from, to); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(from)
	b, err := os.Stat(to)
	if err != nil || os.SameFile(a, b) || b.Size() != 4 {
		t.Fatalf("copy: %v, same file %v", err, err == nil && os.SameFile(a, b))
	}
	if err := CopyFile(filepath.Join(dir, "missing"), to); err == nil {
		t.Error("copying a missing file succeeded")
	}
}

func TestReplacingNeverWritesThrough(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	if err := os.WriteFile(a, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Linking twice, then copying another file over the link, leaves a as it was.
	for i := 0; i < 2; i++ {
		if err := LinkOrCopy(a, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := CopyFile(c, b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(a); string(got) != "weights" {
		t.Fatalf("the source reads %q after being replaced at another name", got)
	}
	if got, _ := os.ReadFile(b); string(got) != "other" {
		t.Fatalf("the copy reads %q", got)
	}
}

func TestModelSaveFollowsFileLinks(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "big.onnx")
	if err := os.WriteFile(target, []byte("onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(src, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Model{Dir: src}).Save(dst, "model"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(filepath.Join(dst, "model", "model.onnx"))
	if err != nil || !info.Mode().IsRegular() {
		t.Fatalf("the saved model.onnx is %v (%v), want a regular file", info.Mode(), err)
	}
	if err := os.Symlink(outside, filepath.Join(src, "sub")); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Model{Dir: src}).Save(t.TempDir(), "model"); err == nil {
		t.Error("a link to a directory was saved")
	}
}
