package stages

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"difflab/stages/artifact"
)

// Input is one artifact fed to an input port, with where it came from.
type Input struct {
	artifact.Artifact
	// Stage is the producing stage's id, with its sweep values, such as
	// "edited[i_start=10]".
	Stage string
	// Matrix holds the producing stage's sweep values by axis name: its own
	// matrix axes and those it inherits from its inputs (empty when it is not a
	// sweep); plot titles such as "i_start={i_start}" use it.
	Matrix map[string]any
}

// State stores a stage's intermediate state, such as per-epoch training
// checkpoints, so that a killed run resumes where it stopped. Entries are
// keyed by the stage's cache key and a name, published atomically, never
// seen half-written, and checked before use: Save records the size and
// SHA-256 of every file it publishes, and Load hands out only a state whose
// files all match.
type State interface {
	// Load copies the newest intact state saved under name into dir, which
	// it creates, and reports whether there was one. Each file is checked
	// as it is copied, so dir holds exactly the bytes that were saved. A
	// saved state that differs from its record (a changed, truncated,
	// missing or added file, an unreadable record) is removed and Load goes
	// on with the state saved before it, if one is kept; damaged describes
	// each state removed, naming the file and what was wrong. err is a
	// failure that is no fault of the saved state, such as a full disk.
	Load(name, dir string) (ok bool, damaged []error, err error)
	// Save calls fill with an empty directory, then publishes what fill wrote
	// under name. It replaces any earlier state of that name, which may be
	// kept as the fallback of Load.
	Save(name string, fill func(dir string) error) error
}

// Context is what a running stage sees. The runner creates it; stages read
// Params and In and report results with Output.
type Context struct {
	context.Context
	// Kind is the stage's kind.
	Kind *Kind
	// Stage is the stage id, with its sweep values.
	Stage string
	// Params are the resolved parameters.
	Params Params
	// Devices maps each engine the run moves to a device other than its
	// default to that device (runner.Options.Devices); nil runs every
	// engine on its default. Kind.EnginesFor(Params, Devices) are the
	// engines that compute the stage.
	Devices map[string]string
	// In holds the artifacts fed to each input port, in declaration order
	// (exactly one unless the port is Many).
	In map[string][]Input
	// Log is the stage's logger.
	Log zerolog.Logger
	// Workdir is an empty scratch directory owned by this run of the stage.
	// A Model output is usually built here.
	Workdir string
	// State keeps resumable state across runs; see State.
	State State
	// Progress, if set, receives progress reports; use Report.
	Progress func(done, total int, detail string)
	// MemoryLimit, when positive, is the most memory in bytes the stage may
	// need; use CheckMemory.
	MemoryLimit int64

	outputs map[string]artifact.Artifact
}

// CheckMemory returns an error when need, a stage's estimate of its peak
// memory in bytes from its parameters and the shapes of its inputs, exceeds
// MemoryLimit. raisedBy names the parameters that raise the need, first the
// one to lower. Kinds whose need is known from their parameters alone
// declare Kind.Memory instead, so that plan refuses them; this check is for
// the need that only the inputs reveal, and it runs before the allocation.
func (c *Context) CheckMemory(need int64, raisedBy ...string) error {
	if c.MemoryLimit <= 0 || need <= c.MemoryLimit {
		return nil
	}
	if len(raisedBy) == 0 {
		raisedBy = []string{"the size of its inputs"}
	}
	return fmt.Errorf("stage %s: parameter %s: for these inputs the stage needs about %s of memory, more than the %s allowed "+
		"(the machine's memory, or --max-memory) (fix: lower %s)", c.Stage, raisedBy[0], FormatBytes(need), FormatBytes(c.MemoryLimit),
		strings.Join(raisedBy, ", "))
}

// FormatBytes writes a byte count with a binary unit, such as "24.0 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// One returns the single artifact fed to input port name.
func (c *Context) One(name string) artifact.Artifact {
	in := c.In[name]
	if len(in) == 0 {
		return nil
	}
	return in[0].Artifact
}

// Output records the artifact produced for output port name. It returns an
// error if the port is undeclared or the type differs from its declaration.
func (c *Context) Output(name string, a artifact.Artifact) error {
	p := c.Kind.Output(name)
	if p == nil {
		return fmt.Errorf("stage %s: kind %s has no output %q", c.Stage, c.Kind.Name, name)
	}
	if a == nil || a.Type() != p.Type {
		return fmt.Errorf("stage %s: output %q must be %s, got %v", c.Stage, name, p.Type, typeOf(a))
	}
	if c.outputs == nil {
		c.outputs = map[string]artifact.Artifact{}
	}
	c.outputs[name] = a
	return nil
}

// Outputs returns the artifacts recorded by Output, by port name.
func (c *Context) Outputs() map[string]artifact.Artifact { return c.outputs }

// Report announces progress: done of total units of work, with a short
// detail such as "epoch 3/10 loss 0.041". It does nothing if Progress is nil.
func (c *Context) Report(done, total int, detail string) {
	if c.Progress != nil {
		c.Progress(done, total, detail)
	}
}

func typeOf(a artifact.Artifact) any {
	if a == nil {
		return "nothing"
	}
	return a.Type()
}
