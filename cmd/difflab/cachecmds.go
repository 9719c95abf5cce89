package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/slurm"
	"difflab/stages"
)

func init() {
	register("status", "describe the cache: entries, sizes, leftovers, Slurm jobs in flight (--list: every entry)", cmdStatus)
	register("gc", "remove cache entries no experiment needs, or unused for a while, and leftovers", cmdGC)
}

func cmdStatus(args []string) int {
	fs := newFlagSet("status", "", "Describe the cache.")
	dir := addCacheFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	list := fs.Bool("list", false, "also list every entry, most recent first")
	rf := addRemoteFlags(fs)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "difflab status: takes no arguments (fix: use difflab plan PATH for experiments)")
		return exitUsage
	}
	c, ok := openCache(*dir)
	if !ok {
		return exitError
	}
	rc, ok := rf.open(zerolog.Nop())
	if !ok {
		return exitUsage
	}
	st, err := c.Status()
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitError
	}
	var rs *remoteStatus
	if rc != nil {
		rs = probeRemote(rc)
	}
	jobs, stale, err := slurm.InFlight(context.Background(), c.Root())
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitError
	}
	var entries []cache.Info
	if *list {
		if entries, err = c.List(); err != nil {
			fmt.Fprintln(stderr, "difflab:", err)
			return exitError
		}
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(struct {
			*cache.Stats
			List   []cache.Info   `json:"list,omitempty"`
			Remote *remoteStatus  `json:"remote,omitempty"`
			Jobs   []slurm.Record `json:"jobs,omitempty"`
			Stale  []slurm.Record `json:"stale_jobs,omitempty"`
		}{st, entries, rs, jobs, stale})
		return exitOK
	}
	fmt.Fprintf(stdout, "cache %s\n%d entries, %s\n%d resumable states, %s\n",
		st.Dir, st.Entries, stages.FormatBytes(st.Bytes), st.States, stages.FormatBytes(st.StateBytes))
	for _, s := range st.StateList {
		fmt.Fprintf(stdout, "  %s  %9s  saved %s  %s\n", cache.Short(s.Key), stages.FormatBytes(s.Bytes), s.Saved.Local().Format(time.DateTime), s.Owner)
	}
	fmt.Fprintf(stdout, "%d temporary directories\n", st.Temps)
	if len(jobs) > 0 {
		fmt.Fprintf(stdout, "%d stages in flight as Slurm jobs\n", len(jobs))
		for _, j := range jobs {
			state := j.State
			if state == "" {
				state = "unknown to squeue"
			}
			fmt.Fprintf(stdout, "  job %s  %s  %s %s  since %s  log %s\n", j.Job, state, j.Experiment, j.Stage, j.Since.Local().Format(time.DateTime), j.Log)
		}
	}
	if len(stale) > 0 {
		fmt.Fprintf(stdout, "removed the records of %d jobs Slurm no longer lists (their head was killed; the cache says whether they finished)\n", len(stale))
		for _, j := range stale {
			fmt.Fprintf(stdout, "  job %s  %s %s  since %s  log %s\n", j.Job, j.Experiment, j.Stage, j.Since.Local().Format(time.DateTime), j.Log)
		}
	}
	if rs != nil {
		fmt.Fprintln(stdout, rs)
	}
	for _, e := range entries {
		what := e.Experiment + " " + e.Stage + " (" + e.Kind + ")"
		if e.Problem != "" {
			what = "unreadable: " + e.Problem
		}
		fmt.Fprintf(stdout, "%s  %9s  %s  %s\n", cache.Short(e.Key), stages.FormatBytes(e.Bytes), e.End.Local().Format(time.DateTime), what)
	}
	return exitOK
}

func cmdGC(args []string) int {
	fs := newFlagSet("gc", "[PATH...]", "Remove leftovers of killed runs and state of finished stages. With PATH, also\n"+
		"remove every entry that the experiments in PATH do not need (under each profile\n"+
		"of --profiles, on each device of --devices). With --older-than D, remove every\n"+
		"entry unused for D (with PATH, only those among the unneeded ones).")
	dir := addCacheFlag(fs)
	root := fs.String("root", "", "experiments root (as for run)")
	profiles := fs.String("profiles", "quick,full", "comma-separated profiles whose entries PATH keeps")
	devs := fs.String("devices", "cpu,gpu", "comma-separated devices (of --device) whose entries PATH keeps")
	older := fs.Duration("older-than", 0, "remove only entries unused for this long (for example 720h)")
	dry := fs.Bool("dry-run", false, "say what would be removed, remove nothing")
	results := fs.String("results", "results", "results folder whose leftovers of killed runs to remove too")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	c, ok := openCache(*dir)
	if !ok {
		return exitError
	}
	var keep []ort.Device
	for _, v := range strings.Split(*devs, ",") {
		d, err := ort.ParseDevice(strings.TrimSpace(v))
		if err != nil {
			fmt.Fprintln(stderr, "difflab gc: --devices:", err)
			return exitUsage
		}
		keep = append(keep, d)
	}
	opts := cache.GCOptions{OlderThan: *older, DryRun: *dry}
	if len(paths) > 0 {
		opts.Keep = map[string]bool{}
		for _, p := range strings.Split(*profiles, ",") {
			g, code := loadGraph(paths, &loadFlags{root: *root, profile: strings.TrimSpace(p)})
			if g == nil {
				return code
			}
			for _, d := range keep {
				keys, err := runner.Keys(g, c.Digests, devices(d))
				if err != nil {
					return runError(err)
				}
				for _, k := range keys {
					opts.Keep[k.Key] = true
				}
			}
		}
	}
	rep, err := c.GC(opts)
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitError
	}
	// A run copying results now has its temporary folder for well under a
	// minute; older ones are leftovers.
	leftovers, err := runner.CleanResults(*results, time.Minute, *dry)
	if err != nil {
		fmt.Fprintln(stderr, "difflab: results:", err)
		return exitError
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(struct {
			*cache.GCReport
			ResultTemps int `json:"result_temps"`
		}{rep, leftovers})
		return exitOK
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "%s %d entries (%s), %d states, %d temporary files and directories, %d lock files, %d index records; %d temporary folders in %s\n",
		verb, rep.Entries, stages.FormatBytes(rep.Bytes), rep.States, rep.Temps, rep.Locks, rep.Index, leftovers, *results)
	return exitOK
}
