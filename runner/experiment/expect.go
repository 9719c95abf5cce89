package experiment

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Expectation bounds one metric that a stage reports (expect: in the file),
// as it applies in the profile that was loaded. The runner checks it after
// the stage's entry exists.
type Expectation struct {
	// Metric is the metric's name, one of the stage kind's Metrics.
	Metric string
	// Min and Max bound the value (inclusive); nil leaves that side open.
	Min, Max *float64
	// Pos is where the bound is written.
	Pos Pos
}

// String formats the bound as "min 0.9", "max 25" or "min 0.1, max 0.3".
func (e Expectation) String() string {
	switch {
	case e.Min != nil && e.Max != nil:
		return fmt.Sprintf("min %g, max %g", *e.Min, *e.Max)
	case e.Min != nil:
		return fmt.Sprintf("min %g", *e.Min)
	case e.Max != nil:
		return fmt.Sprintf("max %g", *e.Max)
	}
	return "no bound"
}

// Holds reports whether v lies within the bound.
func (e Expectation) Holds(v float64) bool {
	return (e.Min == nil || v >= *e.Min) && (e.Max == nil || v <= *e.Max)
}

// expectDef is one metric's entry of a stage's "expect" as written.
type expectDef struct {
	metric string
	pos    Pos
	// bounds holds the bound for every profile ("" for the one that applies
	// where no profile has its own).
	bounds map[string]boundDef
}

// boundDef is a {min, max} mapping as written.
type boundDef struct {
	min, max *float64
	pos      Pos
}

const expectFix = "write expect: {METRIC: {min: LOW, max: HIGH}}, with a profile's own bound as METRIC: {min: LOW, full: {min: HIGHER}}"

// readExpect reads a stage's "expect" mapping.
func readExpect(f *srcFile, v *yaml.Node, c *collector) []expectDef {
	var out []expectDef
	for _, p := range mappingEntries(f, v, c, "expect", expectFix) {
		e := expectDef{metric: p.key.Value, pos: f.pos(p.key), bounds: map[string]boundDef{}}
		if p.val.Kind != yaml.MappingNode {
			c.add(f.pos(p.val), expectFix, "the expectation on %s must be a mapping with min and/or max, not %s", clip(e.metric), describe(p.val))
			continue
		}
		def := boundDef{pos: e.pos}
		given := false
		for _, b := range entries(f, p.val, c) {
			switch k := b.key.Value; k {
			case "min", "max":
				x, ok := readBound(f, b, c)
				if !ok {
					continue
				}
				if k == "min" {
					def.min = x
				} else {
					def.max = x
				}
				given = true
			default: // a profile's own bound
				if b.val.Kind != yaml.MappingNode {
					c.add(f.pos(b.key), "write min: LOW and max: HIGH, or PROFILE: {min: LOW, max: HIGH} for one profile",
						"unknown key %q in the expectation on %s: a bound is min or max, a profile's bound a mapping", clip(k), clip(e.metric))
					continue
				}
				pb := boundDef{pos: f.pos(b.key)}
				for _, pe := range entries(f, b.val, c) {
					x, ok := readBound(f, pe, c)
					switch {
					case !ok:
					case pe.key.Value == "min":
						pb.min = x
					case pe.key.Value == "max":
						pb.max = x
					}
				}
				if checkBound(pb, e.metric+" in profile "+k, c) {
					e.bounds[k] = pb
				}
			}
		}
		if given && checkBound(def, e.metric, c) {
			e.bounds[""] = def
		}
		if len(p.val.Content) == 0 {
			c.add(e.pos, expectFix, "the expectation on %s sets no bound", clip(e.metric))
		}
		out = append(out, e)
	}
	return out
}

// readBound reads the number of a min or max entry.
func readBound(f *srcFile, b kv, c *collector) (*float64, bool) {
	k := b.key.Value
	if k != "min" && k != "max" {
		c.add(f.pos(b.key), "write min: LOW and/or max: HIGH", "unknown key %q in a bound: a bound is min or max", clip(k))
		return nil, false
	}
	x, err := strconv.ParseFloat(b.val.Value, 64)
	if b.val.Kind != yaml.ScalarNode || err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		c.add(f.pos(b.val), "write a number such as 0.9", "%s must be a finite number, not %s", k, describe(b.val))
		return nil, false
	}
	return &x, true
}

// checkBound reports a bound whose min exceeds its max.
func checkBound(b boundDef, what string, c *collector) bool {
	if b.min != nil && b.max != nil && *b.min > *b.max {
		c.add(b.pos, "swap them, or widen the range", "the expectation on %s has min %g above max %g", clip(what), *b.min, *b.max)
		return false
	}
	if b.min == nil && b.max == nil {
		c.add(b.pos, "write min: LOW and/or max: HIGH", "the expectation on %s sets no bound", clip(what))
		return false
	}
	return true
}

// resolveExpect checks s's expectations against its kind's metrics and the
// experiment's profiles (known), and returns those that apply in profile.
func resolveExpect(s *stageInfo, profile string, known []string, c *collector) []Expectation {
	d := s.def
	if len(d.expect) == 0 || s.kind == nil {
		return nil
	}
	if len(s.kind.Metrics) == 0 {
		c.add(d.expectPos, "move expect: to a metric stage, such as one of kind metrics.samples",
			"kind %s of stage %s reports no metrics to expect", s.kind.Name, d.id)
		return nil
	}
	var out []Expectation
	for _, e := range d.expect {
		if !slices.Contains(s.kind.Metrics, e.metric) {
			c.add(e.pos, c.suggest(e.metric, s.kind.Metrics, "metrics of "+s.kind.Name),
				"kind %s reports no metric %q", s.kind.Name, clip(e.metric))
			continue
		}
		for p, b := range e.bounds {
			if p != "" && !slices.Contains(known, p) {
				c.add(b.pos, c.suggest(p, known, "profiles"), "the expectation on %s names an unknown profile %q", e.metric, clip(p))
			}
		}
		b, ok := e.bounds[profile]
		if !ok {
			b, ok = e.bounds[""]
		}
		if ok {
			out = append(out, Expectation{Metric: e.metric, Min: b.min, Max: b.max, Pos: b.pos})
		}
	}
	return out
}
