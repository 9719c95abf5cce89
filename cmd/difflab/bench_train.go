package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"

	"difflab/models/ops/bench"
)

func init() {
	registerBench("train", "time training steps of the class-conditioned UNet (Gorgonia)", cmdBenchTrain)
}

// cmdBenchTrain is `difflab bench train`: it times flow-matching training
// steps of the class-conditioned MNIST UNet on random data and prints one
// JSON line (with --json) or a short summary.
func cmdBenchTrain(args []string) int {
	fs := newFlagSet("bench train", "",
		"Time training steps (forward, backward, Adam) of the class-conditioned MNIST UNet on random\n"+
			"data through difflab's trainer (Gorgonia with difflab's ops). Prints the median seconds per\n"+
			"step, images per second, peak RSS and the engine the ops were built with (pure-go, or\n"+
			"openblas when built with -tags openblas).")
	batch := fs.Int("batch", 256, "images per step")
	hidden := fs.Int("hidden", 64, "UNet width D")
	steps := fs.Int("steps", 3, "timed steps (after one warm-up step)")
	asJSON := fs.Bool("json", false, "print one JSON line")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the steps to this file (read it with go tool pprof)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	opt := bench.Options{Batch: *batch, Hidden: *hidden, Steps: *steps}
	if err := opt.Check(); err != nil {
		fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
		return exitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
			return exitError
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
			return exitError
		}
	}
	r, err := bench.Train(context.Background(), opt)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintf(stderr, "difflab bench train: %v\n", err)
		return exitError
	}
	if *asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(stdout, "train step, batch %d, D = %d, %d threads (%s): %.3f s/step, %.1f images/s, peak RSS %.0f MB\n",
		r.Batch, r.Hidden, r.Threads, r.Engine, r.SecondsPerStep, r.ImagesPerSecond, r.PeakRSSMB)
	return exitOK
}
