package experiment

import (
	"container/heap"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"difflab/stages"
)

// Limits on the size of one experiment, checked before anything is expanded.
const (
	maxNodes    = 10000    // nodes per experiment
	maxCombos   = 10000    // combinations of one stage's axes
	maxEdges    = 1000000  // connections between nodes per experiment
	maxIDsBytes = 16 << 20 // bytes of all node ids of an experiment
)

// stageInfo is a stage during resolution.
type stageInfo struct {
	def   *stageDef
	index int // definition order
	kind  *stages.Kind
	base  stages.Params // parameters without the matrix axes
	// setAt is where each parameter set by the experiment, a profile or
	// --set got its value (for a matrix axis, its list of values).
	setAt map[string]Pos
	// own are the axes of the stage's matrix (parameters of its kind), and
	// ownCombos the number of their combinations (0 when too many).
	own       []axis
	ownCombos int
	// axes are own followed by the axes inherited from the inputs, and
	// combos the number of expansions: the combinations of axes.
	axes   []axis
	combos int
	// known is set while nothing reported about the stage or its producers
	// stands in the way of computing its axes and expansions.
	known  bool
	params []stages.Params // of each combination of own, with the axis values
	files  [][]string      // of each combination of own
	ports  []portIn
	nodes  []*Node
	// expect are the stage's expectations in the loaded profile.
	expect []Expectation
}

// axis is one matrix axis with its typed values.
type axis struct {
	name   string
	param  *stages.Param // the parameter swept, of the stage that sweeps it
	stage  string        // the stage that sweeps it
	values []any
	keys   []string       // formatted values
	index  map[string]int // formatted value to position
}

// portIn is one connected input port.
type portIn struct {
	port  *stages.Port
	pos   Pos // of the port's key
	links []link
}

// linkMode says which expansions of the producer a reference takes.
type linkMode int

const (
	linkMatch  linkMode = iota // a plain reference: the expansion with the consumer's values
	linkAll                    // "[*]": every expansion
	linkSelect                 // "[a=v]": the expansions picked
)

// link is one resolved reference.
type link struct {
	ref    ref
	prod   *stageInfo
	output string
	mode   linkMode
	want   []int     // linkSelect: per producer axis, the value index picked or -1 for all
	zip    []zipAxis // linkMatch: one per producer axis
	bad    bool      // the reference was reported as wrong
}

// zipAxis maps a consumer axis's values to a producer axis's values.
type zipAxis struct {
	consumerAxis int
	valueMap     []int // consumer value index to producer value index
}

// build resolves one experiment into exp.Nodes, reporting problems to c.
// before is the error count when the experiment began: expansion only runs
// when nothing was reported since.
func (l *loader) build(raw *rawExperiment, exp *Experiment, explicit bool, c *collector, before int) {
	for i, o := range l.sets {
		if raw.byID[o.stage] != nil {
			l.setUsed[i] = true
		}
	}
	exp.Resources = raw.resources
	if !l.checkRequires(raw, exp, explicit, c) {
		return
	}
	ovs, known, ok := l.overrides(raw, c)
	if !ok {
		return
	}
	infos := make([]*stageInfo, len(raw.stages))
	byID := map[string]*stageInfo{}
	for i, d := range raw.stages {
		s := &stageInfo{def: d, index: i}
		if d.kindName != "" {
			k, err := stages.Lookup(d.kindName)
			if err != nil {
				c.add(d.kindPos, c.suggest(d.kindName, stages.Names(), "kinds"), "unknown stage kind %q", clip(d.kindName))
			} else {
				s.kind = k
			}
		}
		infos[i] = s
		byID[d.id] = s
	}
	ids := stageIDs(infos)
	sweptBy := map[string]string{} // matrix axis to the first stage sweeping it
	for _, d := range raw.stages {
		for _, e := range d.matrix {
			if _, ok := sweptBy[e.key.Value]; !ok {
				sweptBy[e.key.Value] = d.id
			}
		}
	}
	perStage := map[string]map[string]override{}
	for _, o := range ovs {
		s := byID[o.stage]
		if s == nil {
			if o.set == 0 {
				c.add(o.pos, c.suggest(o.stage, ids, "stages"), "%s: there is no stage %q", o.from, clip(o.stage))
			}
			continue
		}
		if s.kind == nil {
			continue
		}
		if s.kind.Param(o.param) == nil {
			fix := c.suggest(o.param, paramNames(s.kind), "parameters of "+s.kind.Name)
			if by, ok := sweptBy[o.param]; ok && by != o.stage {
				fix = fmt.Sprintf("if stage %s inherits the sweep %s from an input, set it where it is swept, such as %s.%s", o.stage, o.param, by, o.param)
			}
			c.add(o.pos, fix, "%s: kind %s of stage %s has no parameter %q", o.from, s.kind.Name, o.stage, clip(o.param))
			continue
		}
		if perStage[o.stage] == nil {
			perStage[o.stage] = map[string]override{}
		}
		perStage[o.stage][o.param] = o
	}
	total := 0
	var checked []*stageInfo
	for _, s := range infos {
		if s.kind != nil {
			n := c.count
			resolveParams(s, perStage[s.def.id], c)
			total += s.ownCombos
			if c.count == n {
				s.known = true
				checked = append(checked, s)
			}
			if total > maxNodes {
				break
			}
		}
	}
	if total > maxNodes {
		c.add(Pos{File: raw.main.name, Line: 1, Col: 1}, "sweep fewer values, or split the experiment into several files",
			"the experiment expands to %d nodes, more than the limit of %d", total, maxNodes)
		return
	}
	for _, s := range checked {
		checkStage(s, l.opts.MaxMemory, c)
	}
	for _, s := range infos {
		s.expect = resolveExpect(s, l.opts.Profile, known, c)
	}
	for _, s := range infos {
		if s.kind != nil {
			resolveInputs(s, byID, ids, c)
		}
	}
	order := topoOrder(infos, c)
	total = 0
	for _, s := range order {
		if s.kind == nil {
			continue
		}
		resolveAxes(s, c)
		if s.known {
			total += s.combos
		}
	}
	if total > maxNodes {
		c.add(Pos{File: raw.main.name, Line: 1, Col: 1}, "sweep fewer values, or collect sweeps with [*] rather than inheriting them",
			"with the sweeps stages inherit from their inputs, the experiment expands to %d nodes, more than the limit of %d", total, maxNodes)
	}
	if c.count > before {
		return
	}
	edges, idBytes := 0, 0
	for _, s := range infos {
		for _, p := range s.ports {
			for _, ln := range p.links {
				edges += s.combos * ln.size()
			}
		}
		if edges > maxEdges {
			c.add(s.def.pos, "collect fewer expansions with [*], or sweep fewer values",
				"the experiment has more than %d connections between nodes", maxEdges)
			return
		}
		if idBytes += nodeIDBytes(s); idBytes > maxIDsBytes {
			c.add(s.def.pos, "sweep shorter values: node ids name every sweep value",
				"the ids of the experiment's nodes would take more than %d MiB", maxIDsBytes>>20)
			return
		}
	}
	for _, s := range order {
		expand(s, exp)
		exp.Nodes = append(exp.Nodes, s.nodes...)
	}
	pt := promptTables{}
	for _, s := range order {
		checkPrompts(s, pt, c)
	}
}

// checkRequires reports whether every required file exists. When one is
// missing it reports an error (explicit) or marks exp skipped.
func (l *loader) checkRequires(raw *rawExperiment, exp *Experiment, explicit bool, c *collector) bool {
	var reasons []string
	for _, r := range raw.requires {
		if _, err := os.Stat(r.path); err == nil {
			continue
		}
		if explicit {
			fix := r.hint
			if fix == "" {
				fix = "create the file, or remove it from requires"
			}
			c.add(r.pos, fix, "required file %s is missing (%s)", clip(r.shown), r.path)
		}
		reason := "missing " + r.shown
		if r.hint != "" {
			reason += ": " + r.hint
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) > 0 && !explicit {
		exp.Skipped = strings.Join(reasons, "; ")
	}
	return len(reasons) == 0
}

// overrides returns the chosen profile's overrides followed by the --set
// flags; false when the profile is unknown.
func (l *loader) overrides(raw *rawExperiment, c *collector) ([]override, []string, bool) {
	known := []string{"full", "quick"}
	for name := range raw.profiles {
		if !slices.Contains(known, name) {
			known = append(known, name)
		}
	}
	sort.Strings(known)
	if !slices.Contains(known, l.opts.Profile) {
		fix := knownList(known, "profiles")
		if s := closest(l.opts.Profile, known, &c.cells); s != "" {
			fix = fmt.Sprintf("did you mean %q? (%s)", s, fix)
		}
		c.add(raw.profilesPos, fix, "unknown profile %q", clip(l.opts.Profile))
		return nil, nil, false
	}
	return append(append([]override{}, raw.profiles[l.opts.Profile]...), l.sets...), known, true
}

// resolveParams types s's parameters: defaults, then "with", then the
// overrides; matrix axes get their (possibly overridden) typed values.
func resolveParams(s *stageInfo, ovs map[string]override, c *collector) {
	k, d := s.kind, s.def
	s.base, s.setAt = stages.Params{}, map[string]Pos{}
	for i := range k.Params {
		p := &k.Params[i]
		if p.Default == nil {
			continue
		}
		v, ok := canonDefault(p)
		if !ok {
			c.add(d.kindPos, "fix the default in the kind's declaration", "kind %s declares a default of type %T for its %s parameter %q", k.Name, p.Default, p.Type, p.Name)
			continue
		}
		s.base[p.Name] = v
	}
	inFile := valueCtx{pos: d.file.pos, dir: d.file.dir, c: c}
	isAxis := map[string]bool{}
	for _, e := range d.matrix {
		isAxis[e.key.Value] = true
	}
	for _, e := range d.with {
		name := e.key.Value
		p := k.Param(name)
		switch {
		case p == nil:
			c.add(d.file.pos(e.key), c.suggest(name, paramNames(k), "parameters of "+k.Name), "unknown parameter %q of kind %s", clip(name), k.Name)
		case isAxis[name]:
			c.add(d.file.pos(e.key), "remove it from with: or from matrix:", "parameter %q is set both in with and in matrix", name)
		default:
			if v, pe := convertParam(p, e.val, inFile); pe != nil {
				c.add(pe.pos, pe.fix, "parameter %q of stage %s %s", name, d.id, pe.msg)
			} else {
				s.base[name], s.setAt[name] = v, d.file.pos(e.val)
			}
		}
	}
	s.ownCombos = 1
	for _, e := range d.matrix {
		name := e.key.Value
		p := k.Param(name)
		if p == nil {
			c.add(d.file.pos(e.key), c.suggest(name, paramNames(k), "parameters of "+k.Name), "unknown parameter %q of kind %s in matrix", clip(name), k.Name)
			continue
		}
		items, vc, where, fromFile := e.val, inFile, "matrix axis", true
		if o, ok := ovs[name]; ok {
			items, vc, where, fromFile = o.val, valueCtx{pos: o.valPos, dir: o.dir, c: c}, o.from+" for matrix axis", false
		}
		s.setAt[name] = vc.pos(items)
		var list []*yaml.Node
		switch {
		case items.Kind == yaml.SequenceNode:
			list = items.Content
		case items.Kind == yaml.ScalarNode && !fromFile:
			list = []*yaml.Node{items} // an override of one value
		default:
			c.add(vc.pos(items), fmt.Sprintf("write %s: [value, value, ...]", name), "%s %q must be a list of values, not %s", where, name, describe(items))
			continue
		}
		if len(list) == 0 {
			c.add(vc.pos(items), "give at least one value", "%s %q has no values", where, name)
			continue
		}
		if !c.spend(len(list)) {
			c.add(vc.pos(items), "sweep fewer values", "the experiment holds more than %d values (aliases count each time they are used)", maxValues)
			s.ownCombos = 0
			return
		}
		if len(list) > maxCombos || s.ownCombos > maxCombos/len(list) {
			c.add(d.file.pos(e.key), "sweep fewer values", "the matrix of stage %s has more than %d combinations", d.id, maxCombos)
			s.ownCombos = 0
			return
		}
		s.ownCombos *= len(list)
		a := axis{name: name, param: p, stage: d.id, index: map[string]int{}}
		ok := true
		for _, it := range list {
			v, pe := convertParam(p, it, vc)
			if pe != nil {
				c.add(pe.pos, pe.fix, "%s %q of stage %s: value %s", where, name, d.id, pe.msg)
				ok = false
				continue
			}
			key := formatValue(v)
			if _, dup := a.index[key]; dup {
				c.add(vc.pos(it), "remove the repeated value", "%s %q of stage %s repeats the value %s", where, name, d.id, clip(key))
				ok = false
				continue
			}
			a.index[key] = len(a.values)
			a.values = append(a.values, v)
			a.keys = append(a.keys, key)
		}
		if ok {
			s.own = append(s.own, a)
		} else {
			s.ownCombos /= len(list)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(ovs)) {
		o := ovs[name]
		if isAxis[name] {
			continue
		}
		v, pe := convertParam(k.Param(name), o.val, valueCtx{pos: o.valPos, dir: o.dir, c: c})
		if pe != nil {
			c.add(pe.pos, pe.fix, "%s: parameter %q of stage %s %s", o.from, name, d.id, pe.msg)
			continue
		}
		s.base[name], s.setAt[name] = v, o.valPos(o.val)
	}
	for i := range k.Params {
		p := &k.Params[i]
		if _, set := s.base[p.Name]; set || isAxis[p.Name] || p.Default != nil {
			continue
		}
		if _, over := ovs[p.Name]; over || d.withHas(p.Name) {
			continue // its value was reported as wrong
		}
		fix := fmt.Sprintf("add it under with:, for example with: {%s: %s}", p.Name, example(p.Type))
		if p.Doc != "" {
			fix += " (" + p.Name + ": " + p.Doc + ")"
		}
		c.add(d.pos, fix, "stage %s (kind %s) needs the parameter %q of type %s", d.id, k.Name, p.Name, p.Type)
	}
}

// withHas reports whether the stage's "with" sets name.
func (d *stageDef) withHas(name string) bool {
	for _, e := range d.with {
		if e.key.Value == name {
			return true
		}
	}
	return false
}

// resolveInputs checks s's "in" against its kind and its producers' ports.
// What depends on the producers' axes is checked later, by resolveAxes.
func resolveInputs(s *stageInfo, byID map[string]*stageInfo, ids []string, c *collector) {
	k, d := s.kind, s.def
	connected := map[string]bool{}
	badPort := false // a misspelt port: its missing counterpart is no news
	for _, in := range d.inputs {
		port := k.Input(in.port)
		if port == nil {
			badPort = true
			c.add(in.pos, c.suggest(in.port, portNames(k.Inputs), "inputs of "+k.Name), "kind %s has no input %q", k.Name, clip(in.port))
			continue
		}
		connected[port.Name] = in.given
		pi := portIn{port: port, pos: in.pos}
		for _, r := range in.refs {
			prod := byID[r.stage]
			if prod == nil {
				c.add(r.pos, c.suggest(r.stage, ids, "stages"), "there is no stage %q in this experiment", clip(r.stage))
				continue
			}
			ln := link{ref: r, prod: prod}
			if prod.kind != nil {
				ln.bad = !resolveLink(s, port, &ln, c)
			}
			pi.links = append(pi.links, ln) // kept for cycle detection even when bad
		}
		s.ports = append(s.ports, pi)
	}
	for _, p := range k.Inputs {
		if p.Optional || connected[p.Name] || badPort {
			continue
		}
		_, listed := connected[p.Name]
		msg := "stage %s (kind %s) needs its input %q (type %s)"
		if listed {
			msg = "stage %s (kind %s) connects nothing to its input %q (type %s)"
		}
		c.add(d.pos, fmt.Sprintf("add in: {%s: <stage producing %s>}", p.Name, p.Type), msg, d.id, k.Name, p.Name, p.Type)
	}
}

// resolveLink checks one reference of consumer s into port and fills in
// the output and mode. It reports false after reporting an error.
func resolveLink(s *stageInfo, port *stages.Port, ln *link, c *collector) bool {
	r, prod := ln.ref, ln.prod
	pk := prod.kind
	var out *stages.Port
	switch {
	case r.output == "" && len(pk.Outputs) == 0:
		c.add(r.pos, "connect another stage", "stage %s (kind %s) has no outputs", prod.def.id, pk.Name)
		return false
	case r.output == "":
		out = &pk.Outputs[0]
	default:
		if out = pk.Output(r.output); out == nil {
			c.add(r.pos, c.suggest(r.output, portNames(pk.Outputs), "outputs of "+pk.Name), "kind %s of stage %s has no output %q", pk.Name, prod.def.id, r.output)
			return false
		}
	}
	ln.output = out.Name
	if out.Type != port.Type {
		c.add(r.pos, fmt.Sprintf("connect an output of type %s", port.Type),
			"input %q of stage %s (kind %s) takes %s, but output %q of stage %s (kind %s) is %s",
			port.Name, s.def.id, s.kind.Name, port.Type, out.Name, prod.def.id, pk.Name, out.Type)
		return false
	}
	switch {
	case r.all:
		ln.mode = linkAll
		if !port.Many {
			fix := fmt.Sprintf("reference %s without [*]: each expansion of %s then takes the matching expansion of %s", prod.def.id, s.def.id, prod.def.id)
			if len(prod.own) > 0 {
				fix = fmt.Sprintf("reference one expansion, such as %s", pickExample(prod.def.id, prod.own))
			}
			c.add(r.pos, fix, "%s collects every expansion of %s, but input %q of kind %s takes one %s artifact", clip(r.text), prod.def.id, port.Name, s.kind.Name, port.Type)
			return false
		}
	case len(r.sel) > 0:
		ln.mode = linkSelect
	default:
		ln.mode = linkMatch
	}
	return true
}

// resolveAxes computes s's axes and expansions once its producers' are
// known: a plain reference to a sweep makes s inherit the producer's axes
// that s does not sweep itself. It resolves the references that depend on
// the producers' axes (selectors and matches) and checks the number of
// artifacts reaching each port that takes one. When something upstream is
// wrong, s is left unknown, reporting only its own errors.
func resolveAxes(s *stageInfo, c *collector) {
	s.axes = slices.Clone(s.own)
	s.combos = s.ownCombos
	for pi := range s.ports {
		p := &s.ports[pi]
		count, reported := 0, false
		for li := range p.links {
			ln := &p.links[li]
			if ln.prod.kind == nil || ln.bad || !ln.prod.known {
				s.known, reported = false, reported || ln.bad
				continue
			}
			switch ln.mode {
			case linkSelect:
				ln.bad = !resolveSelector(s, ln, c)
			case linkMatch:
				ln.bad = !matchAxes(s, ln, c)
			}
			if ln.bad {
				s.known, reported = false, true
				continue
			}
			count += ln.size()
		}
		if !p.port.Many && count > 1 && !reported {
			c.add(p.pos, "connect a single source", "input %q of kind %s takes one %s artifact, but %d are connected", p.port.Name, s.kind.Name, p.port.Type, count)
		}
	}
}

// resolveSelector finds the producer expansions named by "stage[a=v,...]".
func resolveSelector(s *stageInfo, ln *link, c *collector) bool {
	prod, r := ln.prod, ln.ref
	want := make([]int, len(prod.axes)) // wanted value index per axis, -1 for any
	for i := range want {
		want[i] = -1
	}
	for _, it := range r.sel {
		ai := axisIndex(prod.axes, it.axis)
		if ai < 0 {
			fix := fmt.Sprintf("stage %s is not a sweep; reference it as %s", prod.def.id, prod.def.id)
			if len(prod.axes) > 0 {
				fix = c.suggest(it.axis, axisNames(prod.axes), "axes of "+prod.def.id)
			}
			c.add(r.pos, fix, "stage %s has no matrix axis %q", prod.def.id, clip(it.axis))
			return false
		}
		a := prod.axes[ai]
		n, err := parseScalarText(it.value)
		key := ""
		if err == nil {
			if v, pe := convertParam(a.param, n, valueCtx{pos: func(*yaml.Node) Pos { return r.pos }, dir: s.def.file.dir}); pe == nil {
				key = formatValue(v)
			}
		}
		vi, ok := a.index[key]
		if !ok {
			c.add(r.pos, "use one of "+someOf(a.keys), "stage %s has no expansion with %s=%s", prod.def.id, a.name, clip(it.value))
			return false
		}
		want[ai] = vi
	}
	ln.want = want
	return true
}

// matchAxes pairs each expansion of s with the expansion of the producer
// that has the same values on the producer's axes. An axis s sweeps itself
// must offer the producer's values (a zip); an axis s inherits from
// another input must have the same values there; any other axis becomes an
// axis of s, inherited after the ones it has. Inherited axes are not
// parameters, so they may not share the name of one of s's kind.
func matchAxes(s *stageInfo, ln *link, c *collector) bool {
	prod, r := ln.prod, ln.ref
	for _, pa := range prod.axes {
		ci := axisIndex(s.axes, pa.name)
		z := zipAxis{consumerAxis: ci}
		switch {
		case ci < 0:
			if s.kind.Param(pa.name) != nil {
				c.add(r.pos, fmt.Sprintf("add %s to the matrix of %s to take each value of %s, or write %q to collect every expansion, or %q to pick one",
					pa.name, s.def.id, pa.stage, prod.def.id+"[*]", pickExample(prod.def.id, prod.axes)),
					"stage %s would inherit the sweep %s of stage %s, but %s is also a parameter of kind %s", s.def.id, pa.name, pa.stage, pa.name, s.kind.Name)
				return false
			}
			if s.combos > maxCombos/len(pa.values) {
				c.add(r.pos, fmt.Sprintf("collect some inputs with [*] or pick expansions with a selector such as %s", pickExample(prod.def.id, prod.axes)),
					"with the sweeps it inherits from its inputs, stage %s has more than %d combinations", s.def.id, maxCombos)
				return false
			}
			s.combos *= len(pa.values)
			z.consumerAxis = len(s.axes)
			s.axes = append(s.axes, pa)
			for i := range pa.values {
				z.valueMap = append(z.valueMap, i)
			}
		case ci < len(s.own):
			for _, key := range s.axes[ci].keys {
				pi, ok := pa.index[key]
				if !ok {
					c.add(r.pos, fmt.Sprintf("add %s to the %s values of %s, or reference %q", clip(key), pa.name, pa.stage, prod.def.id+"[*]"),
						"stage %s sweeps %s=%s, but stage %s has no expansion with that value", s.def.id, pa.name, clip(key), prod.def.id)
					return false
				}
				z.valueMap = append(z.valueMap, pi)
			}
		default:
			have := s.axes[ci]
			same := len(have.keys) == len(pa.keys)
			for _, key := range have.keys {
				pi, ok := pa.index[key]
				same = same && ok
				z.valueMap = append(z.valueMap, pi)
			}
			if !same {
				c.add(r.pos, fmt.Sprintf("sweep the same values of %s in %s and %s, or pick expansions with a selector such as %s", pa.name, have.stage, pa.stage, pickExample(prod.def.id, prod.axes)),
					"stage %s takes the sweep %s from two inputs with different values: %s in stage %s, %s in stage %s",
					s.def.id, pa.name, someOf(have.keys), have.stage, someOf(pa.keys), pa.stage)
				return false
			}
		}
		ln.zip = append(ln.zip, z)
	}
	return true
}

// size returns how many producer nodes one consumer node takes via ln.
func (ln *link) size() int {
	switch ln.mode {
	case linkAll:
		return ln.prod.combos
	case linkSelect:
		if len(ln.want) != len(ln.prod.axes) {
			return 0 // the selector was wrong
		}
		n := 1
		for j, a := range ln.prod.axes {
			if ln.want[j] < 0 {
				n *= len(a.values)
			}
		}
		return n
	}
	return 1
}

// pickExample returns a reference to the first expansion of stage id with
// the given axes.
func pickExample(id string, axes []axis) string {
	var parts []string
	for _, a := range axes {
		if len(a.keys) > 0 {
			parts = append(parts, a.name+"="+clip(a.keys[0]))
		}
	}
	return id + "[" + strings.Join(parts, ",") + "]"
}

// digits returns the value index of each axis for expansion i (the first
// axis varies slowest).
func digits(axes []axis, i int) []int {
	d := make([]int, len(axes))
	for j := len(axes) - 1; j >= 0; j-- {
		n := len(axes[j].values)
		d[j] = i % n
		i /= n
	}
	return d
}

// checkStage computes the parameters and files of each combination of s's
// own axes and runs the kind's Check on them. An error shared by several
// combinations is reported once.
func checkStage(s *stageInfo, maxMemory int64, c *collector) {
	k := s.kind
	first := map[string]int{}  // message to the first failing combination
	failed := map[string]int{} // message to the number of failing combinations
	fixes := map[string]string{}
	causes := map[string]error{}
	var msgs []string
	fail := func(i int, msg, fix string, cause error) {
		if failed[msg] == 0 {
			msgs = append(msgs, msg)
			first[msg], fixes[msg], causes[msg] = i, fix, cause
		}
		failed[msg]++
	}
	s.params = make([]stages.Params, s.ownCombos)
	s.files = make([][]string, s.ownCombos)
	for i := range s.ownCombos {
		p := maps.Clone(s.base)
		for j, d := range digits(s.own, i) {
			p[s.own[j].name] = s.own[j].values[d]
		}
		if msg := runCheck(k, p); msg != "" {
			fail(i, msg, "change the parameters named in the message", nil)
		} else if need, raisedBy := memoryNeed(k, p); maxMemory > 0 && need > maxMemory {
			fail(i, fmt.Sprintf("parameter %s: the stage needs about %s of memory, more than the %s allowed (the machine's memory, or --max-memory)",
				raisedBy[0], stages.FormatBytes(need), stages.FormatBytes(maxMemory)), "lower "+strings.Join(raisedBy, ", "), nil)
		}
		files, err := nodeFiles(k, p)
		if err != nil {
			fail(i, err.Error(), "make the files the stage reads available, as the message says", err)
		}
		s.params[i], s.files[i] = p, files
	}
	for _, msg := range msgs {
		who := "stage " + nodeID(s.def.id, s.own, digits(s.own, first[msg]))
		if n := failed[msg]; n > 1 {
			who += fmt.Sprintf(" (and %d more expansions)", n-1)
		}
		c.addErr(&Error{Pos: s.checkPos(msg), Msg: who + ": " + msg, Fix: fixes[msg], Err: causes[msg]})
	}
}

// checkPos returns where to point for an error of the kind's Check: at the
// value of the parameter the message starts with ("parameter NAME: ..."),
// when the experiment, a profile or --set gave it, else at the stage.
func (s *stageInfo) checkPos(msg string) Pos {
	if rest, ok := strings.CutPrefix(msg, "parameter "); ok {
		name, _, _ := strings.Cut(rest, ":")
		if p, ok := s.setAt[name]; ok {
			return p
		}
	}
	return s.def.pos
}

// nodeID returns the id of the expansion of stage id with value indices dg
// on axes: the stage id, followed for a sweep by its values.
func nodeID(id string, axes []axis, dg []int) string {
	if len(axes) == 0 {
		return id
	}
	parts := make([]string, len(axes))
	for j, d := range dg {
		parts[j] = axes[j].name + "=" + axes[j].keys[d]
	}
	return id + "[" + strings.Join(parts, ",") + "]"
}

// nodeIDBytes returns the total length of s's node ids, without building
// them: each value of an axis appears in combos/len(values) ids.
func nodeIDBytes(s *stageInfo) int {
	if len(s.axes) == 0 {
		return len(s.def.id)
	}
	n := s.combos * (len(s.def.id) + 1 + len(s.axes)) // brackets and commas
	for _, a := range s.axes {
		per := s.combos / len(a.values)
		for _, key := range a.keys {
			n += per * (len(a.name) + 1 + len(key))
		}
	}
	return n
}

// expand creates s's nodes, after checkStage and resolveAxes. Producers are
// expanded already.
func expand(s *stageInfo, exp *Experiment) {
	d := s.def
	inherits := len(s.axes) > len(s.own)
	for i := range s.combos {
		dg := digits(s.axes, i)
		own := 0 // the combination of own axes
		for j, a := range s.own {
			own = own*len(a.values) + dg[j]
		}
		params, files := s.params[own], s.files[own]
		if inherits { // several nodes share the combination: give each its own copy
			params, files = maps.Clone(params), slices.Clone(files)
		}
		n := &Node{ID: nodeID(d.id, s.axes, dg), Stage: d.id, Doc: d.doc, Experiment: exp, Kind: s.kind,
			Params: params, Files: files, Expect: s.expect, Pos: d.pos, Resources: d.resources.Over(exp.Resources)}
		if len(s.axes) > 0 {
			n.Matrix = map[string]any{}
			for j, a := range s.axes {
				n.Matrix[a.name] = a.values[dg[j]]
				n.MatrixOrder = append(n.MatrixOrder, a.name)
			}
		}
		n.Inputs = map[string][]Source{}
		for _, p := range s.ports {
			var srcs []Source
			for _, ln := range p.links {
				for _, pi := range ln.producers(dg) {
					srcs = append(srcs, Source{Node: ln.prod.nodes[pi], Output: ln.output})
				}
			}
			if len(srcs) > 0 {
				n.Inputs[p.port.Name] = srcs
			}
		}
		s.nodes = append(s.nodes, n)
	}
}

// producers returns the producer expansion indices a consumer expansion
// with value indices dg takes.
func (ln *link) producers(dg []int) []int {
	switch ln.mode {
	case linkAll:
		all := make([]int, ln.prod.combos)
		for i := range all {
			all[i] = i
		}
		return all
	case linkSelect:
		picks := []int{0}
		for j, a := range ln.prod.axes {
			var next []int
			for _, p := range picks {
				for v := range a.values {
					if ln.want[j] < 0 || ln.want[j] == v {
						next = append(next, p*len(a.values)+v)
					}
				}
			}
			picks = next
		}
		return picks
	}
	idx := 0
	for j, z := range ln.zip {
		idx = idx*len(ln.prod.axes[j].values) + z.valueMap[dg[z.consumerAxis]]
	}
	return []int{idx}
}

// memoryNeed returns the kind's estimate of the stage's peak memory and
// the parameters that raise it (zero and none when the kind has no
// estimate).
func memoryNeed(k *stages.Kind, p stages.Params) (int64, []string) {
	if k.Memory == nil {
		return 0, nil
	}
	need, raisedBy := k.Memory(p)
	if len(raisedBy) == 0 {
		raisedBy = []string{"its parameters"}
	}
	return need, raisedBy
}

// runCheck calls the kind's Check, turning a panic into a message.
func runCheck(k *stages.Kind, p stages.Params) (msg string) {
	if k.Check == nil {
		return ""
	}
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("kind %s failed checking its parameters: %v", k.Name, r)
		}
	}()
	if err := k.Check(p); err != nil {
		return err.Error()
	}
	return ""
}

// nodeFiles returns the sorted absolute paths of the path parameters and of
// the kind's Files.
func nodeFiles(k *stages.Kind, p stages.Params) (files []string, err error) {
	for _, d := range k.Params {
		if d.Type == stages.Path {
			if v, ok := p[d.Name].(string); ok && v != "" {
				files = append(files, v)
			}
		}
	}
	if k.Files != nil {
		more, err := func() (fs []string, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("kind %s failed listing its files: %v", k.Name, r)
				}
			}()
			return k.Files(p)
		}()
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	sort.Strings(files)
	return slices.Compact(files), nil
}

// topoOrder returns the stages producers first, ties broken by definition
// order, and reports every cycle found.
func topoOrder(infos []*stageInfo, c *collector) []*stageInfo {
	deps := make([][]int, len(infos))  // producers of each stage
	users := make([][]int, len(infos)) // consumers of each stage
	pending := make([]int, len(infos)) // producers not yet placed
	for _, s := range infos {
		seen := map[int]bool{}
		for _, p := range s.ports {
			for _, ln := range p.links {
				if j := ln.prod.index; !seen[j] {
					seen[j] = true
					deps[s.index] = append(deps[s.index], j)
					users[j] = append(users[j], s.index)
				}
			}
		}
		pending[s.index] = len(deps[s.index])
	}
	ready := &intHeap{}
	for i := range infos {
		if pending[i] == 0 {
			heap.Push(ready, i)
		}
	}
	var order []*stageInfo
	placed := make([]bool, len(infos))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		placed[i] = true
		order = append(order, infos[i])
		for _, u := range users[i] {
			if pending[u]--; pending[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(order) < len(infos) {
		reportCycles(infos, deps, placed, c)
	}
	return order
}

// reportCycles reports the cycles among the stages not placed. Every such
// stage has a producer not placed, so following producers finds a cycle.
func reportCycles(infos []*stageInfo, deps [][]int, placed []bool, c *collector) {
	visited := make([]bool, len(infos))
	for start := range infos {
		if placed[start] || visited[start] {
			continue
		}
		onPath := map[int]int{}
		var path []int
		for i := start; ; {
			if at, ok := onPath[i]; ok {
				reportCycle(infos, path[at:], c)
				break
			}
			if visited[i] {
				break
			}
			visited[i] = true
			onPath[i] = len(path)
			path = append(path, i)
			next := -1
			for _, j := range deps[i] {
				if !placed[j] {
					next = j
					break
				}
			}
			if next < 0 {
				break
			}
			i = next
		}
	}
}

// reportCycle reports one cycle, given as consumer, its producer, that
// one's producer, and so on. The message follows the data: producer first.
func reportCycle(infos []*stageInfo, cyc []int, c *collector) {
	// Data flows from cyc[i+1] into cyc[i]; list it in flow order, starting
	// from the stage defined first.
	flow := make([]int, len(cyc))
	for i := range cyc {
		flow[i] = cyc[len(cyc)-1-i]
	}
	first := 0
	for i := range flow {
		if flow[i] < flow[first] {
			first = i
		}
	}
	var names []string
	for i := 0; i <= len(flow); i++ {
		names = append(names, infos[flow[(first+i)%len(flow)]].def.id)
	}
	// Point at the reference by which the second stage reads the first.
	from, to := infos[flow[first]], infos[flow[(first+1)%len(flow)]]
	pos := to.def.pos
	for _, p := range to.ports {
		for _, ln := range p.links {
			if ln.prod == from {
				pos = ln.ref.pos
			}
		}
	}
	c.add(pos, "remove one of these references", "stages form a cycle: %s", strings.Join(names, " -> "))
}

// intHeap is a min-heap of ints.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push implements heap.Interface.
func (h *intHeap) Push(x any) { *h = append(*h, x.(int)) }

// Pop implements heap.Interface.
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// axisIndex returns the position of the axis called name, or -1.
func axisIndex(axes []axis, name string) int {
	for i, a := range axes {
		if a.name == name {
			return i
		}
	}
	return -1
}

// axisNames lists the axes' names.
func axisNames(axes []axis) []string {
	var ns []string
	for _, a := range axes {
		ns = append(ns, a.name)
	}
	return ns
}

// stageIDs lists the stage ids.
func stageIDs(infos []*stageInfo) []string {
	var ids []string
	for _, s := range infos {
		ids = append(ids, s.def.id)
	}
	return ids
}

// paramNames lists a kind's parameter names.
func paramNames(k *stages.Kind) []string {
	var ns []string
	for _, p := range k.Params {
		ns = append(ns, p.Name)
	}
	return ns
}

// portNames lists the ports' names.
func portNames(ps []stages.Port) []string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, p.Name)
	}
	return ns
}
