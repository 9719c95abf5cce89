package classifier

import (
	"difflab/models/dataset"
	"difflab/models/ddpm"
)

// Fitted is a classifier trained on a data set by TrainOn, with what it was
// trained on and how well it does on the data set's test split.
type Fitted struct {
	*Classifier
	// TrainImages is the number of training images it learned.
	TrainImages int
	// TestAccuracy is its accuracy on the whole test split.
	TestAccuracy float64
}

// TrainOn trains a classifier of hidden units on the first trainCount
// images of d's training split under the data root (all of them when
// trainCount is 0) for epochs epochs of Adam (batch 128, learning rate
// 1e-3) from seed, and measures it on the test split. report, if set, is
// called after each epoch.
func TrainOn(d *dataset.Dataset, root string, trainCount, hidden, epochs int, seed uint64, report func(epoch int, loss float64)) (*Fitted, error) {
	var idx []int
	if trainCount > 0 {
		idx = make([]int, trainCount)
		for i := range idx {
			idx[i] = i
		}
	}
	trainX, trainY, err := d.Load(root, dataset.Train, idx)
	if err != nil {
		return nil, err
	}
	testX, testY, err := d.Load(root, dataset.Test, nil)
	if err != nil {
		return nil, err
	}
	rng := ddpm.NewRand(seed)
	c := New(28*28, hidden, len(d.Classes), rng)
	c.Train(trainX.Data, trainY, trainX.Shape[0], epochs, 128, 1e-3, rng, report)
	// The data sets' images lie in [0, 1], the range the classifier takes.
	acc := Accuracy(c.Predict(testX.Data, testX.Shape[0]), testY)
	return &Fitted{Classifier: c, TrainImages: trainX.Shape[0], TestAccuracy: acc}, nil
}
