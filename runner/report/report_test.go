package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func writeSample(t *testing.T, runs []string) (html string, out string) {
	t.Helper()
	root := t.TempDir()
	exps := sample(t, root, max(len(runs), 1))
	Sort(exps)
	out = filepath.Join(root, "report")
	index, err := Write(exps, Options{Out: out, Runs: runs, Now: sampleStart})
	if err != nil {
		t.Fatal(err)
	}
	if index != filepath.Join(out, IndexName) {
		t.Fatalf("Write returned %s, want %s", index, filepath.Join(out, IndexName))
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

func TestSortPartAThenPartBThenOthers(t *testing.T) {
	exps := []*Experiment{{Path: "z_extra.yaml"}, {Path: "part_b/1.yaml"}, {Path: "extras/a.yaml"}, {Path: "part_a/2.yaml"}, {Path: "part_a/1.yaml"}}
	Sort(exps)
	var got []string
	for _, e := range exps {
		got = append(got, e.Path)
	}
	want := "part_a/1.yaml part_a/2.yaml part_b/1.yaml extras/a.yaml z_extra.yaml"
	if strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
}

func TestSectionsInWriteUpOrder(t *testing.T) {
	html, _ := writeSample(t, nil)
	ids := regexp.MustCompile(`<section id="([^"]+)">`).FindAllStringSubmatch(html, -1)
	var got []string
	for _, m := range ids {
		got = append(got, m[1])
	}
	want := "part_a-1_7_sdedit part_b-2_2_train_flow extras-deepfloyd"
	if strings.Join(got, " ") != want {
		t.Fatalf("sections %v, want %s", got, want)
	}
	for _, id := range got {
		if !strings.Contains(html, `<a href="#`+id+`">`) {
			t.Errorf("table of contents has no link to #%s", id)
		}
	}
}

func TestDocTextIsEscaped(t *testing.T) {
	html, _ := writeSample(t, nil)
	if strings.Contains(html, "<script>alert(1)</script>") {
		t.Fatal("doc text was inserted unescaped")
	}
	if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more") {
		t.Fatal("escaped doc text not found")
	}
	if !strings.Contains(html, "<p>Train the time-conditioned UNet.</p>") || !strings.Contains(html, "<p>The loss should level off.</p>") {
		t.Fatal("doc paragraphs not split at the blank line")
	}
	if !strings.Contains(html, "a photo of a &lt;sneaker&gt; &amp; co") {
		t.Fatal("parameter value not escaped or missing")
	}
}

func TestFiguresCaptionsAndPlaceholders(t *testing.T) {
	html, out := writeSample(t, nil)
	for _, want := range []string{
		`<span class="cap">Grid</span>`,
		`<div class="stage-doc">One row per i_start &amp; prompt.</div>`,
		`edited: i_start = 1, 10`,                          // sweep collected by the grid
		`<span class="cap">Pending with i_start=10</span>`, // sweep value in the caption
		`<span class="cap">Train (loss)</span>`,            // second output of a two-output kind
		`<div class="missing">not yet computed</div>`,
		`<b>Skipped:</b> model file deepfloyd/stage1.onnx is missing; see docs/deepfloyd.md`,
		`key <code title="b0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde">b0123456789a</code> · ran 2026-11-25 21:00:00 UTC · took 250 ms · onnxruntime 1.22.0`,
		`took 1m 35s · onnxruntime 1.22.0 · fetched from 127.0.0.1:9092/ at 2026-11-26T08:00:00Z`, // a remote cache's entry
		`<svg class="chart"`,
		`loss (log scale)`,
		`<td>edited</td><td>i_start</td><td>1, 10</td>`,
		`<td>grid</td><td>titles</td><td>SDEdit with i_start={i_start}</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The grid is copied next to the page and shown pixelated.
	imgs := regexp.MustCompile(`<img src="([^"]+)" width="64" height="32" style="max-width: 256px" alt="results" class="pix">`).FindAllStringSubmatch(html, -1)
	if len(imgs) != 1 {
		t.Fatalf("want one 64x32 pixelated image, found %d", len(imgs))
	}
	if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(imgs[0][1]))); err != nil {
		t.Fatalf("image not copied: %v", err)
	}
	// A skipped experiment shows no figures, and images batches are not figures.
	if n := strings.Count(html, "<figure "); n != 3 {
		t.Errorf("%d figures, want 3 (grid, pending, loss)", n)
	}
	if strings.Contains(html, `data-node="x"`) {
		t.Error("skipped experiment shows a figure")
	}
}

func TestNoNetworkReferences(t *testing.T) {
	html, _ := writeSample(t, []string{"quick", "full"})
	for _, m := range regexp.MustCompile(`(?i)(src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(html, -1) {
		u := m[2]
		if strings.Contains(u, "//") || strings.Contains(u, ":") {
			t.Errorf("%s=%q is not a relative path or fragment", m[1], u)
		}
	}
	if regexp.MustCompile(`(?i)https?://`).MatchString(html) {
		t.Error("page contains an absolute URL")
	}
}

func TestCompareShowsRunsSideBySide(t *testing.T) {
	html, _ := writeSample(t, []string{"quick", "full"})
	if !strings.Contains(html, `class="compare"`) || !strings.Contains(html, "--runs: 2") {
		t.Fatal("page not in compare layout")
	}
	if !strings.Contains(html, "comparing <b>quick</b> with <b>full</b>") {
		t.Error("header does not name the compared runs")
	}
	// The loss curve exists in both runs; the grid only in the first.
	fig := figureHTML(t, html, "train", "loss")
	if strings.Count(fig, "<svg") != 2 || !strings.Contains(fig, "<h4>quick</h4>") || !strings.Contains(fig, "<h4>full</h4>") {
		t.Errorf("loss figure does not show both runs:\n%s", fig)
	}
	if !strings.Contains(fig, `<tr class="differs"><td>train</td><td>epochs</td><td>1</td><td>10</td></tr>`) {
		t.Errorf("differing parameter not marked:\n%s", fig)
	}
	if !strings.Contains(fig, `<tr><td>train</td><td>lr</td><td>0.01</td><td>0.01</td></tr>`) {
		t.Errorf("equal parameter marked or missing:\n%s", fig)
	}
	grid := figureHTML(t, html, "grid", "figure")
	if strings.Count(grid, "<img ") != 1 || !strings.Contains(grid, "not yet computed") {
		t.Errorf("grid should show one image and one placeholder:\n%s", grid)
	}
	if !strings.Contains(html, "3/4 · 2/4 stages computed") {
		t.Error("table of contents lacks per-run counts")
	}
}

func TestWritePrunesOldImagesOnly(t *testing.T) {
	_, out := writeSample(t, nil)
	dir := filepath.Join(out, filesDir)
	stale := filepath.Join(dir, strings.Repeat("0", 24)+".png")
	mine := filepath.Join(dir, "notes.txt")
	for _, p := range []string{stale, mine} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Write(nil, Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("unused report image was kept")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error("a file the report did not make was removed")
	}
}

func TestWriteRejectsRunCountMismatch(t *testing.T) {
	exps := sample(t, t.TempDir(), 1)
	_, err := Write(exps, Options{Out: t.TempDir(), Runs: []string{"a", "b"}})
	if err == nil || !strings.Contains(err.Error(), "has 1 runs, the report has 2") {
		t.Fatalf("error %v", err)
	}
}

func TestUnreadableFigureIsAPlaceholder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "n")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "figure.png"), []byte("not a png"), 0o644)
	exps := []*Experiment{{Path: "a.yaml", Nodes: []*Node{{ID: "n", Stage: "n", Kind: "plot.grid",
		Outputs: []Output{{"figure", "figure"}}, Runs: []Run{{Dir: dir}}}}}}
	index, err := Write(exps, Options{Out: filepath.Join(root, "out")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(index)
	if !strings.Contains(string(b), `<div class="missing">not readable: `) || strings.Contains(string(b), "<img ") {
		t.Fatalf("damaged figure not shown as a placeholder:\n%s", b)
	}
}

// figureHTML returns the <figure> element of output of node.
func figureHTML(t *testing.T, html, node, output string) string {
	t.Helper()
	start := strings.Index(html, `<figure data-node="`+node+`" data-output="`+output+`">`)
	if start < 0 {
		t.Fatalf("no figure for %s.%s", node, output)
	}
	end := strings.Index(html[start:], "</figure>")
	return html[start : start+end]
}

func TestWideFiguresTakeARowAndSmallOnesAreEnlarged(t *testing.T) {
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "wide"), "figure", 300, 40, 90)
	writePNG(t, filepath.Join(root, "plot"), "figure", 900, 500, 90)
	fig := []Output{{"figure", "figure"}}
	exps := []*Experiment{{Path: "a.yaml", Nodes: []*Node{
		{ID: "wide", Stage: "wide", Outputs: fig, Runs: []Run{{Dir: filepath.Join(root, "wide")}}},
		{ID: "plot", Stage: "plot", Outputs: fig, Runs: []Run{{Dir: filepath.Join(root, "plot")}}},
	}}}
	index, err := Write(exps, Options{Out: filepath.Join(root, "out")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(index)
	html := string(b)
	// 300 pixels wide: enlarged twice (pixelated, 600 px), a whole row.
	if !strings.Contains(html, `data-node="wide" data-output="figure" class="wide"`) ||
		!regexp.MustCompile(`width="300" height="40" style="max-width: 600px" alt="results" class="pix"`).MatchString(html) {
		t.Errorf("300-pixel grid not enlarged to a whole row:\n%s", figureHTML(t, html, "wide", "figure"))
	}
	// 900 pixels wide: a smooth plot at its own size.
	if !strings.Contains(html, `width="900" height="500" style="max-width: 900px" alt="results">`) {
		t.Errorf("large plot scaled or pixelated:\n%s", figureHTML(t, html, "plot", "figure"))
	}
}
