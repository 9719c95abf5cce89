package diffusion

import (
	"fmt"
	"strings"

	"difflab/models/ddpm"
	"difflab/models/filter"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "anagram",
		Doc: "Visual anagrams: samples images that read as prompts[0] upright and as prompts[k] through views[k-1], " +
			"averaging the guided noise estimates eps(x, p1) and view^-1(eps(view(x), p2)) at every step " +
			"(all branches in one model call). Views: " + strings.Join(ddpm.ViewNames(), ", ") + ".",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs:  []stages.Port{modelPort},
		Outputs: []stages.Port{
			samplesPort,
			{Name: "labels", Type: artifact.TypeLabels, Doc: "class of prompts[0] per image"},
			{Name: "view_samples", Type: artifact.TypeImages,
				Doc: "the samples seen through each view: all N through views[0], then through views[1], ..."},
			{Name: "view_labels", Type: artifact.TypeLabels, Doc: "class of the prompt each view image should show"},
		},
		Params: []stages.Param{
			{Name: "prompts", Type: stages.Strings, Prompt: true, Doc: "the upright prompt, then one prompt per view"},
			{Name: "views", Type: stages.Strings, Default: []string{"flip"},
				Doc: "the views, one per prompt after the first: " + strings.Join(ddpm.ViewNames(), ", ")},
			nParam, cfgParam(7), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Check: func(p stages.Params) error {
			ps, vs := p.Strings("prompts"), p.Strings("views")
			if len(ps) < 2 || len(vs) != len(ps)-1 {
				return fmt.Errorf("parameter views: %d views for %d prompts; give one view per prompt after the first (at least two prompts)", len(vs), len(ps))
			}
			for _, v := range vs {
				if _, err := ddpm.ViewByName(v); err != nil {
					return fmt.Errorf("parameter views: %w", err)
				}
			}
			return nil
		},
		Run: runAnagram,
	})
	stages.Register(&stages.Kind{
		Name: "hybrid",
		Doc: "Hybrid images: samples with the noise estimate lowpass(eps(x, low_prompt)) + highpass(eps(x, high_prompt)), " +
			"a Gaussian low-pass (kernel_size, sigma, reflect padding) of guided estimates, both prompts in one model call.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs:  []stages.Port{modelPort},
		Outputs: []stages.Port{
			samplesPort,
			{Name: "labels", Type: artifact.TypeLabels, Doc: "class of the low-frequency prompt (seen from afar) per image"},
			{Name: "high_labels", Type: artifact.TypeLabels, Doc: "class of the high-frequency prompt (seen close up) per image"},
		},
		Params: []stages.Param{
			{Name: "low_prompt", Type: stages.String, Prompt: true, Doc: "prompt of the low frequencies (seen from afar)"},
			{Name: "high_prompt", Type: stages.String, Prompt: true, Doc: "prompt of the high frequencies (seen close up)"},
			{Name: "kernel_size", Type: stages.Int, Default: 33, Min: stages.Bound(1), Max: stages.Bound(255),
				Doc: "size of the Gaussian low-pass kernel; odd"},
			{Name: "sigma", Type: stages.Float, Default: 2.0, Min: stages.Bound(1e-3), Max: stages.Bound(1e3),
				Doc: "standard deviation of the Gaussian low-pass in pixels"},
			nParam, cfgParam(7), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Check: func(p stages.Params) error {
			if k := p.Int("kernel_size"); k%2 == 0 {
				return fmt.Errorf("parameter kernel_size: %d is even; use an odd size such as %d", k, k+1)
			}
			return nil
		},
		Run: runHybrid,
	})
}

func runAnagram(ctx *stages.Context) error {
	m, err := openModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	outs, err := anagram(ctx, m)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	for _, name := range []string{"samples", "labels", "view_samples", "view_labels"} {
		if err := ctx.Output(name, outs[name]); err != nil {
			return err
		}
	}
	return nil
}

// anagram is kind anagram's computation; it returns the outputs by name.
func anagram(ctx *stages.Context, m *noiseModel) (map[string]artifact.Artifact, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, err
	}
	prompts := p.Strings("prompts")
	table, classes, err := promptTable(m, p, "prompts", prompts)
	if err != nil {
		return nil, err
	}
	ts, err := m.timesteps(p.Int("stride"))
	if err != nil {
		return nil, err
	}
	n := p.Int("n")
	sh := m.shape(n)
	branches := []ddpm.Branch{{Cond: repeat(1, n)}}
	var views []ddpm.View
	for k, name := range p.Strings("views") {
		v, err := ddpm.ViewByName(name)
		if err != nil {
			return nil, fmt.Errorf("parameter views: %w", err)
		}
		views = append(views, v)
		branches = append(branches, ddpm.Branch{View: v, Cond: repeat(2+k, n)})
	}
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	x := make([]float32, sh.Len())
	ddpm.FillNormal(x, rng)
	est := ddpm.Anagram(m.ddpmModel(table), branches, 0, p.Float("cfg"))
	if err := ddpm.Sample(x, sh, m.sched, ts, 0, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Snapshot: progress(ctx, 0, ts)}); err != nil {
		return nil, err
	}
	samples := m.images(x, n)
	viewed := make([]float32, 0, len(views)*sh.Len())
	viewLabels := make(artifact.Labels, 0, len(views)*n)
	buf := make([]float32, sh.Len())
	for k, v := range views {
		v.Apply(buf, samples.Data, sh)
		viewed = append(viewed, buf...)
		viewLabels = append(viewLabels, repeatLabel(classes[k+1], n)...)
	}
	return map[string]artifact.Artifact{
		"samples":      samples,
		"labels":       repeatLabel(classes[0], n),
		"view_samples": m.images(viewed, len(views)*n),
		"view_labels":  viewLabels,
	}, nil
}

func runHybrid(ctx *stages.Context) error {
	m, err := openModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	samples, low, high, err := hybrid(ctx, m)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	if err := ctx.Output("samples", samples); err != nil {
		return err
	}
	if err := ctx.Output("labels", low); err != nil {
		return err
	}
	return ctx.Output("high_labels", high)
}

// hybrid is kind hybrid's computation.
func hybrid(ctx *stages.Context, m *noiseModel) (*artifact.Images, artifact.Labels, artifact.Labels, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, nil, nil, err
	}
	if _, err := m.class("high_prompt", p.String("high_prompt")); err != nil {
		return nil, nil, nil, err
	}
	table, classes, err := promptTable(m, p, "low_prompt", []string{p.String("low_prompt"), p.String("high_prompt")})
	if err != nil {
		return nil, nil, nil, err
	}
	ts, err := m.timesteps(p.Int("stride"))
	if err != nil {
		return nil, nil, nil, err
	}
	n := p.Int("n")
	sh := m.shape(n)
	kernel := filter.GaussianKernel(p.Int("kernel_size"), p.Float("sigma"))
	lowpass := func(dst, src []float32, sh ddpm.Shape) { filter.Blur(dst, src, sh.H, sh.W, kernel) }
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	x := make([]float32, sh.Len())
	ddpm.FillNormal(x, rng)
	est := ddpm.Hybrid(m.ddpmModel(table), lowpass, repeat(1, n), repeat(2, n), 0, p.Float("cfg"))
	if err := ddpm.Sample(x, sh, m.sched, ts, 0, est, ddpm.Options{Rng: rng, X0: x0Step(ctx.Params), Snapshot: progress(ctx, 0, ts)}); err != nil {
		return nil, nil, nil, err
	}
	return m.images(x, n), repeatLabel(classes[0], n), repeatLabel(classes[1], n), nil
}
