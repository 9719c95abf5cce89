package stages

import (
	"fmt"
	"io/fs"
)

// Params holds a stage's parameter values after defaults, profile and
// command-line overrides, keyed by name. Values have canonical Go types:
// int, float64, string (also for paths, then absolute), bool, []int,
// []float64 and []string.
//
// The accessors panic when the name is not set or has another type: the
// runner checks parameters against the kind's declaration before Run, so a
// panic here is a mistake in the stage's code.
type Params map[string]any

func get[T any](p Params, name string) T {
	v, ok := p[name].(T)
	if !ok {
		panic(fmt.Sprintf("stages: parameter %q is %T, not %T", name, p[name], v))
	}
	return v
}

// Int returns the int parameter name.
func (p Params) Int(name string) int { return get[int](p, name) }

// Float returns the float parameter name.
func (p Params) Float(name string) float64 { return get[float64](p, name) }

// String returns the string or path parameter name.
func (p Params) String(name string) string { return get[string](p, name) }

// Bool returns the bool parameter name.
func (p Params) Bool(name string) bool { return get[bool](p, name) }

// Ints returns the ints parameter name.
func (p Params) Ints(name string) []int { return get[[]int](p, name) }

// Floats returns the floats parameter name.
func (p Params) Floats(name string) []float64 { return get[[]float64](p, name) }

// Strings returns the strings parameter name.
func (p Params) Strings(name string) []string { return get[[]string](p, name) }

// RegularFile returns nil when info (of a path with links followed)
// describes a regular file, and otherwise an error saying what it is: a
// path parameter or a file a stage reads must be a regular file, because
// reading a device or a FIFO may never end.
func RegularFile(info fs.FileInfo) error {
	m := info.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	default:
		what = "a file of mode " + m.String()
	}
	return fmt.Errorf("%s is not a regular file but %s", info.Name(), what)
}
