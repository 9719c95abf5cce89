package runner

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"difflab/models/ops"
	"difflab/models/ort"
	"difflab/runner/experiment"
)

// EngineInfo describes a compute engine that stage kinds name in
// Kind.Engine: what, besides a stage's inputs, decides the bits it computes.
type EngineInfo struct {
	// Summary is a short description for manifests and reports, such as
	// "onnxruntime_go v1.27.0 / ORT 1.30.0 (amd64 avx2+fma3)".
	Summary string
	// Lines are readable facts, each "FACET VALUE" with a one-word FACET,
	// such as "cpu amd64 avx2+fma3". Each becomes the key line
	// "engine NAME FACET VALUE" of every stage whose kind names the engine.
	Lines []string
}

// Engines maps each compute engine a stage kind may name in Kind.Engine to
// its description, which comes from the build and the machine, never from
// hand-kept strings: the Go toolchain and architecture, module versions
// from the binary's build information, and what the engine's packages
// report about the code they run here (ops.EngineLines, ort.KeyLines). Each
// is computed once, on first use. None loads a library, so that keys can be
// computed where an engine cannot run (plan, gc, run of cached stages):
// ort.KeyLines names the library that ort.Init insists on.
var Engines = map[string]func() EngineInfo{
	"gorgonia":    sync.OnceValue(func() EngineInfo { return gorgoniaEngine(buildInfo()) }),
	"onnxruntime": sync.OnceValue(func() EngineInfo { return onnxruntimeEngine(buildInfo()) }),
}

// gorgoniaEngine describes training through Gorgonia and models/ops.
func gorgoniaEngine(bi *debug.BuildInfo) EngineInfo {
	lines := []string{toolchainLine(bi)}
	for _, m := range []string{"gonum.org/v1/gonum", "gorgonia.org/gorgonia", "gorgonia.org/tensor"} {
		lines = append(lines, m+" "+moduleVersion(bi, m))
	}
	lines = append(lines, ops.EngineLines()...)
	return EngineInfo{
		Summary: fmt.Sprintf("gorgonia %s, tensor %s, ops %s", moduleVersion(bi, "gorgonia.org/gorgonia"),
			moduleVersion(bi, "gorgonia.org/tensor"), ops.Engine),
		Lines: lines,
	}
}

// onnxruntimeEngine describes model evaluation through ONNX Runtime.
func onnxruntimeEngine(bi *debug.BuildInfo) EngineInfo {
	const m = "github.com/yalue/onnxruntime_go"
	return EngineInfo{
		Summary: fmt.Sprintf("onnxruntime_go %s / ORT %s (%s)", moduleVersion(bi, m), ort.LibVersion, ort.CPUClass()),
		Lines:   append([]string{toolchainLine(bi), m + " " + moduleVersion(bi, m)}, ort.KeyLines()...),
	}
}

// buildInfo returns the binary's build information, or an empty one.
func buildInfo() *debug.BuildInfo {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi
	}
	return &debug.BuildInfo{}
}

// toolchainLine names the Go release and the architecture the binary was
// built for, with its level (GOAMD64=v3 lets the compiler fuse a*b+c into
// one rounding, for example), which decide the bits of Go's own arithmetic.
func toolchainLine(bi *debug.BuildInfo) string {
	line := fmt.Sprintf("go %s %s", runtime.Version(), runtime.GOARCH)
	for _, s := range bi.Settings {
		switch s.Key {
		case "GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM":
			line += " " + s.Key + "=" + s.Value
		}
	}
	return line
}

// moduleVersion returns the version of module path that the binary was
// built with ("v1.2.3", or "v1.2.3 => other/path v1.2.4" for a replaced
// module). Binaries that record no modules, as test binaries, give
// "(not recorded)".
func moduleVersion(bi *debug.BuildInfo, path string) string {
	for _, d := range bi.Deps {
		if d.Path != path {
			continue
		}
		if r := d.Replace; r != nil {
			return strings.TrimSpace(fmt.Sprintf("%s => %s %s", d.Version, r.Path, r.Version))
		}
		return d.Version
	}
	return "(not recorded)"
}

// engineInfo returns the description of engine name.
func engineInfo(name string) (EngineInfo, error) {
	describe, ok := Engines[name]
	if !ok {
		known := make([]string, 0, len(Engines))
		for k := range Engines {
			known = append(known, k)
		}
		sort.Strings(known)
		return EngineInfo{}, fmt.Errorf("unknown engine %q (known engines: %s; add it to runner.Engines)", name, strings.Join(known, ", "))
	}
	return describe(), nil
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
// computed here (without a valid entry, forced or reproduced, and not sent
// to an executor's job) name.
func (r *run) checkEngines(nodes []*experiment.Node) error {
	need := map[string][]string{}
	var names []string
	for _, n := range nodes {
		engines := n.Kind.EnginesFor(n.Params, r.opts.Devices)
		checked := slices.ContainsFunc(engines, func(e string) bool { return r.opts.EngineChecks[e] != nil })
		if !checked {
			continue
		}
		selected := r.direct == nil || r.direct[n]
		if _, err := r.get(n, r.keys[n].Key); err == nil && !(selected && (r.opts.Force || r.opts.Reproduce)) {
			continue
		}
		if x := r.opts.Executor; x != nil && !x.Local(n) {
			continue // its job checks the engine where it runs (RunStage)
		}
		for _, e := range engines {
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
