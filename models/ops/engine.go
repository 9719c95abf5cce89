package ops

import (
	"runtime/debug"
	"sync"
)

// EngineLines describes, one readable line each, what besides the inputs
// decides the bits these operations compute: the engine (Engine) and, with
// OpenBLAS, the library's configuration and the core it runs on this CPU,
// and the clone of the native kernels this CPU runs. The lines are computed
// once, on first use. The number of workers is not among them: results do
// not depend on it (see the package documentation).
func EngineLines() []string { return engineLines() }

var engineLines = sync.OnceValue(func() []string {
	return append([]string{"ops " + Engine}, engineDetails()...)
})

// buildSetting returns the value of a build setting recorded in the
// binary, such as CGO_CFLAGS, or "" when it is not recorded.
func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}
