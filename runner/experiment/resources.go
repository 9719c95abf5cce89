package experiment

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Resources is what one stage asks of a cluster node when it runs as a job
// (`difflab run --executor slurm`): an experiment's "resources:" and a
// stage's own, which overrides it field by field. A zero field is not set;
// the executor then uses its default for the stage's kind. Resources never
// enter a cache key: they change where a stage runs, not what it computes.
type Resources struct {
	// CPUs is the number of cores.
	CPUs int
	// Mem is the memory in bytes.
	Mem int64
	// Time is the time limit.
	Time time.Duration
	// GPUs is the number of GPUs; NoGPUs is a "gpus: 0" written out, which
	// overrides an experiment's count where 0 would mean "not set".
	GPUs int
}

// NoGPUs is Resources.GPUs of a stage that asks for no GPU explicitly.
const NoGPUs = -1

// IsZero reports whether no field is set.
func (r Resources) IsZero() bool { return r == Resources{} }

// Over returns r with its unset fields taken from base.
func (r Resources) Over(base Resources) Resources {
	if r.CPUs == 0 {
		r.CPUs = base.CPUs
	}
	if r.Mem == 0 {
		r.Mem = base.Mem
	}
	if r.Time == 0 {
		r.Time = base.Time
	}
	if r.GPUs == 0 {
		r.GPUs = base.GPUs
	}
	return r
}

// resourceKeys are the keys of a "resources:" mapping.
var resourceKeys = []string{"cpus", "mem", "time", "gpus"}

const resourcesFix = "write resources: {cpus: 2, mem: 4G, time: 2h, gpus: 0}"

// readResources reads a "resources:" mapping: cpus and gpus are counts,
// mem a size such as 512M or 4G, time a duration such as 90m, 2h or 1h30m.
func readResources(f *srcFile, v *yaml.Node, c *collector) Resources {
	var r Resources
	for _, p := range mappingEntries(f, v, c, "resources", resourcesFix) {
		val := p.val
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			c.add(f.pos(val), resourcesFix, "resources %s must be a value, not %s", p.key.Value, describe(val))
			continue
		}
		switch k := p.key.Value; k {
		case "cpus", "gpus":
			n, err := strconv.Atoi(val.Value)
			if err != nil || n < 0 || (k == "cpus" && n == 0) {
				c.add(f.pos(val), "write "+k+" as a whole number, such as 2", "resources %s %q is not a count", k, clip(val.Value))
				continue
			}
			switch {
			case k == "cpus":
				r.CPUs = n
			case n == 0:
				r.GPUs = NoGPUs
			default:
				r.GPUs = n
			}
		case "mem":
			b, err := ParseSize(val.Value)
			if err != nil {
				c.add(f.pos(val), "write mem as a size, such as 512M or 4G", "resources mem: %v", err)
				continue
			}
			r.Mem = b
		case "time":
			d, err := time.ParseDuration(val.Value)
			if err != nil || d < time.Minute {
				c.add(f.pos(val), "write time as a duration of a minute or more, such as 90m or 2h", "resources time %q is not a duration of a minute or more", clip(val.Value))
				continue
			}
			r.Time = d
		default:
			c.add(f.pos(p.key), c.suggest(k, resourceKeys, "resource keys"), "unknown resources key %q", clip(k))
		}
	}
	return r
}

// ParseSize reads a size in bytes written with an optional binary unit:
// 512M, 4G, 4GiB, 1T, or a plain number of bytes.
func ParseSize(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if s != "" {
		if i := strings.IndexByte("KMGT", s[len(s)-1]); i >= 0 {
			mult, s = int64(1)<<(10*(i+1)), s[:len(s)-1]
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	bytes := n * float64(mult)
	if err != nil || math.IsNaN(n) || bytes < 1 || bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size such as 512M or 4G", v)
	}
	return int64(bytes), nil
}
