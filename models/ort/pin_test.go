package ort

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPinMatchesSetup wants LibVersion and LibSHA256 to be what
// scripts/setup.sh installs.
func TestPinMatchesSetup(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "setup.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ re, want string }{
		{`(?m)^ort_npm_package="onnxruntime-node@([^"]+)"$`, LibVersion},
		{`(?m)^ort_lib_sha256="([0-9a-f]+)"$`, LibSHA256},
	} {
		m := regexp.MustCompile(c.re).FindSubmatch(b)
		if m == nil || string(m[1]) != c.want {
			t.Errorf("setup.sh: %s gives %q, want %q", c.re, m, c.want)
		}
	}
}

func TestCheckLibrary(t *testing.T) {
	other := filepath.Join(t.TempDir(), LibName)
	os.WriteFile(other, []byte("not ONNX Runtime"), 0o644)
	err := checkLibrary(other)
	if !errors.Is(err, ErrWrongLibrary) || !strings.Contains(err.Error(), LibSHA256) || !strings.Contains(err.Error(), "npm pack") {
		t.Errorf("another file: %v", err)
	}
	if err := checkLibrary(filepath.Join(t.TempDir(), LibName)); !errors.Is(err, ErrNoLibrary) {
		t.Errorf("a missing file: %v", err)
	}
	lib, err := LibraryPath()
	if errors.Is(err, ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	if err := checkLibrary(lib); err != nil {
		t.Errorf("the installed library: %v", err)
	}
}

func TestKeyLines(t *testing.T) {
	lines := KeyLines()
	want := "library ONNX Runtime " + LibVersion + ", " + LibName + " sha256 " + LibSHA256
	if len(lines) != 2 || lines[0] != want || lines[1] != "cpu "+CPUClass() {
		t.Fatalf("KeyLines() = %q", lines)
	}
	if c := CPUClass(); !regexp.MustCompile(`^(amd64 (avx512f|avx2\+fma3|avx|sse2)|[a-z0-9]+)$`).MatchString(c) {
		t.Errorf("CPUClass() = %q", c)
	}
}
