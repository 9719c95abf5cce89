// Package metrics defines the stage kinds that measure generated images as
// numbers: "metrics.classifier" trains the judge (a perceptron on a 28 x 28
// data set, models/classifier), "metrics.reference" fixes the feature
// statistics of the data set's real test images, and "metrics.samples"
// scores a generated set against them: classifier accuracy overall and per
// class, the Fréchet distance in the classifier's hidden-layer feature space
// (FID computed with the classifier instead of Inception), k-NN precision and
// recall, and class coverage (models/quality).
//
// The judge and the reference are stages like any other, so the cache
// computes them once for every experiment that uses them. A metrics.samples
// stage may carry expectations (expect: in the experiment file) on any of
// the metrics it reports; the runner checks them after the run.
package metrics

import (
	"fmt"

	"difflab/models/dataset"
	"difflab/stages"
	"difflab/stages/artifact"
)

// datasets are the data sets the judge can learn.
var datasets = map[string]*dataset.Dataset{"fashion_mnist": dataset.FashionMNIST, "mnist": dataset.MNIST}

// classes is the number of classes of every data set in datasets.
const classes = 10

var datasetParam = stages.Param{Name: "dataset", Type: stages.String, Default: "mnist", Enum: []string{"fashion_mnist", "mnist"},
	Doc: "the 28 x 28 data set"}

var seedParam = stages.Param{Name: "seed", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "seed of every random draw"}

// splitFiles returns a Files function listing the data set's files of the
// splits.
func splitFiles(splits ...string) func(p stages.Params) ([]string, error) {
	return func(p stages.Params) ([]string, error) {
		root, err := dataset.Root()
		if err != nil {
			return nil, err
		}
		var files []string
		for _, split := range splits {
			im, lb, err := datasets[p.String("dataset")].Files(root, split)
			if err != nil {
				return nil, err
			}
			files = append(files, im, lb)
		}
		return files, nil
	}
}

// Names returns the metrics metrics.samples may report, in report order.
func Names() []string {
	names := []string{"accuracy"}
	for k := range classes {
		names = append(names, fmt.Sprintf("accuracy_%d", k))
	}
	names = append(names, "fd", "precision", "recall", "coverage", "min_share")
	for k := range classes {
		names = append(names, fmt.Sprintf("share_%d", k))
	}
	return names
}

func init() {
	stages.Register(&stages.Kind{
		Name: "metrics.classifier",
		Doc: "Trains the judge of the metric stages: a one-hidden-layer perceptron (ReLU) on the training split of " +
			"a 28 x 28 data set. Its hidden layer is the feature space of the Fréchet distance and of precision and recall.",
		Version: 1,
		Outputs: []stages.Port{
			{Name: "classifier", Type: artifact.TypeModel, Doc: "the classifier (model.json, weights.bin, dataset.json)"},
			{Name: "report", Type: artifact.TypeText, Doc: "its accuracy on the test split"},
		},
		Params: []stages.Param{
			datasetParam,
			{Name: "hidden", Type: stages.Int, Default: 256, Min: stages.Bound(2), Max: stages.Bound(4096),
				Doc: "hidden units: the dimension of the feature space"},
			{Name: "epochs", Type: stages.Int, Default: 4, Min: stages.Bound(1), Max: stages.Bound(100), Doc: "passes over the training split"},
			{Name: "train_count", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "train on the first train_count images; 0 uses all"},
			seedParam,
		},
		Files: splitFiles(dataset.Train, dataset.Test),
		Run:   runClassifier,
	})
	stages.Register(&stages.Kind{
		Name: "metrics.reference",
		Doc: "The reference of the metric stages: the judge's features of the real images of a split (the test split by " +
			"default) and their mean and covariance, computed once and cached.",
		Version: 1,
		Inputs:  []stages.Port{{Name: "classifier", Type: artifact.TypeModel, Doc: "the judge, from metrics.classifier"}},
		Outputs: []stages.Port{{Name: "reference", Type: artifact.TypeModel,
			Doc: "the judge with the features (features.npy), mean (mean.npy) and covariance (cov.npy) of the real images"}},
		Params: []stages.Param{
			datasetParam,
			{Name: "split", Type: stages.String, Default: dataset.Test, Enum: []string{dataset.Train, dataset.Test}, Doc: "the split of real images"},
			{Name: "count", Type: stages.Int, Default: 0, Min: stages.Bound(0), Doc: "use the first count images; 0 uses all"},
		},
		Files: func(p stages.Params) ([]string, error) { return splitFiles(p.String("split"))(p) },
		Run:   runReference,
	})
	stages.Register(&stages.Kind{
		Name: "metrics.samples",
		Doc: "Measures a set of generated 28 x 28 images against the reference: the judge's accuracy overall and per " +
			"class (with labels), the Fréchet distance between the Gaussians of generated and real features (fd), " +
			"k-NN precision and recall (Kynkäänniemi et al. 2019) against real_count real images, " +
			"and class coverage: the share of the asked classes (all ten without labels) that the judge finds at " +
			"least once (coverage), the smallest ratio of a class's found to asked share (min_share), and the share " +
			"of each class found (share_K). accuracy, fd and precision carry 95% bootstrap intervals (fd's " +
			"bias-corrected: resamples repeat images, which raises a Fréchet distance).",
		Version: 3,
		Inputs: []stages.Port{
			{Name: "samples", Type: artifact.TypeImages, Doc: "the generated images (1 x 28 x 28, any value range)"},
			{Name: "labels", Type: artifact.TypeLabels, Optional: true,
				Doc: "the class each image should show; -1 is not scored; without labels the set is measured as unconditional"},
			{Name: "reference", Type: artifact.TypeModel, Doc: "the reference, from metrics.reference"},
		},
		Outputs: []stages.Port{
			{Name: "metrics", Type: artifact.TypeMetrics, Doc: "every metric with its sample count and interval"},
			{Name: "report", Type: artifact.TypeText, Doc: "the metrics as a table"},
		},
		Params: []stages.Param{
			{Name: "k", Type: stages.Int, Default: 3, Min: stages.Bound(1), Max: stages.Bound(100),
				Doc: "neighbours of the k-NN manifolds of precision and recall (fewer than the samples)"},
			{Name: "real_count", Type: stages.Int, Default: 1000, Min: stages.Bound(0),
				Doc: "real images (a seeded draw from the reference) in precision and recall; 0 uses as many as samples. " +
					"Few real images make wide balls that take in almost anything, so precision needs many"},
			{Name: "bootstrap", Type: stages.Int, Default: 100, Min: stages.Bound(0), Max: stages.Bound(10000),
				Doc: "resamples of the bootstrap intervals; 0 or 1 leaves intervals out"},
			seedParam,
		},
		Metrics: Names(),
		Run:     runSamples,
	})
}
