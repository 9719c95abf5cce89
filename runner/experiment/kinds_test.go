package experiment

import (
	"errors"
	"path/filepath"

	"difflab/stages"
	"difflab/stages/artifact"
)

// Fake stage kinds for the tests, registered under the "exptest." prefix.
func init() {
	run := func(*stages.Context) error { return errors.New("test kinds do not run") }
	stages.Register(&stages.Kind{
		Name: "exptest.source", Doc: "makes images", Version: 1, Run: run,
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages}, {Name: "labels", Type: artifact.TypeLabels}},
		Params: []stages.Param{
			{Name: "split", Type: stages.String, Default: "test", Enum: []string{"train", "test"}},
			{Name: "indices", Type: stages.Ints, Default: []int{0}, Min: stages.Bound(0)},
			{Name: "seed", Type: stages.Int, Default: 0},
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.noise", Doc: "adds noise", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Outputs: []stages.Port{{Name: "noisy", Type: artifact.TypeImages}, {Name: "eps", Type: artifact.TypeTensor}},
		Params: []stages.Param{
			{Name: "t", Type: stages.Int, Min: stages.Bound(0), Max: stages.Bound(999), Doc: "timestep"},
			{Name: "seed", Type: stages.Int, Default: 0},
			{Name: "scale", Type: stages.Float, Default: 1, Min: stages.Bound(0)},
			{Name: "schedule", Type: stages.String, Default: "linear", Enum: []string{"linear", "cosine"}},
		},
		Check: func(p stages.Params) error {
			if p.Int("t") == 13 && p.Float("scale") > 1 {
				return errors.New("t=13 needs scale <= 1")
			}
			if p.Float("scale") == 7 {
				return errors.New("parameter scale: 7 is refused")
			}
			return nil
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.blur", Doc: "blurs images", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Params: []stages.Param{
			{Name: "kernel", Type: stages.Int, Default: 3, Min: stages.Bound(1)},
			{Name: "sigma", Type: stages.Float, Default: 1},
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.grid", Doc: "plots a grid", Version: 1, Run: run,
		Inputs: []stages.Port{
			{Name: "images", Type: artifact.TypeImages, Many: true},
			{Name: "caption", Type: artifact.TypeText, Optional: true},
		},
		Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure}},
		Params: []stages.Param{
			{Name: "titles", Type: stages.Strings, Default: []string{}},
			{Name: "cols", Type: stages.Int, Default: 0},
			{Name: "scales", Type: stages.Floats, Default: []int{1, 2}},
			{Name: "show", Type: stages.Bool, Default: true},
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.sum", Doc: "sums tensors into a caption", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "tensors", Type: artifact.TypeTensor, Many: true}},
		Outputs: []stages.Port{{Name: "text", Type: artifact.TypeText}},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.model", Doc: "loads a model", Version: 1, Run: run,
		Outputs: []stages.Port{{Name: "model", Type: artifact.TypeModel}},
		Params:  []stages.Param{{Name: "file", Type: stages.Path}},
		Files: func(p stages.Params) ([]string, error) {
			return []string{filepath.Join(filepath.Dir(p.String("file")), "weights.bin")}, nil
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.sample", Doc: "samples from a model", Version: 1, Run: run,
		Inputs: []stages.Port{
			{Name: "model", Type: artifact.TypeModel},
			{Name: "start", Type: artifact.TypeImages, Optional: true},
		},
		Outputs: []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Params: []stages.Param{
			{Name: "steps", Type: stages.Int, Default: 10, Min: stages.Bound(1)},
			{Name: "cfg", Type: stages.Float, Default: 1.0},
			{Name: "prompt", Type: stages.String, Default: ""},
		},
	})
	stages.Register(&stages.Kind{
		Name: "exptest.measure", Doc: "measures images", Version: 1, Run: run,
		Inputs:  []stages.Port{{Name: "images", Type: artifact.TypeImages}},
		Outputs: []stages.Port{{Name: "metrics", Type: artifact.TypeMetrics}},
		Metrics: []string{"accuracy", "fd"},
	})
}
