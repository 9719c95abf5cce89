package train

import (
	"fmt"
	"math"

	"difflab/models/ddpm"
	"difflab/stages"
	"difflab/stages/artifact"
)

// The pure-noise inputs of the denoiser trained with pure_noise (Part B
// 1.2.3), z = eps, come from "noise.pure".
func init() {
	stages.Register(&stages.Kind{
		Name: "noise.pure",
		Doc: "Draws n images of pure standard normal noise z = eps ~ N(0, I) (no clean image), labelled with the " +
			"value range of the model they are fed to, which therefore takes them unchanged.",
		Version: 1,
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "n x channels x size x size noise images"}},
		Params: []stages.Param{
			{Name: "n", Type: stages.Int, Default: 8, Min: stages.Bound(1), Max: stages.Bound(100000), Doc: "number of images"},
			{Name: "channels", Type: stages.Int, Default: 1, Min: stages.Bound(1), Max: stages.Bound(4), Doc: "channels per image"},
			{Name: "size", Type: stages.Int, Default: 28, Min: stages.Bound(1), Max: stages.Bound(4096), Doc: "image side in pixels"},
			{Name: "range", Type: stages.Floats, Default: []float64{0, 1},
				Doc: "[lo, hi]: the value range recorded for the images (set it to the model's range)"},
			{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "seed of the noise"},
		},
		Check: func(p stages.Params) error {
			if r := p.Floats("range"); len(r) != 2 || !(r[0] < r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) {
				return fmt.Errorf("parameter range: %v, want [lo, hi] with finite lo < hi, such as [0, 1]", r)
			}
			return nil
		},
		// The noise is drawn into one buffer and copied into the images.
		Memory: func(p stages.Params) (int64, []string) {
			return 2 * 4 * int64(p.Int("n")) * int64(p.Int("channels")) * int64(p.Int("size")) * int64(p.Int("size")),
				[]string{"n", "channels", "size"}
		},
		Run: func(ctx *stages.Context) error {
			p := ctx.Params
			n, c, s, r := p.Int("n"), p.Int("channels"), p.Int("size"), p.Floats("range")
			m := artifact.NewImages(n, c, s, s, float32(r[0]), float32(r[1]))
			ddpm.FillNormal(m.Data, ddpm.NewRand(uint64(p.Int("seed"))))
			return ctx.Output("images", m)
		},
	})
}
