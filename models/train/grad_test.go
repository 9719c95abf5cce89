package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"difflab/models/unet"
)

// TestGradientFiniteDifference checks the loss gradient of the whole UNet
// (training mode) against central differences for some parameters of
// every kind of layer.
func TestGradientFiniteDifference(t *testing.T) {
	opt := tinyOptions(unet.TimeClass)
	w, _ := unet.Init(opt.Net, 4)
	tr, err := newTrainer(opt, &Checkpoint{Weights: w})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	tr.fill(rng, blobs(16), Flow{Classes: 4}, rng.Perm(16))
	if err := tr.net.SetInputs(tr.batch.X, tr.batch.T, tr.batch.C); err != nil {
		t.Fatal(err)
	}
	run := func() float64 {
		defer tr.vm.Reset()
		if err := tr.vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return float64(tr.loss.Data().(float32))
	}
	run()
	grads := map[string][]float32{}
	for i, n := range tr.net.Learned {
		g, _ := n.Grad()
		grads[tr.net.LearnedNames[i]] = append([]float32(nil), g.Data().([]float32)...)
	}
	names := []string{"c0.0.0.weight", "c0.1.1.bias", "d2.0.0.weight", "un.0.weight", "un.1.weight",
		"u1.0.0.weight", "u2.0.0.bias", "c1.1.0.weight", "out.weight", "out.bias",
		"fc1_t.0.weight", "fc2_t.2.bias", "fc1_c.0.weight", "fc2_c.2.weight"}
	const h = 1e-2
	for _, name := range names {
		p := tr.net.Param(name)
		for _, i := range []int{0, len(p) / 2} {
			old := p[i]
			p[i] = old + h
			up := run()
			p[i] = old - h
			down := run()
			p[i] = old
			fd := (up - down) / (2 * h)
			g := float64(grads[name][i])
			if math.Abs(fd-g) > 2e-4+0.05*math.Abs(g) {
				t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", name, i, g, fd)
			}
		}
	}
}
