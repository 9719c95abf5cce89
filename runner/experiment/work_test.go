package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Generators of experiment files of size about proportional to n, each of
// which once made Load do work growing faster than the file.
var slowInputs = []struct {
	name string
	gen  func(n int) string
}{
	{"misspelt long references", func(n int) string {
		// Each misspelt reference was compared with every long stage id.
		long := strings.Repeat("a", 150)
		var b strings.Builder
		b.WriteString("stages:\n")
		for i := range n {
			fmt.Fprintf(&b, "  %s%05d: {kind: exptest.source}\n", long, i)
			fmt.Fprintf(&b, "  r%d: {kind: exptest.blur, in: {images: %sb%05d}}\n", i, long, i)
		}
		return b.String()
	}},
	{"profile keys of missing stages", func(n int) string {
		// The list of stage ids was built again for each of them.
		var b strings.Builder
		b.WriteString("profiles:\n  quick:\n")
		for i := range 4 * n {
			fmt.Fprintf(&b, "    zz%d.t: 1\n", i)
		}
		b.WriteString("stages:\n")
		for i := range n {
			fmt.Fprintf(&b, "  s%d: {kind: exptest.source}\n", i)
		}
		return b.String()
	}},
	{"selectors of missing values", func(n int) string {
		// Each error listed every value of the sweep.
		var b strings.Builder
		b.WriteString("stages:\n  src: {kind: exptest.source, matrix: {seed: [")
		for i := range 2 * n {
			fmt.Fprintf(&b, "%d, ", i)
		}
		b.WriteString("-1]}}\n  g: {kind: exptest.grid, in: {images: [")
		b.WriteString(strings.Repeat(`"src[seed=x]", `, 2*n))
		b.WriteString("]}}\n")
		return b.String()
	}},
	{"a long value in every node id", func(n int) string {
		// Every one of 2000 node ids spelt out a list of 10n values.
		var b strings.Builder
		b.WriteString("doc: &x 1234567890\nstages:\n  s:\n    kind: exptest.source\n    matrix:\n      indices: [[")
		b.WriteString(strings.Repeat("*x, ", 10*n))
		b.WriteString("1]]\n      seed: [")
		for i := range 2000 {
			fmt.Fprintf(&b, "%d, ", i)
		}
		b.WriteString("-1]\n")
		return b.String()
	}},
	{"a long reference used through an alias", func(n int) string {
		// Each use parsed the whole text again.
		return "doc: &r \"img.images" + strings.Repeat(" ", 100000) + "\"\nstages:\n  img: {kind: exptest.source}\n" +
			"  g: {kind: exptest.grid, in: {images: [" + strings.Repeat("*r, ", n) + "img]}}\n"
	}},
}

// allocated returns the bytes Load allocates for the experiment text, and
// the collector it reported to.
func allocated(t *testing.T, text string) (uint64, *collector) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "exp.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	loadInto([]string{file}, Options{}, c)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, c
}

// TestWorkIsLinear bounds the work Load does on inputs that were once slow,
// measured as the bytes it allocates: doubling the input may at most
// about double them, and they stay within a fixed multiple of the file.
func TestWorkIsLinear(t *testing.T) {
	const n = 300
	for _, in := range slowInputs {
		small, large := in.gen(n), in.gen(2*n)
		a, _ := allocated(t, small)
		b, c := allocated(t, large)
		t.Logf("%s: %d bytes: %d allocated, %d bytes: %d allocated", in.name, len(small), a, len(large), b)
		if b > 3*a {
			t.Errorf("%s: doubling the input multiplied the allocations by %.1f", in.name, float64(b)/float64(a))
		}
		if limit := uint64(200*len(large)) + 16<<20; b > limit {
			t.Errorf("%s: %d bytes allocated for a %d-byte file, more than %d", in.name, b, len(large), limit)
		}
		if c.cells > maxSuggestCells {
			t.Errorf("%s: %d edit-distance cells computed, more than %d", in.name, c.cells, maxSuggestCells)
		}
	}
}
