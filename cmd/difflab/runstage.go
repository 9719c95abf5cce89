package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"difflab/models/ort"
	"difflab/runner"
)

func init() {
	register("run-stage", "run one stage against the cache (what a cluster job of run --executor slurm runs)", cmdRunStage)
}

// cmdRunStage computes one stage whose inputs are in the cache and
// publishes its entry: the process a job of `run --executor slurm` runs.
// It prints the stage's result as JSON on stdout.
func cmdRunStage(args []string) int {
	fs := newFlagSet("run-stage", "FILE NODE KEY", "Compute the stage NODE (a node id, such as edited[i_start=10]) of the experiment\n"+
		"FILE, whose cache key the head planned as KEY, from its inputs' cache entries,\n"+
		"and publish its entry under the key's lock (nothing when a valid entry exists).\n"+
		"A changed file (another key) or a missing input is an error. `run --executor\n"+
		"slurm` submits this command once per stage.")
	load, logf, cacheFlag, dev := addLoadFlags(fs), addLogFlags(fs), addCacheFlag(fs), addDeviceFlag(fs)
	force := fs.Bool("force", false, "recompute the stage even when its entry is valid")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 3 {
		fmt.Fprintln(stderr, "difflab: run-stage takes FILE NODE KEY (fix: difflab run-stage experiments/a.yaml stage KEY)")
		return exitUsage
	}
	d, err := dev.device()
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitUsage
	}
	g, code := loadGraph(pos[:1], load)
	if g == nil {
		return code
	}
	if len(g.Experiments) != 1 || g.Experiments[0].Skipped != "" {
		fmt.Fprintf(stderr, "difflab: %s is not one experiment that loads\n", pos[0])
		return exitValidation
	}
	log := logf.newLogger()
	c, ok := openCache(*cacheFlag)
	if !ok {
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ort.UseDevice(d)
	opts := runner.Options{Cache: c, Force: *force, Log: log, Devices: devices(d)}
	opts.EngineChecks, opts.Placement = engineSetup(d, log)
	res, err := runner.RunStage(ctx, g, g.Experiments[0].Path, pos[1], pos[2], opts)
	if res.ID != "" {
		enc := json.NewEncoder(stdout)
		enc.Encode(res)
	}
	var km *runner.KeyMismatchError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "difflab: interrupted:", err)
		return exitInterrupted
	case res.Status == runner.StatusFailed:
		fmt.Fprintln(stderr, "difflab:", err)
		return exitStageFailed
	case errors.As(err, &km):
		fmt.Fprintln(stderr, "difflab:", err)
		return exitValidation
	}
	return runError(err)
}
