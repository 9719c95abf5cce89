// Package modelfiletest writes model directories of small hand-built ONNX
// graphs for tests.
package modelfiletest

import (
	"os"
	"path/filepath"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
)

// WriteDir writes the graph g as d.ONNX and the description d as
// model.json into dir, failing t on any error.
func WriteDir(t testing.TB, dir string, g *onnxexport.Graph, d *modelfile.Description) {
	t.Helper()
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, d.ONNX), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := modelfile.Write(dir, d); err != nil {
		t.Fatal(err)
	}
}
