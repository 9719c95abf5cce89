package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
)

func init() {
	register("status", "describe the cache: entries, sizes, leftovers (--list: every entry)", cmdStatus)
	register("gc", "remove cache entries no experiment needs, or unused for a while, and leftovers", cmdGC)
}

func cmdStatus(args []string) int {
	fs := newFlagSet("status", "", "Describe the cache.")
	dir := addCacheFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	list := fs.Bool("list", false, "also list every entry, most recent first")
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
	st, err := c.Status()
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
			List []cache.Info `json:"list,omitempty"`
		}{st, entries})
		return exitOK
	}
	fmt.Fprintf(stdout, "cache %s\n%d entries, %s\n%d resumable states, %s\n",
		st.Dir, st.Entries, size(st.Bytes), st.States, size(st.StateBytes))
	for _, s := range st.StateList {
		fmt.Fprintf(stdout, "  %s  %9s  saved %s  %s\n", cache.Short(s.Key), size(s.Bytes), s.Saved.Local().Format(time.DateTime), s.Owner)
	}
	fmt.Fprintf(stdout, "%d temporary directories\n", st.Temps)
	for _, e := range entries {
		what := e.Experiment + " " + e.Stage + " (" + e.Kind + ")"
		if e.Problem != "" {
			what = "unreadable: " + e.Problem
		}
		fmt.Fprintf(stdout, "%s  %9s  %s  %s\n", cache.Short(e.Key), size(e.Bytes), e.End.Local().Format(time.DateTime), what)
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
	if *asJSON {
		json.NewEncoder(stdout).Encode(rep)
		return exitOK
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "%s %d entries (%s), %d states, %d temporary directories, %d lock files, %d index records\n",
		verb, rep.Entries, size(rep.Bytes), rep.States, rep.Temps, rep.Locks, rep.Index)
	return exitOK
}

// size formats a byte count.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
