package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoadSmall loads the small test experiments, as a write-up section.
func BenchmarkLoadSmall(b *testing.B) {
	paths := []string{"testdata/ok/forward.yaml", "testdata/ok/sweeps/sweeps.yaml", "testdata/ok/includes/main.yaml"}
	for b.Loop() {
		if _, err := Load(paths, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadLarge loads an experiment of 5001 nodes: 50 sweeps of 99
// expansions, each collected by one consumer with [*].
func BenchmarkLoadLarge(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: large\nstages:\n  image: {kind: exptest.source}\n")
	ts := make([]string, 99)
	for i := range ts {
		ts[i] = fmt.Sprint(i)
	}
	for i := range 50 {
		fmt.Fprintf(&sb, "  n%d:\n    kind: exptest.noise\n    in: {images: image}\n    matrix: {t: [%s]}\n", i, strings.Join(ts, ", "))
		fmt.Fprintf(&sb, "  g%d:\n    kind: exptest.grid\n    in: {images: [\"n%d[*]\"]}\n", i, i)
	}
	file := filepath.Join(b.TempDir(), "large.yaml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		g, err := Load([]string{file}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(g.Nodes) != 1+50*99+50 {
			b.Fatalf("%d nodes", len(g.Nodes))
		}
	}
}
