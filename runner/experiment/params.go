package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"difflab/stages"
)

// valueCtx says where a parameter value was written.
type valueCtx struct {
	pos func(*yaml.Node) Pos // position of a node
	dir string               // absolute directory that relative paths start from
	c   *collector           // if set, list items are spent from its budget
}

// paramError is a problem with one value.
type paramError struct {
	pos      Pos
	msg, fix string
}

// convertParam checks the value n against p and returns it in its canonical
// Go type (see stages.Params). Relative paths become absolute and must exist.
func convertParam(p *stages.Param, n *yaml.Node, vc valueCtx) (any, *paramError) {
	n = deref(n)
	switch p.Type {
	case stages.Ints, stages.Floats, stages.Strings:
		elem := stages.Param{Name: p.Name, Type: elemType(p.Type), Min: p.Min, Max: p.Max, Enum: p.Enum}
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		} else if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil, &paramError{vc.pos(n), fmt.Sprintf("must be a list of %s values, not %s", elem.Type, describe(n)),
				"write a list such as " + example(p.Type)}
		}
		if vc.c != nil && !vc.c.spend(len(items)) {
			return nil, &paramError{vc.pos(n), fmt.Sprintf("makes the experiment hold more than %d values (aliases count each time they are used)", maxValues),
				"use fewer or shorter lists"}
		}
		var ints []int
		var floats []float64
		strs := []string{}
		for _, it := range items {
			v, e := convertParam(&elem, it, vc)
			if e != nil {
				return nil, e
			}
			switch x := v.(type) {
			case int:
				ints = append(ints, x)
			case float64:
				floats = append(floats, x)
			case string:
				strs = append(strs, x)
			}
		}
		switch p.Type {
		case stages.Ints:
			return append([]int{}, ints...), nil
		case stages.Floats:
			return append([]float64{}, floats...), nil
		}
		return strs, nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return nil, &paramError{vc.pos(n), fmt.Sprintf("must be one %s value, not %s", p.Type, describe(n)), "write a value such as " + example(p.Type)}
	}
	bad := func(what string) *paramError {
		return &paramError{vc.pos(n), fmt.Sprintf("must be %s, not %s", what, describe(n)), "write a value such as " + example(p.Type)}
	}
	var v any
	switch p.Type {
	case stages.Int:
		if n.Tag != "!!int" {
			return nil, bad("an integer")
		}
		i, err := strconv.ParseInt(n.Value, 10, 64) // the common case, fast
		if err != nil && n.Decode(&i) != nil {
			return nil, bad("an integer")
		}
		if int64(int(i)) != i {
			return nil, bad("an integer that fits in " + strconv.Itoa(strconv.IntSize) + " bits")
		}
		v = int(i)
	case stages.Float:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			return nil, bad("a number")
		}
		f, err := strconv.ParseFloat(n.Value, 64) // the common case, fast
		if err != nil && n.Decode(&f) != nil {
			return nil, bad("a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("a finite number")
		}
		v = f
	case stages.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			return nil, bad("true or false")
		}
		v = b
	case stages.String:
		v = n.Value
	case stages.Path:
		if n.Value == "" {
			return nil, bad("a file path")
		}
		path := n.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(vc.dir, path)
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, &paramError{vc.pos(n), fmt.Sprintf("file %s does not exist (%s)", clip(n.Value), path),
				"paths are relative to the file that sets them (to the working directory for --set); check the path"}
		}
		if info.IsDir() {
			return nil, &paramError{vc.pos(n), fmt.Sprintf("%s is a directory (%s)", clip(n.Value), path),
				"name a file in it"}
		}
		if err := stages.RegularFile(info); err != nil {
			return nil, &paramError{vc.pos(n), fmt.Sprintf("%s (%s)", err, path),
				"name a regular file: a device, FIFO or socket could be read forever"}
		}
		v = path
	default:
		return nil, &paramError{vc.pos(n), fmt.Sprintf("has the unknown type %q in its kind's declaration", p.Type), "fix the stage kind's declaration"}
	}
	if e := checkBounds(p, v); e != "" {
		return nil, &paramError{vc.pos(n), e, boundsFix(p, v, vc.c)}
	}
	return v, nil
}

// elemType returns the element type of a list type.
func elemType(t stages.ParamType) stages.ParamType {
	switch t {
	case stages.Ints:
		return stages.Int
	case stages.Floats:
		return stages.Float
	}
	return stages.String
}

// example shows a valid value of type t.
func example(t stages.ParamType) string {
	switch t {
	case stages.Int:
		return "3"
	case stages.Float:
		return "0.5"
	case stages.Bool:
		return "true"
	case stages.String:
		return `"text"`
	case stages.Path:
		return "../models/model.onnx"
	case stages.Ints:
		return "[1, 2, 3]"
	case stages.Floats:
		return "[0.1, 0.5]"
	}
	return `["a", "b"]`
}

// checkBounds checks a scalar value against Min, Max and Enum.
func checkBounds(p *stages.Param, v any) string {
	var x float64
	switch t := v.(type) {
	case int:
		x = float64(t)
	case float64:
		x = t
	case string:
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, t) {
			return fmt.Sprintf("is %q, which is not one of %s", clip(t), strings.Join(p.Enum, ", "))
		}
		return ""
	default:
		return ""
	}
	if p.Min != nil && x < *p.Min {
		return fmt.Sprintf("is %s, below the minimum %s", formatValue(v), formatValue(*p.Min))
	}
	if p.Max != nil && x > *p.Max {
		return fmt.Sprintf("is %s, above the maximum %s", formatValue(v), formatValue(*p.Max))
	}
	return ""
}

// boundsFix says how to satisfy Min, Max or Enum. A suggestion for a
// misspelt Enum value is computed within c's budget, and not at all
// without c.
func boundsFix(p *stages.Param, v any, c *collector) string {
	if s, ok := v.(string); ok {
		if c != nil {
			if m := closest(s, p.Enum, &c.cells); m != "" {
				return fmt.Sprintf("did you mean %q?", m)
			}
		}
		return "use one of " + strings.Join(p.Enum, ", ")
	}
	switch {
	case p.Min != nil && p.Max != nil:
		return fmt.Sprintf("use a value from %s to %s", formatValue(*p.Min), formatValue(*p.Max))
	case p.Min != nil:
		return "use a value of at least " + formatValue(*p.Min)
	}
	return "use a value of at most " + formatValue(*p.Max)
}

// canonDefault returns p.Default in p's canonical Go type (an int default of
// a float parameter becomes a float64), copying lists.
func canonDefault(p *stages.Param) (any, bool) {
	switch d := p.Default.(type) {
	case int:
		switch p.Type {
		case stages.Int:
			return d, true
		case stages.Float:
			return float64(d), true
		}
	case float64:
		return d, p.Type == stages.Float
	case string:
		return d, p.Type == stages.String || p.Type == stages.Path
	case bool:
		return d, p.Type == stages.Bool
	case []int:
		switch p.Type {
		case stages.Ints:
			return append([]int{}, d...), true
		case stages.Floats:
			fs := make([]float64, len(d))
			for i, x := range d {
				fs[i] = float64(x)
			}
			return fs, true
		}
	case []float64:
		return append([]float64{}, d...), p.Type == stages.Floats
	case []string:
		return append([]string{}, d...), p.Type == stages.Strings
	}
	return nil, false
}

// formatValue formats a parameter value for node ids, selectors and
// messages: 250, 0.5, text, true, [1,2].
func formatValue(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case []int:
		return formatList(x)
	case []float64:
		return formatList(x)
	case []string:
		return formatList(x)
	}
	return fmt.Sprint(v)
}

func formatList[T any](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = formatValue(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
