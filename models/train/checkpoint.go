package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"difflab/models/safetensors"
	"difflab/models/tensor"
	"difflab/models/unet"
)

// Checkpoint is the state of a training run after Epoch whole epochs and
// Step steps of the next one: enough to resume it exactly.
type Checkpoint struct {
	// Epoch is the number of epochs done.
	Epoch int
	// Step is the number of steps of epoch Epoch+1 done; 0 at an epoch's
	// end.
	Step int
	// RNG is the state of that epoch's random source after Step steps (nil
	// when Step is 0).
	RNG []byte
	// Weights are the UNet's parameters and BatchNorm running statistics.
	Weights unet.Weights
	// Adam is the optimiser state (nil before the first step).
	Adam *Adam
	// LossIter holds the loss of every step so far, LossEpoch the mean loss
	// of every epoch so far.
	LossIter, LossEpoch []float64
}

// The files of a saved checkpoint.
const (
	weightsFile = unet.FileName
	adamFile    = "adam.safetensors"
	stateFile   = "state.json"
)

type state struct {
	Epoch     int       `json:"epoch"`
	Step      int       `json:"step,omitempty"`
	RNG       []byte    `json:"rng,omitempty"`
	AdamSteps int       `json:"adam_steps"`
	LossIter  []float64 `json:"loss_iter"`
	LossEpoch []float64 `json:"loss_epoch"`
}

// Save writes the checkpoint into dir (weights.safetensors,
// adam.safetensors with tensors "m/<name>" and "v/<name>", state.json).
func (c *Checkpoint) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := c.Weights.Save(filepath.Join(dir, weightsFile)); err != nil {
		return err
	}
	st := state{Epoch: c.Epoch, Step: c.Step, RNG: c.RNG, LossIter: c.LossIter, LossEpoch: c.LossEpoch}
	if c.Adam != nil {
		st.AdamSteps = c.Adam.Steps
		moments := map[string]*tensor.Tensor{}
		for n, m := range c.Adam.M {
			moments["m/"+n] = &tensor.Tensor{Shape: []int{len(m)}, Data: m}
			moments["v/"+n] = &tensor.Tensor{Shape: []int{len(m)}, Data: c.Adam.V[n]}
		}
		if err := safetensors.WriteFile(filepath.Join(dir, adamFile), moments, nil); err != nil {
			return err
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o644)
}

// LoadCheckpoint reads a checkpoint that Save wrote into dir, checking the
// weights against cfg.
func LoadCheckpoint(dir string, cfg unet.Config) (*Checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	w, err := unet.Load(filepath.Join(dir, weightsFile), cfg)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Epoch: st.Epoch, Step: st.Step, RNG: st.RNG, Weights: w, LossIter: st.LossIter, LossEpoch: st.LossEpoch}
	if st.AdamSteps > 0 {
		t, _, err := safetensors.ReadFile(filepath.Join(dir, adamFile))
		if err != nil {
			return nil, err
		}
		c.Adam = &Adam{Steps: st.AdamSteps, M: map[string][]float32{}, V: map[string][]float32{}}
		for n, v := range t {
			switch {
			case strings.HasPrefix(n, "m/"):
				c.Adam.M[n[2:]] = v.Data
			case strings.HasPrefix(n, "v/"):
				c.Adam.V[n[2:]] = v.Data
			default:
				return nil, fmt.Errorf("%s: unexpected tensor %q", filepath.Join(dir, adamFile), n)
			}
		}
	}
	return c, nil
}

// check reports a checkpoint that cannot resume a run of opt over data.
func (c *Checkpoint) check(opt Options, data *Dataset) error {
	steps := opt.StepsPerEpoch(data.N)
	if c.Epoch > opt.Epochs || c.Epoch == opt.Epochs && c.Step > 0 {
		return fmt.Errorf("checkpoint of epoch %d step %d is past the last epoch %d", c.Epoch, c.Step, opt.Epochs)
	}
	if c.Step < 0 || c.Step >= steps {
		return fmt.Errorf("checkpoint at step %d does not fit an epoch of %d steps", c.Step, steps)
	}
	if c.Step > 0 && c.RNG == nil {
		return fmt.Errorf("checkpoint at step %d lacks its random state", c.Step)
	}
	if len(c.LossIter) != c.Epoch*steps+c.Step || len(c.LossEpoch) != c.Epoch {
		return fmt.Errorf("checkpoint at epoch %d step %d holds %d step and %d epoch losses; want %d and %d",
			c.Epoch, c.Step, len(c.LossIter), len(c.LossEpoch), c.Epoch*steps+c.Step, c.Epoch)
	}
	return nil
}

func (c *Checkpoint) clone() *Checkpoint {
	d := &Checkpoint{Epoch: c.Epoch, Step: c.Step, RNG: slices.Clone(c.RNG), Weights: c.Weights.Clone(),
		LossIter: append([]float64(nil), c.LossIter...), LossEpoch: append([]float64(nil), c.LossEpoch...)}
	if c.Adam != nil {
		d.Adam = c.Adam.clone()
	}
	return d
}
