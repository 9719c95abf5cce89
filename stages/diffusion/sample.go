package diffusion

import (
	"fmt"

	"difflab/models/ddpm"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "sample",
		Doc: "Generates n images per prompt from pure noise with the DDPM reverse process over strided timesteps " +
			"(or `steps` evenly spaced ones), with classifier-free guidance of scale cfg.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs:  []stages.Port{modelPort},
		Outputs: []stages.Port{samplesPort, labelsPort},
		Params: []stages.Param{
			{Name: "prompts", Type: stages.Strings, Default: []string{""}, Prompt: true,
				Doc: "the prompts; images are ordered prompt by prompt (\"\" = unconditional)"},
			nParam,
			{Name: "steps", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "number of inference steps n: timesteps k * (T / n), k = n-1 .. 0; 0 = use stride"},
			cfgParam(1), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Run: runSample,
	})
	stages.Register(&stages.Kind{
		Name: "sdedit",
		Doc: "SDEdit image-to-image translation: noises each input image to strided timestep i_start and runs the " +
			"reverse process with classifier-free guidance toward prompt (\"\" = unconditional: a projection onto " +
			"the data manifold; another prompt: text-conditional image-to-image translation).",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the images to edit (any value range; model-sized)"},
			modelPort,
		},
		Outputs: []stages.Port{samplesPort, labelsPort},
		Params: []stages.Param{
			iStartParam(10),
			promptParam("prompt", "", "prompt to steer toward (\"\" = unconditional)"),
			nParam, cfgParam(7), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Run: runSDEdit,
	})
	stages.Register(&stages.Kind{
		Name: "inpaint",
		Doc: "Inpainting: samples from pure noise with classifier-free guidance and, after every step, puts back the " +
			"original (noised to the current timestep) wherever the mask is 0: x <- m x + (1 - m) forward(x_orig, t).",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the images to inpaint (model-sized)"},
			modelPort,
			{Name: "mask", Type: artifact.TypeImages, Optional: true,
				Doc: "the mask (for example a PNG loaded with image.load): bright (above the middle of its range) = regenerate; " +
					"one image for all or one per image; one channel or one per channel"},
		},
		Outputs: []stages.Port{samplesPort, labelsPort,
			{Name: "mask", Type: artifact.TypeImages, Doc: "the mask used (1 = regenerated), one per image, in [0, 1]"},
			{Name: "hole", Type: artifact.TypeImages, Doc: "the originals with the regenerated region blanked to the range's low end"},
		},
		Params: []stages.Param{
			{Name: "rect", Type: stages.Ints, Default: []int{},
				Doc: "region to regenerate when no mask input is given: [x0, y0, x1, y1] in pixels, x1 and y1 excluded"},
			{Name: "i_start", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "index into the strided timesteps to start from (0: pure noise at the first one)"},
			promptParam("prompt", "", "prompt for the regenerated region (\"\" = unconditional)"),
			nParam, cfgParam(7), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Check: func(p stages.Params) error {
			if r := p.Ints("rect"); len(r) != 0 && (len(r) != 4 || r[0] >= r[2] || r[1] >= r[3] || r[0] < 0 || r[1] < 0) {
				return fmt.Errorf("parameter rect: %v must be [x0, y0, x1, y1] with 0 <= x0 < x1 and 0 <= y0 < y1", r)
			}
			return nil
		},
		Run: runInpaint,
	})
}

// sampleTimesteps returns the timesteps of kind sample's parameters.
func sampleTimesteps(m *noiseModel, p stages.Params) ([]int, error) {
	if n := p.Int("steps"); n > 0 {
		if n > m.sched.T() {
			return nil, fmt.Errorf("parameter steps: %d is more than the model's %d timesteps", n, m.sched.T())
		}
		if n == 1 {
			return nil, fmt.Errorf("parameter steps: 1 step goes nowhere; use at least 2")
		}
		return ddpm.TimestepsForSteps(m.sched.T(), n), nil
	}
	return m.timesteps(p.Int("stride"))
}

func runSample(ctx *stages.Context) error {
	m, err := openModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	samples, labels, err := sample(ctx, m)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	if err := ctx.Output("samples", samples); err != nil {
		return err
	}
	return ctx.Output("labels", labels)
}

// promptTable returns the condition table [uncond, prompts...] and the
// labels of prompts.
func promptTable(m *noiseModel, p stages.Params, param string, prompts []string) ([]string, []int64, error) {
	if _, err := m.class("uncond_prompt", p.String("uncond_prompt")); err != nil {
		return nil, nil, err
	}
	labels, err := m.classes(param, prompts)
	if err != nil {
		return nil, nil, err
	}
	return append([]string{p.String("uncond_prompt")}, prompts...), labels, nil
}

// sample is kind sample's computation.
func sample(ctx *stages.Context, m *noiseModel) (*artifact.Images, artifact.Labels, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, nil, err
	}
	prompts := p.Strings("prompts")
	if len(prompts) == 0 {
		return nil, nil, fmt.Errorf("parameter prompts: give at least one prompt (\"\" = unconditional)")
	}
	table, classes, err := promptTable(m, p, "prompts", prompts)
	if err != nil {
		return nil, nil, err
	}
	ts, err := sampleTimesteps(m, p)
	if err != nil {
		return nil, nil, err
	}
	per := p.Int("n")
	n := per * len(prompts)
	if err := m.checkMemory(ctx, n, "n", "prompts"); err != nil {
		return nil, nil, err
	}
	cond := make([]int, n)
	labels := make(artifact.Labels, n)
	for i := range cond {
		cond[i] = 1 + i/per
		labels[i] = classes[i/per]
	}
	sh := m.shape(n)
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	x := make([]float32, sh.Len())
	ddpm.FillNormal(x, rng)
	est := guidance(m.ddpmModel(table), cond, p.Float("cfg"))
	if err := ddpm.Sample(x, sh, m.sched, ts, 0, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Snapshot: progress(ctx, 0, ts)}); err != nil {
		return nil, nil, err
	}
	return m.images(x, n), labels, nil
}

// progress returns a Snapshot callback that reports the step.
func progress(ctx *stages.Context, iStart int, ts []int) func(i, t int, x []float32) {
	return func(i, t int, _ []float32) {
		ctx.Report(i+1-iStart, len(ts)-1-iStart, fmt.Sprintf("t=%d", t))
	}
}

func runSDEdit(ctx *stages.Context) error {
	in, m, err := openImagesAndModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	samples, labels, err := sdedit(ctx, m, in, ctx.Params.Int("i_start"), ctx.Params.Int("n"))
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	if err := ctx.Output("samples", samples); err != nil {
		return err
	}
	return ctx.Output("labels", labels)
}

// replicate returns each image of x (per values each) n times in a row.
func replicate(x []float32, per, n int) []float32 {
	if n == 1 {
		return x
	}
	out := make([]float32, 0, len(x)*n)
	for i := 0; i < len(x); i += per {
		for range n {
			out = append(out, x[i:i+per]...)
		}
	}
	return out
}

// sdedit is kind sdedit's computation: n edits of every input image from
// strided index iStart. It reads parameters prompt, uncond_prompt, cfg,
// stride and seed.
func sdedit(ctx *stages.Context, m *noiseModel, in *artifact.Images, iStart, copies int) (*artifact.Images, artifact.Labels, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, nil, err
	}
	table, classes, err := promptTable(m, p, "prompt", []string{p.String("prompt")})
	if err != nil {
		return nil, nil, err
	}
	ts, err := m.timesteps(p.Int("stride"))
	if err != nil {
		return nil, nil, err
	}
	if err := checkIStart(iStart, ts); err != nil {
		return nil, nil, err
	}
	if err := m.checkMemory(ctx, in.N()*copies, "n"); err != nil {
		return nil, nil, err
	}
	orig, err := m.toModelRange(in, "images")
	if err != nil {
		return nil, nil, err
	}
	n := in.N() * copies
	sh := m.shape(n)
	x := replicate(orig, sh.C*sh.H*sh.W, copies)
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	noise := make([]float32, len(x))
	ddpm.FillNormal(noise, rng)
	xt := make([]float32, len(x))
	ddpm.Forward(xt, x, noise, m.sched, ts[iStart])
	est := guidance(m.ddpmModel(table), repeat(1, n), p.Float("cfg"))
	if err := ddpm.Sample(xt, sh, m.sched, ts, iStart, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Snapshot: progress(ctx, iStart, ts)}); err != nil {
		return nil, nil, err
	}
	return m.images(xt, n), repeatLabel(classes[0], n), nil
}

func runInpaint(ctx *stages.Context) error {
	in, m, err := openImagesAndModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	maskIn, _ := ctx.One("mask").(*artifact.Images)
	r, err := inpaint(ctx, m, in, maskIn)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	for _, o := range []struct {
		name string
		a    artifact.Artifact
	}{{"samples", r.samples}, {"labels", r.labels}, {"mask", r.mask}, {"hole", r.hole}} {
		if err := ctx.Output(o.name, o.a); err != nil {
			return err
		}
	}
	return nil
}

// inpaintResult holds kind inpaint's outputs.
type inpaintResult struct {
	samples, mask, hole *artifact.Images
	labels              artifact.Labels
}

// buildMask returns the 0/1 mask for n images of shape sh from the mask
// input or the rect parameter.
func buildMask(in *artifact.Images, rect []int, sh ddpm.Shape) ([]float32, error) {
	plane := sh.H * sh.W
	mask := make([]float32, sh.Len())
	switch {
	case in != nil:
		if in.H() != sh.H || in.W() != sh.W {
			return nil, fmt.Errorf("input mask: %d x %d pixels, the images are %d x %d", in.H(), in.W(), sh.H, sh.W)
		}
		if in.N() != 1 && in.N() != sh.N {
			return nil, fmt.Errorf("input mask: %d masks for %d images; give one, or one per image", in.N(), sh.N)
		}
		if in.C() != 1 && in.C() != sh.C {
			return nil, fmt.Errorf("input mask: %d channels; give 1, or %d like the images", in.C(), sh.C)
		}
		mid := (in.Lo + in.Hi) / 2
		for i := 0; i < sh.N; i++ {
			for c := 0; c < sh.C; c++ {
				src := in.Data[((i%in.N())*in.C()+c%in.C())*plane:]
				dst := mask[(i*sh.C+c)*plane:]
				for k := 0; k < plane; k++ {
					if src[k] > mid {
						dst[k] = 1
					}
				}
			}
		}
	case len(rect) == 4:
		if rect[2] > sh.W || rect[3] > sh.H {
			return nil, fmt.Errorf("parameter rect: %v reaches outside the %d x %d image", rect, sh.W, sh.H)
		}
		for p := 0; p < sh.N*sh.C; p++ {
			for y := rect[1]; y < rect[3]; y++ {
				for x := rect[0]; x < rect[2]; x++ {
					mask[p*plane+y*sh.W+x] = 1
				}
			}
		}
	default:
		return nil, fmt.Errorf("no mask: connect input mask (a PNG loaded with image.load) or set parameter rect [x0, y0, x1, y1]")
	}
	return mask, nil
}

// inpaint is kind inpaint's computation.
func inpaint(ctx *stages.Context, m *noiseModel, in, maskIn *artifact.Images) (*inpaintResult, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, err
	}
	table, classes, err := promptTable(m, p, "prompt", []string{p.String("prompt")})
	if err != nil {
		return nil, err
	}
	ts, err := m.timesteps(p.Int("stride"))
	if err != nil {
		return nil, err
	}
	iStart := p.Int("i_start")
	if err := checkIStart(iStart, ts); err != nil {
		return nil, err
	}
	origIn, err := m.toModelRange(in, "images")
	if err != nil {
		return nil, err
	}
	n := in.N() * p.Int("n")
	if err := m.checkMemory(ctx, n, "n"); err != nil {
		return nil, err
	}
	sh := m.shape(n)
	orig := replicate(origIn, sh.C*sh.H*sh.W, p.Int("n"))
	var maskRep *artifact.Images
	if maskIn != nil && maskIn.N() == in.N() && in.N() > 1 {
		maskRep = &artifact.Images{Tensor: artifact.Tensor{Shape: []int{n, maskIn.C(), maskIn.H(), maskIn.W()},
			Data: replicate(maskIn.Data, maskIn.C()*maskIn.H()*maskIn.W(), p.Int("n"))}, Lo: maskIn.Lo, Hi: maskIn.Hi}
	} else {
		maskRep = maskIn
	}
	mask, err := buildMask(maskRep, p.Ints("rect"), sh)
	if err != nil {
		return nil, err
	}
	seed := uint64(p.Int("seed"))
	rng := ddpm.NewRand(seed)
	x := make([]float32, sh.Len())
	ddpm.FillNormal(x, rng)
	project := ddpm.Inpaint(orig, mask, m.sched, ddpm.NewRand(seed^0x5eed))
	project(x, ts[iStart])
	est := guidance(m.ddpmModel(table), repeat(1, n), p.Float("cfg"))
	if err := ddpm.Sample(x, sh, m.sched, ts, iStart, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Project: project, Snapshot: progress(ctx, iStart, ts)}); err != nil {
		return nil, err
	}
	lo, _ := m.lohi()
	hole := make([]float32, len(orig))
	for i := range hole {
		hole[i] = orig[i]*(1-mask[i]) + lo*mask[i]
	}
	maskImg := artifact.NewImages(sh.N, sh.C, sh.H, sh.W, 0, 1)
	copy(maskImg.Data, mask)
	return &inpaintResult{samples: m.images(x, n), labels: repeatLabel(classes[0], n), mask: maskImg, hole: m.images(hole, n)}, nil
}
