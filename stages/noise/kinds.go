package noise

import (
	"fmt"

	"difflab/models/schedule"
	"difflab/stages"
	"difflab/stages/artifact"
)

// Steps is the number of timesteps T of the DDPM schedules noise.forward uses.
const Steps = 1000

func init() {
	outputs := []stages.Port{
		{Name: "images", Type: artifact.TypeImages, Doc: "the noisy images"},
		{Name: "noise", Type: artifact.TypeTensor, Doc: "the standard normal noise eps that was added, N x C x H x W"},
	}
	inputs := []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "the clean images"}}
	seed := stages.Param{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "seed of the noise generator"}
	stages.Register(&stages.Kind{
		Name: "noise.forward",
		Doc: "The DDPM forward process: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with eps ~ N(0, I), " +
			"after mapping the images onto [-1, 1]; the output is in [-1, 1].",
		Version: 1,
		Inputs:  inputs,
		Outputs: outputs,
		Params: []stages.Param{
			{Name: "t", Type: stages.Int, Min: stages.Bound(0), Max: stages.Bound(Steps - 1), Doc: "timestep, 0 to 999"},
			seed,
			{Name: "schedule", Type: stages.String, Default: "squaredcos_cap_v2", Enum: schedule.Names(),
				Doc: "noise schedule over 1000 steps (squaredcos_cap_v2 is DeepFloyd IF's)"},
		},
		Run: func(ctx *stages.Context) error {
			x0, err := images(ctx)
			if err != nil {
				return err
			}
			s, err := schedule.New(ctx.Params.String("schedule"), Steps)
			if err != nil {
				return err
			}
			eps := gaussian(uint64(ctx.Params.Int("seed")), len(x0.Data))
			return output(ctx, Forward(x0, s, ctx.Params.Int("t"), eps), x0, eps)
		},
	})
	stages.Register(&stages.Kind{
		Name:    "noise.sigma",
		Doc:     "Adds Gaussian noise of standard deviation sigma: z = x + sigma eps with eps ~ N(0, I), in the images' own range.",
		Version: 1,
		Inputs:  inputs,
		Outputs: outputs,
		Params: []stages.Param{
			{Name: "sigma", Type: stages.Float, Default: 0.5, Min: stages.Bound(0), Max: stages.Bound(1e6), Doc: "noise standard deviation"},
			seed,
		},
		Run: func(ctx *stages.Context) error {
			x, err := images(ctx)
			if err != nil {
				return err
			}
			eps := gaussian(uint64(ctx.Params.Int("seed")), len(x.Data))
			return output(ctx, AddScaled(x, ctx.Params.Float("sigma"), eps), x, eps)
		},
	})
}

func images(ctx *stages.Context) (*artifact.Images, error) {
	x, ok := ctx.One("images").(*artifact.Images)
	if !ok {
		return nil, fmt.Errorf("stage %s: input images is missing", ctx.Stage)
	}
	return x, nil
}

func output(ctx *stages.Context, noisy, clean *artifact.Images, eps []float32) error {
	if err := ctx.Output("images", noisy); err != nil {
		return err
	}
	return ctx.Output("noise", &artifact.Tensor{Shape: append([]int(nil), clean.Shape...), Data: eps})
}
