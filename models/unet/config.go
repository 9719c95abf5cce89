package unet

import "fmt"

// Conditioning selects which of the write-up's three UNets a Config builds.
type Conditioning string

// The three UNet variants of the write-up.
const (
	// Unconditional is the single-step denoiser D(z) of Part B 1.
	Unconditional Conditioning = "none"
	// Time is the time-conditioned flow UNet u(x_t, t) of Part B 2.1.
	Time Conditioning = "time"
	// TimeClass is the time- and class-conditioned UNet u(x_t, t, c) of
	// Part B 2.4; Part A's diffusion model uses it with prompts as classes.
	TimeClass Conditioning = "time_class"
)

// Config describes one UNet. Parameter names follow the PyTorch reference
// module's state_dict (../shared/reference/torch_unet.py), for example
// "c0.0.0.weight" (first conv of the first ConvBlock), "un.1.running_mean",
// "fc1_c.2.bias", so that weights can be compared with PyTorch one to one.
type Config struct {
	Cond Conditioning
	// Hidden is the width D.
	Hidden int
	// Channels is the number of image channels (1 for MNIST).
	Channels int
	// Classes is the size of the class vector c (TimeClass only).
	Classes int
	// Size is the image side in pixels; the architecture needs a multiple of 4
	// whose quarter is the Flatten pooling window (28 gives 7).
	Size int
}

// Validate reports a configuration the architecture cannot build.
func (c Config) Validate() error {
	switch c.Cond {
	case Unconditional, Time, TimeClass:
	default:
		return fmt.Errorf("unet: unknown conditioning %q (want none, time or time_class)", c.Cond)
	}
	if c.Hidden < 1 || c.Hidden > 1024 {
		return fmt.Errorf("unet: hidden size %d out of range 1..1024", c.Hidden)
	}
	if c.Channels < 1 || c.Channels > 4 {
		return fmt.Errorf("unet: %d channels out of range 1..4", c.Channels)
	}
	if c.Cond == TimeClass && (c.Classes < 1 || c.Classes > 1000) {
		return fmt.Errorf("unet: %d classes out of range 1..1000", c.Classes)
	}
	if c.Size < 4 || c.Size%4 != 0 || c.Size > 256 {
		return fmt.Errorf("unet: image size %d must be a multiple of 4 in 4..256", c.Size)
	}
	return nil
}
