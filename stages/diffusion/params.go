package diffusion

import (
	"difflab/models/ddpm"
	"difflab/stages"
	"difflab/stages/artifact"
)

// Ports and parameters shared by several kinds.
var (
	modelPort = stages.Port{Name: "model", Type: artifact.TypeModel,
		Doc: "the noise model: a model directory or a training output (see parameter epoch)"}
	samplesPort = stages.Port{Name: "samples", Type: artifact.TypeImages,
		Doc: "the generated images, N x C x H x W in the model's value range"}
	labelsPort = stages.Port{Name: "labels", Type: artifact.TypeLabels,
		Doc: "each image's prompt class in the model's prompt table (-1: unconditional or no table)"}

	epochParam = stages.Param{Name: "epoch", Type: stages.Int, Default: 0, Min: stages.Bound(0),
		Doc: "epoch of a training output to use; 0 = the last"}
	strideParam = stages.Param{Name: "stride", Type: stages.Int, Default: 30, Min: stages.Bound(1),
		Doc: "stride of the strided timesteps: the multiples of stride below T, largest first (30: 990, 960, ..., 0)"}
	x0Param = stages.Param{Name: "x0", Type: stages.String, Default: "none", Enum: []string{"none", "clip", "dynamic"},
		Doc: "what each step does to its x0 estimate: none (the write-up), clip to [-1, 1], or dynamic thresholding " +
			"(ratio 0.95, at most 1.5), as DeepFloyd IF's scheduler in diffusers"}
	seedParam = stages.Param{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0),
		Doc: "seed of every random draw (starting noise and the noise of each step)"}
	uncondParam = stages.Param{Name: "uncond_prompt", Type: stages.String, Default: "", Prompt: true,
		Doc: "prompt of the unconditional estimate of classifier-free guidance"}
	nParam = stages.Param{Name: "n", Type: stages.Int, Default: 1, Min: stages.Bound(1), Max: stages.Bound(4096),
		Doc: "number of images per prompt (or per input image)"}
)

// cfgParam is the classifier-free guidance scale gamma with a default.
func cfgParam(def float64) stages.Param {
	return stages.Param{Name: "cfg", Type: stages.Float, Default: def, Min: stages.Bound(0), Max: stages.Bound(100),
		Doc: "classifier-free guidance scale gamma: eps = eps_u + gamma (eps_c - eps_u); 1 = no guidance (one model call)"}
}

// iStartParam is the index into the strided timesteps to start from.
func iStartParam(def int) stages.Param {
	return stages.Param{Name: "i_start", Type: stages.Int, Default: def, Min: stages.Bound(0),
		Doc: "index into the strided timesteps of the starting noise level (10 with stride 30: t = 690)"}
}

// promptParam is a prompt with a default.
func promptParam(name, def, doc string) stages.Param {
	return stages.Param{Name: name, Type: stages.String, Default: def, Doc: doc, Prompt: true}
}

// x0Step returns the sampler's treatment of x0 estimates that parameter x0
// selects (nil for none).
func x0Step(p stages.Params) func(x0 []float32, sh ddpm.Shape) {
	switch p.String("x0") {
	case "clip":
		return ddpm.Clip(1)
	case "dynamic":
		return ddpm.DynamicThreshold(0.95, 1.5)
	}
	return nil
}
