package diffusion

import (
	"fmt"
	"strings"

	"difflab/models/classifier"
	"difflab/models/dataset"
	"difflab/stages"
	"difflab/stages/artifact"
)

// datasets are the data sets check.classify can train its judge on.
var datasets = map[string]*dataset.Dataset{"fashion_mnist": dataset.FashionMNIST, "mnist": dataset.MNIST}

func init() {
	stages.Register(&stages.Kind{
		Name: "check.classify",
		Doc: "Scores generated images with an independent classifier: a one-hidden-layer perceptron trained here on " +
			"the training split of a 28 x 28 data set (Fashion-MNIST by default), then asked for the class of every " +
			"generated image. Reports, per input, how many images it assigns to their prompt's class, and the " +
			"classifier's own accuracy on the data set's test split for reference.",
		Version: 2,
		Inputs: []stages.Port{
			{Name: "samples", Type: artifact.TypeImages, Many: true, Doc: "the generated images (1 x 28 x 28, any value range)"},
			{Name: "labels", Type: artifact.TypeLabels, Many: true,
				Doc: "the class each image should show, one labels input per samples input in the same order; -1 is not scored"},
		},
		Outputs: []stages.Port{
			{Name: "report", Type: artifact.TypeText, Doc: "the scores as a table"},
			{Name: "accuracy", Type: artifact.TypeTensor, Doc: "the fraction recognised for each input, in order"},
		},
		Params: []stages.Param{
			{Name: "dataset", Type: stages.String, Default: "fashion_mnist", Enum: []string{"fashion_mnist", "mnist"},
				Doc: "the data set the classifier learns"},
			{Name: "hidden", Type: stages.Int, Default: 256, Min: stages.Bound(1), Max: stages.Bound(4096),
				Doc: "hidden units of the classifier"},
			{Name: "epochs", Type: stages.Int, Default: 4, Min: stages.Bound(1), Max: stages.Bound(100),
				Doc: "passes over the training split"},
			{Name: "train_count", Type: stages.Int, Default: 0, Min: stages.Bound(0),
				Doc: "train on the first train_count images; 0 uses all"},
			seedParam,
		},
		Files: func(p stages.Params) ([]string, error) {
			root, err := dataset.Root()
			if err != nil {
				return nil, err
			}
			d := datasets[p.String("dataset")]
			var files []string
			for _, split := range []string{dataset.Train, dataset.Test} {
				im, lb, err := d.Files(root, split)
				if err != nil {
					return nil, err
				}
				files = append(files, im, lb)
			}
			return files, nil
		},
		Run: runCheck,
	})
}

// scoreSet is one samples/labels pair to score.
type scoreSet struct {
	name    string
	samples *artifact.Images
	labels  artifact.Labels
}

func runCheck(ctx *stages.Context) error {
	ins, lbs := ctx.In["samples"], ctx.In["labels"]
	if len(ins) != len(lbs) {
		return fmt.Errorf("stage %s: %d samples inputs but %d labels inputs; give one labels input per samples input", ctx.Stage, len(ins), len(lbs))
	}
	var sets []scoreSet
	for i, in := range ins {
		im, ok1 := in.Artifact.(*artifact.Images)
		lb, ok2 := lbs[i].Artifact.(artifact.Labels)
		if !ok1 || !ok2 {
			return fmt.Errorf("stage %s: input %d is not images with labels", ctx.Stage, i+1)
		}
		if im.C() != 1 || im.H() != 28 || im.W() != 28 || len(lb) != im.N() {
			return fmt.Errorf("stage %s: input %d (%s): %v images with %d labels; the classifier takes 1 x 28 x 28 images, one label each",
				ctx.Stage, i+1, in.Stage, im.Shape, len(lb))
		}
		sets = append(sets, scoreSet{name: fmt.Sprintf("%d (%s)", i+1, in.Stage), samples: im, labels: lb})
	}
	p := ctx.Params
	root, err := dataset.Root()
	if err != nil {
		return err
	}
	d := datasets[p.String("dataset")]
	epochs := p.Int("epochs")
	c, err := classifier.TrainOn(d, root, p.Int("train_count"), p.Int("hidden"), epochs, uint64(p.Int("seed")), func(e int, loss float64) {
		ctx.Report(e, epochs, fmt.Sprintf("classifier epoch %d loss %.4f", e, loss))
	})
	if err != nil {
		return fmt.Errorf("stage %s: %w", ctx.Stage, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Classifier: perceptron 784-%d-10 trained on the %s training split (%d images, %d epochs); "+
		"accuracy on its test split %.1f%%.\n\n", p.Int("hidden"), d.Name, c.TrainImages, epochs, 100*c.TestAccuracy)
	fmt.Fprintf(&b, "| input | scored | recognised | accuracy | by class |\n|---|---|---|---|---|\n")
	acc := artifact.NewTensor(len(sets))
	for i, s := range sets {
		if err := checkLabels(nonNegative(s.labels), 10); err != nil {
			return fmt.Errorf("stage %s: input %s: %w", ctx.Stage, s.name, err)
		}
		pred := c.Predict(unit(s.samples), s.samples.N())
		right, scored := 0, 0
		var perRight, perScored [10]int
		for k, want := range s.labels {
			if want < 0 {
				continue
			}
			scored++
			perScored[want]++
			if pred[k] == want {
				right++
				perRight[want]++
			}
		}
		var classes []string
		for k := range perScored {
			if perScored[k] > 0 {
				classes = append(classes, fmt.Sprintf("%s %d/%d", d.Classes[k], perRight[k], perScored[k]))
			}
		}
		a := 0.0
		if scored > 0 {
			a = float64(right) / float64(scored)
		}
		acc.Data[i] = float32(a)
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f%% | %s |\n", s.name, scored, right, 100*a, strings.Join(classes, ", "))
	}
	if err := ctx.Output("report", artifact.Text(b.String())); err != nil {
		return err
	}
	return ctx.Output("accuracy", acc)
}

// unit returns the images' values mapped from their range to [0, 1].
func unit(m *artifact.Images) []float32 {
	out := make([]float32, len(m.Data))
	for i, v := range m.Data {
		out[i] = min(max((v-m.Lo)/(m.Hi-m.Lo), 0), 1)
	}
	return out
}

// nonNegative returns the labels that are not -1 (unscored).
func nonNegative(l artifact.Labels) []int64 {
	var out []int64
	for _, v := range l {
		if v >= 0 {
			out = append(out, v)
		}
	}
	return out
}

// checkLabels reports labels outside 0..classes-1.
func checkLabels(y []int64, classes int) error {
	for i, l := range y {
		if l < 0 || l >= int64(classes) {
			return fmt.Errorf("label %d of image %d is not a class 0..%d", l, i, classes-1)
		}
	}
	return nil
}
