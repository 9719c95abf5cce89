package runner

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"difflab/runner/experiment"
)

// EngineVersions maps each compute engine a stage kind may name in
// Kind.Engine to the versions that change its numbers. The version is part
// of the cache key of every stage using the engine: update it when go.mod
// moves the engine's modules or the ONNX Runtime library changes, and the
// affected stages are recomputed.
var EngineVersions = map[string]string{
	"gorgonia":    "gorgonia v0.9.18 tensor v0.9.24",
	"onnxruntime": "onnxruntime_go v1.27.0 / ORT 1.30.0",
}

// engineVersion returns the version of engine name.
func engineVersion(name string) (string, error) {
	v, ok := EngineVersions[name]
	if !ok {
		known := make([]string, 0, len(EngineVersions))
		for k := range EngineVersions {
			known = append(known, k)
		}
		sort.Strings(known)
		return "", fmt.Errorf("unknown engine %q (known engines: %s; add it to runner.EngineVersions)", name, strings.Join(known, ", "))
	}
	return v, nil
}

// EngineError is the error of Run when an engine that stages to be
// computed need fails its check (Options.EngineChecks).
type EngineError struct {
	Engine string
	// Stages are the ids of the stages that need it, as
	// "experiment.yaml:stage".
	Stages []string
	Err    error
}

// Error names the engine, the stages needing it and the check's error.
func (e *EngineError) Error() string {
	stages := e.Stages
	if len(stages) > 3 {
		stages = append(stages[:3:3], fmt.Sprintf("and %d more", len(e.Stages)-3))
	}
	return fmt.Sprintf("engine %s, needed by %s, cannot run: %v", e.Engine, strings.Join(stages, ", "), e.Err)
}

// Unwrap returns the check's error.
func (e *EngineError) Unwrap() error { return e.Err }

// checkEngines runs the engine checks for the engines that the nodes to be
// computed (without a valid entry, forced or reproduced) name.
func (r *run) checkEngines(nodes []*experiment.Node) error {
	need := map[string][]string{}
	var names []string
	for _, n := range nodes {
		checked := slices.ContainsFunc(n.Kind.Engine, func(e string) bool { return r.opts.EngineChecks[e] != nil })
		if !checked {
			continue
		}
		selected := r.direct == nil || r.direct[n]
		if _, err := r.get(n, r.keys[n].Key); err == nil && !(selected && (r.opts.Force || r.opts.Reproduce)) {
			continue
		}
		for _, e := range n.Kind.Engine {
			if r.opts.EngineChecks[e] == nil {
				continue
			}
			if need[e] == nil {
				names = append(names, e)
			}
			need[e] = append(need[e], n.Experiment.Path+":"+n.ID)
		}
	}
	for _, e := range names {
		if err := r.opts.EngineChecks[e](); err != nil {
			return &EngineError{Engine: e, Stages: need[e], Err: err}
		}
	}
	return nil
}

// Version is difflab's version, recorded in every cache entry's manifest.
const Version = "0.1.0"
