// Package data defines the stage kinds that read images and data sets:
// "image.load", "dataset.mnist" and "dataset.fashion_mnist", thin adapters
// over package difflab/models/dataset.
//
// # Value ranges
//
// Every image batch records the range its values are meant to lie in. The
// stage kinds take a "range" parameter [lo, hi] and map pixel intensities
// 0..1 linearly onto it. The defaults follow the usual conventions: [0, 1]
// for the MNIST-like data sets (flow matching on MNIST works in [0, 1]) and
// [-1, 1] for image files (the pixel range of diffusion models). Stages that
// need a particular range, such as noise.forward, convert what they get.
package data

import (
	"fmt"
	"math"

	"difflab/models/dataset"
	"difflab/models/filter"
	"difflab/models/tensor"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "image.load",
		Doc: "Loads a PNG or JPEG file as a batch of one image, optionally resized to size [h, w] " +
			"(area averaging when shrinking, bilinear when growing), in gray or RGB, with values mapped to range.",
		Version: 1,
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages, Doc: "1 x C x H x W, C = 1 (gray) or 3 (rgb)"}},
		Params: []stages.Param{
			{Name: "path", Type: stages.Path, Doc: "the image file, relative to the experiment file"},
			{Name: "size", Type: stages.Ints, Default: []int{}, Min: stages.Bound(1), Max: stages.Bound(dataset.MaxSide),
				Doc: "[height, width] to resize to; empty keeps the file's size"},
			{Name: "mode", Type: stages.String, Default: "rgb", Enum: []string{"gray", "rgb"}, Doc: "color mode"},
			rangeParam([]float64{-1, 1}),
		},
		Check: func(p stages.Params) error {
			if s := p.Ints("size"); len(s) != 0 && len(s) != 2 {
				return fmt.Errorf("parameter size: %v has %d values, want [height, width] or nothing", s, len(s))
			}
			return checkRange(p)
		},
		Run: runImageLoad,
	})
	for _, d := range []*dataset.Dataset{dataset.MNIST, dataset.FashionMNIST} {
		registerDataset(d)
	}
}

func rangeParam(def []float64) stages.Param {
	return stages.Param{Name: "range", Type: stages.Floats, Default: def,
		Doc: "[lo, hi]: pixel intensity 0 maps to lo and full intensity to hi"}
}

func checkRange(p stages.Params) error {
	r := p.Floats("range")
	if len(r) != 2 || !(r[0] < r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) {
		return fmt.Errorf("parameter range: %v, want [lo, hi] with finite lo < hi, such as [0, 1] or [-1, 1]", r)
	}
	return nil
}

// toRange maps images in [0, 1] onto the stage's range parameter, in place,
// and returns them as an image batch in that range.
func toRange(t *tensor.Tensor, p stages.Params) *artifact.Images {
	r := p.Floats("range")
	lo, hi := float32(r[0]), float32(r[1])
	filter.Rescale(t.Data, t.Data, 0, 1, lo, hi)
	return &artifact.Images{Tensor: artifact.Tensor(*t), Lo: lo, Hi: hi}
}

func runImageLoad(ctx *stages.Context) error {
	p := ctx.Params
	h, w := 0, 0
	if s := p.Ints("size"); len(s) == 2 {
		h, w = s[0], s[1]
	}
	m, err := dataset.LoadImage(p.String("path"), h, w, p.String("mode") == "gray")
	if err != nil {
		return err
	}
	return ctx.Output("images", toRange(m, p))
}

func registerDataset(d *dataset.Dataset) {
	stages.Register(&stages.Kind{
		Name: "dataset." + d.Name,
		Doc: fmt.Sprintf("Reads images (N x 1 x 28 x 28) and labels of the %s data set from the data directory "+
			"($%s, default %s): the whole split, its first count images, or the images at indices.", d.Name, dataset.EnvDataDir, dataset.DefaultDataDir),
		Version: 1,
		Outputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Doc: "N x 1 x 28 x 28 images"},
			{Name: "labels", Type: artifact.TypeLabels, Doc: "the N labels, 0 to 9"},
		},
		Params: []stages.Param{
			{Name: "split", Type: stages.String, Default: dataset.Test, Enum: []string{dataset.Train, dataset.Test}, Doc: "which split to read"},
			{Name: "count", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "read the first count images; 0 reads the whole split (unless indices is set)"},
			{Name: "indices", Type: stages.Ints, Default: []int{}, Min: stages.Bound(0),
				Doc: "read the images at these indices of the split, in this order"},
			rangeParam([]float64{0, 1}),
		},
		Check: func(p stages.Params) error { return checkSelection(d, p) },
		Files: func(p stages.Params) ([]string, error) {
			root, err := dataset.Root()
			if err != nil {
				return nil, err
			}
			images, labels, err := d.Files(root, p.String("split"))
			if err != nil {
				return nil, err
			}
			return []string{images, labels}, nil
		},
		Run: func(ctx *stages.Context) error { return runDataset(ctx, d) },
	})
}

func checkSelection(d *dataset.Dataset, p stages.Params) error {
	split := p.String("split")
	size := d.Sizes[split]
	count, indices := p.Int("count"), p.Ints("indices")
	if count > 0 && len(indices) > 0 {
		return fmt.Errorf("parameters count and indices: set one of them, not both")
	}
	if count > size {
		return fmt.Errorf("parameter count: %d, but the %s split of %s has %d images", count, split, d.Name, size)
	}
	for _, i := range indices {
		if i >= size {
			return fmt.Errorf("parameter indices: %d is outside the %d images of the %s split of %s (0 to %d)", i, size, split, d.Name, size-1)
		}
	}
	return checkRange(p)
}

func runDataset(ctx *stages.Context, d *dataset.Dataset) error {
	p := ctx.Params
	root, err := dataset.Root()
	if err != nil {
		return err
	}
	var indices []int
	if count := p.Int("count"); count > 0 {
		indices = make([]int, count)
		for i := range indices {
			indices[i] = i
		}
	} else if len(p.Ints("indices")) > 0 {
		indices = p.Ints("indices")
	}
	images, labels, err := d.Load(root, p.String("split"), indices)
	if err != nil {
		return err
	}
	if err := ctx.Output("images", toRange(images, p)); err != nil {
		return err
	}
	return ctx.Output("labels", artifact.Labels(labels))
}
