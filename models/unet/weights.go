package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"difflab/models/safetensors"
	"difflab/models/tensor"
)

// Weights holds a UNet's parameters and BatchNorm running statistics by
// PyTorch state_dict name.
type Weights map[string]*tensor.Tensor

// Role says what a named tensor of a UNet is, which decides its
// initialisation and whether training updates it by gradient.
type Role int

// The roles of a UNet tensor.
const (
	// Weight is a convolution, transposed convolution or linear weight.
	Weight Role = iota
	// Bias is a convolution, transposed convolution or linear bias.
	Bias
	// BNWeight is a BatchNorm scale (gamma).
	BNWeight
	// BNBias is a BatchNorm shift (beta).
	BNBias
	// RunningMean is a BatchNorm running mean (a buffer, not learned).
	RunningMean
	// RunningVar is a BatchNorm running variance (a buffer, not learned).
	RunningVar
)

// Learned reports whether gradient descent updates tensors of this role.
func (r Role) Learned() bool { return r != RunningMean && r != RunningVar }

// Spec describes one named tensor of a UNet.
type Spec struct {
	Name  string
	Shape []int
	Role  Role
	// FanIn is PyTorch's fan-in of the layer the tensor belongs to
	// (weight.size(1) times the kernel area), which sets the range of its
	// uniform initialisation.
	FanIn int
}

// Specs lists the tensors of the UNet cfg describes, in the order of the
// PyTorch module's state_dict (without num_batches_tracked).
func Specs(cfg Config) ([]Spec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	D, ch, pool := cfg.Hidden, cfg.Channels, cfg.Size/4
	var s []Spec
	layer := func(prefix string, shape []int) {
		fan := shape[1]
		for _, k := range shape[2:] {
			fan *= k
		}
		s = append(s, Spec{prefix + ".weight", shape, Weight, fan})
		// A transposed convolution's bias has shape[1] entries, others shape[0].
		s = append(s, Spec{prefix + ".bias", nil, Bias, fan})
	}
	bias := func(n int) { s[len(s)-1].Shape = []int{n} }
	bn := func(prefix string, c int) {
		s = append(s,
			Spec{prefix + ".weight", []int{c}, BNWeight, 0},
			Spec{prefix + ".bias", []int{c}, BNBias, 0},
			Spec{prefix + ".running_mean", []int{c}, RunningMean, 0},
			Spec{prefix + ".running_var", []int{c}, RunningVar, 0})
	}
	conv := func(prefix string, in, out int) { // Conv or DownConv: conv, BN, GELU
		layer(prefix+".0", []int{out, in, 3, 3})
		bias(out)
		bn(prefix+".1", out)
	}
	convBlock := func(prefix string, in, out int) {
		conv(prefix+".0", in, out)
		conv(prefix+".1", out, out)
	}
	upBlock := func(prefix string, in, out int) {
		layer(prefix+".0.0", []int{in, out, 4, 4})
		bias(out)
		bn(prefix+".0.1", out)
		convBlock(prefix+".1", out, out)
	}
	fc := func(prefix string, in, out int) {
		layer(prefix+".0", []int{out, in})
		bias(out)
		layer(prefix+".2", []int{out, out})
		bias(out)
	}
	convBlock("c0", ch, D)
	conv("d1.0", D, D)
	convBlock("d1.1", D, D)
	conv("d2.0", D, 2*D)
	convBlock("d2.1", 2*D, 2*D)
	layer("un.0", []int{2 * D, 2 * D, pool, pool})
	bias(2 * D)
	bn("un.1", 2*D)
	upBlock("u1", 4*D, D)
	upBlock("u2", 2*D, D)
	convBlock("c1", 2*D, D)
	layer("out", []int{ch, D, 3, 3})
	bias(ch)
	if cfg.Cond == Time || cfg.Cond == TimeClass {
		fc("fc1_t", 1, 2*D)
		fc("fc2_t", 1, D)
	}
	if cfg.Cond == TimeClass {
		fc("fc1_c", cfg.Classes, 2*D)
		fc("fc2_c", cfg.Classes, D)
	}
	return s, nil
}

// Init returns freshly initialised weights for cfg, as PyTorch initialises
// its modules: convolution, transposed convolution and linear weights and
// biases uniform in ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5) for the
// weights), BatchNorm scale 1 and shift 0, running mean 0 and variance 1.
// The same seed gives the same weights.
func Init(cfg Config, seed uint64) (Weights, error) {
	specs, err := Specs(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x756e6574))
	w := Weights{}
	for _, s := range specs {
		t := tensor.New(s.Shape...)
		switch s.Role {
		case Weight, Bias:
			bound := 1 / math.Sqrt(float64(s.FanIn))
			for i := range t.Data {
				t.Data[i] = float32((2*rng.Float64() - 1) * bound)
			}
		case BNWeight, RunningVar:
			for i := range t.Data {
				t.Data[i] = 1
			}
		}
		w[s.Name] = t
	}
	return w, nil
}

// Check reports the first difference between w and the tensors cfg needs:
// a missing or unexpected name, or a wrong shape.
func (w Weights) Check(cfg Config) error {
	specs, err := Specs(cfg)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range specs {
		want[s.Name] = true
		t := w[s.Name]
		if t == nil {
			return fmt.Errorf("unet: weights lack %q (hidden %d, cond %s)", s.Name, cfg.Hidden, cfg.Cond)
		}
		if !sameShape(t.Shape, s.Shape) || len(t.Data) != count(s.Shape) {
			return fmt.Errorf("unet: weight %q has shape %v, want %v (hidden %d)", s.Name, t.Shape, s.Shape, cfg.Hidden)
		}
	}
	var extra []string
	for n := range w {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("unet: weights hold %q, which a %s UNet does not have", extra[0], cfg.Cond)
	}
	return nil
}

// Clone returns a deep copy of w.
func (w Weights) Clone() Weights {
	c := make(Weights, len(w))
	for n, t := range w {
		c[n] = &tensor.Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	}
	return c
}

// FileName is the name of the weights file in a model directory.
const FileName = "weights.safetensors"

// Save writes w to path as safetensors.
func (w Weights) Save(path string) error {
	return safetensors.WriteFile(path, w, nil)
}

// Load reads weights from the safetensors file at path and checks them
// against cfg.
func Load(path string, cfg Config) (Weights, error) {
	t, _, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	w := Weights(t)
	if err := w.Check(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func count(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
