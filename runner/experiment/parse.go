package experiment

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxIncludeDepth bounds the nesting of includes.
const maxIncludeDepth = 32

// collector gathers errors.
type collector struct {
	errs ErrorList
	// count is how many errors were added, including those past
	// maxStoredErrors that errs does not hold.
	count int
	// left is how many more YAML values the current experiment may read.
	// Aliases let a small file name the same large list many times; this
	// bound keeps such a file from exhausting time and memory.
	left int
	// exhausted is set when a read was refused for lack of budget.
	exhausted bool
	// cells counts the edit-distance table cells computed for suggestions
	// (see closest); past maxSuggestCells no more are computed.
	cells int
}

// maxStoredErrors bounds the errors kept: a file of a million mistakes
// reports the first ones and how many more there were.
const maxStoredErrors = 10000

// maxValues bounds the YAML values (mapping entries and list items, aliases
// counted each time they are used) read for one experiment.
const maxValues = 2000000

// spend takes n values from the budget, reporting whether they fit.
func (c *collector) spend(n int) bool {
	if n > c.left {
		c.exhausted = true
		return false
	}
	c.left -= n
	return true
}

// add records an error at p.
func (c *collector) add(p Pos, fix, format string, args ...any) {
	c.addErr(&Error{Pos: p, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

// addErr records an existing error.
func (c *collector) addErr(e *Error) {
	c.count++
	if len(c.errs) < maxStoredErrors {
		c.errs = append(c.errs, e)
	}
}

// list returns the errors sorted by position; when some were not stored, a
// last error says how many.
func (c *collector) list() ErrorList {
	l := c.errs.sorted()
	if more := c.count - len(c.errs); more > 0 {
		l = append(l, &Error{Pos: l[len(l)-1].Pos, Msg: fmt.Sprintf("%d more errors were found but not recorded", more),
			Fix: "fix the errors above first"})
	}
	return l
}

// rawExperiment is an experiment file with its includes, before kinds and
// parameters are resolved.
type rawExperiment struct {
	main     *srcFile
	name     string
	doc      string
	stages   []*stageDef // in definition order: included stages at their include
	byID     map[string]*stageDef
	profiles map[string][]override // profile name to overrides, includes first
	requires []require
	// resources is the experiment file's "resources:".
	resources Resources
	broken    bool // a file could not be read or parsed
	// profilesPos is where the experiment file defines profiles (the file
	// itself when it defines none).
	profilesPos Pos
}

// stageDef is one stage as written.
type stageDef struct {
	id       string
	pos      Pos // of the stage's key
	file     *srcFile
	kindName string
	kindPos  Pos
	doc      string
	with     []kv
	matrix   []kv
	inputs   []inputDef
	expect   []expectDef
	// expectPos is where "expect" is written.
	expectPos Pos
	// resources is the stage's "resources:".
	resources Resources
}

// inputDef is one entry of a stage's "in".
type inputDef struct {
	port  string
	pos   Pos // of the port's key
	refs  []ref
	given bool // something was written, even if it was not a valid reference
}

// ref is one reference to another stage's output.
type ref struct {
	text   string
	pos    Pos
	stage  string
	all    bool      // "[*]"
	sel    []selItem // "[axis=value,...]"
	output string    // after '.', or "" for the first output
}

// selItem is one "axis=value" of a selector.
type selItem struct{ axis, value string }

// override sets STAGE.PARAM from a profile or a --set flag.
type override struct {
	stage, param string
	pos          Pos        // of the key (profile) or the flag
	val          *yaml.Node // the value
	valPos       func(*yaml.Node) Pos
	dir          string // for path values
	from         string // "profile quick" or "--set"
	set          int    // for --set: 1 + the index in Options.Sets; 0 for a profile
}

// require is one file an experiment needs.
type require struct {
	path  string // absolute
	shown string // as written
	hint  string
	pos   Pos
}

var stageIDRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// Keys accepted at the top of experiment and include files, and in stages.
var (
	experimentKeys = []string{"name", "doc", "include", "requires", "profiles", "resources", "stages"}
	includeKeys    = []string{"doc", "include", "requires", "profiles", "stages"}
	stageKeys      = []string{"kind", "doc", "in", "with", "matrix", "expect", "resources"}
	// stageKeyAliases maps words people often use to the stage key meant.
	stageKeyAliases = map[string]string{
		"params": "with", "parameters": "with", "args": "with", "param": "with",
		"inputs": "in", "input": "in", "from": "in",
		"sweep": "matrix", "grid": "matrix", "type": "kind",
		"resource": "resources", "slurm": "resources",
	}
)

// readExperiment reads the experiment file f and its includes. It reports
// false when a file could not be read or parsed: the stages would be
// incomplete, and checking them would only add confusing errors.
func (l *loader) readExperiment(f *srcFile, c *collector) (*rawExperiment, bool) {
	e := &rawExperiment{main: f, byID: map[string]*stageDef{}, profiles: map[string][]override{}, profilesPos: Pos{File: f.name}}
	l.readInto(e, f, nil, map[string]bool{}, c, nil)
	return e, !e.broken
}

// readInto adds the contents of f (an experiment when chain is empty, else
// an include) to e.
func (l *loader) readInto(e *rawExperiment, f *srcFile, chain []*srcFile, seen map[string]bool, c *collector, at *Pos) {
	seen[f.abs] = true
	if f.err != nil {
		e.broken = true
		err := *f.err
		if at != nil && f.err.Pos.Line == 0 {
			err.Pos = *at
			err.Msg = fmt.Sprintf("include %s: %s", f.name, f.err.Msg)
		}
		c.addErr(&err)
		return
	}
	allowed := experimentKeys
	if len(chain) > 0 {
		allowed = includeKeys
	}
	chain = append(chain, f)
	ents := entries(f, f.top, c)
	// Includes come first, so that included stages precede the file's own.
	for _, p := range ents {
		if p.key.Value == "include" {
			l.readIncludes(e, f, p.val, chain, seen, c)
		}
	}
	for _, p := range ents {
		k, v := p.key.Value, p.val
		switch {
		case !slices.Contains(allowed, k):
			fix := c.suggest(k, allowed, "keys")
			if slices.Contains(experimentKeys, k) {
				fix = "an included file holds shared definitions only; move " + k + " to the experiment file"
			}
			c.add(f.pos(p.key), fix, "unknown key %q", clip(k))
		case k == "name":
			e.name = scalarString(f, v, c, "name")
		case k == "doc":
			if len(chain) == 1 {
				e.doc = scalarString(f, v, c, "doc")
			}
		case k == "requires":
			l.readRequires(e, f, v, c)
		case k == "profiles":
			if len(chain) == 1 {
				e.profilesPos = f.pos(p.key)
			}
			readProfiles(e, f, v, c)
		case k == "resources":
			e.resources = readResources(f, v, c)
		case k == "stages":
			readStages(e, f, v, c)
		}
	}
}

// readIncludes follows the "include" list of f.
func (l *loader) readIncludes(e *rawExperiment, f *srcFile, v *yaml.Node, chain []*srcFile, seen map[string]bool, c *collector) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	if !c.spend(len(items)) {
		return
	}
	for _, it := range items {
		it = deref(it)
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" || it.Value == "" {
			c.add(f.pos(it), "write include: [file.yaml, ...] with paths relative to this file", "an include must be a file name, not %s", describe(it))
			continue
		}
		inc := l.file(joinPath(f, it.Value))
		at := f.pos(it)
		if loop := loopChain(chain, inc); loop != "" {
			c.add(at, "remove one of the includes in this chain", "include loop: %s", loop)
			continue
		}
		if seen[inc.abs] {
			continue // already included into this experiment
		}
		if len(chain) >= maxIncludeDepth {
			c.add(at, "flatten the includes", "includes nest more than %d deep", maxIncludeDepth)
			continue
		}
		l.readInto(e, inc, chain, seen, c, &at)
	}
}

// loopChain returns "a -> b -> a" if inc is already in chain.
func loopChain(chain []*srcFile, inc *srcFile) string {
	for i, s := range chain {
		if s.abs == inc.abs {
			var names []string
			for _, t := range chain[i:] {
				names = append(names, t.name)
			}
			return strings.Join(append(names, inc.name), " -> ")
		}
	}
	return ""
}

// joinPath returns the path p, written in f, as a path to open: relative
// paths are relative to f's directory.
func joinPath(f *srcFile, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(f.name), p)
}

// readRequires reads "requires": a list of paths or of {path, hint}.
func (l *loader) readRequires(e *rawExperiment, f *srcFile, v *yaml.Node, c *collector) {
	if v.Kind != yaml.SequenceNode {
		c.add(f.pos(v), "write requires: [{path: ..., hint: ...}]", "requires must be a list, not %s", describe(v))
		return
	}
	if !c.spend(len(v.Content)) {
		return
	}
	for _, it := range v.Content {
		it = deref(it)
		r := require{pos: f.pos(it)}
		switch it.Kind {
		case yaml.ScalarNode:
			r.shown = scalarString(f, it, c, "a required path")
		case yaml.MappingNode:
			for _, p := range entries(f, it, c) {
				switch p.key.Value {
				case "path":
					r.shown = scalarString(f, p.val, c, "path")
				case "hint":
					r.hint = scalarString(f, p.val, c, "hint")
				default:
					c.add(f.pos(p.key), c.suggest(p.key.Value, []string{"path", "hint"}, "keys"), "unknown key %q in requires", clip(p.key.Value))
				}
			}
		default:
			c.add(r.pos, "write {path: ..., hint: ...}", "a required file must be a path or {path, hint}, not %s", describe(it))
			continue
		}
		if r.shown == "" {
			c.add(r.pos, "add path: with the file's path relative to this file", "a required file needs a path")
			continue
		}
		r.path = absPath(joinPath(f, r.shown))
		e.requires = append(e.requires, r)
	}
}

// readProfiles reads "profiles": name to {STAGE.PARAM: value}.
func readProfiles(e *rawExperiment, f *srcFile, v *yaml.Node, c *collector) {
	if v.Kind != yaml.MappingNode {
		c.add(f.pos(v), "write profiles: {quick: {stage.param: value}, full: {}}", "profiles must be a mapping, not %s", describe(v))
		return
	}
	for _, p := range entries(f, v, c) {
		name := p.key.Value
		if _, ok := e.profiles[name]; !ok {
			e.profiles[name] = nil
		}
		if p.val.Kind == yaml.ScalarNode && p.val.Tag == "!!null" {
			continue
		}
		if p.val.Kind != yaml.MappingNode {
			c.add(f.pos(p.val), "write "+name+": {stage.param: value, ...}", "profile %q must be a mapping of STAGE.PARAM to values, not %s", clip(name), describe(p.val))
			continue
		}
		for _, o := range entries(f, p.val, c) {
			stage, param, ok := strings.Cut(o.key.Value, ".")
			if !ok || stage == "" || param == "" {
				c.add(f.pos(o.key), "write the key as STAGE.PARAM, for example noisy.t", "profile key %q must name a stage and a parameter", clip(o.key.Value))
				continue
			}
			e.profiles[name] = append(e.profiles[name], override{
				stage: stage, param: param, pos: f.pos(o.key), val: o.val, valPos: f.pos,
				dir: filepath.Dir(f.abs), from: "profile " + name,
			})
		}
	}
}

// readStages reads the "stages" mapping.
func readStages(e *rawExperiment, f *srcFile, v *yaml.Node, c *collector) {
	if v.Kind != yaml.MappingNode {
		c.add(f.pos(v), "write stages: {id: {kind: ..., with: {...}}}", "stages must be a mapping from stage ids to stages, not %s", describe(v))
		return
	}
	for _, p := range entries(f, v, c) {
		id := p.key.Value
		pos := f.pos(p.key)
		if !stageIDRe.MatchString(id) {
			c.add(pos, "use letters, digits, '_' and '-', starting with a letter", "stage id %q is not a valid id", clip(id))
			continue
		}
		if prev, dup := e.byID[id]; dup {
			c.add(pos, "rename one of them", "stage %q is defined twice: here and at %s", id, prev.pos)
			continue
		}
		if s := readStage(f, id, pos, p.val, c); s != nil {
			e.stages = append(e.stages, s)
			e.byID[id] = s
		}
	}
}

// readStage reads one stage's mapping.
func readStage(f *srcFile, id string, pos Pos, v *yaml.Node, c *collector) *stageDef {
	if v.Kind != yaml.MappingNode {
		c.add(f.pos(v), "write "+id+": {kind: ..., with: {...}}", "stage %q must be a mapping with kind, in, with and matrix, not %s", id, describe(v))
		return nil
	}
	s := &stageDef{id: id, pos: pos, file: f}
	for _, p := range entries(f, v, c) {
		k, val := p.key.Value, p.val
		switch k {
		case "kind":
			s.kindName = scalarString(f, val, c, "kind")
			s.kindPos = f.pos(val)
		case "doc":
			s.doc = scalarString(f, val, c, "doc")
		case "with":
			s.with = mappingEntries(f, val, c, "with", "write with: {param: value, ...}")
		case "matrix":
			s.matrix = mappingEntries(f, val, c, "matrix", "write matrix: {param: [value, value, ...]}")
		case "in":
			s.inputs = readInputs(f, val, c)
		case "expect":
			s.expect, s.expectPos = readExpect(f, val, c), f.pos(p.key)
		case "resources":
			s.resources = readResources(f, val, c)
		default:
			fix := c.suggest(k, stageKeys, "stage keys")
			if a, ok := stageKeyAliases[k]; ok {
				fix = fmt.Sprintf("did you mean %q?", a)
			}
			c.add(f.pos(p.key), fix, "unknown stage key %q", clip(k))
		}
	}
	if s.kindName == "" {
		c.add(pos, "add kind: with one of the registered stage kinds", "stage %q has no kind", id)
	}
	return s
}

// mappingEntries returns the entries of v, which must be a mapping or empty.
func mappingEntries(f *srcFile, v *yaml.Node, c *collector, what, fix string) []kv {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		c.add(f.pos(v), fix, "%s must be a mapping, not %s", what, describe(v))
		return nil
	}
	return entries(f, v, c)
}

// readInputs reads "in": port to a reference or a list of references.
func readInputs(f *srcFile, v *yaml.Node, c *collector) []inputDef {
	var out []inputDef
	for _, p := range mappingEntries(f, v, c, "in", "write in: {port: stage, other_port: [stage1, stage2]}") {
		in := inputDef{port: p.key.Value, pos: f.pos(p.key)}
		items := []*yaml.Node{p.val}
		if p.val.Kind == yaml.SequenceNode {
			items = p.val.Content
		}
		if !c.spend(len(items)) {
			return out
		}
		in.given = len(items) > 0
		for _, it := range items {
			it = deref(it)
			if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
				c.add(f.pos(it), "write a stage id such as image, image.output or noisy[*]", "an input must name a stage, not %s", describe(it))
				continue
			}
			r, msg := parseRef(it.Value)
			r.pos = f.pos(it)
			if msg != "" {
				c.add(r.pos, "write stage, stage.output, stage[*] or stage[axis=value]; quote references with [ ] in YAML", "bad reference %q: %s", clip(it.Value), msg)
				continue
			}
			in.refs = append(in.refs, r)
		}
		out = append(out, in)
	}
	return out
}

// parseRef parses "stage", "stage.output", "stage[*]", "stage[a=1,b=2]" and
// those followed by ".output".
func parseRef(s string) (ref, string) {
	r := ref{text: s}
	i := strings.IndexAny(s, "[.")
	if i < 0 {
		i = len(s)
	}
	r.stage = strings.TrimSpace(s[:i])
	if !stageIDRe.MatchString(r.stage) {
		return r, "it must start with a stage id"
	}
	rest := s[i:]
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return r, "missing ']'"
		}
		inside := strings.TrimSpace(rest[1:end])
		rest = rest[end+1:]
		if inside == "*" {
			r.all = true
		} else {
			for _, part := range strings.Split(inside, ",") {
				a, v, ok := strings.Cut(part, "=")
				a, v = strings.TrimSpace(a), strings.TrimSpace(v)
				if !ok || a == "" {
					return r, "inside [ ] write * or axis=value pairs separated by commas"
				}
				r.sel = append(r.sel, selItem{a, v})
			}
		}
	}
	if rest == "" {
		return r, ""
	}
	if !strings.HasPrefix(rest, ".") || rest == "." {
		return r, fmt.Sprintf("unexpected %q after the stage", clip(rest))
	}
	r.output = strings.TrimSpace(rest[1:])
	if !stageIDRe.MatchString(r.output) {
		return r, fmt.Sprintf("%q is not an output name", clip(r.output))
	}
	return r, ""
}

// scalarString returns the text of a scalar, reporting other nodes.
func scalarString(f *srcFile, v *yaml.Node, c *collector, what string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		c.add(f.pos(v), "write "+what+" as text", "%s must be text, not %s", what, describe(v))
		return ""
	}
	return v.Value
}

// absPath makes p absolute (p unchanged if that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
