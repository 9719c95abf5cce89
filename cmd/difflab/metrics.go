package main

import (
	"encoding/json"
	"fmt"

	"difflab/runner/metrictable"
	"difflab/runner/report"
	"difflab/runner/report/collect"
	"difflab/stages/artifact"
)

func init() {
	register("metrics", "print the metrics of the experiments' metric stages, optionally against another cache", cmdMetrics)
}

func cmdMetrics(args []string) int {
	fs := newFlagSet("metrics", "[PATH...]", "Print, for every metric stage of the experiments in PATH (default experiments/),\n"+
		"its metrics from the cache: value, 95% bootstrap interval and sample count. With\n"+
		"--compare, the same metrics from another cache (found by the key that cache last\n"+
		"recorded for the stage) stand next to them with the difference, marked \"moved\"\n"+
		"where either value lies outside the other run's interval:\n\n"+
		"  difflab metrics --compare /old/.difflab/cache   before and after a change")
	load, cacheFlag, device := addLoadFlags(fs), addCacheFlag(fs), addDeviceFlag(fs)
	compare := fs.String("compare", "", "cache directory whose metrics to show next to these")
	asJSON := fs.Bool("json", false, "print the rows as one JSON object on stdout")
	all := fs.Bool("all", false, "also show the per-class metrics (accuracy_K, share_K)")
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	d, err := device.device()
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitUsage
	}
	g, code := loadGraph(paths, load)
	if g == nil {
		return code
	}
	c, ok := openCache(*cacheFlag)
	if !ok {
		return exitError
	}
	sources := []collect.Source{{Label: load.profile, Cache: c, Expected: expected(g, g, c, d)}}
	if *compare != "" {
		other, ok := openCache(*compare)
		if !ok {
			return exitError
		}
		sources = append(sources, collect.Source{Label: displayPath(other.Root()), Cache: other})
		sources[0].Label = displayPath(c.Root())
	}
	labels := make([]string, len(sources))
	for i, s := range sources {
		labels[i] = s.Label
	}
	sts, problems := metricStages(collect.Experiments(g, sources))
	for _, p := range problems {
		fmt.Fprintln(stderr, "difflab: warning:", p)
	}
	rows := metrictable.Rows(sts, !*all)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Runs []string          `json:"runs"`
			Rows []metrictable.Row `json:"rows"`
		}{labels, rows}); err != nil {
			fmt.Fprintln(stderr, "difflab:", err)
			return exitError
		}
		return exitOK
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no metrics: no metric stage of these experiments is computed in the cache (run them first)")
		return exitOK
	}
	if err := metrictable.Write(stdout, rows, labels); err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return exitError
	}
	return exitOK
}

// metricStages reads the metrics output of every node that has one, in
// each run; problems names the entries whose metrics could not be read.
func metricStages(exps []*report.Experiment) (sts []metrictable.Stage, problems []string) {
	for _, e := range exps {
		for _, n := range e.Nodes {
			port := ""
			for _, o := range n.Outputs {
				if o.Type == artifact.TypeMetrics {
					port = o.Name
				}
			}
			if port == "" {
				continue
			}
			st := metrictable.Stage{Experiment: e.Path, ID: n.ID}
			found := false
			for _, r := range n.Runs {
				var ms artifact.Metrics
				if r.Computed() {
					a, err := artifact.Load(artifact.TypeMetrics, r.Dir, port)
					if err != nil {
						problems = append(problems, fmt.Sprintf("%s %s: %v", e.Path, n.ID, err))
					} else {
						ms, found = a.(artifact.Metrics), true
					}
				}
				st.Runs = append(st.Runs, ms)
			}
			if found {
				sts = append(sts, st)
			}
		}
	}
	return sts, problems
}
