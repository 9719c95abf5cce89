package diffusion

import (
	"fmt"

	"difflab/models/ddpm"
	"difflab/models/modelfile"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "denoise.onestep",
		Doc: "Denoises noisy images in one model call. For a noise (epsilon) model at timestep t: " +
			"x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t). For a direct denoiser (predicts x0) the model's " +
			"output is the result.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the noisy images (at timestep t for a noise model)"},
			modelPort,
		},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the denoised images, in the model's value range"}},
		Params: []stages.Param{
			{Name: "t", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "timestep of the noisy images (fed to models with a timestep input)"},
			promptParam("prompt", "", "prompt of the noise estimate (\"\" = unconditional)"),
			epochParam,
		},
		Run: runOneStep,
	})
	stages.Register(&stages.Kind{
		Name: "denoise.iterative",
		Doc: "Denoises images that are at strided timestep i_start by running the reverse process down to t = 0 " +
			"(optionally with classifier-free guidance), keeping every k-th intermediate image.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the noisy images, at timestep ts[i_start]"},
			modelPort,
		},
		Outputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the denoised images"},
			{Name: "intermediate", Type: artifact.TypeImages,
				Doc: "x at ts[i_start], ts[i_start+every], ...: for each kept step, all N images in order (not clamped)"},
		},
		Params: []stages.Param{
			iStartParam(10),
			{Name: "every", Type: stages.Int, Default: 5, Min: stages.Bound(1), Doc: "keep the image of every k-th step"},
			promptParam("prompt", "", "prompt of the noise estimate (\"\" = unconditional)"),
			cfgParam(1), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Run: runIterative,
	})
}

func runOneStep(ctx *stages.Context) error {
	in, m, err := openImagesAndModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	out, err := oneStep(m, in, ctx.Params.Int("t"), ctx.Params.String("prompt"))
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	return ctx.Output("images", out)
}

// oneStep is denoise.onestep's computation.
func oneStep(m *noiseModel, in *artifact.Images, t int, prompt string) (*artifact.Images, error) {
	if _, err := m.class("prompt", prompt); err != nil {
		return nil, err
	}
	x, err := m.toModelRange(in, "images")
	if err != nil {
		return nil, err
	}
	switch m.desc.Predicts {
	case modelfile.PredictsEpsilon:
		if err := m.requireEpsilon(); err != nil {
			return nil, err
		}
		if t >= m.sched.T() {
			return nil, fmt.Errorf("parameter t: %d is past the model's last timestep %d", t, m.sched.T()-1)
		}
	case modelfile.PredictsX0:
		if m.desc.Output.Channels != m.desc.Image.Channels {
			return nil, fmt.Errorf("%s predicts %d channels for %d-channel images", m.name, m.desc.Output.Channels, m.desc.Image.Channels)
		}
	default:
		return nil, fmt.Errorf("%s predicts %q; one-step denoising needs a noise (epsilon) model or a direct denoiser (x0)", m.name, m.desc.Predicts)
	}
	n := in.N()
	sh := m.shape(n)
	e, err := m.ddpmModel([]string{prompt})(x, sh, t, repeat(0, n))
	if err != nil {
		return nil, err
	}
	if m.desc.Predicts == modelfile.PredictsX0 {
		return m.images(e.Eps, n), nil
	}
	x0 := make([]float32, len(x))
	ddpm.X0Estimate(x0, x, e.Eps, m.sched, t)
	return m.images(x0, n), nil
}

func runIterative(ctx *stages.Context) error {
	in, m, err := openImagesAndModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	final, inter, err := iterative(ctx, m, in)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	if err := ctx.Output("images", final); err != nil {
		return err
	}
	return ctx.Output("intermediate", inter)
}

// iterative is denoise.iterative's computation.
func iterative(ctx *stages.Context, m *noiseModel, in *artifact.Images) (final, inter *artifact.Images, err error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, nil, err
	}
	prompts := []string{p.String("uncond_prompt"), p.String("prompt")}
	if _, err := m.classes("prompt", prompts); err != nil {
		return nil, nil, err
	}
	ts, err := m.timesteps(p.Int("stride"))
	if err != nil {
		return nil, nil, err
	}
	iStart := p.Int("i_start")
	if err := checkIStart(iStart, ts); err != nil {
		return nil, nil, err
	}
	x, err := m.toModelRange(in, "images")
	if err != nil {
		return nil, nil, err
	}
	n, every := in.N(), p.Int("every")
	sh := m.shape(n)
	kept := append([]float32(nil), x...)
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	est := guidance(m.ddpmModel(prompts), repeat(1, n), p.Float("cfg"))
	total := len(ts) - 1 - iStart
	err = ddpm.Sample(x, sh, m.sched, ts, iStart, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Snapshot: func(i, t int, x []float32) {
		if (i+1-iStart)%every == 0 {
			kept = append(kept, x...)
		}
		ctx.Report(i+1-iStart, total, fmt.Sprintf("t=%d", t))
	}})
	if err != nil {
		return nil, nil, err
	}
	lo, hi := m.lohi()
	inter = artifact.NewImages(len(kept)/(sh.C*sh.H*sh.W), sh.C, sh.H, sh.W, lo, hi)
	copy(inter.Data, kept)
	return m.images(x, n), inter, nil
}
