package flow

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
)

// BenchOptions configures Bench.
type BenchOptions struct {
	// Batch is the model batch of one step. An even batch samples Batch/2
	// images with guidance (conditional and unconditional halves, as the
	// write-up's 40 samples with CFG give a batch of 80); an odd one samples
	// Batch images without.
	Batch int
	// Hidden is the UNet width D.
	Hidden int
	// Steps is the number of timed steps (after one warm-up step).
	Steps int
	// Threads is ONNX Runtime's intra-op thread count; 0 means the default.
	Threads int
	// Device is where ONNX Runtime runs the model; empty means the CPU.
	Device ort.Device
}

// BenchResult is what Bench measured. Times are medians over the timed steps.
type BenchResult struct {
	Mode           string  `json:"mode"`
	Batch          int     `json:"batch"`
	Hidden         int     `json:"hidden"`
	Threads        int     `json:"threads"`
	Steps          int     `json:"steps"`
	SecondsPerStep float64 `json:"seconds_per_step"`
	// ImagesPerSecond is Batch / SecondsPerStep: model evaluations per second
	// through the whole sampling step.
	ImagesPerSecond float64 `json:"images_per_second"`
	// ModelSecondsPerStep is the time spent inside ONNX Runtime per step.
	ModelSecondsPerStep float64 `json:"model_seconds_per_step"`
	// OverheadFraction is the share of a step spent outside the model call
	// (building the batch, copying, the Euler update).
	OverheadFraction float64 `json:"overhead_fraction"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	ORTVersion       string  `json:"onnxruntime"`
	// Device says what ran the model, as ort.CheckDevice describes it.
	Device string `json:"device"`
}

// Bench times sampling steps of the class-conditioned MNIST UNet with random
// weights, exported to ONNX and run through the same path as sample.flow
// (modelfile.Model.Predict inside Sampler.Step).
func Bench(o BenchOptions) (*BenchResult, error) {
	if o.Batch < 1 || o.Hidden < 1 || o.Steps < 1 {
		return nil, fmt.Errorf("flow: bench needs a positive batch, hidden size and step count (got %d, %d, %d)", o.Batch, o.Hidden, o.Steps)
	}
	dev := o.Device
	if dev == "" {
		dev = ort.CPU
	}
	where, err := ort.CheckDevice(dev)
	if err != nil {
		return nil, err
	}
	version, err := ort.Version()
	if err != nil {
		return nil, err
	}
	spec := modelfile.UNet{Cond: "time_class", Hidden: o.Hidden, Channels: 1, Classes: 10, Size: 28}
	d, err := onnxexport.UNetDescription(spec, modelfile.PredictsVelocity)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "difflab-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := onnxexport.WriteUNetDir(dir, d, onnxexport.RandomWeights(spec, 1)); err != nil {
		return nil, err
	}
	m, err := modelfile.Open(dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	threads := o.Threads
	if threads <= 0 {
		threads = ort.DefaultThreads()
	}
	m.Options = &ort.Options{IntraOpThreads: threads, Device: dev}
	m.MaxBatch = o.Batch
	n, cfg := o.Batch, 1.0
	if o.Batch%2 == 0 {
		n, cfg = o.Batch/2, 5
	}
	classes := make([]int, n)
	for i := range classes {
		classes[i] = i % 10
	}
	s, err := NewSampler(m, classes, Options{Steps: o.Steps + 1, CFG: cfg, Seed: 1})
	if err != nil {
		return nil, err
	}
	if err := s.Step(0); err != nil { // warm-up: session creation, first-run allocations
		return nil, err
	}
	sess, err := m.Session()
	if err != nil {
		return nil, err
	}
	var wall, inModel []float64
	for k := 1; k <= o.Steps; k++ {
		before, _ := sess.RunTime()
		start := time.Now()
		if err := s.Step(k); err != nil {
			return nil, err
		}
		w := time.Since(start).Seconds()
		after, _ := sess.RunTime()
		wall = append(wall, w)
		inModel = append(inModel, (after - before).Seconds())
	}
	sw, sm := median(wall), median(inModel)
	var total, model float64
	for i := range wall {
		total += wall[i]
		model += inModel[i]
	}
	return &BenchResult{
		Mode: "sample", Batch: o.Batch, Hidden: o.Hidden, Threads: threads, Steps: o.Steps,
		SecondsPerStep: sw, ImagesPerSecond: float64(o.Batch) / sw, ModelSecondsPerStep: sm,
		OverheadFraction: (total - model) / total, PeakRSSMB: peakRSSMB(), ORTVersion: version, Device: where,
	}, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// peakRSSMB returns the process's peak resident set size (VmHWM) in MB, or 0
// where /proc is unavailable.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
