package report

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"difflab/stages/artifact"
)

func TestLinearTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 1, "0 0.2 0.4 0.6 0.8 1"},
		{0, 199, "0 50 100 150"},
		{-3, 7, "-2 0 2 4 6"},
		{0.0087, 0.15, "0.05 0.1 0.15"},
	} {
		var got []string
		for _, v := range linearTicks(c.lo, c.hi) {
			got = append(got, tickLabel(v))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("linearTicks(%g, %g) = %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0.0087, 0.15, "0.01 0.02 0.05 0.1"}, // under three decades: 1, 2, 5
		{1e-4, 3, "0.0001 0.001 0.01 0.1 1"}, // powers of ten only
	} {
		var got []string
		for _, v := range logTicks(c.lo, c.hi) {
			got = append(got, strings.Replace(tickLabel(v), "1e-04", "0.0001", 1))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("logTicks(%g, %g) = %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

// points returns the coordinates of the first path of an SVG chart, with
// each subpath's start marked "M".
func points(svg string) []string {
	d := regexp.MustCompile(`<path [^>]*d="([^"]*)"`).FindStringSubmatch(svg)
	if d == nil {
		return nil
	}
	return strings.Fields(strings.NewReplacer("M", " M", "L", " ").Replace(d[1]))
}

func TestSeriesSVGMapsPointsToThePlotArea(t *testing.T) {
	s := &artifact.Series{Lines: []artifact.Line{{X: []float64{0, 1, 2}, Y: []float64{0, 1, 2}}}}
	got := strings.Join(points(seriesSVG(s)), " ")
	// Linear axes: x from padL to svgW-padR, y from svgH-padB up to padT.
	want := "M72.0 308.0 348.0 162.0 624.0 16.0"
	if got != want {
		t.Fatalf("path %q, want %q", got, want)
	}
}

func TestSeriesSVGBreaksLinesAtMissingValues(t *testing.T) {
	s := &artifact.Series{Lines: []artifact.Line{{X: []float64{0, 1, 2, 3}, Y: []float64{1, math.NaN(), 3, 4}}}}
	pts := points(seriesSVG(s))
	moves := 0
	for _, p := range pts {
		if strings.HasPrefix(p, "M") {
			moves++
		}
	}
	if len(pts)/2 != 3 || moves != 2 {
		t.Fatalf("want 3 points in 2 subpaths, got %v", pts)
	}
}

func TestSeriesSVGLogScaleForLossCurves(t *testing.T) {
	loss := &artifact.Series{YLabel: "loss", Lines: []artifact.Line{{X: []float64{0, 1, 2}, Y: []float64{1, 0.1, 0.01}}}}
	svg := seriesSVG(loss)
	if !strings.Contains(svg, "loss (log scale)") {
		t.Fatal("a curve spanning two decades is not drawn on a log scale")
	}
	// On a log axis the three values are evenly spaced.
	pts := points(svg)
	if len(pts) != 6 || pts[1] != "16.0" || pts[3] != "162.0" || pts[5] != "308.0" {
		t.Fatalf("log-scaled path %v", pts)
	}
	if strings.Contains(seriesSVG(&artifact.Series{YLabel: "x", Lines: []artifact.Line{{X: []float64{0, 1}, Y: []float64{-1, 1}}}}), "log scale") {
		t.Error("negative values drawn on a log scale")
	}
}

func TestSeriesSVGEscapesLabels(t *testing.T) {
	s := &artifact.Series{XLabel: "<x>", Lines: []artifact.Line{{Name: "a&b", X: []float64{0, 1}, Y: []float64{0, 1}}}}
	svg := seriesSVG(s)
	if !strings.Contains(svg, "&lt;x&gt;") || !strings.Contains(svg, "a&amp;b") || strings.Contains(svg, "<x>") {
		t.Fatalf("labels not escaped: %s", svg)
	}
	if !strings.Contains(seriesSVG(&artifact.Series{}), "no data points") {
		t.Error("empty series not labelled")
	}
}
