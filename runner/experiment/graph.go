package experiment

import (
	"fmt"

	"difflab/stages"
)

// Pos is a position in an experiment file.
type Pos struct {
	File string // path as given or found (relative to the working directory when possible)
	Line int    // 1-based
	Col  int    // 1-based
}

// String formats the position as file:line:column, leaving out a line or
// column that is unknown (0).
func (p Pos) String() string {
	switch {
	case p.Line <= 0:
		return p.File
	case p.Col <= 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Graph is the validated, expanded stage graph of one or more experiment
// files: every reference resolved, every sweep expanded, every parameter
// typed. Nothing has run yet.
type Graph struct {
	// Experiments in the order they were loaded (the write-up's order when a
	// directory is loaded: files sorted by path).
	Experiments []*Experiment
	// Nodes of all experiments in a topological order (producers first).
	Nodes []*Node
	// MaxMemory is Options.MaxMemory of the load: the most memory in bytes
	// one stage may need (0: no limit). Stages whose need depends on their
	// inputs check it when they run (see stages.Context.CheckMemory).
	MaxMemory int64
}

// Experiment is one experiment file after loading.
type Experiment struct {
	// Path is the file's path relative to the experiments root given to Load
	// (for example "part_a/01_forward.yaml"); results go to
	// results/<Path without .yaml>/<stage>/.
	Path string
	// File is the file's path as opened.
	File string
	Name string
	Doc  string
	// Profile is the profile that was applied ("quick" by default).
	Profile string
	// Resources is the experiment's "resources:", the default of its
	// stages' own.
	Resources Resources
	// Skipped, when not empty, says why the experiment was not expanded: it
	// was found by walking a directory and files it requires are missing.
	// A skipped experiment has no nodes.
	Skipped string
	// Nodes are this experiment's nodes, including those from includes, in
	// topological order.
	Nodes []*Node
}

// Node is one expanded stage: a stage without axes gives one node, a stage
// with axes (its matrix, and those inherited from its inputs) gives one node
// per combination of values.
type Node struct {
	// ID is unique within the experiment: the stage id, followed for a sweep
	// by its values in matrix order, as in "edited[i_start=10]".
	ID string
	// Stage is the stage id as written in the file.
	Stage string
	// Doc is the stage's own description from the file, if any.
	Doc string
	// Experiment is the experiment this node belongs to.
	Experiment *Experiment
	// Kind is the registered kind.
	Kind *stages.Kind
	// Params are typed and complete: defaults applied, then the profile, then
	// command-line overrides, then the sweep values. Path values are absolute.
	Params stages.Params
	// Matrix holds the sweep values of this expansion, by axis name: the
	// stage's own matrix axes (parameters of its kind, also in Params) and
	// the axes it inherits from sweeps it references plainly (not
	// parameters; see the package documentation).
	Matrix map[string]any
	// MatrixOrder lists Matrix's keys: the stage's own axes in the order the
	// file gives them, then the inherited ones.
	MatrixOrder []string
	// Inputs maps each connected input port to its sources, in order.
	Inputs map[string][]Source
	// Files are the absolute paths of every file the node reads (path
	// parameters and Kind.Files), sorted; their digests belong in the key.
	Files []string
	// Expect lists the bounds on the metrics the node reports that apply
	// in the loaded profile (expect: in the file).
	Expect []Expectation
	// Resources is what the stage asks of a cluster node: its own
	// "resources:" over the experiment's; unset fields are zero.
	Resources Resources
	// Pos is where the stage is defined.
	Pos Pos
}

// Source is one connection into an input port: an output of another node.
type Source struct {
	Node   *Node
	Output string // the producer's output port name
}
