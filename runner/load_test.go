package runner

import (
	"os"
	"path/filepath"
	"testing"

	"difflab/runner/cache"
	"difflab/runner/experiment"
)

// keysOfFile loads one experiment file with the given text and returns its
// nodes' keys by node id.
func keysOfFile(t *testing.T, text string, sets ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("some data"), 0o644)
	path := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := experiment.Load([]string{path}, experiment.Options{Root: dir, Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Keys(g, cache.NewDigester(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for n, k := range keys {
		out[n.ID] = k.Key
	}
	return out
}

const expYAML = `name: keys
stages:
  a:
    kind: test.source
    with: {value: 1, n: 4, sleep_ms: 0}
  b:
    kind: test.scale
    in: {in: a}
    with: {factor: 2}
  f:
    kind: test.file
    with: {file: data.txt}
`

// The same experiment written differently: comments, key order, block
// style, an integer written as a float.
const expYAMLReordered = `# a comment
stages:
  f:
    with:
      file: ./data.txt   # same file
    kind: test.file
  b:
    with: {factor: 2.0}
    in: {in: a}
    kind: test.scale
  a:
    with: {sleep_ms: 0, n: 4, value: 1.0}
    kind: test.source
name: keys
`

func TestKeysIgnoreHowTheFileIsWritten(t *testing.T) {
	a, b := keysOfFile(t, expYAML), keysOfFile(t, expYAMLReordered)
	for _, id := range []string{"a", "b", "f"} {
		if a[id] == "" || a[id] != b[id] {
			t.Errorf("stage %s: key %s vs %s for the same experiment written differently", id, a[id], b[id])
		}
	}
	set := keysOfFile(t, expYAML, "b.factor=3")
	if set["a"] != a["a"] || set["f"] != a["f"] || set["b"] == a["b"] {
		t.Fatal("--set b.factor must change exactly b's key")
	}
}
