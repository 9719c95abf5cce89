package diffusion

import (
	"fmt"
	"math"

	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "upscale",
		Doc: "Upscales images by an integer factor with bicubic (Keys, a = -0.5) or Lanczos-3 interpolation. With a " +
			"model connected whose image size is the upscaled size, the result is then refined SDEdit-style: noised " +
			"to strided timestep i_start and denoised with classifier-free guidance toward prompt.",
		Version: 1,
		Engine:  []string{"onnxruntime"},
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "the images to upscale"},
			{Name: "model", Type: artifact.TypeModel, Optional: true,
				Doc: "optional refining model working at the upscaled size"},
		},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the upscaled images, in the input's value range"}},
		Params: []stages.Param{
			{Name: "factor", Type: stages.Int, Default: 4, Min: stages.Bound(1), Max: stages.Bound(16),
				Doc: "integer scale factor of width and height"},
			{Name: "method", Type: stages.String, Default: "lanczos", Enum: []string{"bicubic", "lanczos"},
				Doc: "interpolation kernel"},
			{Name: "refine_i_start", Type: stages.Int, Default: 25, Min: stages.Bound(0),
				Doc: "strided timestep index the refinement starts from (with a model only)"},
			promptParam("prompt", "", "prompt of the refinement (\"\" = unconditional)"),
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
	out := resize(in, p.Int("factor"), p.String("method"))
	if ctx.One("model") == nil {
		return ctx.Output("images", out)
	}
	m, err := openModel(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	refined, _, err := sdedit(ctx, m, out, p.Int("refine_i_start"), 1)
	if err != nil {
		return fmt.Errorf("stage %s: refining with the model: %w", ctx.Stage, err)
	}
	res := artifact.NewImages(refined.N(), refined.C(), refined.H(), refined.W(), in.Lo, in.Hi)
	lo, hi := m.lohi()
	for i, v := range refined.Data {
		res.Data[i] = in.Lo + (v-lo)/(hi-lo)*(in.Hi-in.Lo)
	}
	return ctx.Output("images", res)
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
