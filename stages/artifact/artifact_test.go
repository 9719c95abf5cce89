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
