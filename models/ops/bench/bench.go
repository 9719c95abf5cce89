// Package bench times training steps of the class-conditioned UNet on random
// data, through the same trainer the train stages use (Gorgonia, or one ONNX
// graph per step through ONNX Runtime on a device), and reports the
// throughput, the peak resident memory and what computed the steps.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"difflab/models/ops"
	"difflab/models/ort"
	"difflab/models/train"
	"difflab/models/unet"
)

// Options configures a training benchmark.
type Options struct {
	// Batch is the number of images per step.
	Batch int
	// Hidden is the UNet width D.
	Hidden int
	// Steps is the number of timed steps; one untimed warm-up step runs
	// before them.
	Steps int
	// Engine computes the steps ("" means Gorgonia).
	Engine train.Engine
	// Device is where ONNX Runtime runs the steps of its engine ("" means
	// the CPU).
	Device ort.Device
	// ORTProfile profiles the ONNX Runtime engine's steps into a file whose
	// name starts with it (see train.Options.ORTProfile).
	ORTProfile string
}

// Result is what a benchmark measured. Its JSON form is one line of
// difflab bench train --json.
type Result struct {
	Mode string `json:"mode"`
	// Trainer is the training engine: gorgonia or onnxruntime.
	Trainer string `json:"trainer"`
	// Engine is what computed the steps: the build of difflab's ops
	// (pure-go or openblas) for Gorgonia, "onnxruntime VERSION" otherwise.
	Engine string `json:"engine"`
	// Device says where ONNX Runtime ran the steps, as ort.CheckDevice
	// describes it (empty for Gorgonia).
	Device          string  `json:"device,omitempty"`
	Batch           int     `json:"batch"`
	Hidden          int     `json:"hidden"`
	Steps           int     `json:"steps"`
	Threads         int     `json:"threads"`
	SecondsPerStep  float64 `json:"seconds_per_step"`
	ImagesPerSecond float64 `json:"images_per_second"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	Loss            float64 `json:"loss"`
}

// Check reports options that cannot run.
func (o Options) Check() error {
	switch {
	case o.Batch < 1:
		return fmt.Errorf("bench: --batch %d must be at least 1", o.Batch)
	case o.Hidden < 1 || o.Hidden > 1024:
		return fmt.Errorf("bench: --hidden %d out of range 1..1024", o.Hidden)
	case o.Steps < 1:
		return fmt.Errorf("bench: --steps %d must be at least 1", o.Steps)
	case o.Engine != "" && o.Engine != train.Gorgonia && o.Engine != train.ONNXRuntime:
		return fmt.Errorf("bench: --engine %q: want gorgonia or onnxruntime", o.Engine)
	case o.ORTProfile != "" && o.Engine != train.ONNXRuntime:
		return fmt.Errorf("bench: --ort-profile profiles ONNX Runtime: use it with --engine onnxruntime")
	}
	return nil
}

// Train runs o.Steps+1 flow-matching training steps of the class-conditioned
// UNet for 28×28 single-channel images on random data and reports the median
// time of the timed steps.
func Train(ctx context.Context, o Options) (Result, error) {
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	res := Result{Mode: "train", Trainer: string(train.Gorgonia), Engine: ops.Engine, Batch: o.Batch, Hidden: o.Hidden,
		Steps: o.Steps, Threads: runtime.GOMAXPROCS(0)}
	dev := o.Device
	if dev == "" {
		dev = ort.CPU
	}
	if o.Engine == train.ONNXRuntime {
		where, err := ort.CheckDevice(dev)
		if err != nil {
			return Result{}, err
		}
		res.Trainer, res.Engine, res.Device, res.Threads = string(train.ONNXRuntime), "onnxruntime "+ort.LibVersion, where, ort.DefaultThreads()
	}
	cfg := unet.Config{Cond: unet.TimeClass, Hidden: o.Hidden, Channels: 1, Classes: 10, Size: 28}
	n := o.Batch * (o.Steps + 1)
	per := cfg.Channels * cfg.Size * cfg.Size
	rng := rand.New(rand.NewPCG(1, 2))
	data := &train.Dataset{Images: make([]float32, n*per), Labels: make([]int64, n), N: n, Per: per}
	for i := range data.Images {
		data.Images[i] = rng.Float32()
	}
	for i := range data.Labels {
		data.Labels[i] = int64(rng.IntN(cfg.Classes))
	}
	opt := train.Options{Net: cfg, Epochs: 1, Batch: o.Batch, LR: 1e-3, Seed: 1, Engine: o.Engine, Device: dev, ORTProfile: o.ORTProfile}
	var stamps []time.Time
	var loss float64
	hooks := train.Hooks{Progress: func(p train.Progress) {
		stamps = append(stamps, time.Now())
		loss = p.Loss
	}}
	if _, err := train.Train(ctx, opt, data, train.Flow{Classes: cfg.Classes, PUncond: 0.1}, nil, hooks); err != nil {
		return Result{}, err
	}
	if len(stamps) != o.Steps+1 {
		return Result{}, fmt.Errorf("bench: trainer ran %d steps, want %d", len(stamps), o.Steps+1)
	}
	times := make([]float64, 0, o.Steps)
	for i := 1; i < len(stamps); i++ {
		times = append(times, stamps[i].Sub(stamps[i-1]).Seconds())
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	res.SecondsPerStep, res.ImagesPerSecond, res.PeakRSSMB, res.Loss = med, float64(o.Batch)/med, PeakRSSMB(), loss
	return res, nil
}

// PeakRSSMB returns the process's peak resident set size in MiB, read from
// VmHWM in /proc/self/status (0 where that file does not exist).
func PeakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}
