package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"difflab/models/flow"
)

// benchMode is one `difflab bench MODE` subcommand.
type benchMode struct {
	summary string
	run     func(args []string) int
}

// benchModes holds the bench modes by name; each bench_MODE.go file adds
// its own with registerBench from init.
var benchModes = map[string]benchMode{}

// registerBench adds `difflab bench mode`. It panics on a duplicate: that is
// a programming mistake.
func registerBench(mode, summary string, run func(args []string) int) {
	if _, dup := benchModes[mode]; dup || mode == "" || run == nil {
		panic("difflab: bad or duplicate bench mode " + mode)
	}
	benchModes[mode] = benchMode{summary, run}
}

func init() {
	register("bench", "measure engine speed (bench sample, bench train, ...)", cmdBench)
	registerBench("sample", "time one UNet evaluation through the sampling path (ONNX Runtime)", cmdBenchSample)
}

// cmdBench dispatches `difflab bench MODE [flags]`.
func cmdBench(args []string) int {
	if len(args) > 0 {
		if m, ok := benchModes[args[0]]; ok {
			return m.run(args[1:])
		}
	}
	modes := make([]string, 0, len(benchModes))
	for name := range benchModes {
		modes = append(modes, name)
	}
	sort.Strings(modes)
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(stderr, "difflab bench: unknown mode %q (known: %s)\n", args[0], strings.Join(modes, ", "))
	}
	fmt.Fprintln(stderr, "usage: difflab bench MODE [flags]\n\nmodes:")
	for _, name := range modes {
		fmt.Fprintf(stderr, "  %-8s %s\n", name, benchModes[name].summary)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return exitOK
	}
	return exitUsage
}

// cmdBenchSample is `difflab bench sample`: it times sampling steps of the
// class-conditioned UNet through ONNX Runtime and prints one JSON line (with
// --json) or a short summary.
func cmdBenchSample(args []string) int {
	fs := newFlagSet("bench sample", "",
		"Time one UNet evaluation through the sampling path (sample.flow's Euler step, ONNX Runtime)\n"+
			"with random weights of the class-conditioned MNIST UNet. An even --batch is a guided step\n"+
			"(batch/2 samples, conditional and unconditional halves in one batch). Prints images per\n"+
			"second, seconds per step, the share of the step spent outside the model, and peak RSS.")
	batch := fs.Int("batch", 80, "model batch per step")
	hidden := fs.Int("hidden", 64, "UNet width D")
	steps := fs.Int("steps", 5, "timed steps (after one warm-up step)")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0 = $DIFFLAB_ORT_THREADS or 2)")
	device := addDeviceFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON line")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	if *batch < 1 || *hidden < 1 || *steps < 1 {
		fmt.Fprintf(stderr, "difflab bench sample: --batch, --hidden and --steps must be positive (got %d, %d, %d)\n", *batch, *hidden, *steps)
		return exitUsage
	}
	d, err := device.device()
	if err != nil {
		fmt.Fprintf(stderr, "difflab bench sample: %v\n", err)
		return exitUsage
	}
	r, err := flow.Bench(flow.BenchOptions{Batch: *batch, Hidden: *hidden, Steps: *steps, Threads: *threads, Device: d})
	if err != nil {
		fmt.Fprintf(stderr, "difflab bench sample: %v\n", err)
		printHints(err)
		return exitError
	}
	if *asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(stdout, "sample step, batch %d, D = %d, %d threads (ONNX Runtime %s on %s): %.3f s/step, %.1f images/s, "+
		"%.2f%% of the step outside the model, peak RSS %.0f MB\n",
		r.Batch, r.Hidden, r.Threads, r.ORTVersion, r.Device, r.SecondsPerStep, r.ImagesPerSecond, 100*r.OverheadFraction, r.PeakRSSMB)
	return exitOK
}
