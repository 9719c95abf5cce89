package diffusion

import (
	"fmt"
	"math"

	"difflab/models/ddpm"
	"difflab/models/tensor"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "upscale",
		Doc: "Upscales images by an integer factor with bicubic (Keys, a = -0.5) or Lanczos-3 interpolation. With a " +
			"model connected whose image size is the upscaled size, the result is then refined SDEdit-style: noised " +
			"to strided timestep i_start and denoised with classifier-free guidance toward prompt. With a " +
			"super-resolution model (low_res in its model.json, such as DeepFloyd IF stage II) the stage instead " +
			"samples the upscaled images from pure noise as diffusers' IF stage II pipeline does: every step the model " +
			"sees the noisy sample next to the input image upscaled bilinearly (corners aligned) and noised to " +
			"noise_level, sqrt(abar_s) x + sqrt(1 - abar_s) eps, with that noise level, the prompt's embedding and " +
			"classifier-free guidance.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the images to upscale"},
			{Name: "model", Type: artifact.TypeModel, Optional: true,
				Doc: "optional model: a refining model working at the upscaled size, or a super-resolution model " +
					"(such as DeepFloyd IF stage II) whose low_res is the images' size"},
		},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the upscaled images, in the input's value range"}},
		Params: []stages.Param{
			{Name: "factor", Type: stages.Int, Default: 4, Min: stages.Bound(1), Max: stages.Bound(16),
				Doc: "integer scale factor of width and height (a super-resolution model's own factor)"},
			{Name: "method", Type: stages.String, Default: "lanczos", Enum: []string{"bicubic", "lanczos"},
				Doc: "interpolation kernel (without a super-resolution model)"},
			{Name: "refine_i_start", Type: stages.Int, Default: 25, Min: stages.Bound(0),
				Doc: "strided timestep index the refinement starts from (with a refining model only)"},
			{Name: "noise_level", Type: stages.Int, Default: 250, Min: stages.Bound(0),
				Doc: "timestep s the upscaled input is noised to before a super-resolution model sees it, and fed to it " +
					"(250 as in diffusers' IF stage II pipeline)"},
			{Name: "steps", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "number of inference steps of a super-resolution model, timesteps k * (T / n), k = n-1 .. 0; 0 = use stride"},
			promptParam("prompt", "", "prompt of the refinement or super-resolution (\"\" = unconditional)"),
			cfgParam(7), uncondParam, strideParam, x0Param, seedParam, epochParam,
		},
		Run: runUpscale,
	})
}

func runUpscale(ctx *stages.Context) error {
	in, ok := ctx.One("images").(*artifact.Images)
	if !ok {
		return fmt.Errorf("stage %s: input images is missing", ctx.Stage)
	}
	p := ctx.Params
	// The upscaled images and the result; a model's sampling loop adds its
	// own copies at the upscaled size.
	copies := int64(2)
	if ctx.One("model") != nil {
		copies += samplerCopies
	}
	f := int64(p.Int("factor"))
	if err := ctx.CheckMemory(copies*4*int64(len(in.Data))*f*f, "factor"); err != nil {
		return err
	}
	if ctx.One("model") == nil {
		return ctx.Output("images", resize(in, p.Int("factor"), p.String("method")))
	}
	m, err := openModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	var out *artifact.Images
	if m.desc.LowRes != nil {
		if out, err = superResolve(ctx, m, in); err != nil {
			return fmt.Errorf("stage %s: upscaling with the super-resolution model: %w", ctx.Stage, err)
		}
	} else if out, _, err = sdedit(ctx, m, resize(in, p.Int("factor"), p.String("method")), p.Int("refine_i_start"), 1); err != nil {
		return fmt.Errorf("stage %s: refining with the model: %w", ctx.Stage, err)
	}
	res := artifact.NewImages(out.N(), out.C(), out.H(), out.W(), in.Lo, in.Hi)
	lo, hi := m.lohi()
	for i, v := range out.Data {
		res.Data[i] = in.Lo + (v-lo)/(hi-lo)*(in.Hi-in.Lo)
	}
	return ctx.Output("images", res)
}

// superResolve is kind upscale's computation with a super-resolution model
// (low_res in model.json), as diffusers' IF stage II pipeline: x_T is pure
// noise, the input images are upscaled bilinearly with aligned corners and
// noised to parameter noise_level (noisedLowRes), and every guided model
// call sees both with that noise level. It reads parameters factor,
// noise_level, steps, stride, prompt, uncond_prompt, cfg, x0 and seed.
func superResolve(ctx *stages.Context, m *noiseModel, in *artifact.Images) (*artifact.Images, error) {
	p := ctx.Params
	if err := m.requireEpsilon(); err != nil {
		return nil, err
	}
	lr, img := m.desc.LowRes, m.desc.Image
	if f := img.Height / lr.Height; p.Int("factor") != f {
		return nil, fmt.Errorf("parameter factor: is %d, but %s upscales %d x %d images to %d x %d; set factor: %d",
			p.Int("factor"), m.name, lr.Height, lr.Width, img.Height, img.Width, f)
	}
	low, err := m.sizedToModelRange(in, "images", lr.Channels, lr.Height, lr.Width, "upscales")
	if err != nil {
		return nil, err
	}
	level := p.Int("noise_level")
	if level >= m.sched.T() {
		return nil, fmt.Errorf("parameter noise_level: %d must lie in 0..%d", level, m.sched.T()-1)
	}
	table, _, err := promptTable(m, p, "prompt", []string{p.String("prompt")})
	if err != nil {
		return nil, err
	}
	ts, err := sampleTimesteps(m, p)
	if err != nil {
		return nil, err
	}
	n := in.N()
	sh := m.shape(n)
	// The draws in diffusers' order: the starting noise, then the noise of
	// the upscaled image.
	rng := ddpm.NewRand(uint64(p.Int("seed")))
	x := make([]float32, sh.Len())
	ddpm.FillNormal(x, rng)
	noise := make([]float32, n*lr.Channels*img.Height*img.Width)
	ddpm.FillNormal(noise, rng)
	up := noisedLowRes(low, ddpm.Shape{N: n, C: lr.Channels, H: lr.Height, W: lr.Width}, img.Height, img.Width, m.sched, level, noise)
	est := guidance(m.upscaledModel(table, up, n, level), repeat(1, n), p.Float("cfg"))
	if err := ddpm.Sample(x, sh, m.sched, ts, 0, est, ddpm.Options{Rng: rng, X0: x0Step(p), Snapshot: progress(ctx, 0, ts)}); err != nil {
		return nil, err
	}
	return m.images(x, n), nil
}

// noisedLowRes returns the low-resolution images low (of shape sh) upscaled
// to H x W bilinearly with aligned corners (torch's interpolate with
// align_corners=True, as diffusers' IF stage II pipeline) and noised to
// timestep level with the noise eps: sqrt(abar_s) up + sqrt(1 - abar_s) eps.
func noisedLowRes(low []float32, sh ddpm.Shape, H, W int, s ddpm.Schedule, level int, eps []float32) []float32 {
	up := resizeAligned(low, sh, H, W)
	ddpm.Forward(up, up, eps, s, level)
	return up
}

// resizeAligned upscales every plane of x (of shape sh) to H x W
// bilinearly, output pixel j sampling source coordinate j (n - 1) / (N - 1),
// so that the corner pixels keep their values.
func resizeAligned(x []float32, sh ddpm.Shape, H, W int) []float32 {
	type tap struct {
		i0, i1 int
		f      float64
	}
	taps := func(n, N int) []tap {
		out := make([]tap, N)
		for j := range out {
			var s float64
			if N > 1 {
				s = float64(j) * float64(n-1) / float64(N-1)
			}
			i0 := min(int(s), n-1)
			out[j] = tap{i0, min(i0+1, n-1), s - float64(i0)}
		}
		return out
	}
	ys, xs := taps(sh.H, H), taps(sh.W, W)
	out := make([]float32, sh.N*sh.C*H*W)
	for p := 0; p < sh.N*sh.C; p++ {
		src := x[p*sh.H*sh.W : (p+1)*sh.H*sh.W]
		dst := out[p*H*W : (p+1)*H*W]
		for y, ty := range ys {
			for xx, tx := range xs {
				top := (1-tx.f)*float64(src[ty.i0*sh.W+tx.i0]) + tx.f*float64(src[ty.i0*sh.W+tx.i1])
				bottom := (1-tx.f)*float64(src[ty.i1*sh.W+tx.i0]) + tx.f*float64(src[ty.i1*sh.W+tx.i1])
				dst[y*W+xx] = float32((1-ty.f)*top + ty.f*bottom)
			}
		}
	}
	return out
}

// upscaledModel adapts a super-resolution model to ddpm.Model: condition i
// is prompts[i], and batch image j (of a batch made of the n images' guided
// halves, see ddpm.Guided) sees upscaled image j mod n of up and noise
// level level.
func (m *noiseModel) upscaledModel(prompts []string, up []float32, n, level int) ddpm.Model {
	lr := m.desc.LowRes
	return func(x []float32, sh ddpm.Shape, t int, cond []int) (ddpm.Estimate, error) {
		per := lr.Channels * sh.H * sh.W
		ups := &tensor.Tensor{Shape: []int{sh.N, lr.Channels, sh.H, sh.W}, Data: make([]float32, 0, sh.N*per)}
		ps := make([]string, sh.N)
		ts := make([]float64, sh.N)
		levels := make([]int, sh.N)
		for j := range sh.N {
			ups.Data = append(ups.Data, up[(j%n)*per:(j%n+1)*per]...)
			ps[j], ts[j], levels[j] = prompts[cond[j]], float64(t), level
		}
		p, err := m.predictUpscaled(&tensor.Tensor{Shape: []int{sh.N, sh.C, sh.H, sh.W}, Data: x}, ts, ps, ups, levels)
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

// resizeKernel returns an interpolation kernel and its support radius.
func resizeKernel(method string) (func(x float64) float64, int) {
	if method == "bicubic" {
		const a = -0.5
		return func(x float64) float64 {
			x = math.Abs(x)
			switch {
			case x <= 1:
				return (a+2)*x*x*x - (a+3)*x*x + 1
			case x < 2:
				return a*x*x*x - 5*a*x*x + 8*a*x - 4*a
			}
			return 0
		}, 2
	}
	return func(x float64) float64 {
		switch {
		case x == 0:
			return 1
		case math.Abs(x) >= 3:
			return 0
		}
		px := math.Pi * x
		return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
	}, 3
}

// resizeWeights returns, for every output index of a 1-D upscale from n to
// n*factor samples, the source indices (clamped to the edge) and their
// normalised weights. Output sample j sits at source coordinate
// (j + 0.5) / factor - 0.5 (pixel centres aligned).
func resizeWeights(n, factor int, method string) ([][]int, [][]float64) {
	k, r := resizeKernel(method)
	idx := make([][]int, n*factor)
	wts := make([][]float64, n*factor)
	for j := range idx {
		s := (float64(j)+0.5)/float64(factor) - 0.5
		base := int(math.Floor(s))
		var sum float64
		for i := base - r + 1; i <= base+r; i++ {
			w := k(s - float64(i))
			idx[j] = append(idx[j], min(max(i, 0), n-1))
			wts[j] = append(wts[j], w)
			sum += w
		}
		for i := range wts[j] {
			wts[j][i] /= sum
		}
	}
	return idx, wts
}

// resize upscales every channel of every image by factor with the
// separable "bicubic" or "lanczos" (Lanczos-3) kernel, clamping the result
// to the images' value range.
func resize(in *artifact.Images, factor int, method string) *artifact.Images {
	h, w := in.H(), in.W()
	H, W := h*factor, w*factor
	out := artifact.NewImages(in.N(), in.C(), H, W, in.Lo, in.Hi)
	yi, yw := resizeWeights(h, factor, method)
	xi, xw := resizeWeights(w, factor, method)
	rows := make([]float64, h*W)
	for p := 0; p < in.N()*in.C(); p++ {
		src := in.Data[p*h*w : (p+1)*h*w]
		for y := 0; y < h; y++ {
			for x := 0; x < W; x++ {
				var s float64
				for k, i := range xi[x] {
					s += xw[x][k] * float64(src[y*w+i])
				}
				rows[y*W+x] = s
			}
		}
		dst := out.Data[p*H*W : (p+1)*H*W]
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				var s float64
				for k, i := range yi[y] {
					s += yw[y][k] * rows[i*W+x]
				}
				dst[y*W+x] = min(max(float32(s), in.Lo), in.Hi)
			}
		}
	}
	return out
}
