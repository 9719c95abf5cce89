package runner

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"difflab/runner/cache"
	"difflab/runner/experiment"
)

// Plan says, without running anything, which nodes of g have a valid entry
// (status cached) and which would run (status would-run), and why: no
// entry, an invalid entry, or, compared with the key lines of the node's
// most recent run, which parameter, input, file, kind version or engine
// changed. It honours Force, Only and Verify like Run. With Options.Remote,
// a stage that would run but whose entry the remote cache holds (checked,
// with all its blobs) is cached, marked Remote.
func Plan(g *experiment.Graph, opts Options) (*Summary, error) {
	start := time.Now()
	r, err := prepare(g, &opts)
	if err != nil {
		return nil, err
	}
	s := &Summary{}
	if len(opts.Only) == 0 {
		s.Stages = skippedExperiments(g)
	}
	nodes := r.selected(g)
	for _, n := range nodes {
		res := r.states[n].res
		res.Status, res.Reason = StatusWouldRun, r.why(n)
		if res.Reason == "" {
			res.Status = StatusCached
		}
		s.Stages = append(s.Stages, res)
	}
	r.planRemote(s.Stages[len(s.Stages)-len(nodes):], nodes)
	s.count()
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// why returns why n would run, or "" if its entry is valid. It says so
// when the run would continue from resumable state.
func (r *run) why(n *experiment.Node) string {
	key := r.keys[n].Key
	if r.opts.Force && (r.direct == nil || r.direct[n]) {
		return "forced"
	}
	_, err := r.get(n, key)
	if err == nil {
		return ""
	}
	return r.missing(n, key, err) + stateOutlook(r.c.CheckState(key))
}

// stateOutlook says what a run does with the saved state of a stage, given
// what CheckState found.
func stateOutlook(resumable bool, damaged []error) string {
	var why []string
	for _, d := range damaged {
		why = append(why, d.Error())
	}
	switch {
	case resumable && len(damaged) == 0:
		return "; resumes from its saved state"
	case resumable:
		return "; resumes from its previous saved state, the newest is damaged (" + strings.Join(why, "; ") + ") and will be discarded"
	case len(damaged) > 0:
		return "; starts over: its saved state is damaged (" + strings.Join(why, "; ") + ") and will be discarded"
	}
	return ""
}

// missing describes the missing or invalid entry of n's key, with the
// error Get returned for it.
func (r *run) missing(n *experiment.Node, key string, err error) string {
	var miss *cache.MissError
	if errors.As(err, &miss) && miss.Bad() {
		return "entry invalid: " + miss.Err.Error()
	}
	last, ok := r.c.Last(n.Experiment.Path, n.ID)
	switch {
	case !ok:
		return "no entry (never run)"
	case last == key:
		return "no entry (removed from the cache)"
	}
	m, err := r.c.ReadManifest(last)
	if err != nil {
		return fmt.Sprintf("key changed; the previous entry %s is gone, so no comparison", cache.Short(last))
	}
	if d := DiffKeyLines(m.KeyLines, r.keys[n].Lines, n); len(d) > 0 {
		return strings.Join(d, "; ")
	}
	return "key changed"
}

// keyLines splits key lines by what they describe: "kind", "engine NAME
// FACET", "device NAME", "param NAME", "input PORT INDEX", "file BASENAME",
// mapped to the rest.
func keyLines(lines []string) map[string]string {
	m := map[string]string{}
	for i, l := range lines {
		if i == 0 {
			m["format"] = l
			continue
		}
		f := strings.SplitN(l, " ", 2)
		if len(f) < 2 {
			m[l] = ""
			continue
		}
		switch f[0] {
		case "kind":
			m["kind"] = f[1]
		case "param", "device":
			name, val, _ := strings.Cut(f[1], " ")
			m[f[0]+" "+name] = val
		case "engine":
			name, rest, _ := strings.Cut(f[1], " ")
			facet, val, _ := strings.Cut(rest, " ")
			m["engine "+name+" "+facet] = val
		case "input":
			g := strings.SplitN(f[1], " ", 3)
			if len(g) == 3 {
				m["input "+g[0]+" "+g[1]] = g[2]
			}
		case "file":
			digest, base, _ := strings.Cut(f[1], " ")
			if old, dup := m["file "+base]; dup {
				digest = old + "," + digest
			}
			m["file "+base] = digest
		default:
			m[l] = ""
		}
	}
	return m
}

// DiffKeyLines describes, one phrase per difference, how the key lines
// now differ from the key lines old of an earlier run of node n (used to
// name the producers of changed inputs).
func DiffKeyLines(old, now []string, n *experiment.Node) []string {
	a, b := keyLines(old), keyLines(now)
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		oi, oj := diffOrder(sorted[i]), diffOrder(sorted[j])
		return oi < oj || oi == oj && sorted[i] < sorted[j]
	})
	// An engine in only one of the keys (a kind whose parameter picks its
	// engine) is one phrase, not one per facet.
	engines := func(m map[string]string) map[string]bool {
		e := map[string]bool{}
		for k := range m {
			if rest, ok := strings.CutPrefix(k, "engine "); ok {
				name, _, _ := strings.Cut(rest, " ")
				e[name] = true
			}
		}
		return e
	}
	ea, eb := engines(a), engines(b)
	var gone, came []string
	for e := range ea {
		if !eb[e] {
			gone = append(gone, e)
		}
	}
	for e := range eb {
		if !ea[e] {
			came = append(came, e)
		}
	}
	sort.Strings(gone)
	sort.Strings(came)
	var out []string
	if len(gone) > 0 || len(came) > 0 {
		out = append(out, fmt.Sprintf("engine: %s -> %s", orNone(strings.Join(gone, ", "), len(gone) > 0), orNone(strings.Join(came, ", "), len(came) > 0)))
	}
	for _, k := range sorted {
		va, inA := a[k]
		vb, inB := b[k]
		if inA && inB && va == vb {
			continue
		}
		what, name, _ := strings.Cut(k, " ")
		if engine, _, _ := strings.Cut(name, " "); what == "engine" && ea[engine] != eb[engine] {
			continue
		}
		switch what {
		case "format":
			out = append(out, fmt.Sprintf("cache format: %s -> %s", va, vb))
		case "kind":
			out = append(out, fmt.Sprintf("kind: %s -> %s", va, vb))
		case "engine":
			out = append(out, fmt.Sprintf("engine %s: %s -> %s", name, orNone(va, inA), orNone(vb, inB)))
		case "device":
			out = append(out, fmt.Sprintf("device %s: %s -> %s (another device rounds differently)", name, orDefault(va, inA), orDefault(vb, inB)))
		case "param":
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("param %s: set to %s", name, vb))
			case !inB:
				out = append(out, fmt.Sprintf("param %s: removed (was %s)", name, va))
			default:
				out = append(out, fmt.Sprintf("param %s: %s -> %s", name, va, vb))
			}
		case "input":
			port, idx, _ := strings.Cut(name, " ")
			i, _ := strconv.Atoi(idx)
			srcs := n.Inputs[port]
			label := "input " + port
			if len(srcs) > 1 || i > 0 {
				label += fmt.Sprintf("[%d]", i)
			}
			if i < len(srcs) {
				label += " (" + srcs[i].Node.ID + ")"
			}
			switch {
			case !inA:
				out = append(out, label+" added")
			case !inB:
				out = append(out, label+" removed")
			default:
				out = append(out, label+" changed")
			}
		case "file":
			switch {
			case !inA:
				out = append(out, "file "+name+" added")
			case !inB:
				out = append(out, "file "+name+" removed")
			default:
				out = append(out, "file "+name+" changed")
			}
		default:
			out = append(out, "key line changed: "+k)
		}
	}
	return out
}

func diffOrder(k string) int {
	for i, p := range []string{"format", "kind", "engine", "device", "param", "input", "file"} {
		if strings.HasPrefix(k, p) {
			return i
		}
	}
	return 9
}

// orDefault names an engine's device, absent from a key on its default.
func orDefault(v string, ok bool) string {
	if !ok {
		return "default"
	}
	return v
}

func orNone(v string, ok bool) string {
	if !ok {
		return "none"
	}
	return v
}
