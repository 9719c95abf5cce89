package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"

	"difflab/models/ops/bench"
	"difflab/models/ort"
	"difflab/models/train"
	"difflab/stages"
)

func init() {
	registerBench("train", "time training steps of the class-conditioned UNet (Gorgonia or ONNX Runtime)", cmdBenchTrain)
}

// cmdBenchTrain is `difflab bench train`: it times flow-matching training
// steps of the class-conditioned MNIST UNet on random data and prints one
// JSON line (with --json) or a short summary.
func cmdBenchTrain(args []string) int {
	fs := newFlagSet("bench train", "",
		"Time training steps (forward, backward, Adam) of the class-conditioned MNIST UNet on random\n"+
			"data through difflab's trainer: --engine gorgonia (Gorgonia with difflab's ops, on the CPU)\n"+
			"or onnxruntime (one ONNX graph per step, on --device). Prints the median seconds per step,\n"+
			"images per second, peak RSS and what computed the steps (pure-go, or openblas when built\n"+
			"with -tags openblas; the ONNX Runtime version and device).")
	batch := fs.Int("batch", 256, "images per step")
	hidden := fs.Int("hidden", 64, "UNet width D")
	steps := fs.Int("steps", 3, "timed steps (after one warm-up step)")
	engine := fs.String("engine", stages.AutoEngine, "training engine: gorgonia, onnxruntime, or auto (onnxruntime with --device gpu, else gorgonia)")
	device := addDeviceFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON line")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole benchmark (set-up, warm-up and timed steps) to this file, for go tool pprof")
	ortProfile := fs.String("ort-profile", "", "with --engine onnxruntime: write ONNX Runtime's profile of the steps (every operator's time, and on the GPU every kernel's) as Chrome trace JSON to a file named PREFIX_<date>_<time>.json")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	d, err := device.device()
	if err != nil {
		fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
		return exitUsage
	}
	if *engine == stages.AutoEngine {
		*engine = string(train.Gorgonia)
		if d == ort.GPU {
			*engine = string(train.ONNXRuntime)
		}
	}
	if d == ort.GPU && train.Engine(*engine) != train.ONNXRuntime {
		fmt.Fprintf(stderr, "difflab bench train: --device gpu trains through ONNX Runtime only; use --engine onnxruntime\n")
		return exitUsage
	}
	opt := bench.Options{Batch: *batch, Hidden: *hidden, Steps: *steps, Engine: train.Engine(*engine), Device: d, ORTProfile: *ortProfile}
	if err := opt.Check(); err != nil {
		fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
		return exitUsage
	}
	stop := func() error { return nil }
	if *cpuProfile != "" {
		var err error
		if stop, err = profileCPU(*cpuProfile); err != nil {
			fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
			return exitError
		}
	}
	r, err := bench.Train(context.Background(), opt)
	if perr := stop(); perr != nil && err == nil {
		err = fmt.Errorf("writing the CPU profile: %w", perr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
		if hint := deviceHint(err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
		return exitError
	}
	if *asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	what := r.Engine
	if r.Device != "" {
		what += " on " + r.Device
	}
	fmt.Fprintf(stdout, "train step (%s), batch %d, D = %d, %d threads (%s): %.3f s/step, %.1f images/s, peak RSS %.0f MB\n",
		r.Trainer, r.Batch, r.Hidden, r.Threads, what, r.SecondsPerStep, r.ImagesPerSecond, r.PeakRSSMB)
	return exitOK
}

// profileCPU starts a CPU profile written to path. The returned stop ends it
// and reports whether the file was written completely.
func profileCPU(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
