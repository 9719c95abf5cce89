package ops

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestEngineLines(t *testing.T) {
	lines := EngineLines()
	if lines[0] != "ops "+Engine {
		t.Fatalf("first line %q, want %q", lines[0], "ops "+Engine)
	}
	if !nativeKernels {
		if len(lines) != 1 {
			t.Fatalf("pure-Go build: lines %q, want only the engine", lines)
		}
		return
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "blas OpenBLAS ") || !strings.Contains(lines[1], ", core ") ||
		!strings.HasPrefix(lines[2], "native kernels ") || !strings.HasSuffix(lines[2], " clone") {
		t.Fatalf("OpenBLAS build: lines %q, want the engine, OpenBLAS's configuration and core, the native kernels' clone", lines)
	}
}

// TestEngineLinesNameTheCoreOpenBLASRuns runs this test again in processes
// whose OPENBLAS_CORETYPE forces a core, and wants the core in the lines.
func TestEngineLinesNameTheCoreOpenBLASRuns(t *testing.T) {
	if os.Getenv("DIFFLAB_TEST_PRINT_ENGINE") != "" {
		fmt.Println(strings.Join(EngineLines(), "\n"))
		return
	}
	if !nativeKernels || runtime.GOARCH != "amd64" {
		t.Skip("OpenBLAS's x86-64 cores: amd64 with the build tag openblas")
	}
	for _, core := range []string{"Prescott", "Haswell"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEngineLinesNameTheCoreOpenBLASRuns$")
		cmd.Env = append(os.Environ(), "DIFFLAB_TEST_PRINT_ENGINE=1", "OPENBLAS_CORETYPE="+core, "OPENBLAS_BLOCK_FACTOR=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("OPENBLAS_CORETYPE=%s: %v\n%s", core, err, out)
		}
		if !strings.Contains(string(out), ", core "+core+"\n") {
			t.Errorf("OPENBLAS_CORETYPE=%s: lines\n%s\nwant %q", core, out, ", core "+core)
		}
	}
}
