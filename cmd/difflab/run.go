package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/experiment"
	"difflab/runner/metrictable"
	"difflab/stages/artifact"
)

func init() {
	register("run", "run experiments: compute what the cache lacks, copy outputs to results/", cmdRun)
	register("plan", "say which stages would run, and why, without running them", cmdPlan)
}

// runFlags are the flags of run and plan.
type runFlags struct {
	load        *loadFlags
	log         *logFlags
	cache       *string
	device      *deviceFlag
	remote      *remoteFlags
	executor    *executorFlags // run only
	results     string
	jobs        int
	force       bool
	only        stringList
	json        bool
	explainKeys bool
	verify      bool
	reproduce   bool
	noExpect    bool
}

func addRunFlags(fs *flag.FlagSet) *runFlags {
	f := &runFlags{load: addLoadFlags(fs), log: addLogFlags(fs), cache: addCacheFlag(fs), device: addDeviceFlag(fs), remote: addRemoteFlags(fs)}
	fs.StringVar(&f.results, "results", "results", "folder that receives every stage's outputs")
	fs.IntVar(&f.jobs, "jobs", runner.DefaultJobs(), "stages run at once (with --executor slurm: jobs in flight, default 200)")
	fs.BoolVar(&f.force, "force", false, "recompute the stages even when cached (with --only: only those named)")
	fs.Var(&f.only, "only", "run only this stage (id or node id) and what it needs (repeatable)")
	fs.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fs.BoolVar(&f.explainKeys, "explain-keys", false, "print every cache key's input lines on stderr (also DIFFLAB_DEBUG=cachehash)")
	fs.BoolVar(&f.verify, "verify", false, "hash every cached file read, not only those whose mtime changed")
	fs.BoolVar(&f.reproduce, "reproduce", false, "run cached stages again and fail those whose outputs differ (publishes nothing)")
	fs.BoolVar(&f.noExpect, "no-expect", false, "report metrics that break their expectations without failing the run (run only)")
	return f
}

// options turns the flags into runner options for stages on device d.
func (f *runFlags) options(d ort.Device) (runner.Options, zerolog.Logger, bool) {
	log := f.log.newLogger()
	c, ok := openCache(*f.cache)
	if !ok {
		return runner.Options{}, log, false
	}
	o := runner.Options{Cache: c, Jobs: f.jobs, Force: f.force, Only: f.only, Results: f.results, Verify: f.verify, Reproduce: f.reproduce, Log: log,
		Devices: devices(d)}
	if f.explainKeys || strings.Contains(os.Getenv("DIFFLAB_DEBUG"), "cachehash") {
		o.ExplainKeys = stderr
	}
	return o, log, true
}

// runSetup is what run and plan share: their flags, the experiment graph,
// the device and the runner options.
type runSetup struct {
	flags  *runFlags
	graph  *experiment.Graph
	device ort.Device
	opts   runner.Options
	log    zerolog.Logger
}

// setUpRun parses the flags of command name, loads the experiments and
// opens the cache; on failure it returns nil and the exit status.
func setUpRun(name, doc string, args []string) (*runSetup, int) {
	fs := newFlagSet(name, "[PATH...]", doc)
	f := addRunFlags(fs)
	if name == "run" {
		f.executor = addExecutorFlags(fs)
	}
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return nil, code
	}
	d, err := f.device.device()
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return nil, exitUsage
	}
	g, code := loadGraph(paths, f.load)
	if g == nil {
		return nil, code
	}
	opts, log, ok := f.options(d)
	if !ok {
		return nil, exitError
	}
	if opts.Remote, ok = f.remote.open(log); !ok {
		return nil, exitUsage
	}
	if name == "run" {
		if opts.Executor, err = f.executor.open(f.load, d, opts.Cache.Root(), log); err != nil {
			fmt.Fprintln(stderr, "difflab:", err)
			if errors.Is(err, errUnknownExecutor) {
				return nil, exitUsage
			}
			return nil, exitError
		}
		jobsSet := false
		fs.Visit(func(fl *flag.Flag) { jobsSet = jobsSet || fl.Name == "jobs" })
		if opts.Executor != nil && !jobsSet {
			opts.Jobs = slurmJobs
		}
	}
	return &runSetup{flags: f, graph: g, device: d, opts: opts, log: log}, exitOK
}

func cmdRun(args []string) int {
	r, code := setUpRun("run", "Run the experiments in PATH (files or directories; default experiments/).\n"+
		"Stages with a valid cache entry are not recomputed; every stage's outputs are\n"+
		"copied to <results>/<experiment path without .yaml>/<stage>/.", args)
	if r == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The watcher ends before cmdRun returns, so that the cancellation by
	// the deferred stop is never taken for a signal.
	finished, watched := make(chan struct{}), make(chan struct{})
	defer func() { close(finished); <-watched }()
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			stop() // a second Ctrl-C kills at once
			r.log.Warn().Msg("interrupted: stopping stages (press Ctrl-C again to kill)")
		case <-finished:
		}
	}()
	ort.UseDevice(r.device)
	r.opts.EngineChecks, r.opts.Placement = engineSetup(r.device, r.log)
	s, err := runner.Run(ctx, r.graph, r.opts)
	if err != nil {
		return runError(err)
	}
	printSummary(stdout, s, r.flags.json, r.flags.log.verbose, false)
	switch {
	case s.Interrupted:
		return exitInterrupted
	case s.Failed > 0:
		return exitStageFailed
	case s.ResultsFailed > 0:
		return exitError
	case s.Unmet > 0 && !r.flags.noExpect:
		return exitUnmet
	}
	return exitOK
}

func cmdPlan(args []string) int {
	r, code := setUpRun("plan", "Say, for every stage of the experiments in PATH, whether its result is cached\n"+
		"or it would run, and why: no entry, an invalid entry, or which parameter, input\n"+
		"or file changed since its last run (and whether it resumes from saved state).", args)
	if r == nil {
		return code
	}
	s, err := runner.Plan(r.graph, r.opts)
	if err != nil {
		return runError(err)
	}
	if !r.flags.json && r.device != ort.CPU {
		fmt.Fprintf(stdout, "device %s: ONNX Runtime stages run on its %s execution provider; their keys say so, "+
			"so results computed on another device are not reused\n", r.device, r.device.Provider())
	}
	printSummary(stdout, s, r.flags.json, true, true)
	return exitOK
}

// runError prints an error that stopped Run or Plan before any stage ran
// and returns its exit status.
func runError(err error) int {
	fmt.Fprintln(stderr, "difflab:", err)
	printHints(err)
	var ke *runner.KeyError
	var ee *runner.EngineError
	switch {
	case errors.Is(err, runner.ErrNoSuchStage):
		return exitUsage
	case errors.As(err, &ke), errors.As(err, &ee):
		return exitValidation
	}
	return exitError
}

// printSummary writes s as JSON, or as one line per stage worth reading
// (all of them when all is set) and a line of totals (of a plan when plan
// is set).
func printSummary(w io.Writer, s *runner.Summary, asJSON, all, plan bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s)
		return
	}
	for _, st := range s.Stages {
		if !all && st.ResultsError == "" && (st.Status == runner.StatusExecuted || st.Status == runner.StatusCached) {
			continue
		}
		line := fmt.Sprintf("%-9s %s", st.Status, st.Experiment)
		if st.ID != "" {
			line += " " + st.ID
		}
		switch {
		case st.Error != "":
			line += ": " + st.Error
		case st.ResultsError != "":
			line += ": results not written: " + st.ResultsError
		case st.Reason != "":
			line += ": " + st.Reason
		case st.Remote:
			line += ": fetched from the remote cache"
		case st.Uploaded:
			line += ": uploaded to the remote cache"
		}
		fmt.Fprintln(w, line)
	}
	printMetrics(w, s)
	parts := []string{fmt.Sprintf("%d executed", s.Executed)}
	if plan {
		parts = []string{fmt.Sprintf("%d would run", s.WouldRun)}
	}
	parts = append(parts, fmt.Sprintf("%d cached", s.Cached)+remoteTotals(s, plan))
	if s.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", s.Failed))
	}
	if s.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", s.Skipped))
	}
	if s.ResultsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d with results not written", s.ResultsFailed))
	}
	if s.Unmet > 0 {
		parts = append(parts, fmt.Sprintf("%d expectations unmet", s.Unmet))
	}
	total := strings.Join(parts, ", ") + fmt.Sprintf(" in %.1fs", s.Seconds)
	if s.Interrupted {
		total += " (interrupted)"
	}
	fmt.Fprintln(w, total)
}

// printMetrics writes the headline metrics of the summary's metric stages
// as a table, then a line for each expectation a metric broke.
func printMetrics(w io.Writer, s *runner.Summary) {
	var sts []metrictable.Stage
	for _, st := range s.Stages {
		if st.Metrics != nil {
			sts = append(sts, metrictable.Stage{Experiment: st.Experiment, ID: st.ID, Runs: []artifact.Metrics{st.Metrics}})
		}
	}
	if len(sts) > 0 {
		metrictable.Write(w, metrictable.Rows(sts, true), []string{"value [95% interval] n"})
	}
	for _, st := range s.Stages {
		for _, e := range st.Expectations {
			if !e.Met {
				fmt.Fprintf(w, "unmet     %s %s: %s\n", st.Experiment, st.ID, unmetText(e))
			}
		}
	}
}

// unmetText says which bound a metric broke, with its value, interval and
// sample count, and where the bound is written.
func unmetText(e runner.ExpectResult) string {
	bound := experiment.Expectation{Min: e.Min, Max: e.Max}.String()
	if e.Missing != "" {
		return fmt.Sprintf("%s (expected %s): %s (%s)", e.Metric, bound, e.Missing, e.Pos)
	}
	m := artifact.Metric{Value: e.Value, N: e.N, Lo: e.Lo, Hi: e.Hi}
	return fmt.Sprintf("%s %s breaks its bound %s (%s)", e.Metric, metrictable.Format(&m), bound, e.Pos)
}
