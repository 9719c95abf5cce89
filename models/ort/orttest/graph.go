package orttest

import (
	"os"
	"path/filepath"
	"testing"

	"difflab/models/onnxexport"
)

// WriteGraph writes g to a file in a temporary folder of the test and
// returns its path.
func WriteGraph(t testing.TB, g *onnxexport.Graph) string {
	t.Helper()
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "graph.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
