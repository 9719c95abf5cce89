package diffusion

import (
	"fmt"
	"path/filepath"
	"strings"

	"difflab/models/ddpm"
	"difflab/models/filter"
	"difflab/models/modelfile"
	"difflab/models/schedule"
	"difflab/models/tensor"
	"difflab/stages"
	"difflab/stages/artifact"
)

// noiseModel is an opened model as the stage kinds see it.
type noiseModel struct {
	// name says which model it is, for messages: "the model of stage
	// train (epoch_005)".
	name string
	desc *modelfile.Description
	// sched is the DDPM schedule; empty for models without one.
	sched ddpm.Schedule
	// predict runs a batch; prompts holds one prompt per image.
	predict func(x *tensor.Tensor, t []float64, prompts []string) (*modelfile.Prediction, error)
	// predictUpscaled runs a batch of a super-resolution model (low_res in
	// model.json) with the upscaled, noised low-resolution images up and
	// their noise levels; nil for other models.
	predictUpscaled func(x *tensor.Tensor, t []float64, prompts []string, up *tensor.Tensor, levels []int) (*modelfile.Prediction, error)
	// close releases the model's ONNX Runtime session.
	close func()
}

// openModel opens the model fed to input "model" at parameter epoch. The
// caller closes it.
func openModel(ctx *stages.Context) (*noiseModel, error) {
	a, ok := ctx.One("model").(*artifact.Model)
	if !ok {
		return nil, fmt.Errorf("stage %s: input model is missing", ctx.Stage)
	}
	dir, err := modelfile.Resolve(a.Dir, ctx.Params.Int("epoch"))
	if err != nil {
		return nil, fmt.Errorf("stage %s: parameter epoch: %w", ctx.Stage, err)
	}
	m, err := modelfile.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	name := fmt.Sprintf("the model of stage %s (%s)", ctx.In["model"][0].Stage, filepath.Base(dir))
	nm := &noiseModel{name: name, desc: m.Desc, close: m.Close}
	// Every model evaluation first checks that the run goes on, so that an
	// interrupted sampling loop ends within one evaluation.
	nm.predict = func(x *tensor.Tensor, t []float64, prompts []string) (*modelfile.Prediction, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if m.Desc.Condition.Kind == modelfile.ConditionNone {
			return m.Predict(x, t, nil)
		}
		return m.PredictPrompts(x, t, prompts)
	}
	if m.Desc.LowRes != nil {
		nm.predictUpscaled = func(x *tensor.Tensor, t []float64, prompts []string, up *tensor.Tensor, levels []int) (*modelfile.Prediction, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var cond [][]float32
			if m.Desc.Condition.Kind != modelfile.ConditionNone {
				if cond, err = m.Conditions(prompts); err != nil {
					return nil, err
				}
			}
			return m.PredictUpscaled(x, t, cond, up, levels)
		}
	}
	if s := m.Desc.Schedule; s != nil {
		var sc *schedule.Schedule
		if len(s.AlphasCumprod) > 0 {
			sc, err = schedule.FromAlphasCumprod("model.json", s.AlphasCumprod)
		} else {
			sc, err = schedule.New(s.Name, s.Steps)
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("stage %s: %s: schedule: %w", ctx.Stage, dir, err)
		}
		nm.sched = ddpm.Schedule{AlphasCumprod: sc.AlphasCumprod}
	}
	return nm, nil
}

// openImagesAndModel returns the stage's input images and opens its model
// (see openModel); the caller closes the model.
func openImagesAndModel(ctx *stages.Context) (*artifact.Images, *noiseModel, error) {
	in, ok := ctx.One("images").(*artifact.Images)
	if !ok {
		return nil, nil, fmt.Errorf("stage %s: input images is missing", ctx.Stage)
	}
	m, err := openModel(ctx)
	return in, m, err
}

// shape returns the shape of a batch of n model-sized images.
func (m *noiseModel) shape(n int) ddpm.Shape {
	im := m.desc.Image
	return ddpm.Shape{N: n, C: im.Channels, H: im.Height, W: im.Width}
}

// lohi returns the model's value range.
func (m *noiseModel) lohi() (float32, float32) {
	return float32(m.desc.Image.Range[0]), float32(m.desc.Image.Range[1])
}

// requireEpsilon checks that the model is a DDPM noise predictor.
func (m *noiseModel) requireEpsilon() error {
	if m.desc.Predicts != modelfile.PredictsEpsilon {
		return fmt.Errorf("%s predicts %q; this stage needs a DDPM noise (epsilon) model such as train.ddpm's", m.name, m.desc.Predicts)
	}
	if m.sched.T() == 0 {
		return fmt.Errorf("%s has no noise schedule in model.json (field \"schedule\")", m.name)
	}
	if m.desc.Output.Channels != m.desc.Image.Channels {
		return fmt.Errorf("%s predicts %d channels for %d-channel images", m.name, m.desc.Output.Channels, m.desc.Image.Channels)
	}
	return nil
}

// class returns the label of prompt: its class in a onehot model's prompt
// table, -1 for "" and for models without classes. Unknown prompts are an
// error that lists the known ones.
func (m *noiseModel) class(param, prompt string) (int64, error) {
	d := m.desc
	switch d.Condition.Kind {
	case modelfile.ConditionOnehot:
		if prompt == "" {
			return -1, nil
		}
		var known []string
		for _, p := range d.Prompts {
			if p.Prompt == prompt {
				return int64(p.Class), nil
			}
			known = append(known, fmt.Sprintf("%q", p.Prompt))
		}
		return 0, fmt.Errorf("parameter %s: the model does not know the prompt %q; its prompts are \"\" (unconditional), %s",
			param, prompt, strings.Join(known, ", "))
	case modelfile.ConditionNone:
		if prompt != "" {
			return 0, fmt.Errorf("parameter %s: %s takes no condition; leave the prompt empty", param, m.name)
		}
	}
	return -1, nil
}

// classes checks every prompt and returns their labels.
func (m *noiseModel) classes(param string, prompts []string) ([]int64, error) {
	out := make([]int64, len(prompts))
	for i, p := range prompts {
		c, err := m.class(param, p)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// ddpmModel adapts the model to ddpm.Model: condition i is prompts[i].
func (m *noiseModel) ddpmModel(prompts []string) ddpm.Model {
	return func(x []float32, sh ddpm.Shape, t int, cond []int) (ddpm.Estimate, error) {
		ps := make([]string, len(cond))
		for i, c := range cond {
			ps[i] = prompts[c]
		}
		ts := make([]float64, sh.N)
		for i := range ts {
			ts[i] = float64(t)
		}
		p, err := m.predict(&tensor.Tensor{Shape: []int{sh.N, sh.C, sh.H, sh.W}, Data: x}, ts, ps)
		if err != nil {
			return ddpm.Estimate{}, err
		}
		e := ddpm.Estimate{Eps: p.Out.Data}
		if p.Variance != nil {
			e.Var = p.Variance.Data
		}
		return e, nil
	}
}

// samplerCopies is how many model-sized images per sample a sampling loop
// holds at its peak: the samples, the model batch with its conditional and
// unconditional halves, the noise estimates and variances of both halves,
// and the result.
const samplerCopies = 8

// checkMemory refuses, before anything is allocated, a sampling loop over n
// images whose memory would exceed the stage's limit; raisedBy names the
// parameters that set n.
func (m *noiseModel) checkMemory(ctx *stages.Context, n int, raisedBy ...string) error {
	return ctx.CheckMemory(samplerCopies*4*int64(m.shape(n).Len()), raisedBy...)
}

// toModelRange returns the images' pixels mapped into the model's value
// range, after checking their size.
func (m *noiseModel) toModelRange(in *artifact.Images, port string) ([]float32, error) {
	im := m.desc.Image
	return m.sizedToModelRange(in, port, im.Channels, im.Height, im.Width, "works on")
}

// sizedToModelRange is toModelRange for images of c x h x w; verb says
// what the model does with such images, for the error (such as "works on").
func (m *noiseModel) sizedToModelRange(in *artifact.Images, port string, c, h, w int, verb string) ([]float32, error) {
	if in.C() != c || in.H() != h || in.W() != w {
		return nil, fmt.Errorf("input %s: images are %d x %d x %d, %s %s %d x %d x %d; resize or convert them first",
			port, in.C(), in.H(), in.W(), m.name, verb, c, h, w)
	}
	lo, hi := m.lohi()
	x := make([]float32, len(in.Data))
	if in.Lo == lo && in.Hi == hi {
		copy(x, in.Data)
	} else {
		if !(in.Hi > in.Lo) {
			return nil, fmt.Errorf("input %s: value range [%g, %g] is empty", port, in.Lo, in.Hi)
		}
		filter.Rescale(x, in.Data, in.Lo, in.Hi, lo, hi)
	}
	return x, nil
}

// images wraps pixels of n model-sized images, clamped to the model's range.
func (m *noiseModel) images(x []float32, n int) *artifact.Images {
	sh := m.shape(n)
	lo, hi := m.lohi()
	out := artifact.NewImages(sh.N, sh.C, sh.H, sh.W, lo, hi)
	for i, v := range x {
		out.Data[i] = min(max(v, lo), hi)
	}
	return out
}

// timesteps returns the strided timestep list of parameter stride.
func (m *noiseModel) timesteps(stride int) ([]int, error) {
	if stride < 1 || stride >= m.sched.T() {
		return nil, fmt.Errorf("parameter stride: %d must lie in 1..%d", stride, m.sched.T()-1)
	}
	return ddpm.StridedTimesteps(m.sched.T(), stride), nil
}

// checkIStart checks parameter i_start against a timestep list.
func checkIStart(iStart int, ts []int) error {
	if iStart < 0 || iStart >= len(ts)-1 {
		return fmt.Errorf("parameter i_start: %d must lie in 0..%d (the strided list has %d timesteps, %d down to %d)",
			iStart, len(ts)-2, len(ts), ts[0], ts[len(ts)-1])
	}
	return nil
}

// guidance returns the guided estimator for per-image conditions cond
// (indices into the prompt table that ddpmModel was built with, whose
// index 0 is the unconditional prompt).
func guidance(model ddpm.Model, cond []int, gamma float64) ddpm.Estimator {
	return ddpm.CFG(model, cond, 0, gamma)
}

// repeat returns n copies of v.
func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// repeatLabel returns n copies of the label c.
func repeatLabel(c int64, n int) artifact.Labels {
	out := make(artifact.Labels, n)
	for i := range out {
		out[i] = c
	}
	return out
}
