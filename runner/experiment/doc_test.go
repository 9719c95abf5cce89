package experiment

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"difflab/stages"
	"difflab/stages/artifact"
)

// Kinds named as in the package documentation's example, with a prefix.
func init() {
	run := func(*stages.Context) error { return nil }
	stages.Register(&stages.Kind{
		Name: "doctest.sdedit", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "image", Type: artifact.TypeImages}, {Name: "model", Type: artifact.TypeModel}},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Params: []stages.Param{
			{Name: "prompt", Type: stages.String}, {Name: "cfg", Type: stages.Float},
			{Name: "seed", Type: stages.Int}, {Name: "i_start", Type: stages.Int, Min: stages.Bound(0), Max: stages.Bound(33)},
		},
	})
	stages.Register(&stages.Kind{
		Name: "doctest.plot.grid", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "images", Type: artifact.TypeImages, Many: true}},
		Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure}},
		Params:  []stages.Param{{Name: "titles", Type: stages.Strings}},
	})
	stages.Register(&stages.Kind{
		Name: "doctest.model.onnx", Version: 1, Run: run,
		Outputs: []stages.Port{{Name: "model", Type: artifact.TypeModel}},
		Params:  []stages.Param{{Name: "file", Type: stages.Path}},
	})
	stages.Register(&stages.Kind{
		Name: "doctest.image.load", Version: 1, Run: run,
		Outputs: []stages.Port{{Name: "image", Type: artifact.TypeImages}},
		Params:  []stages.Param{{Name: "file", Type: stages.Path}, {Name: "size", Type: stages.Int}},
	})
}

// docBlock returns the indented block that follows the line starting with
// header in the package documentation.
func docBlock(t *testing.T, doc, header string) string {
	t.Helper()
	i := strings.Index(doc, "// "+header)
	if i < 0 {
		t.Fatalf("doc.go has no %q", header)
	}
	var b strings.Builder
	lines := strings.Split(doc[i:], "\n")[2:] // skip the header and the blank line
	for _, l := range lines {
		if !strings.HasPrefix(l, "//\t") {
			break
		}
		b.WriteString(strings.TrimPrefix(l, "//\t") + "\n")
	}
	return regexp.MustCompile(`kind: (\S+)`).ReplaceAllString(b.String(), "kind: doctest.$1")
}

// TestDocExample loads the example of the package documentation.
func TestDocExample(t *testing.T) {
	data, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	root := t.TempDir()
	files := map[string]string{
		"experiments/part_a/1_7_sdedit.yaml": docBlock(t, doc, "experiments/part_a/1_7_sdedit.yaml:"),
		"experiments/part_a/_common.yaml":    docBlock(t, doc, "experiments/part_a/_common.yaml"),
		"models/deepfloyd/stage1.onnx":       "onnx",
		"data/campanile.png":                 "png",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exps := filepath.Join(root, "experiments")
	e := load(t, []string{exps}, Options{}).Experiments[0]
	eq(t, "path", e.Path, "part_a/1_7_sdedit.yaml")
	eq(t, "quick", ids(e.Nodes), []string{"model", "test_image", "edited[i_start=10]", "edited[i_start=20]", "figure"})
	eq(t, "figure inputs", sources(node(t, e, "figure"), "images"), []string{"test_image.image", "edited[i_start=10].images", "edited[i_start=20].images"})
	eq(t, "image file", node(t, e, "test_image").Files, []string{filepath.Join(root, "data/campanile.png")})
	eq(t, "stage doc", node(t, e, "edited[i_start=10]").Doc, "SDEdit of the test image at each noise level.")
	e = load(t, []string{exps}, Options{Profile: "full"}).Experiments[0]
	eq(t, "full", len(e.Nodes), 3+6)

	// Without the ONNX file, the experiment is skipped when found in a
	// directory and an error when named.
	if err := os.Remove(filepath.Join(root, "models/deepfloyd/stage1.onnx")); err != nil {
		t.Fatal(err)
	}
	e = load(t, []string{exps}, Options{}).Experiments[0]
	if len(e.Nodes) != 0 || !strings.Contains(e.Skipped, "export it with models/deepfloyd/export.py") {
		t.Errorf("skipped = %q with %d nodes", e.Skipped, len(e.Nodes))
	}
	list := loadErr(t, []string{filepath.Join(exps, "part_a/1_7_sdedit.yaml")}, Options{})
	if len(list) != 1 || list[0].Pos.Line != 7 || list[0].Pos.Col != 5 {
		t.Errorf("requires: %v", list)
	}
}
