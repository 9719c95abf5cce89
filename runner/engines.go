package runner

import (
	"fmt"
	"sort"
	"strings"
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

// Version is difflab's version, recorded in every cache entry's manifest.
const Version = "0.1.0"
