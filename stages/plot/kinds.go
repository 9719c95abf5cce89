package plot

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/png"
	"strings"
	"unicode/utf8"

	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "plot.grid",
		Doc: "Draws every image of every input in a labelled grid (PNG). Titles may use {name} placeholders " +
			"for the producing stage's sweep values, {stage} for its id and {index} for the image's index in its batch.",
		Version: 1,
		Inputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Many: true,
			Doc: "the images, in order; each input contributes all its images"}},
		Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure, Doc: "the grid"}},
		Params: []stages.Param{
			{Name: "titles", Type: stages.Strings, Default: []string{},
				Doc: "one template for every image, or one per input as written (a sweep reference such as " +
					"noisy[*] counts once), or one per input after expansion, or one per image"},
			{Name: "cols", Type: stages.Int, Default: 0, Min: stages.Bound(0), Max: stages.Bound(256),
				Doc: "number of columns; 0 puts up to 8 images in a row"},
			{Name: "scale", Type: stages.Int, Default: 0, Min: stages.Bound(0), Max: stages.Bound(64),
				Doc: "integer enlargement (nearest neighbour); 0 makes images at least 128 pixels"},
			{Name: "caption", Type: stages.String, Default: "", Doc: "text above the grid"},
		},
		Check: checkText("titles", "caption"),
		Run:   runGrid,
	})
	stages.Register(&stages.Kind{
		Name:    "plot.curve",
		Doc:     "Draws scalar series (such as loss curves) as lines (PNG).",
		Version: 1,
		Inputs: []stages.Port{{Name: "series", Type: artifact.TypeSeries, Many: true,
			Doc: "the series; with several inputs and no labels each line's legend starts with its stage id"}},
		Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure, Doc: "the chart"}},
		Params: []stages.Param{
			{Name: "title", Type: stages.String, Default: "", Doc: "title above the chart"},
			{Name: "labels", Type: stages.Strings, Default: []string{},
				Doc: "legend names, one per input series in order (after sweep expansion); empty names them by their stage ids when there are several"},
			{Name: "log_y", Type: stages.Bool, Default: false, Doc: "logarithmic y axis"},
			{Name: "xlabel", Type: stages.String, Default: "", Doc: "x axis label; empty takes the first series' own"},
			{Name: "ylabel", Type: stages.String, Default: "", Doc: "y axis label; empty takes the first series' own"},
			{Name: "width", Type: stages.Int, Default: 800, Min: stages.Bound(64), Max: stages.Bound(8192), Doc: "width in pixels"},
			{Name: "height", Type: stages.Int, Default: 500, Min: stages.Bound(64), Max: stages.Bound(8192), Doc: "height in pixels"},
		},
		Check: checkText("title", "labels", "xlabel", "ylabel"),
		Run:   runCurve,
	})
}

// MaxText is the most characters a text parameter of a plot (a title, a
// caption, a label) may have: figures are for reading, and text layout
// time and figure height grow with the text.
const MaxText = 1000

// checkText returns a Check that refuses a text parameter (String or
// Strings) among names longer than MaxText characters.
func checkText(names ...string) func(stages.Params) error {
	return func(p stages.Params) error {
		for _, name := range names {
			texts, ok := p[name].([]string)
			if !ok {
				texts = []string{p.String(name)}
			}
			for _, t := range texts {
				if n := utf8.RuneCountInString(t); n > MaxText {
					return fmt.Errorf("parameter %s: a text of %d characters; at most %d fit a figure: shorten it", name, n, MaxText)
				}
			}
		}
		return nil
	}
}

// baseStage strips the sweep values from a stage id: "noisy[t=250]" -> "noisy".
func baseStage(id string) string {
	base, _, _ := strings.Cut(id, "[")
	return base
}

func runGrid(ctx *stages.Context) error {
	inputs := ctx.In["images"]
	titles := ctx.Params.Strings("titles")
	// Group consecutive inputs from the same stage: one group per reference
	// as written in the experiment.
	groups, images := 0, 0
	for i, in := range inputs {
		m, ok := in.Artifact.(*artifact.Images)
		if !ok {
			return fmt.Errorf("stage %s: input %d (%s) is not images", ctx.Stage, i, in.Stage)
		}
		if i == 0 || baseStage(in.Stage) != baseStage(inputs[i-1].Stage) {
			groups++
		}
		images += m.N()
	}
	var pick func(group, input, image int) string
	switch len(titles) {
	case 0:
		pick = func(int, int, int) string { return "" }
	case 1:
		pick = func(int, int, int) string { return titles[0] }
	case groups:
		pick = func(g, _, _ int) string { return titles[g] }
	case len(inputs):
		pick = func(_, i, _ int) string { return titles[i] }
	case images:
		pick = func(_, _, k int) string { return titles[k] }
	default:
		return fmt.Errorf("stage %s: parameter titles has %d entries; want 1, or %d (one per input as written), %d (one per input) or %d (one per image)",
			ctx.Stage, len(titles), groups, len(inputs), images)
	}
	var cells []Cell
	g := -1
	for i, in := range inputs {
		if i == 0 || baseStage(in.Stage) != baseStage(inputs[i-1].Stage) {
			g++
		}
		m := in.Artifact.(*artifact.Images)
		for j := 0; j < m.N(); j++ {
			vars := map[string]any{"stage": in.Stage, "index": j}
			for k, v := range in.Matrix {
				vars[k] = v
			}
			title, err := ExpandTitle(pick(g, i, len(cells)), vars)
			if err != nil {
				return fmt.Errorf("stage %s: parameter titles: %w", ctx.Stage, err)
			}
			cells = append(cells, Cell{Images: m, Index: j, Title: title})
		}
	}
	grid, err := RenderGrid(cells, GridOptions{Cols: ctx.Params.Int("cols"), Scale: ctx.Params.Int("scale"), Caption: ctx.Params.String("caption")})
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	b, err := encodePNG(grid.Image)
	if err != nil {
		return err
	}
	return ctx.Output("figure", &artifact.Figure{PNG: b})
}

func runCurve(ctx *stages.Context) error {
	p := ctx.Params
	inputs := ctx.In["series"]
	opt := CurveOptions{Title: p.String("title"), XLabel: p.String("xlabel"), YLabel: p.String("ylabel"),
		LogY: p.Bool("log_y"), Width: p.Int("width"), Height: p.Int("height")}
	lines, err := legendLines(ctx.Stage, inputs, p.Strings("labels"), &opt)
	if err != nil {
		return err
	}
	b, err := RenderCurve(lines, opt)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	return ctx.Output("figure", &artifact.Figure{PNG: b})
}

// legendLines returns the lines of the input series named as their legend
// shows them: labels[i] for input i when labels are given, else the
// producing stage's id when there are several inputs, followed by the
// line's own name. The first series' axis labels fill opt's empty ones.
func legendLines(stage string, inputs []stages.Input, labels []string, opt *CurveOptions) ([]artifact.Line, error) {
	if len(labels) > 0 && len(labels) != len(inputs) {
		return nil, fmt.Errorf("stage %s: parameter labels has %d names for %d input series; give one per series, or none", stage, len(labels), len(inputs))
	}
	var lines []artifact.Line
	for i, in := range inputs {
		s, ok := in.Artifact.(*artifact.Series)
		if !ok {
			return nil, fmt.Errorf("stage %s: input %d (%s) is not a series", stage, i, in.Stage)
		}
		prefix := ""
		switch {
		case len(labels) > 0:
			prefix = labels[i]
		case len(inputs) > 1:
			prefix = in.Stage
		}
		if i == 0 {
			opt.XLabel = cmp.Or(opt.XLabel, s.XLabel)
			opt.YLabel = cmp.Or(opt.YLabel, s.YLabel)
		}
		for _, l := range s.Lines {
			switch {
			case prefix != "" && l.Name == "":
				l.Name = prefix
			case prefix != "":
				l.Name = prefix + ": " + l.Name
			}
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// encodePNG encodes img as PNG.
func encodePNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
