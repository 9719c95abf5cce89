package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Forward runs the UNet cfg describes with weights w in inference mode
// (BatchNorm with running statistics) on one batch: x holds
// B*Channels*Size*Size values, t B values (Time and TimeClass; nil
// otherwise), c B*Classes values (TimeClass; nil otherwise). It returns the
// prediction, B*Channels*Size*Size values.
func Forward(cfg Config, w Weights, x, t, c []float32) ([]float32, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	per := cfg.Channels * cfg.Size * cfg.Size
	if len(x) == 0 || len(x)%per != 0 {
		return nil, fmt.Errorf("unet: x has %d values, not a positive multiple of %d (%dx%dx%d)", len(x), per, cfg.Channels, cfg.Size, cfg.Size)
	}
	net, err := Build(cfg, w, len(x)/per, false)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	if err := net.SetInputs(x, t, c); err != nil {
		return nil, err
	}
	return net.Run()
}

// Run runs the graph once on the inputs last set and returns a copy of Out.
// In training mode this updates the BatchNorm running statistics. Run is
// meant for a net as Build returns it; a trainer that adds a loss and
// gradients runs its own machine and reads Out with Output.
func (n *Net) Run() ([]float32, error) {
	if n.vm == nil {
		n.vm = G.NewTapeMachine(n.Graph)
	}
	defer n.vm.Reset()
	if err := n.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("unet: forward pass: %w", err)
	}
	return n.Output(), nil
}

// Output returns a copy of Out's value after the graph last ran.
func (n *Net) Output() []float32 {
	if n.outVal == nil {
		return nil
	}
	return append([]float32(nil), n.outVal.Data().([]float32)...)
}

// Close releases the machine Run created, if any.
func (n *Net) Close() {
	if n.vm != nil {
		n.vm.Close()
		n.vm = nil
	}
}
