package report

import (
	"sort"
	"strings"
	"time"

	"difflab/stages/artifact"
)

// Experiment is one experiment file as the report shows it.
type Experiment struct {
	// Path is the file's path relative to the experiments root, such as
	// "part_a/1_7_sdedit.yaml"; it orders the sections (see Sort).
	Path string
	Name string
	// Doc is the experiment's text for the reader, shown as paragraphs.
	Doc string
	// Profile is the profile whose parameters the nodes carry.
	Profile string
	// Skipped, when not empty, says why the experiment was not run (for
	// example a missing model file and how to get it).
	Skipped string
	// Nodes are the experiment's stage nodes in a topological order.
	Nodes []*Node
}

// Node is one expanded stage of an experiment.
type Node struct {
	// ID is the node id, such as "edited[i_start=10]".
	ID string
	// Stage is the stage id as written in the experiment file.
	Stage string
	// Kind is the stage kind's name.
	Kind string
	// Doc is the stage's own description from the experiment file, if any.
	Doc string
	// Matrix holds the sweep values of this expansion in the file's order.
	Matrix []Value
	// Inputs are the ids of the nodes of the same experiment that feed this
	// one.
	Inputs []string
	// Outputs are the kind's declared outputs.
	Outputs []Output
	// Runs holds what each run of the report knows of this node, one per
	// label of Options.Runs, in that order.
	Runs []Run
}

// Value is a named, formatted value: a parameter or a sweep value.
type Value struct {
	Name  string
	Value string
}

// Output is a declared output port of a node.
type Output struct {
	Name string
	Type artifact.Type
}

// Run is what one run (one cache) knows of a node.
type Run struct {
	// Dir is the directory holding the node's artifact files under their
	// stable names ("<output>.png", "<output>.json", ...). Empty when the
	// node has not been computed in this run.
	Dir string
	// Params are the node's resolved parameters in this run (after profile
	// and overrides), sorted by name.
	Params []Value
	// Provenance says how the node's outputs were made; nil when unknown.
	Provenance *Provenance
	// Problem, when not empty, says why an existing result could not be used
	// (for example a damaged cache entry).
	Problem string
}

// Computed reports whether the run holds the node's outputs.
func (r Run) Computed() bool { return r.Dir != "" }

// Provenance records where a node's outputs came from.
type Provenance struct {
	// Key is the cache key of the node's entry.
	Key string
	// Start is when the stage started to run; Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// Engines lists the compute engines and their versions, and where they
	// ran when recorded, such as "onnxruntime 1.22.0 on cpu".
	Engines []string
	// Fetched names the remote cache the outputs were downloaded from, and
	// when; empty when they were computed on this machine.
	Fetched string
}

// FormatValue formats a parameter value for the page: numbers without
// trailing zeros, lists in brackets, strings as they are.
func FormatValue(v any) string { return formatAny(v) }

// SortedValues returns the entries of m as Values sorted by name, each
// formatted with FormatValue.
func SortedValues(m map[string]any) []Value {
	vs := make([]Value, 0, len(m))
	for k, v := range m {
		vs = append(vs, Value{Name: k, Value: FormatValue(v)})
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs
}

// Sort orders experiments the way the write-up reads: Part A first, then
// Part B, then everything else, each group sorted by path.
func Sort(exps []*Experiment) {
	sort.SliceStable(exps, func(i, j int) bool {
		gi, gj := group(exps[i].Path), group(exps[j].Path)
		if gi != gj {
			return gi < gj
		}
		return exps[i].Path < exps[j].Path
	})
}

// group ranks a path: 0 for Part A, 1 for Part B, 2 for the rest.
func group(path string) int {
	p := strings.ToLower(strings.ReplaceAll(path, "\\", "/"))
	switch {
	case strings.HasPrefix(p, "part_a/"):
		return 0
	case strings.HasPrefix(p, "part_b/"):
		return 1
	}
	return 2
}
