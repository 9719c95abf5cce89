package classify

import (
	"testing"

	"difflab/stages/data"
)

// TestMNISTAccuracy trains on 20000 MNIST digits and checks that the
// classifier reads held-out test digits well enough to score samples.
func TestMNISTAccuracy(t *testing.T) {
	root, err := data.Root()
	if err != nil {
		t.Fatal(err)
	}
	train, trainLabels, err := data.MNIST.Load(root, data.Train, nil)
	if err != nil {
		t.Skipf("MNIST not available (run just setup): %v", err)
	}
	test, testLabels, err := data.LoadMNIST(root, data.Test)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	c, err := Train(train.Data[:n*784], trainLabels[:n], 784, 10, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	acc := c.Accuracy(test.Data[:2000*784], testLabels[:2000])
	t.Logf("test accuracy %.3f", acc)
	if acc < 0.93 {
		t.Errorf("test accuracy %.3f, want >= 0.93", acc)
	}
	// The accuracy must come from the images: shuffled labels score near chance.
	shuffled := append([]int64(nil), testLabels[:2000]...)
	for i := range shuffled {
		shuffled[i] = (shuffled[i] + 1) % 10
	}
	if a := c.Accuracy(test.Data[:2000*784], shuffled); a > 0.2 {
		t.Errorf("accuracy against wrong labels %.3f, want near 0", a)
	}
}

func TestTrainRejectsBadLabels(t *testing.T) {
	if _, err := Train(make([]float32, 200*4), make([]int64, 199), 4, 10, Options{}); err == nil {
		t.Error("mismatched sizes: no error")
	}
	labels := make([]int64, 200)
	labels[7] = 10
	if _, err := Train(make([]float32, 200*4), labels, 4, 10, Options{}); err == nil {
		t.Error("label 10 of 10 classes: no error")
	}
}
