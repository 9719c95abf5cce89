// Package imageops defines the image filter stage kinds ("blur.gaussian"),
// thin adapters over package difflab/models/filter.
package imageops

import (
	"fmt"

	"difflab/models/filter"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "blur.gaussian",
		Doc: "Blurs each channel of each image with a Gaussian kernel of size kernel_size and standard deviation " +
			"sigma, with reflect padding (torchvision's gaussian_blur). The value range is kept.",
		Version: 1,
		Inputs:  []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the images to blur"}},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the blurred images"}},
		Params: []stages.Param{
			{Name: "kernel_size", Type: stages.Int, Default: 5, Min: stages.Bound(1), Max: stages.Bound(255),
				Doc: "width and height of the kernel in pixels; odd"},
			{Name: "sigma", Type: stages.Float, Default: 1.0, Min: stages.Bound(1e-3), Max: stages.Bound(1e3),
				Doc: "standard deviation of the Gaussian in pixels"},
		},
		Check: func(p stages.Params) error {
			if k := p.Int("kernel_size"); k%2 == 0 {
				return fmt.Errorf("parameter kernel_size: %d is even; use an odd size such as %d", k, k+1)
			}
			return nil
		},
		Run: runBlur,
	})
}

func runBlur(ctx *stages.Context) error {
	in, ok := ctx.One("images").(*artifact.Images)
	if !ok {
		return fmt.Errorf("stage %s: input images is missing", ctx.Stage)
	}
	out := artifact.NewImages(in.N(), in.C(), in.H(), in.W(), in.Lo, in.Hi)
	filter.Blur(out.Data, in.Data, in.H(), in.W(), filter.GaussianKernel(ctx.Params.Int("kernel_size"), ctx.Params.Float("sigma")))
	return ctx.Output("images", out)
}
