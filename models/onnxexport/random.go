package onnxexport

import (
	"math"
	"math/rand/v2"

	"difflab/models/modelfile"
	"difflab/models/tensor"
)

// RandomWeights returns weights for the UNet spec describes, every tensor
// random and reproducible from seed: layer weights and biases uniform in
// ±1/sqrt(fan_in) as PyTorch initialises them, and BatchNorm scale, shift
// and running statistics spread around 1, 0, 0 and 1 so that BatchNorm is
// not the identity. Meant for tests and benchmarks of inference.
func RandomWeights(spec modelfile.UNet, seed uint64) map[string]*tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	D, C, S := spec.Hidden, spec.Channels, spec.Size
	w := map[string]*tensor.Tensor{}
	uni := func(name string, bound float64, lo float64, shape ...int) {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(lo + bound*(2*rng.Float64()-1))
		}
		w[name] = t
	}
	layer := func(prefix string, fan, out int, shape ...int) {
		b := 1 / math.Sqrt(float64(fan))
		uni(prefix+".weight", b, 0, shape...)
		uni(prefix+".bias", b, 0, out)
	}
	bn := func(prefix string, c int) {
		uni(prefix+".weight", 0.5, 1, c)
		uni(prefix+".bias", 0.3, 0, c)
		uni(prefix+".running_mean", 0.3, 0, c)
		uni(prefix+".running_var", 0.5, 1, c)
	}
	conv := func(prefix string, in, out int) {
		layer(prefix+".0", in*9, out, out, in, 3, 3)
		bn(prefix+".1", out)
	}
	block := func(prefix string, in, out int) { conv(prefix+".0", in, out); conv(prefix+".1", out, out) }
	upb := func(prefix string, in, out int) {
		layer(prefix+".0.0", out*16, out, in, out, 4, 4)
		bn(prefix+".0.1", out)
		block(prefix+".1", out, out)
	}
	fc := func(prefix string, in, out int) {
		layer(prefix+".0", in, out, out, in)
		layer(prefix+".2", out, out, out, out)
	}
	block("c0", C, D)
	conv("d1.0", D, D)
	block("d1.1", D, D)
	conv("d2.0", D, 2*D)
	block("d2.1", 2*D, 2*D)
	layer("un.0", 2*D*(S/4)*(S/4), 2*D, 2*D, 2*D, S/4, S/4)
	bn("un.1", 2*D)
	upb("u1", 4*D, D)
	upb("u2", 2*D, D)
	block("c1", 2*D, D)
	layer("out", D*9, C, C, D, 3, 3)
	if spec.Cond != "none" {
		fc("fc1_t", 1, 2*D)
		fc("fc2_t", 1, D)
	}
	if spec.Cond == "time_class" {
		fc("fc1_c", spec.Classes, 2*D)
		fc("fc2_c", spec.Classes, D)
	}
	return w
}
