// Package flow defines the stage kind sample.flow, a thin adapter over the
// Euler sampler of package difflab/models/flow.
package flow

import (
	"fmt"

	"difflab/models/flow"
	"difflab/models/modelfile"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "sample.flow",
		Doc: "Samples a flow-matching model: x_0 ~ N(0, I), then exactly T Euler steps x <- x + u(x, k/T)/T, " +
			"with classifier-free guidance u = u_u + cfg (u_c - u_u) for class-conditioned models " +
			"(conditional and unconditional halves in one batch); clipped to the model's value range.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "model", Type: artifact.TypeModel, Doc: "a flow-matching model (train.flow output, or one model directory)"},
		},
		Outputs: []stages.Port{
			{Name: "samples", Type: artifact.TypeImages, Doc: "N x C x H x W samples in the model's range ([0, 1] for MNIST)"},
			{Name: "labels", Type: artifact.TypeLabels, Doc: "the class of each sample; -1 for samples drawn without a class (time-only models)"},
		},
		Params: []stages.Param{
			{Name: "epoch", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "which saved epoch of a training output; 0 = the last"},
			{Name: "n", Type: stages.Int, Default: 0, Min: stages.Bound(0), Max: stages.Bound(100000),
				Doc: "number of samples when classes and per_class are unset (class-conditioned models cycle through the classes)"},
			{Name: "classes", Type: stages.Ints, Default: []int{}, Min: stages.Bound(-1), Max: stages.Bound(999),
				Doc: "the class of each sample (-1 = unconditional); sets the number of samples"},
			{Name: "per_class", Type: stages.Int, Default: 0, Min: stages.Bound(0), Max: stages.Bound(10000),
				Doc: "this many samples of every class, ordered 0..K-1 repeated (a grid of K columns shows one class per column)"},
			{Name: "steps", Type: stages.Int, Default: 300, Min: stages.Bound(1), Max: stages.Bound(100000), Doc: "number of Euler steps T"},
			{Name: "cfg", Type: stages.Float, Default: 5.0, Min: stages.Bound(-100), Max: stages.Bound(100),
				Doc: "classifier-free guidance scale gamma for class-conditioned models (1 = no guidance); models without classes ignore it"},
			{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "seed of the initial noise"},
			{Name: "clip", Type: stages.Bool, Default: true, Doc: "clamp the samples to the model's value range"},
		},
		Check: func(p stages.Params) error {
			set := 0
			if len(p.Ints("classes")) > 0 {
				set++
			}
			if p.Int("per_class") > 0 {
				set++
			}
			if p.Int("n") > 0 {
				set++
			}
			if set != 1 {
				return fmt.Errorf("set exactly one of n, classes and per_class (got n=%d, %d classes, per_class=%d)", p.Int("n"), len(p.Ints("classes")), p.Int("per_class"))
			}
			return nil
		},
		Run: run,
	})
}

func run(ctx *stages.Context) error {
	a, ok := ctx.One("model").(*artifact.Model)
	if !ok {
		return fmt.Errorf("stage %s: input model is missing", ctx.Stage)
	}
	dir, err := modelfile.Resolve(a.Dir, ctx.Params.Int("epoch"))
	if err != nil {
		return fmt.Errorf("stage %s: parameter epoch: %w", ctx.Stage, err)
	}
	m, err := modelfile.Open(dir)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	defer m.Close()
	classes, err := Classes(m.Desc, ctx.Params.Int("n"), ctx.Params.Ints("classes"), ctx.Params.Int("per_class"))
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	// The samples, the model batch and the velocities, each twice with
	// guidance, and the result.
	im := m.Desc.Image
	if err := ctx.CheckMemory(6*4*int64(len(classes))*int64(im.Channels*im.Height*im.Width), countParam(ctx.Params)); err != nil {
		return err
	}
	steps := ctx.Params.Int("steps")
	x, err := flow.Sample(ctx, m, classes, flow.Options{
		Steps:    steps,
		CFG:      ctx.Params.Float("cfg"),
		Seed:     uint64(ctx.Params.Int("seed")),
		Clip:     ctx.Params.Bool("clip"),
		Progress: func(done, total int) { ctx.Report(done, total, fmt.Sprintf("step %d/%d", done, total)) },
	})
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	labels := make(artifact.Labels, len(classes))
	for i, c := range classes {
		labels[i] = int64(c)
	}
	r := m.Desc.Image.Range
	samples := &artifact.Images{Tensor: artifact.Tensor(*x), Lo: float32(r[0]), Hi: float32(r[1])}
	if err := ctx.Output("samples", samples); err != nil {
		return err
	}
	return ctx.Output("labels", labels)
}

// countParam names the parameter that sets the number of samples.
func countParam(p stages.Params) string {
	switch {
	case len(p.Ints("classes")) > 0:
		return "classes"
	case p.Int("per_class") > 0:
		return "per_class"
	}
	return "n"
}

// Classes turns the parameters n, classes and per_class into one class per
// sample for the model d describes: classes as given; per_class samples of
// each class ordered 0..K-1 repeated; or n samples cycling through the
// classes (class-conditioned models) or unconditional (other models).
func Classes(d *modelfile.Description, n int, classes []int, perClass int) ([]int, error) {
	k := 0
	if d.Condition.Kind == modelfile.ConditionOnehot {
		k = d.Condition.Size
	}
	switch {
	case len(classes) > 0:
		for i, c := range classes {
			if c < flow.Unconditional || c >= k && c != flow.Unconditional {
				if k == 0 {
					return nil, fmt.Errorf("parameter classes: the model has no class input; use n (or classes of -1)")
				}
				return nil, fmt.Errorf("parameter classes: entry %d is %d, want 0..%d or -1 (unconditional)", i, c, k-1)
			}
		}
		return append([]int(nil), classes...), nil
	case perClass > 0:
		if k == 0 {
			return nil, fmt.Errorf("parameter per_class: the model has no class input; use n")
		}
		out := make([]int, 0, perClass*k)
		for range perClass {
			for c := range k {
				out = append(out, c)
			}
		}
		return out, nil
	case n > 0:
		out := make([]int, n)
		for i := range out {
			out[i] = flow.Unconditional
			if k > 0 {
				out[i] = i % k
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("set one of the parameters n, classes or per_class")
}
