package modelfile

import (
	"fmt"
	"path/filepath"
	"strings"

	"difflab/models/ort"
)

// MatchGraph reads the inputs and outputs of the ONNX graph of the model
// directory dir, which d describes, from the file itself (ort.GraphInfo: no
// ONNX Runtime needed, no weights loaded) and returns the description the
// graph is run with (see Bind). It is cheap enough to check a model before
// anything runs.
func MatchGraph(dir string, d *Description) (*Description, error) {
	ins, outs, err := ort.GraphInfo(filepath.Join(dir, d.ONNX))
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	return Bind(dir, d, ins, outs)
}

// Bind checks the description d of the model directory dir against its
// graph's inputs and outputs and returns a copy of d naming the graph's own
// inputs and output. Names model.json gives that the graph has are kept.
// Otherwise the graph decides where that is unambiguous:
//
//   - output.name, when the graph has exactly one output;
//   - inputs.sample, inputs.timestep, inputs.condition and
//     inputs.noise_level, when the graph has exactly as many inputs as
//     model.json names and only one assignment fits by element type, rank
//     and the sizes the graph gives: the sample a float32 (B, C, H, W) with
//     image's height and width and C = image.channels (plus low_res.channels
//     for a super-resolution model), the timestep of timestep.dtype in shape
//     (B) or (B, 1) as timestep.shape says, the condition a float32 (B,
//     embedding_shape...) embedding or (B, size) class vector, the noise
//     level an int64 (B).
//
// Every input is also checked against model.json's element type, rank and
// sizes, and the output against its element type, rank and sizes, where the
// graph gives them. An error names the graph and model.json and says what to set.
func Bind(dir string, d *Description, inputs, outputs []ort.Info) (*Description, error) {
	onnxPath, jsonPath := filepath.Join(dir, d.ONNX), filepath.Join(dir, FileName)
	fail := func(problem, fix string, args ...any) error {
		return fmt.Errorf("modelfile: %s does not match %s: %s (fix: %s)", onnxPath, jsonPath, fmt.Sprintf(problem, args...), strings.ReplaceAll(fix, "MODEL_JSON", jsonPath))
	}
	r := *d
	roles := inputRoles(d)
	if err := bindInputs(roles, inputs, d.LowRes != nil, fail); err != nil {
		return nil, err
	}
	for _, ro := range roles {
		switch ro.field {
		case "inputs.sample":
			r.Inputs.Sample = ro.bound
		case "inputs.timestep":
			r.Inputs.Timestep = ro.bound
		case "inputs.condition":
			r.Inputs.Condition = ro.bound
		case "inputs.noise_level":
			r.Inputs.NoiseLevel = ro.bound
		}
	}
	out, err := bindOutput(d, outputs, fail)
	if err != nil {
		return nil, err
	}
	r.Output.Name = out
	return &r, nil
}

// inputRole is one input model.json names: its field, the name given, what
// the graph's input must look like, and the graph input bound to it.
type inputRole struct {
	field, name string
	// want describes the expected input, for messages.
	want string
	// fits says whether a graph input has the expected element type and
	// rank (an input of unknown rank fits any).
	fits  func(ort.Info) bool
	bound string
}

// inputRoles lists the inputs d names, in model.json's order.
func inputRoles(d *Description) []*inputRole {
	floatRank := func(rank int) func(ort.Info) bool {
		return func(in ort.Info) bool { return in.DType == ort.Float32 && (in.Shape == nil || len(in.Shape) == rank) }
	}
	img := d.Image
	sample := []int64{-1, int64(img.Channels), int64(img.Height), int64(img.Width)}
	want := fmt.Sprintf("a float32 image batch (B, %d, %d, %d)", img.Channels, img.Height, img.Width)
	if lr := d.LowRes; lr != nil {
		sample[1] += int64(lr.Channels)
		want = fmt.Sprintf("a float32 batch (B, %d, %d, %d): image.channels %d of noisy sample, then low_res.channels %d of the upscaled low-resolution image", sample[1], img.Height, img.Width, img.Channels, lr.Channels)
	}
	roles := []*inputRole{{field: "inputs.sample", name: d.Inputs.Sample, want: want, fits: func(in ort.Info) bool { return floatRank(4)(in) && sizesFit(in.Shape, sample) }}}
	if d.Inputs.Timestep != "" {
		ts := d.Timestep
		roles = append(roles, &inputRole{
			field: "inputs.timestep", name: d.Inputs.Timestep,
			want: fmt.Sprintf("a %s timestep of shape %s", ts.DType, map[string]string{"b": "(B)", "b1": "(B, 1)"}[ts.Shape]),
			fits: func(in ort.Info) bool {
				if string(in.DType) != ts.DType {
					return false
				}
				switch {
				case in.Shape == nil:
					return true
				case ts.Shape == "b":
					return len(in.Shape) == 1
				default:
					return len(in.Shape) == 2 && in.Shape[1] <= 1 && in.Shape[1] != 0
				}
			},
		})
	}
	if d.Inputs.Condition != "" {
		ro := &inputRole{field: "inputs.condition", name: d.Inputs.Condition}
		if d.Condition.Kind == ConditionEmbedding {
			ro.want = fmt.Sprintf("a float32 embedding of shape (B, %s)", joinInts(d.Condition.EmbeddingShape))
			ro.fits = floatRank(1 + len(d.Condition.EmbeddingShape))
		} else {
			ro.want = fmt.Sprintf("a float32 class vector of shape (B, %d)", d.Condition.Size)
			ro.fits = floatRank(2)
		}
		roles = append(roles, ro)
	}
	if d.Inputs.NoiseLevel != "" {
		roles = append(roles, &inputRole{
			field: "inputs.noise_level", name: d.Inputs.NoiseLevel, want: "an int64 noise level of shape (B)",
			fits: func(in ort.Info) bool { return in.DType == ort.Int64 && (in.Shape == nil || len(in.Shape) == 1) },
		})
	}
	return roles
}

// sizesFit reports whether a graph shape (nil: unknown) has the sizes of
// want where both are known (non-negative); ranks are checked elsewhere.
func sizesFit(shape, want []int64) bool {
	for i := range min(len(shape), len(want)) {
		if shape[i] >= 0 && want[i] >= 0 && shape[i] != want[i] {
			return false
		}
	}
	return true
}

// bindInputs binds every role to a graph input: by name where the graph has
// it, else by the only assignment that fits.
func bindInputs(roles []*inputRole, inputs []ort.Info, superRes bool, fail func(string, string, ...any) error) error {
	byName := map[string]ort.Info{}
	for _, in := range inputs {
		byName[in.Name] = in
	}
	taken := map[string]bool{}
	var open []*inputRole
	for _, ro := range roles {
		if _, ok := byName[ro.name]; ok {
			ro.bound = ro.name
			taken[ro.name] = true
		} else {
			open = append(open, ro)
		}
	}
	var rest []ort.Info
	for _, in := range inputs {
		if !taken[in.Name] {
			rest = append(rest, in)
		}
	}
	setAll := "set inputs.sample, inputs.timestep and inputs.condition in MODEL_JSON to the graph's input names"
	feeds := "the sample, the timestep and the condition"
	if superRes {
		setAll = "set inputs.sample, inputs.timestep, inputs.condition and inputs.noise_level in MODEL_JSON to the graph's input names"
		feeds = "the sample, the timestep, the condition and the noise level"
	}
	switch {
	case len(rest) > len(open):
		var extra []string
		for _, in := range rest[len(open):] {
			extra = append(extra, in.Name)
		}
		if len(open) == 0 {
			fix := "export the graph with only those inputs, or " + setAll
			if !superRes {
				fix += "; a super-resolution model such as DeepFloyd IF stage II names its noise-level input in inputs.noise_level and describes the low-resolution image in low_res"
			}
			return fail("the graph has inputs %q that model.json does not name; difflab feeds only %s (graph inputs: %s)", fix, extra, feeds, describe(inputs))
		}
		return fail("the graph has %d inputs, model.json names %d (graph inputs: %s)", setAll, len(inputs), len(roles), describe(inputs))
	case len(rest) < len(open):
		var names []string
		for _, ro := range open {
			names = append(names, fmt.Sprintf("%s %q", ro.field, ro.name))
		}
		return fail("%s: no such graph input (graph inputs: %s)", setAll, strings.Join(names, ", "), describe(inputs))
	}
	if len(open) > 0 {
		var found [][]int
		permute(len(rest), func(p []int) {
			for i, ro := range open {
				if !ro.fits(rest[p[i]]) {
					return
				}
			}
			found = append(found, append([]int(nil), p...))
		})
		var names []string
		for _, ro := range open {
			names = append(names, fmt.Sprintf("%s %q", ro.field, ro.name))
		}
		if len(found) != 1 {
			how := "no assignment of them fits by element type and rank"
			if len(found) > 1 {
				how = "several assignments of them fit by element type and rank"
			}
			return fail("%s: no such graph input, and %s (graph inputs: %s)", setAll, strings.Join(names, ", "), how, describe(inputs))
		}
		for i, ro := range open {
			ro.bound = rest[found[0][i]].Name
		}
	}
	for _, ro := range roles {
		if in := byName[ro.bound]; !ro.fits(in) {
			return fail("field %q names graph input %s, but model.json describes %s", "export the graph with that input, or correct timestep, condition, image or low_res in MODEL_JSON", ro.field, describe([]ort.Info{in}), ro.want)
		}
	}
	return nil
}

// bindOutput returns the graph output that holds the prediction: the one
// output.name names, else the graph's only output.
func bindOutput(d *Description, outputs []ort.Info, fail func(string, string, ...any) error) (string, error) {
	var out *ort.Info
	for i := range outputs {
		if outputs[i].Name == d.Output.Name {
			out = &outputs[i]
		}
	}
	if out == nil {
		switch len(outputs) {
		case 0:
			return "", fail("the graph has no output", "export the graph with its prediction as output")
		case 1:
			out = &outputs[0]
		default:
			var names []string
			for _, o := range outputs {
				names = append(names, fmt.Sprintf("%q", o.Name))
			}
			return "", fail("field \"output.name\" is %q, but the graph has several outputs: %s", "set output.name in MODEL_JSON to the output that holds the prediction, one of "+strings.Join(names, ", "), d.Output.Name, describe(outputs))
		}
	}
	channels := d.Output.Channels
	if d.Output.Variance == VarianceLearnedRange {
		channels *= 2
	}
	img := d.Image
	want := []int64{-1, int64(channels), int64(img.Height), int64(img.Width)}
	ok := out.DType == ort.Float32 && (out.Shape == nil || len(out.Shape) == 4)
	for i := 1; ok && out.Shape != nil && i < 4; i++ {
		ok = out.Shape[i] < 0 || out.Shape[i] == want[i]
	}
	if !ok {
		return "", fail("graph output %s is not a float32 batch of shape (B, %d, %d, %d) as output.channels, output.variance and image say", "correct output and image in MODEL_JSON, or export the graph with that output", describe([]ort.Info{*out}), channels, img.Height, img.Width)
	}
	return out.Name, nil
}

// permute calls f with every permutation of 0..n-1.
func permute(n int, f func([]int)) {
	p := make([]int, n)
	used := make([]bool, n)
	var rec func(int)
	rec = func(i int) {
		if i == n {
			f(p)
			return
		}
		for j := range n {
			if !used[j] {
				used[j], p[i] = true, j
				rec(i + 1)
				used[j] = false
			}
		}
	}
	rec(0)
}

// describe lists graph inputs or outputs as name, element type and shape.
func describe(infos []ort.Info) string {
	var parts []string
	for _, in := range infos {
		s := fmt.Sprintf("%q %s", in.Name, in.DType)
		if in.DType == "" {
			s = fmt.Sprintf("%q (not a tensor)", in.Name)
		}
		if in.Shape != nil {
			dims := make([]string, len(in.Shape))
			for i, k := range in.Shape {
				dims[i] = fmt.Sprint(k)
				if k < 0 {
					dims[i] = "?"
				}
			}
			s += " (" + strings.Join(dims, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// joinInts writes ints separated by ", ".
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, k := range v {
		s[i] = fmt.Sprint(k)
	}
	return strings.Join(s, ", ")
}
