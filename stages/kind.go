// Package stages declares what a stage kind is, holds the registry of kinds,
// and defines the Context through which a running stage sees its inputs,
// parameters and outputs.
//
// # Overview
//
// A Kind is a declared value, like an analyzer of golang.org/x/tools: a name,
// a doc string, typed input and output ports, typed parameters with defaults
// and limits, an implementation version and a Run function. Kinds register
// themselves from init functions of the packages under stages/ (stages/all
// imports every one of them):
//
//	func init() {
//		stages.Register(&stages.Kind{Name: "blur.gaussian", ...})
//	}
//
// # Invariants
//
//   - Run reads only its inputs, its parameters and the files named by
//     parameters of type path (or listed by Files). Anything else that changes
//     its outputs must become a parameter, or the cache will serve stale
//     results. Bump Version whenever a change to Run changes its outputs.
//   - Run must be deterministic for given inputs and parameters on one machine
//     (seeds are parameters).
//   - Run never writes outside Context.Workdir and the outputs it declares.
//
// A Kind says what a stage computes, never where: the runner decides the
// process, machine and cache, so stages can later run as cluster jobs.
package stages

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"difflab/stages/artifact"
)

// Port is a named, typed input or output of a stage kind.
type Port struct {
	Name string
	Type artifact.Type
	Doc  string
	// Many marks an input that accepts a list of artifacts (for example all
	// expansions of a sweep, "edited[*]"); without it an input takes exactly one.
	Many bool
	// Optional marks an input that may be left unconnected.
	Optional bool
}

// ParamType is the type of a stage parameter.
type ParamType string

// The parameter types. A path is a string naming a file relative to the
// experiment file that sets it; the runner resolves it, digests the file and
// makes the digest part of the stage's cache key.
const (
	Int     ParamType = "int"
	Float   ParamType = "float"
	String  ParamType = "string"
	Bool    ParamType = "bool"
	Ints    ParamType = "ints"
	Floats  ParamType = "floats"
	Strings ParamType = "strings"
	Path    ParamType = "path"
)

// Param declares one parameter of a stage kind.
type Param struct {
	Name string
	Type ParamType
	Doc  string
	// Default is the value used when an experiment does not set the
	// parameter; nil makes the parameter required. Its Go type follows Params:
	// int, float64, string, bool, []int, []float64 or []string.
	Default any
	// Min and Max, when set, bound numeric values (each element of a list).
	Min, Max *float64
	// Enum, when set, lists the allowed values of a string parameter.
	Enum []string
	// Prompt marks a String or Strings parameter whose values are prompts
	// looked up in the prompt table of the model on the stage's "model"
	// input. The loader checks them against the table before anything runs
	// when the model's producer declares it (Kind.Prompts).
	Prompt bool
}

// Bound returns a pointer to v, for Param.Min and Param.Max.
func Bound(v float64) *float64 { return &v }

// Kind declares a stage kind. See the package documentation for the contract.
type Kind struct {
	// Name is the kind's registered name, such as "noise.forward".
	Name string
	// Doc says what the stage computes, in a sentence or two.
	Doc string
	// Version is the implementation version; bump it whenever a change to Run
	// changes the outputs. It is part of every cache key.
	Version int
	// Engine names the compute engines whose versions change the numbers
	// ("onnxruntime", "gorgonia"); their versions are part of the cache key.
	Engine []string
	// EngineVersions are implementation versions, by engine name, of code
	// that only stages computed through that engine run (such as the graph
	// a trainer writes for ONNX Runtime): bump one, not Version, when a
	// change alters only what that engine computes, so that stages computed
	// through the others keep their entries. A nonzero one is part of the
	// cache key of the stages that engine computes.
	EngineVersions map[string]int
	// EngineParam, when set, names a String parameter that picks the one
	// engine of Engine that computes a stage: an engine's name, or AutoEngine.
	// Only the picked engine then enters the stage's key, checks and
	// manifest (see EnginesFor). The parameter itself stays out of the key:
	// the engine's lines already say which engine ran, so "auto" and the
	// engine it picks share cache entries.
	EngineParam string
	// Inputs and Outputs are the kind's ports. The first output is the one a
	// reference without ".output" means.
	Inputs  []Port
	Outputs []Port
	// Params declares the parameters; no other parameter is accepted.
	Params []Param
	// Check, if set, validates parameters together before anything runs (for
	// example sizes that would not fit in memory). An error about one
	// parameter starts "parameter NAME: ", so that the message points at
	// where NAME was given (its value in the file, or the --set flag).
	Check func(p Params) error
	// Memory, if set, estimates the stage's peak memory in bytes from its
	// parameters and names the parameters that raise it, so that a stage
	// the machine cannot hold is refused before anything runs rather than
	// killing the run. Err on the high side.
	Memory func(p Params) (bytes int64, raisedBy []string)
	// Prompts, if set, returns the prompts that the model the kind outputs
	// accepts, "" (unconditional) among them when it is accepted; the loader
	// checks the Prompt parameters of the model's consumers against it. An
	// error means the table is not known before the run.
	Prompts func(p Params) ([]string, error)
	// Files, if set, lists files (absolute paths) the stage reads besides its
	// path parameters, such as a dataset; the runner digests them into the key.
	Files func(p Params) ([]string, error)
	// Metrics, if set, names the measurements that the kind's "metrics"
	// output (of type metrics) may report. A stage of such a kind may carry
	// expectations on them (expect: in the experiment file); the loader
	// refuses an expectation on any other name.
	Metrics []string
	// Run computes the outputs.
	Run func(ctx *Context) error
}

// AutoEngine is the value of a Kind.EngineParam parameter that lets the
// run's devices pick the engine.
const AutoEngine = "auto"

// EnginesFor returns the engines that compute a stage of kind k with
// parameters p, in a run that moves the engines devices names to a device
// other than their default (runner.Options.Devices): Engine, or with
// EngineParam the engine the parameter names, where AutoEngine names the
// first engine of Engine that devices moves, else the first of Engine.
func (k *Kind) EnginesFor(p Params, devices map[string]string) []string {
	if k.EngineParam == "" || len(k.Engine) == 0 {
		return k.Engine
	}
	v, _ := p[k.EngineParam].(string)
	if v != AutoEngine {
		return []string{v}
	}
	for _, e := range k.Engine {
		if devices[e] != "" {
			return []string{e}
		}
	}
	return k.Engine[:1]
}

// Input returns the input port called name, or nil.
func (k *Kind) Input(name string) *Port { return findPort(k.Inputs, name) }

// Output returns the output port called name, or nil.
func (k *Kind) Output(name string) *Port { return findPort(k.Outputs, name) }

// Param returns the parameter called name, or nil.
func (k *Kind) Param(name string) *Param {
	for i := range k.Params {
		if k.Params[i].Name == name {
			return &k.Params[i]
		}
	}
	return nil
}

func findPort(ps []Port, name string) *Port {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	return nil
}

var (
	registryMu sync.RWMutex
	registry   = map[string]*Kind{}
)

// Register makes a stage kind available by name. It panics if the kind is
// nil, unnamed, has no Run, declares Metrics without a "metrics" output of
// type metrics, versions an engine (EngineVersions) it does not list in
// Engine, or its name is already registered: these are programming
// mistakes.
func Register(k *Kind) {
	if k == nil || k.Name == "" || k.Run == nil {
		panic("stages: Register of a nil, unnamed or Run-less kind")
	}
	if o := k.Output("metrics"); len(k.Metrics) > 0 && (o == nil || o.Type != artifact.TypeMetrics) {
		panic("stages: kind " + k.Name + " declares Metrics but no output \"metrics\" of type metrics")
	}
	for e := range k.EngineVersions {
		if !slices.Contains(k.Engine, e) {
			panic("stages: kind " + k.Name + " versions engine " + e + ", which its Engine does not list")
		}
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[k.Name]; dup {
		panic("stages: Register called twice for kind " + k.Name)
	}
	registry[k.Name] = k
}

// Lookup returns the kind registered under name. The error lists the known
// kinds.
func Lookup(name string) (*Kind, error) {
	registryMu.RLock()
	k, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown stage kind %q (known kinds: %s)", name, strings.Join(Names(), ", "))
	}
	return k, nil
}

// Names lists the registered kind names in sorted order.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
