package plot

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"

	"difflab/stages"
	"difflab/stages/artifact"
)

func run(t *testing.T, kind string, p stages.Params, port string, in []stages.Input) (image.Image, error) {
	t.Helper()
	k, err := stages.Lookup(kind)
	if err != nil {
		t.Fatal(err)
	}
	full := stages.Params{}
	for _, d := range k.Params {
		full[d.Name] = d.Default
	}
	for n, v := range p {
		full[n] = v
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "figure", Params: full, In: map[string][]stages.Input{port: in}}
	if err := k.Run(ctx); err != nil {
		return nil, err
	}
	fig := ctx.Outputs()["figure"].(*artifact.Figure)
	if dir := os.Getenv("DIFFLAB_TEST_OUT"); dir != "" { // look at the figures: DIFFLAB_TEST_OUT=/tmp/x go test
		os.WriteFile(dir+"/"+t.Name()+".png", fig.PNG, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(fig.PNG))
	if err != nil {
		t.Fatalf("figure is not a PNG: %v", err)
	}
	return img, nil
}

// ramp returns n gray h x w images in [-1, 1]; image i is the constant
// -1 + 2i/(n-1) except pixel (0, 0), which is lo - 1 (clipped to black).
func ramp(n, h, w int) *artifact.Images {
	m := artifact.NewImages(n, 1, h, w, -1, 1)
	for i := 0; i < n; i++ {
		px := m.Image(i)
		for j := range px {
			px[j] = -1 + 2*float32(i)/float32(n-1)
		}
		px[0] = -2
	}
	return m
}

func gray(c color.Color) uint8 {
	r, _, _, _ := c.RGBA()
	return uint8(r >> 8)
}

func TestRenderGridGeometry(t *testing.T) {
	m := ramp(5, 4, 6)
	var cells []Cell
	for i := 0; i < 5; i++ {
		cells = append(cells, Cell{Images: m, Index: i})
	}
	g, err := RenderGrid(cells, GridOptions{Cols: 3, Scale: 10})
	if err != nil {
		t.Fatal(err)
	}
	// 3 columns of 60 px and 2 rows of 40 px, 8 px padding, no text.
	if b := g.Image.Bounds(); b.Dx() != 3*60+4*pad || b.Dy() != pad+2*(40+pad) {
		t.Fatalf("grid is %v, want %d x %d", b.Size(), 3*60+4*pad, pad+2*(40+pad))
	}
	if want := image.Rect(pad+60+pad, pad+40+pad, pad+2*60+pad, pad+2*40+pad); g.Cells[4] != want {
		t.Fatalf("cell 4 at %v, want %v", g.Cells[4], want)
	}
	for i, r := range g.Cells {
		want := uint8(255*float64(i)/4 + 0.5) // values -1..1 map to 0..255
		if got := gray(g.Image.At(r.Min.X+35, r.Min.Y+25)); got != want {
			t.Errorf("cell %d: level %d, want %d", i, got, want)
		}
		// The clipped pixel (0, 0) is a black 10 x 10 square.
		if got := gray(g.Image.At(r.Min.X+9, r.Min.Y+9)); got != 0 {
			t.Errorf("cell %d: pixel (0, 0) level %d, want 0 (clipped)", i, got)
		}
		if got := gray(g.Image.At(r.Min.X+10, r.Min.Y+9)); got != want {
			t.Errorf("cell %d: pixel (0, 1) level %d, want %d", i, got, want)
		}
	}
	// The padding is white.
	if got := gray(g.Image.At(2, 2)); got != 255 {
		t.Errorf("padding level %d, want 255", got)
	}
}

func TestRenderGridTextAndAutoScale(t *testing.T) {
	m := ramp(2, 28, 28)
	g, err := RenderGrid([]Cell{{m, 0, "original"}, {m, 1, "a rather long title that must wrap onto lines"}},
		GridOptions{Caption: "caption"})
	if err != nil {
		t.Fatal(err)
	}
	// Auto scale makes 28-pixel images 5 x 28 = 140 pixels.
	if r := g.Cells[0]; r.Dx() != 140 || r.Dy() != 140 {
		t.Fatalf("cell is %v, want 140 x 140", r.Size())
	}
	// Text is drawn between the top and the first cell: some dark pixels.
	dark := 0
	for y := 0; y < g.Cells[0].Min.Y; y++ {
		for x := 0; x < g.Image.Bounds().Dx(); x++ {
			if gray(g.Image.At(x, y)) < 128 {
				dark++
			}
		}
	}
	if dark < 50 {
		t.Errorf("only %d dark pixels above the cells; want caption and titles there", dark)
	}
	f, _ := textFace()
	if lines := wrap(f, "a rather long title that must wrap onto lines", 140); len(lines) < 2 {
		t.Errorf("wrap gave %q, want several lines", lines)
	}
	for _, l := range wrap(f, "a rather long title that must wrap onto lines", 140) {
		if w := font.MeasureString(f, l).Ceil(); w > 140 {
			t.Errorf("line %q is %d pixels wide, want at most 140", l, w)
		}
	}
}

func TestRenderGridErrors(t *testing.T) {
	four := artifact.NewImages(1, 4, 2, 2, 0, 1)
	if _, err := RenderGrid([]Cell{{four, 0, "x"}}, GridOptions{}); err == nil || !strings.Contains(err.Error(), "4 channels") {
		t.Errorf("4-channel image gave %v", err)
	}
	if _, err := RenderGrid(nil, GridOptions{}); err == nil {
		t.Error("empty grid gave no error")
	}
}

func TestExpandTitle(t *testing.T) {
	got, err := ExpandTitle("t={t}, sigma={sigma} ({stage})", map[string]any{"t": 250, "sigma": 0.5, "stage": "noisy[t=250]"})
	if err != nil || got != "t=250, sigma=0.5 (noisy[t=250])" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := ExpandTitle("i={i_start}", map[string]any{"t": 1}); err == nil || !strings.Contains(err.Error(), "{i_start}") || !strings.Contains(err.Error(), "{t}") {
		t.Errorf("unknown placeholder gave %v", err)
	}
	if _, err := ExpandTitle("t={t", nil); err == nil || !strings.Contains(err.Error(), "unclosed") {
		t.Errorf("unclosed placeholder gave %v", err)
	}
}

func TestGridKindTitles(t *testing.T) {
	one := ramp(2, 4, 4)
	in := []stages.Input{{Artifact: one, Stage: "image"}}
	for _, v := range []int{250, 500} {
		in = append(in, stages.Input{Artifact: ramp(2, 4, 4), Stage: fmt.Sprintf("noisy[t=%d]", v), Matrix: map[string]any{"t": v}})
	}
	// Per reference as written: "image" and "noisy[*]".
	if _, err := run(t, "plot.grid", stages.Params{"titles": []string{"original", "t={t}"}}, "images", in); err != nil {
		t.Errorf("titles per reference: %v", err)
	}
	// One template for all fails on the input without t, naming the placeholder.
	if _, err := run(t, "plot.grid", stages.Params{"titles": []string{"t={t}"}}, "images", in); err == nil || !strings.Contains(err.Error(), "{t}") {
		t.Errorf("template without a value gave %v", err)
	}
	if _, err := run(t, "plot.grid", stages.Params{"titles": []string{"{stage} #{index}"}}, "images", in); err != nil {
		t.Errorf("stage/index template: %v", err)
	}
	if _, err := run(t, "plot.grid", stages.Params{"titles": []string{"a", "b", "c", "d", "e"}}, "images", in); err == nil || !strings.Contains(err.Error(), "6 (one per image)") {
		t.Errorf("5 titles gave %v", err)
	}
	img, err := run(t, "plot.grid", stages.Params{"titles": []string{"a", "b", "c", "d", "e", "f"}, "cols": 2, "scale": 1}, "images", in)
	if err != nil {
		t.Fatal(err)
	}
	// Titles add a text band: the figure is taller than 3 rows of bare 4-pixel cells.
	if b := img.Bounds(); b.Dx() != 2*4+3*pad || b.Dy() <= pad+3*(4+pad) {
		t.Errorf("figure is %v", b.Size())
	}
}

func TestCurveKind(t *testing.T) {
	loss := &artifact.Series{XLabel: "iteration", YLabel: "loss", Lines: []artifact.Line{
		{Name: "train", X: []float64{1, 2, 3, 4}, Y: []float64{0.2, 0.05, 0.02, 0.011}},
	}}
	other := &artifact.Series{Lines: []artifact.Line{{Name: "", X: []float64{1, 2}, Y: []float64{0.3, 0.1}}}}
	in := []stages.Input{{Artifact: loss, Stage: "train[lr=0.01]"}, {Artifact: other, Stage: "baseline"}}
	img, err := run(t, "plot.curve", stages.Params{"title": "loss", "log_y": true, "width": 640, "height": 360}, "series", in)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 360 {
		t.Errorf("curve is %v, want 640 x 360", b.Size())
	}
	// Two colored lines: some pixels that are neither gray nor white.
	colored := 0
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r != g || g != b {
				colored++
			}
		}
	}
	if colored < 200 {
		t.Errorf("%d colored pixels, want lines drawn", colored)
	}
	bad := &artifact.Series{Lines: []artifact.Line{{Name: "zero", X: []float64{1}, Y: []float64{0}}}}
	if _, err := run(t, "plot.curve", stages.Params{"log_y": true}, "series", []stages.Input{{Artifact: bad, Stage: "s"}}); err == nil || !strings.Contains(err.Error(), "logarithmic") {
		t.Errorf("zero on a log axis gave %v", err)
	}
}

func TestCurveLegend(t *testing.T) {
	named := &artifact.Series{XLabel: "epoch", Lines: []artifact.Line{{Name: "train", Y: []float64{1}}, {Name: "test", Y: []float64{2}}}}
	plain := &artifact.Series{XLabel: "iteration", Lines: []artifact.Line{{Y: []float64{3}}}}
	in := []stages.Input{{Artifact: named, Stage: "a"}, {Artifact: plain, Stage: "b[lr=0.1]"}}
	names := func(labels []string, in []stages.Input) string {
		t.Helper()
		var opt CurveOptions
		lines, err := legendLines("loss", in, labels, &opt)
		if err != nil {
			t.Fatal(err)
		}
		if opt.XLabel != "epoch" && len(in) > 1 {
			t.Errorf("x label %q, want the first series' own", opt.XLabel)
		}
		var out []string
		for _, l := range lines {
			out = append(out, l.Name)
		}
		return strings.Join(out, "|")
	}
	if got := names(nil, in); got != "a: train|a: test|b[lr=0.1]" {
		t.Errorf("without labels: %s", got)
	}
	if got := names([]string{"scheduler", "clipping"}, in); got != "scheduler: train|scheduler: test|clipping" {
		t.Errorf("with labels: %s", got)
	}
	if got := names(nil, in[1:]); got != "" {
		t.Errorf("one unnamed series got the legend %q", got)
	}
	if got := names([]string{"sigma = 0.5"}, in[1:]); got != "sigma = 0.5" {
		t.Errorf("one labelled series: %q", got)
	}
	if _, err := legendLines("loss", in, []string{"one"}, &CurveOptions{}); err == nil || !strings.Contains(err.Error(), "1 names for 2 input series") {
		t.Errorf("too few labels gave %v", err)
	}
}

func TestWrapLongWordTakesLinearWork(t *testing.T) {
	face, err := textFace()
	if err != nil {
		t.Fatal(err)
	}
	word := func(n int) string { return strings.Repeat("abcdefghij", n/10) }
	lines := wrap(face, "a "+word(2000)+" b", 100)
	if strings.ReplaceAll(strings.Join(lines, ""), " ", "") != "a"+word(2000)+"b" {
		t.Fatal("wrapping lost or reordered characters")
	}
	for _, l := range lines {
		if w := font.MeasureString(face, l); w > fixed.I(100) {
			t.Fatalf("line %q is %v wide, over 100 pixels", l, w)
		}
	}
	// Allocations grow with the word's length, not with its square or cube
	// (the pieces of a word twice as long take about twice the work).
	allocs := func(n int) float64 {
		w := word(n)
		return testing.AllocsPerRun(3, func() { wrap(face, w, 100) })
	}
	if a, b := allocs(2000), allocs(4000); b > 2.5*a {
		t.Errorf("wrapping a word of 4000 characters allocates %.0f times, of 2000 %.0f: more than linear", b, a)
	}
}

func TestTextParametersAreBounded(t *testing.T) {
	long := strings.Repeat("x", MaxText+1)
	for kind, p := range map[string]stages.Params{
		"plot.grid":  {"titles": []string{"ok", long}, "caption": ""},
		"plot.curve": {"title": long, "labels": []string{}, "xlabel": "", "ylabel": ""},
	} {
		k, _ := stages.Lookup(kind)
		if err := k.Check(p); err == nil || !strings.Contains(err.Error(), "at most 1000") {
			t.Errorf("%s accepts a text of %d characters: %v", kind, MaxText+1, err)
		}
	}
}
