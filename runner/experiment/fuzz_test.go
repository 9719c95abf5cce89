package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as an experiment file, with an
// arbitrary --set flag: Load must return a graph or an error, never panic or
// hang. Run it with: go test -fuzz FuzzLoad ./runner/experiment/
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	deeper, _ := filepath.Glob("testdata/*/*/*.yaml")
	for _, s := range append(seeds, deeper...) {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "noisy.t=[250, 500]")
	}
	f.Add([]byte(strings.Repeat("[", 20000)), "x.y=1")
	f.Add([]byte("a: &a [*a, *a]\nstages: {x: {kind: exptest.source, with: {indices: *a}}}\n"), "")
	f.Add([]byte("stages: &s {x: {kind: exptest.source, in: {a: *s}, <<: *s}}\n"), "x.seed=&a [*a]")
	f.Add([]byte("include: [/dev/zero, /proc/self/status, /dev/stdin, .]\n"), "")
	for _, in := range slowInputs {
		// Small versions only: a large seed makes each execution, and the
		// minimizing of inputs derived from it, slow.
		if data := in.gen(5); len(data) <= 4096 {
			f.Add([]byte(data), "")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "exp.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := Load([]string{file}, Options{Sets: []string{set}})
		if (g == nil) == (err == nil) {
			t.Fatalf("Load returned graph %v and error %v", g, err)
		}
		if err != nil {
			PrintError(&strings.Builder{}, err)
		}
	})
}
