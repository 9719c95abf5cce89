package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"difflab/stages/artifact"
)

// The plot area of a series chart, in SVG user units.
const (
	svgW, svgH         = 640.0, 360.0
	padL, padR         = 72.0, 16.0
	padT, padB         = 16.0, 52.0
	maxPoints          = 1000 // points drawn per line at most
	logRatio           = 10.0 // y spans this factor or more: log scale
	minLogDecadeLabels = 3
)

// palette colours the lines of a chart, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// seriesSVG draws s as an inline SVG line chart. The y axis is logarithmic
// when every value is positive and they span a factor of logRatio or more,
// as loss curves do.
func seriesSVG(s *artifact.Series) string {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, l := range s.Lines {
		for i := range l.X {
			if i >= len(l.Y) || !finite(l.X[i]) || !finite(l.Y[i]) {
				continue
			}
			xmin, xmax = math.Min(xmin, l.X[i]), math.Max(xmax, l.X[i])
			ymin, ymax = math.Min(ymin, l.Y[i]), math.Max(ymax, l.Y[i])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img">`, svgW, svgH)
	if math.IsInf(xmin, 1) {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">no data points</text></svg>`, svgW/2, svgH/2)
		return b.String()
	}
	logY := ymin > 0 && ymax/ymin >= logRatio
	if xmin == xmax {
		xmin, xmax = xmin-1, xmax+1
	}
	if ymin == ymax {
		if logY {
			ymin, ymax = ymin/2, ymax*2
		} else {
			ymin, ymax = ymin-1, ymax+1
		}
	}
	fy := func(y float64) float64 { return y }
	if logY {
		fy = math.Log10
	}
	y0, y1 := fy(ymin), fy(ymax)
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*(svgW-padL-padR) }
	py := func(y float64) float64 { return svgH - padB - (fy(y)-y0)/(y1-y0)*(svgH-padT-padB) }

	// Grid and tick labels.
	b.WriteString(`<g class="axis">`)
	for _, t := range linearTicks(xmin, xmax) {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g"/>`, x, padT, x, svgH-padB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x, svgH-padB+18, tickLabel(t))
	}
	yt := linearTicks(ymin, ymax)
	if logY {
		yt = logTicks(ymin, ymax)
	}
	for _, t := range yt {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, padL, y, svgW-padR, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none"/>`, padL, padT, svgW-padL-padR, svgH-padT-padB)
	b.WriteString(`</g>`)
	if s.XLabel != "" {
		fmt.Fprintf(&b, `<text class="label" x="%g" y="%g" text-anchor="middle">%s</text>`,
			padL+(svgW-padL-padR)/2, svgH-6, template.HTMLEscapeString(s.XLabel))
	}
	if s.YLabel != "" {
		yl := s.YLabel
		if logY {
			yl += " (log scale)"
		}
		fmt.Fprintf(&b, `<text class="label" transform="translate(16 %g) rotate(-90)" text-anchor="middle">%s</text>`,
			padT+(svgH-padT-padB)/2, template.HTMLEscapeString(yl))
	}

	// Lines, broken where a value is not finite.
	for i, l := range s.Lines {
		color := palette[i%len(palette)]
		step := 1
		if len(l.X) > maxPoints {
			step = (len(l.X) + maxPoints - 1) / maxPoints
		}
		fmt.Fprintf(&b, `<path fill="none" stroke="%s" stroke-width="1.5" d="`, color)
		pen := false
		for j := 0; j < len(l.X) && j < len(l.Y); j++ {
			if j%step != 0 && j != len(l.X)-1 {
				continue
			}
			if !finite(l.X[j]) || !finite(l.Y[j]) || (logY && l.Y[j] <= 0) {
				pen = false
				continue
			}
			op := "L"
			if !pen {
				op = "M"
			}
			fmt.Fprintf(&b, "%s%.1f %.1f ", op, px(l.X[j]), py(l.Y[j]))
			pen = true
		}
		b.WriteString(`"/>`)
	}

	// Legend, top right, when the lines have names.
	if len(s.Lines) > 1 || (len(s.Lines) == 1 && s.Lines[0].Name != "") {
		for i, l := range s.Lines {
			y := padT + 18 + float64(i)*18
			x := svgW - padR - 8
			fmt.Fprintf(&b, `<text class="legend" x="%g" y="%g" text-anchor="end" fill="%s">%s</text>`,
				x, y, palette[i%len(palette)], template.HTMLEscapeString(l.Name))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// linearTicks returns about five round values (steps of 1, 2 or 5 times a
// power of ten) covering [lo, hi].
func linearTicks(lo, hi float64) []float64 {
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 6 {
			step *= m
			break
		}
	}
	var ts []float64
	for t := math.Ceil(lo/step) * step; t <= hi+step*1e-9; t += step {
		ts = append(ts, math.Round(t/step)*step)
	}
	return ts
}

// logTicks returns the powers of ten within [lo, hi], adding 2 and 5 times
// them when fewer than minLogDecadeLabels powers fall inside.
func logTicks(lo, hi float64) []float64 {
	var ts []float64
	mults := []float64{1}
	if math.Floor(math.Log10(hi))-math.Ceil(math.Log10(lo))+1 < minLogDecadeLabels {
		mults = []float64{1, 2, 5}
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range mults {
			t := m * math.Pow(10, e)
			if t >= lo*(1-1e-9) && t <= hi*(1+1e-9) {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// tickLabel formats a tick value compactly.
func tickLabel(t float64) string {
	if t == 0 {
		return "0"
	}
	a := math.Abs(t)
	if a >= 1e5 || a < 1e-3 {
		return strconv.FormatFloat(t, 'e', -1, 64)
	}
	return strconv.FormatFloat(t, 'g', 6, 64)
}
