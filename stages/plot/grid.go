// Package plot renders figures: labelled image grids ("plot.grid") and line
// charts of scalar series ("plot.curve"), both as PNG.
//
// # Overview
//
// RenderGrid lays images out in rows of equal cells, each with an optional
// title above it and an optional caption above the whole grid. Small images
// are enlarged by an integer factor with nearest-neighbour sampling, so each
// pixel stays a sharp square. ExpandTitle fills "{name}" placeholders in
// titles, for example with a sweep's values ("t={t}").
//
// RenderCurve draws named series as lines with gonum.org/v1/plot.
//
// # Pixel values
//
// A batch's values map linearly from its range [Lo, Hi] to 0..255 and are
// clipped there, so noisy images outside their nominal range saturate rather
// than wrap. Images with 1 channel are drawn in gray, with 3 in RGB.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sort"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"difflab/stages/artifact"
)

// Cell is one image of a grid: image Index of the batch Images, under Title.
type Cell struct {
	Images *artifact.Images
	Index  int
	Title  string
}

// GridOptions controls RenderGrid. The zero value chooses everything.
type GridOptions struct {
	// Cols is the number of columns; 0 means all cells in one row, up to 8.
	Cols int
	// Scale enlarges every image by this integer factor; 0 picks the
	// smallest factor that makes the largest image at least 128 pixels.
	Scale int
	// Caption, if set, is written above the grid.
	Caption string
}

// Grid is a rendered grid.
type Grid struct {
	Image *image.RGBA
	// Cells holds, for each cell, the rectangle of Image its pixels fill.
	Cells []image.Rectangle
}

// Layout constants, in pixels.
const (
	pad          = 8
	autoMinSide  = 128
	maxAutoCols  = 8
	fontSize     = 14
	maxGridPixel = 1 << 26 // 64 Mpixel bound on the figure
)

var (
	faceOnce sync.Once
	face     font.Face
	faceErr  error
)

// textFace returns the Go Regular face used for titles and captions.
func textFace() (font.Face, error) {
	faceOnce.Do(func() {
		f, err := opentype.Parse(goregular.TTF)
		if err != nil {
			faceErr = err
			return
		}
		face, faceErr = opentype.NewFace(f, &opentype.FaceOptions{Size: fontSize, DPI: 72, Hinting: font.HintingFull})
	})
	return face, faceErr
}

// RenderGrid draws the cells in rows of opt.Cols. Every cell has the size of
// the largest (scaled) image; smaller images are centred in theirs.
func RenderGrid(cells []Cell, opt GridOptions) (*Grid, error) {
	if len(cells) == 0 {
		return nil, fmt.Errorf("plot: a grid needs at least one image")
	}
	maxH, maxW := 0, 0
	for i, c := range cells {
		if ch := c.Images.C(); ch != 1 && ch != 3 {
			return nil, fmt.Errorf("plot: image %d (%q) has %d channels; grids show 1 (gray) or 3 (RGB)", i, c.Title, ch)
		}
		if c.Index < 0 || c.Index >= c.Images.N() {
			return nil, fmt.Errorf("plot: image %d: index %d outside a batch of %d", i, c.Index, c.Images.N())
		}
		maxH, maxW = max(maxH, c.Images.H()), max(maxW, c.Images.W())
	}
	scale := opt.Scale
	if scale <= 0 {
		scale = max(1, (autoMinSide+max(maxH, maxW)-1)/max(maxH, maxW))
	}
	cols := opt.Cols
	if cols <= 0 {
		cols = min(len(cells), maxAutoCols)
	}
	cols = min(cols, len(cells))
	rows := (len(cells) + cols - 1) / cols
	cellW, cellH := maxW*scale, maxH*scale

	face, err := textFace()
	if err != nil {
		return nil, fmt.Errorf("plot: font: %w", err)
	}
	lineH := face.Metrics().Height.Ceil()
	titles := make([][]string, len(cells))
	titleLines := 0
	for i, c := range cells {
		titles[i] = wrap(face, c.Title, cellW)
		titleLines = max(titleLines, len(titles[i]))
	}
	width := cols*cellW + (cols+1)*pad
	caption := wrap(face, opt.Caption, width-2*pad)
	top := pad
	if len(caption) > 0 {
		top += len(caption)*lineH + pad
	}
	rowH := titleLines*lineH + cellH + pad
	if titleLines > 0 {
		rowH += pad / 2
	}
	height := top + rows*rowH
	if int64(width)*int64(height) > maxGridPixel {
		return nil, fmt.Errorf("plot: a grid of %d x %d pixels is too large; lower scale or cols", width, height)
	}

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	drawLines(img, face, caption, pad, top-pad-len(caption)*lineH, width-2*pad, lineH)
	g := &Grid{Image: img, Cells: make([]image.Rectangle, len(cells))}
	for i, c := range cells {
		x0 := pad + (i%cols)*(cellW+pad)
		y0 := top + (i/cols)*rowH
		drawLines(img, face, titles[i], x0, y0, cellW, lineH)
		y0 += titleLines * lineH
		if titleLines > 0 {
			y0 += pad / 2
		}
		h, w := c.Images.H()*scale, c.Images.W()*scale
		r := image.Rect(x0+(cellW-w)/2, y0+(cellH-h)/2, x0+(cellW-w)/2+w, y0+(cellH-h)/2+h)
		g.Cells[i] = r
		paint(img, r, c.Images, c.Index, scale)
	}
	return g, nil
}

// paint draws image index of m into r, enlarged by scale.
func paint(dst *image.RGBA, r image.Rectangle, m *artifact.Images, index, scale int) {
	px := m.Image(index)
	plane := m.H() * m.W()
	span := float64(m.Hi - m.Lo)
	level := func(v float32) uint8 {
		f := (float64(v) - float64(m.Lo)) / span * 255
		if math.IsNaN(f) {
			return 0
		}
		return uint8(math.Round(math.Max(0, math.Min(255, f))))
	}
	for y := 0; y < m.H(); y++ {
		for x := 0; x < m.W(); x++ {
			var c color.RGBA
			i := y*m.W() + x
			if m.C() == 1 {
				l := level(px[i])
				c = color.RGBA{l, l, l, 255}
			} else {
				c = color.RGBA{level(px[i]), level(px[plane+i]), level(px[2*plane+i]), 255}
			}
			cell := image.Rect(r.Min.X+x*scale, r.Min.Y+y*scale, r.Min.X+(x+1)*scale, r.Min.Y+(y+1)*scale)
			draw.Draw(dst, cell, &image.Uniform{c}, image.Point{}, draw.Src)
		}
	}
}

// wrap breaks text into lines no wider than width pixels, at spaces where
// possible and inside words that are wider than a line on their own.
func wrap(face font.Face, text string, width int) []string {
	var lines []string
	limit := fixed.I(width)
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			try := word
			if line != "" {
				try = line + " " + word
			}
			if font.MeasureString(face, try) <= limit {
				line = try
				continue
			}
			if line != "" {
				lines = append(lines, line)
			}
			pieces := breakWord(face, word, limit)
			lines = append(lines, pieces[:len(pieces)-1]...)
			line = pieces[len(pieces)-1]
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// breakWord splits word into pieces no wider than limit, each of at least
// one rune, measuring every rune once (kerning included), so that a long
// unbroken word takes time in proportion to its length.
func breakWord(face font.Face, word string, limit fixed.Int26_6) []string {
	var pieces []string
	start, width := 0, fixed.Int26_6(0)
	prev := rune(-1)
	for i, r := range word {
		adv, _ := face.GlyphAdvance(r)
		if prev >= 0 {
			adv += face.Kern(prev, r)
		}
		if width+adv > limit && i > start {
			pieces = append(pieces, word[start:i])
			start, width = i, 0
			adv, _ = face.GlyphAdvance(r)
		}
		width += adv
		prev = r
	}
	return append(pieces, word[start:])
}

// drawLines writes lines centred in [x, x+width), the first one's top at y.
func drawLines(dst *image.RGBA, face font.Face, lines []string, x, y, width, lineH int) {
	d := &font.Drawer{Dst: dst, Src: image.Black, Face: face}
	ascent := face.Metrics().Ascent.Ceil()
	for i, l := range lines {
		w := d.MeasureString(l).Ceil()
		d.Dot = fixed.P(x+(width-w)/2, y+i*lineH+ascent)
		d.DrawString(l)
	}
}

// ExpandTitle replaces each "{name}" in template with vars[name], formatted
// with fmt.Sprint (floats in their shortest form: 0.5, 1e-05). An unknown name is an error
// that lists the known ones.
func ExpandTitle(template string, vars map[string]any) (string, error) {
	var b strings.Builder
	rest := template
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("title %q: unclosed {", template)
		}
		name := rest[i+1 : i+j]
		v, ok := vars[name]
		if !ok {
			known := make([]string, 0, len(vars))
			for k := range vars {
				known = append(known, "{"+k+"}")
			}
			sort.Strings(known)
			return "", fmt.Errorf("title %q: no value for {%s} (known here: %s)", template, name, strings.Join(known, ", "))
		}
		b.WriteString(rest[:i])
		fmt.Fprint(&b, v)
		rest = rest[i+j+1:]
	}
}
