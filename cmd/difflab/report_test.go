package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "clitest.figure", Doc: "a 4x4 PNG of one gray level", Version: 1,
		Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure}},
		Params:  []stages.Param{{Name: "shade", Type: stages.Int}},
		Run: func(ctx *stages.Context) error {
			img := image.NewGray(image.Rect(0, 0, 4, 4))
			for i := range img.Pix {
				img.Pix[i] = uint8(ctx.Params.Int("shade"))
			}
			img.SetGray(0, 0, color.Gray{Y: 255})
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				return err
			}
			return ctx.Output("figure", &artifact.Figure{PNG: b.Bytes()})
		},
	})
}

const figureYAML = `name: "1.1 Figures <test>"
doc: Two shades & a sweep.
stages:
  fig:
    kind: clitest.figure
    matrix: {shade: [10, 20]}
  later:
    kind: clitest.figure
    with: {shade: 30}
`

// images returns the image paths of the page, relative to it.
func images(html string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<img src="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestReportCommand(t *testing.T) {
	w := newWS(t, map[string]string{"part_a/figures.yaml": figureYAML, "part_b/demo.yaml": demoYAML})
	w.summary(w.exp, "--only", "fig")
	out := filepath.Join(w.dir, "site")
	code, stdoutText, errs := w.do("report", "--out", out, w.exp)
	if code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, errs)
	}
	index := filepath.Join(out, "index.html")
	if strings.TrimSpace(stdoutText) != index {
		t.Errorf("report printed %q, want the page's path %s", stdoutText, index)
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		"1.1 Figures &lt;test&gt;", "<p>Two shades &amp; a sweep.</p>",
		"Fig with shade=10", "Fig with shade=20", "Later",
		`<div class="missing">not yet computed</div>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if a, b := strings.Index(html, `id="part_a-figures"`), strings.Index(html, `id="part_b-demo"`); a < 0 || b < 0 || a > b {
		t.Error("Part A's section does not come before Part B's")
	}
	imgs := images(html)
	if len(imgs) != 2 || imgs[0] == imgs[1] {
		t.Fatalf("want two different images, got %v", imgs)
	}
	for _, p := range imgs {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("image %s not next to the page: %v", p, err)
		}
	}
}

func TestReportCompareCaches(t *testing.T) {
	w := newWS(t, map[string]string{"figures.yaml": figureYAML})
	w.summary(w.exp)
	before := w.cacheDir
	w.cacheDir = filepath.Join(w.dir, "cache2")
	w.summary(w.exp, "--set", "later.shade=200")

	out := filepath.Join(w.dir, "site")
	code, _, errs := w.do("report", "--out", out, "--compare", before, w.exp)
	if code != exitOK {
		t.Fatalf("report --compare: exit %d\n%s", code, errs)
	}
	b, _ := os.ReadFile(filepath.Join(out, "index.html"))
	html := string(b)
	if !strings.Contains(html, `class="compare"`) {
		t.Fatal("page is not a comparison")
	}
	// This cache computed later with shade 200 (--set); the report loads
	// the file as written (shade 30), which only the compared cache holds.
	later := html[strings.Index(html, `data-node="later"`):]
	later = later[:strings.Index(later, "</figure>")]
	if !strings.Contains(later, "not yet computed") || len(images(later)) != 1 {
		t.Errorf("later: want this run not computed and the compared run's image:\n%s", later)
	}
	if code, _, errs := w.do("report", "--out", out, "--compare", filepath.Join(w.dir, "nothing", "\x00"), w.exp); code == exitOK {
		t.Errorf("report with an unusable --compare cache succeeded: %s", errs)
	}
}
