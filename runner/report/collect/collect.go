// Package collect fills the report's data model from a loaded experiment
// graph and the caches that hold its results.
//
// One Source is one run shown in the report: a cache, and how to find each
// node's entry in it. The run being reported looks nodes up by the keys the
// graph has now (so a stage whose parameters changed shows as not yet
// computed). A run being compared looks them up either by the keys of the
// same experiments loaded with another profile (see Expect), or by the key
// its cache last recorded for the same experiment and node id (so a cache
// made before a change still shows its figures).
package collect

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/runner/report"
	"difflab/stages"
)

// Source is one run of the report.
type Source struct {
	// Label names the run on the page, such as "quick" or the cache folder.
	Label string
	// Cache holds the run's entries.
	Cache *cache.Cache
	// Expected, when set, gives the key and parameters of each node in this
	// run; nodes it lacks, and every node when it is nil, are looked up by
	// the key the cache last recorded for their experiment and node id.
	Expected map[*experiment.Node]Expected
}

// Expected is what a run should hold for a node: the entry of Key, made
// with Params.
type Expected struct {
	Key    string
	Params stages.Params
}

// Expect matches every node of g to the node with the same experiment path
// and id in from, which may be g itself or the same experiments loaded with
// another profile or overrides, and returns the key (from keys, indexed by
// from's nodes) and parameters expected of it. Nodes of g without a match
// are left out.
func Expect(g, from *experiment.Graph, keys map[*experiment.Node]string) map[*experiment.Node]Expected {
	type id struct{ exp, node string }
	byID := map[id]*experiment.Node{}
	for _, e := range from.Experiments {
		for _, n := range e.Nodes {
			byID[id{e.Path, n.ID}] = n
		}
	}
	out := map[*experiment.Node]Expected{}
	for _, e := range g.Experiments {
		for _, n := range e.Nodes {
			m, ok := byID[id{e.Path, n.ID}]
			if !ok {
				continue
			}
			if k, ok := keys[m]; ok {
				out[n] = Expected{Key: k, Params: m.Params}
			}
		}
	}
	return out
}

// Experiments returns the report's view of g's experiments in the
// write-up's order (see report.Sort), with one Run per source.
func Experiments(g *experiment.Graph, sources []Source) []*report.Experiment {
	var exps []*report.Experiment
	for _, e := range g.Experiments {
		re := &report.Experiment{Path: e.Path, Name: e.Name, Doc: e.Doc, Profile: e.Profile, Skipped: e.Skipped}
		for _, n := range e.Nodes {
			re.Nodes = append(re.Nodes, node(n, sources))
		}
		exps = append(exps, re)
	}
	report.Sort(exps)
	return exps
}

func node(n *experiment.Node, sources []Source) *report.Node {
	rn := &report.Node{ID: n.ID, Stage: n.Stage, Doc: n.Doc}
	if n.Kind != nil {
		rn.Kind = n.Kind.Name
		for _, o := range n.Kind.Outputs {
			rn.Outputs = append(rn.Outputs, report.Output{Name: o.Name, Type: o.Type})
		}
	}
	for _, name := range n.MatrixOrder {
		rn.Matrix = append(rn.Matrix, report.Value{Name: name, Value: report.FormatValue(n.Matrix[name])})
	}
	seen := map[string]bool{}
	ports := make([]string, 0, len(n.Inputs))
	for p := range n.Inputs {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	for _, p := range ports {
		for _, src := range n.Inputs[p] {
			if src.Node != nil && !seen[src.Node.ID] {
				seen[src.Node.ID] = true
				rn.Inputs = append(rn.Inputs, src.Node.ID)
			}
		}
	}
	for _, s := range sources {
		rn.Runs = append(rn.Runs, lookup(n, s))
	}
	return rn
}

// lookup finds n's entry in source s.
func lookup(n *experiment.Node, s Source) report.Run {
	r := report.Run{Params: params(n, n.Params)}
	want, ok := s.Expected[n]
	key := want.Key
	if ok {
		r.Params = params(n, want.Params)
	} else if key, ok = s.Cache.Last(n.Experiment.Path, n.ID); !ok {
		return r
	}
	e, err := s.Cache.Get(key, false)
	if err != nil {
		var miss *cache.MissError
		if errors.As(err, &miss) && !miss.Bad() {
			return r
		}
		r.Problem = err.Error()
		return r
	}
	m := e.Manifest
	r.Dir = e.OutDir
	if m.Params != nil {
		r.Params = params(n, m.Params)
	}
	r.Provenance = &report.Provenance{
		Key:      e.Key,
		Start:    m.Start,
		Duration: time.Duration(m.Seconds * float64(time.Second)),
		Fetched:  m.Fetched,
	}
	for name, v := range m.Engines {
		e := fmt.Sprintf("%s %s", name, v)
		if where := m.Devices[name]; where != "" {
			e += " on " + where
		}
		r.Provenance.Engines = append(r.Provenance.Engines, e)
	}
	sort.Strings(r.Provenance.Engines)
	return r
}

// params formats parameter values for the page; a path shows as its file
// name, as in the cache key, since the folder differs between machines.
func params(n *experiment.Node, p map[string]any) []report.Value {
	vs := report.SortedValues(p)
	if n.Kind == nil {
		return vs
	}
	for i := range vs {
		if d := n.Kind.Param(vs[i].Name); d != nil && d.Type == stages.Path && vs[i].Value != "" {
			vs[i].Value = filepath.Base(vs[i].Value)
		}
	}
	return vs
}
