package plot

import (
	"fmt"
	"image"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"difflab/stages/artifact"
)

// CurveOptions controls RenderCurve.
type CurveOptions struct {
	Title, XLabel, YLabel string
	// LogY draws the y axis on a logarithmic scale; every y must be positive.
	LogY bool
	// Width and Height are the figure's size in pixels.
	Width, Height int
}

// curveDPI is the resolution of curve figures: 96 dots per inch makes
// gonum/plot's default 12-point text about 16 pixels high.
const curveDPI = 96

// RenderCurve draws lines (one legend entry each when there are several) and
// returns the PNG encoding of a figure of exactly opt.Width x opt.Height
// pixels.
func RenderCurve(lines []artifact.Line, opt CurveOptions) ([]byte, error) {
	if len(lines) == 0 {
		return nil, fmt.Errorf("plot: a curve needs at least one series")
	}
	if opt.Width < 64 || opt.Height < 64 || int64(opt.Width)*int64(opt.Height) > maxGridPixel {
		return nil, fmt.Errorf("plot: curve size %d x %d pixels; want at least 64 x 64 and at most %d pixels", opt.Width, opt.Height, maxGridPixel)
	}
	p := plot.New()
	p.Title.Text = opt.Title
	p.X.Label.Text = opt.XLabel
	p.Y.Label.Text = opt.YLabel
	if opt.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for i, l := range lines {
		if len(l.X) != len(l.Y) || len(l.X) == 0 {
			return nil, fmt.Errorf("plot: series %q has %d x and %d y values; want the same number, at least one", l.Name, len(l.X), len(l.Y))
		}
		xys := make(plotter.XYs, len(l.X))
		for j := range l.X {
			if math.IsNaN(l.X[j]) || math.IsInf(l.X[j], 0) || math.IsNaN(l.Y[j]) || math.IsInf(l.Y[j], 0) {
				return nil, fmt.Errorf("plot: series %q point %d is (%g, %g); values must be finite", l.Name, j, l.X[j], l.Y[j])
			}
			if opt.LogY && l.Y[j] <= 0 {
				return nil, fmt.Errorf("plot: series %q point %d has y = %g, which a logarithmic axis cannot show", l.Name, j, l.Y[j])
			}
			xys[j] = plotter.XY{X: l.X[j], Y: l.Y[j]}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: series %q: %w", l.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = 1.5
		p.Add(line)
		if len(lines) > 1 {
			p.Legend.Add(l.Name, line)
		}
	}
	p.Legend.Top = true
	c := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, opt.Width, opt.Height))), vgimg.UseDPI(curveDPI))
	p.Draw(draw.New(c))
	return encodePNG(c.Image())
}
