package ops

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestFloat32GradientsMatchFloat64 runs the backward passes in float32,
// where the native kernels take over when they are built, against float64.
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	t.Run("Conv2d", func(t *testing.T) {
		for _, s := range []int{1, 2} {
			in := []*tensor.Dense{randTensor(rng, 3, 4, 9, 9), randTensor(rng, 5, 4, 3, 3), randTensor(rng, 5)}
			ho := (9+2-3)/s + 1
			checkFloat32Grad(t, convBuilder(s, 1), in, []int{3, 5, ho, ho}, 1e-4)
		}
	})
	t.Run("ConvTranspose2d", func(t *testing.T) {
		in := []*tensor.Dense{randTensor(rng, 3, 4, 7, 7), randTensor(rng, 4, 5, 4, 4), randTensor(rng, 5)}
		checkFloat32Grad(t, convTBuilder(2, 1), in, []int{3, 5, 14, 14}, 1e-4)
	})
	for _, training := range []bool{true, false} {
		t.Run("BatchNormGELU", func(t *testing.T) {
			st := NewBNStats(4)
			for i := range st.RunningMean {
				st.RunningMean[i], st.RunningVar[i] = 0.2, 1.5
			}
			in := []*tensor.Dense{randTensor(rng, 3, 4, 5, 5), randTensor(rng, 4), randTensor(rng, 4)}
			checkFloat32Grad(t, bnBuilder(st, training, true), in, []int{3, 4, 5, 5}, 1e-4)
			checkFloat32Grad(t, bnBuilder(st, training, false), in, []int{3, 4, 5, 5}, 1e-4)
		})
	}
	t.Run("GELU", func(t *testing.T) {
		in := []*tensor.Dense{randTensor(rng, 2, 3, 4, 4)}
		checkFloat32Grad(t, func(n []*G.Node) (*G.Node, error) { return GELU(n[0]) }, in, []int{2, 3, 4, 4}, 1e-5)
	})
}
