package unet

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"difflab/models/ops"
	"difflab/models/tensor"
)

// Net is a UNet built as a Gorgonia graph for a fixed batch size, in
// training mode (BatchNorm normalises with batch statistics and updates its
// running statistics each time the graph runs) or inference mode (BatchNorm
// uses the running statistics).
//
// The graph's inputs are X (B, Channels, Size, Size), T (B, 1) for the
// conditioned variants and C (B, Classes) for TimeClass; set them with
// SetInputs before running the graph. Out is the prediction, shaped like X.
type Net struct {
	Config   Config
	Batch    int
	Training bool
	Graph    *G.ExprGraph
	X, T, C  *G.Node
	Out      *G.Node
	// Learned are the parameter nodes gradient descent updates, in Specs
	// order; LearnedNames holds their names.
	Learned      []*G.Node
	LearnedNames []string

	x, t, c []float32
	values  map[string][]float32 // backing of every parameter node
	stats   map[string]*ops.BNStats
	outVal  G.Value
	vm      G.VM
}

// Build returns the graph of the UNet cfg describes, for batches of batch
// images, with parameters copied from w.
func Build(cfg Config, w Weights, batch int, training bool) (*Net, error) {
	if err := w.Check(cfg); err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("unet: batch size %d must be at least 1", batch)
	}
	n := &Net{Config: cfg, Batch: batch, Training: training, Graph: G.NewGraph(),
		values: map[string][]float32{}, stats: map[string]*ops.BNStats{}}
	b := &builder{net: n, w: w}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("unet: building the %s graph: %w", cfg.Cond, err)
	}
	return n, nil
}

// SetInputs copies a batch of inputs into the graph: x holds
// Batch*Channels*Size*Size values, t Batch values (Time, TimeClass) and c
// Batch*Classes values (TimeClass); inputs the variant lacks are ignored.
func (n *Net) SetInputs(x, t, c []float32) error {
	if len(x) != len(n.x) {
		return fmt.Errorf("unet: x has %d values, want %d (batch %d)", len(x), len(n.x), n.Batch)
	}
	copy(n.x, x)
	if n.T != nil {
		if len(t) != len(n.t) {
			return fmt.Errorf("unet: t has %d values, want %d (batch %d)", len(t), len(n.t), n.Batch)
		}
		copy(n.t, t)
	}
	if n.C != nil {
		if len(c) != len(n.c) {
			return fmt.Errorf("unet: c has %d values, want %d (batch %d x %d classes)", len(c), len(n.c), n.Batch, n.Config.Classes)
		}
		copy(n.c, c)
	}
	return nil
}

// Param returns the values backing the parameter or buffer called name,
// which the graph reads on each run (nil if there is none). Optimisers
// update learned parameters in place through it.
func (n *Net) Param(name string) []float32 { return n.values[name] }

// Weights returns a copy of the net's current parameters and running
// statistics.
func (n *Net) Weights() Weights {
	w := Weights{}
	specs, _ := Specs(n.Config)
	for _, s := range specs {
		data := n.values[s.Name]
		if st := n.stats[strings.TrimSuffix(strings.TrimSuffix(s.Name, ".running_mean"), ".running_var")]; st != nil {
			switch s.Role {
			case RunningMean:
				data = st.RunningMean
			case RunningVar:
				data = st.RunningVar
			}
		}
		w[s.Name] = &tensor.Tensor{Shape: append([]int(nil), s.Shape...), Data: append([]float32(nil), data...)}
	}
	return w
}

type builder struct {
	net *Net
	w   Weights
}

// param adds the parameter called name as a graph node whose value is a copy
// of its weights.
func (b *builder) param(name string) *G.Node {
	t := b.w[name]
	data := append([]float32(nil), t.Data...)
	b.net.values[name] = data
	v := gt.New(gt.WithShape(t.Shape...), gt.WithBacking(data))
	node := G.NewTensor(b.net.Graph, G.Float32, len(t.Shape), G.WithShape(t.Shape...), G.WithName(name), G.WithValue(v))
	b.net.Learned = append(b.net.Learned, node)
	b.net.LearnedNames = append(b.net.LearnedNames, name)
	return node
}

func (b *builder) input(name string, data []float32, shape ...int) *G.Node {
	v := gt.New(gt.WithShape(shape...), gt.WithBacking(data))
	return G.NewTensor(b.net.Graph, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// bnGELU adds BatchNorm prefix followed by GELU.
func (b *builder) bnGELU(prefix string, x *G.Node) (*G.Node, error) {
	gamma, beta := b.param(prefix+".weight"), b.param(prefix+".bias")
	st := &ops.BNStats{RunningMean: b.buffer(prefix + ".running_mean"), RunningVar: b.buffer(prefix + ".running_var")}
	b.net.stats[prefix] = st
	return ops.BatchNormGELU(x, gamma, beta, st, b.net.Training)
}

// buffer returns a copy of the buffer called name and records it as that
// buffer's backing.
func (b *builder) buffer(name string) []float32 {
	data := append([]float32(nil), b.w[name].Data...)
	b.net.values[name] = data
	return data
}

// conv adds Conv2d(3, stride, 1) + BatchNorm + GELU under prefix (a Conv or
// DownConv module).
func (b *builder) conv(prefix string, x *G.Node, stride int) (*G.Node, error) {
	y, err := ops.Conv2d(x, b.param(prefix+".0.weight"), b.param(prefix+".0.bias"), stride, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return b.bnGELU(prefix+".1", y)
}

// convT adds ConvTranspose2d + BatchNorm + GELU under prefix (an UpConv or
// Unflatten module).
func (b *builder) convT(prefix string, x *G.Node, stride, pad int) (*G.Node, error) {
	y, err := ops.ConvTranspose2d(x, b.param(prefix+".0.weight"), b.param(prefix+".0.bias"), stride, pad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return b.bnGELU(prefix+".1", y)
}

func (b *builder) convBlock(prefix string, x *G.Node) (*G.Node, error) {
	y, err := b.conv(prefix+".0", x, 1)
	if err != nil {
		return nil, err
	}
	return b.conv(prefix+".1", y, 1)
}

func (b *builder) downBlock(prefix string, x *G.Node) (*G.Node, error) {
	y, err := b.conv(prefix+".0", x, 2)
	if err != nil {
		return nil, err
	}
	return b.convBlock(prefix+".1", y)
}

func (b *builder) upBlock(prefix string, x *G.Node) (*G.Node, error) {
	y, err := b.convT(prefix+".0", x, 2, 1)
	if err != nil {
		return nil, err
	}
	return b.convBlock(prefix+".1", y)
}

// fc adds an FCBlock: Linear, GELU, Linear.
func (b *builder) fc(prefix string, x *G.Node) (*G.Node, error) {
	y, err := ops.Linear(x, b.param(prefix+".0.weight"), b.param(prefix+".0.bias"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if y, err = ops.GELU(y); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if y, err = ops.Linear(y, b.param(prefix+".2.weight"), b.param(prefix+".2.bias")); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return y, nil
}

func (b *builder) build() error {
	n, cfg := b.net, b.net.Config
	B, S := n.Batch, cfg.Size
	n.x = make([]float32, B*cfg.Channels*S*S)
	n.X = b.input("x", n.x, B, cfg.Channels, S, S)
	if cfg.Cond == Time || cfg.Cond == TimeClass {
		n.t = make([]float32, B)
		n.T = b.input("t", n.t, B, 1)
	}
	if cfg.Cond == TimeClass {
		n.c = make([]float32, B*cfg.Classes)
		n.C = b.input("c", n.c, B, cfg.Classes)
	}
	e1, err := b.convBlock("c0", n.X)
	if err != nil {
		return err
	}
	e2, err := b.downBlock("d1", e1)
	if err != nil {
		return err
	}
	e3, err := b.downBlock("d2", e2)
	if err != nil {
		return err
	}
	f, err := ops.GlobalAvgPool(e3)
	if err != nil {
		return fmt.Errorf("fl: %w", err)
	}
	if f, err = ops.GELU(f); err != nil {
		return fmt.Errorf("fl: %w", err)
	}
	u, err := b.convT("un", f, S/4, 0)
	if err != nil {
		return err
	}
	// Conditioning of the unflattened map: u*t1 (time), u*c1 + t1 (class).
	var t1, t2, c1, c2 *G.Node
	if n.T != nil {
		if t1, err = b.fc("fc1_t", n.T); err != nil {
			return err
		}
		if t2, err = b.fc("fc2_t", n.T); err != nil {
			return err
		}
	}
	if n.C != nil {
		if c1, err = b.fc("fc1_c", n.C); err != nil {
			return err
		}
		if c2, err = b.fc("fc2_c", n.C); err != nil {
			return err
		}
	}
	if u, err = modulate(u, t1, c1); err != nil {
		return fmt.Errorf("un: %w", err)
	}
	cat, err := ops.ConcatChannels(e3, u)
	if err != nil {
		return fmt.Errorf("u1: %w", err)
	}
	if u, err = b.upBlock("u1", cat); err != nil {
		return err
	}
	if u, err = modulate(u, t2, c2); err != nil {
		return fmt.Errorf("u1: %w", err)
	}
	if cat, err = ops.ConcatChannels(e2, u); err != nil {
		return fmt.Errorf("u2: %w", err)
	}
	if u, err = b.upBlock("u2", cat); err != nil {
		return err
	}
	if cat, err = ops.ConcatChannels(e1, u); err != nil {
		return fmt.Errorf("c1: %w", err)
	}
	if u, err = b.convBlock("c1", cat); err != nil {
		return err
	}
	n.Out, err = ops.Conv2d(u, b.param("out.weight"), b.param("out.bias"), 1, 1)
	if err != nil {
		return fmt.Errorf("out: %w", err)
	}
	G.Read(n.Out, &n.outVal)
	return nil
}

// modulate applies the conditioning of the write-up to a feature map: x*t
// for the time-only UNet, x*c + t for the class-conditioned one; without
// conditioning x is returned unchanged.
func modulate(x, t, c *G.Node) (*G.Node, error) {
	switch {
	case c != nil:
		return ops.ScaleShift(x, c, t)
	case t != nil:
		return ops.ScaleShift(x, t, nil)
	}
	return x, nil
}
