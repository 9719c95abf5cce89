package main

import (
	"fmt"
	"path/filepath"

	"difflab/models/ort"
	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/runner/report"
	"difflab/runner/report/collect"
)

func init() {
	register("report", "write results/index.html: every experiment's figures, parameters and provenance", cmdReport)
}

// reportFlags are the flags of report.
type reportFlags struct {
	load           *loadFlags
	cache          *string
	device         *deviceFlag
	out            string
	title          string
	compare        string
	compareProfile string
}

func cmdReport(args []string) int {
	fs := newFlagSet("report", "[PATH...]", "Write an HTML page showing, for every experiment in PATH (default experiments/),\n"+
		"its text, figures and loss curves from the cache, the parameters that produced\n"+
		"them and where they came from. Stages not computed yet show as such. The page\n"+
		"and the images it needs go to --out; it opens from disk and loads nothing from\n"+
		"the network.\n\n"+
		"With --compare and/or --compare-profile, every figure is shown next to the same\n"+
		"figure from another cache (found by the key that cache last recorded for the\n"+
		"stage) or from another profile (found by that profile's keys), for example:\n\n"+
		"  difflab report --compare-profile full        quick next to full, one cache\n"+
		"  difflab report --compare /old/.difflab/cache  before and after a change")
	f := &reportFlags{load: addLoadFlags(fs), cache: addCacheFlag(fs), device: addDeviceFlag(fs)}
	fs.StringVar(&f.out, "out", "results", "folder that receives index.html and index_files/")
	fs.StringVar(&f.title, "title", "difflab report", "the page's title")
	fs.StringVar(&f.compare, "compare", "", "cache directory whose results to show side by side with these")
	fs.StringVar(&f.compareProfile, "compare-profile", "", "profile whose results to show side by side with these (looked up in --compare, else in --cache)")
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	d, err := f.device.device()
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitUsage
	}
	g, code := loadGraph(paths, f.load)
	if g == nil {
		return code
	}
	c, ok := openCache(*f.cache)
	if !ok {
		return exitError
	}
	sources := []collect.Source{{Label: f.load.profile, Cache: c, Expected: expected(g, g, c, d)}}
	if f.compare != "" || f.compareProfile != "" {
		other, code, ok := compareSource(g, paths, f, c, d)
		if !ok {
			return code
		}
		sources = append(sources, other)
		if sources[0].Label == other.Label {
			sources[0].Label = fmt.Sprintf("%s (%s)", f.load.profile, displayPath(c.Root()))
		}
	}
	labels := make([]string, len(sources))
	for i, s := range sources {
		labels[i] = s.Label
	}
	index, err := report.Write(collect.Experiments(g, sources), report.Options{Out: f.out, Title: f.title, Runs: labels})
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitError
	}
	fmt.Fprintln(stdout, displayPath(index))
	return exitOK
}

// compareSource opens the run to compare with: the --compare cache (or the
// same cache) and, with --compare-profile, the experiments loaded again with
// that profile.
func compareSource(g *experiment.Graph, paths []string, f *reportFlags, c *cache.Cache, d ort.Device) (collect.Source, int, bool) {
	s := collect.Source{Cache: c}
	if f.compare != "" {
		other, ok := openCache(f.compare)
		if !ok {
			return s, exitError, false
		}
		s.Cache, s.Label = other, displayPath(other.Root())
	}
	if f.compareProfile == "" {
		return s, exitOK, true
	}
	lf := *f.load
	lf.profile = f.compareProfile
	og, code := loadGraph(paths, &lf)
	if og == nil {
		return s, code, false
	}
	s.Expected = expected(g, og, s.Cache, d)
	if s.Label == "" {
		s.Label = f.compareProfile
	} else {
		s.Label = fmt.Sprintf("%s (%s)", f.compareProfile, s.Label)
	}
	return s, exitOK, true
}

// expected returns the keys and parameters of g's nodes as loaded in from,
// with ONNX Runtime on device d, or nil, after a warning, when the keys
// cannot be computed (a file a stage reads is missing): nodes are then
// looked up by their last recorded keys.
func expected(g, from *experiment.Graph, c *cache.Cache, d ort.Device) map[*experiment.Node]collect.Expected {
	keys, err := runner.Keys(from, c.Digests, devices(d))
	if err != nil {
		fmt.Fprintf(stderr, "difflab: warning: %v; showing each stage's most recent result instead\n", err)
		return nil
	}
	plain := make(map[*experiment.Node]string, len(keys))
	for n, k := range keys {
		plain[n] = k.Key
	}
	return collect.Expect(g, from, plain)
}

// displayPath returns p relative to the working directory when it lies
// below it, else p.
func displayPath(p string) string {
	if rel, err := filepath.Rel(".", p); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	if abs, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(abs, p); err == nil && filepath.IsLocal(rel) {
			return rel
		}
	}
	return p
}
