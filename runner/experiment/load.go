package experiment

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Options control Load. The zero value is usable.
type Options struct {
	// Root is the experiments root that Experiment.Path is relative to.
	// When empty, the root of a file or directory given to Load is the
	// nearest directory named "experiments" at or above it, else the
	// working directory when that encloses it, else the file's directory
	// (the directory itself): see defaultRoot.
	Root string
	// Profile names the profile to apply; empty means "quick".
	Profile string
	// Sets are command-line overrides "STAGE.PARAM=VALUE" (see ParseSet),
	// applied after the profile to every loaded experiment that has STAGE.
	Sets []string
	// MaxMemory, when positive, is the most memory in bytes one stage may
	// need by its kind's estimate (stages.Kind.Memory); a stage that needs
	// more is an error naming the parameters that raise it.
	MaxMemory int64
}

// DefaultProfile is the profile applied when Options.Profile is empty.
const DefaultProfile = "quick"

// loader holds the state of one Load call.
type loader struct {
	opts    Options
	files   map[string]*srcFile // by absolute path
	sets    []override
	setUsed []bool // whether a loaded experiment has the set's stage
	broken  bool   // an experiment could not be read: stages may be missing
}

// file returns the parsed file called name, reading it on first use.
func (l *loader) file(name string) *srcFile {
	abs := absPath(name)
	if f, ok := l.files[abs]; ok {
		return f
	}
	f := &srcFile{name: name, abs: abs, dir: filepath.Dir(abs)}
	parseYAML(f)
	l.files[abs] = f
	return f
}

// job is one experiment file to load.
type job struct {
	file     string
	root     string
	explicit bool // named on the command line, not found in a directory
}

// Load reads the experiment files and directories in paths, applies the
// profile and overrides of opts, and returns the validated, expanded graph.
// A directory contributes every *.yaml file below it, sorted by path, except
// include-only files (whose names start with '_'). On any problem Load
// returns a nil Graph and an ErrorList holding every error it found.
func Load(paths []string, opts Options) (*Graph, error) {
	return loadInto(paths, opts, &collector{})
}

// loadInto is Load, reporting to c.
func loadInto(paths []string, opts Options, c *collector) (*Graph, error) {
	if opts.Profile == "" {
		opts.Profile = DefaultProfile
	}
	l := &loader{opts: opts, files: map[string]*srcFile{}}
	for _, s := range opts.Sets {
		o, err := ParseSet(s)
		if err != nil {
			c.addErr(err.(*Error))
			continue
		}
		ov := o.override()
		ov.set = len(l.sets) + 1
		l.sets = append(l.sets, ov)
	}
	l.setUsed = make([]bool, len(l.sets))
	if len(paths) == 0 {
		c.add(Pos{File: "."}, "name experiment files or directories", "no experiment files given")
	}
	jobs := l.findJobs(paths, c)

	g := &Graph{MaxMemory: opts.MaxMemory}
	byPath := map[string]*Experiment{}
	for _, j := range jobs {
		f := l.file(j.file)
		exp := &Experiment{Path: experimentPath(j.root, f.abs), File: j.file, Profile: opts.Profile}
		if prev, dup := byPath[exp.Path]; dup {
			c.add(Pos{File: j.file}, "load experiments from one root, or set Root", "experiments %s and %s both have the path %s, so their results would collide", prev.File, j.file, exp.Path)
			continue
		}
		byPath[exp.Path] = exp
		before := c.count
		c.left, c.exhausted = maxValues, false
		raw, ok := l.readExperiment(f, c)
		if c.exhausted {
			c.add(Pos{File: f.name, Line: 1, Col: 1}, "use fewer or shorter lists and mappings",
				"the experiment holds more than %d YAML values (aliases count each time they are used)", maxValues)
			ok = false
		}
		exp.Name = raw.name
		if exp.Name == "" {
			exp.Name = strings.TrimSuffix(exp.Path, ".yaml")
		}
		exp.Doc = raw.doc
		if ok {
			l.build(raw, exp, j.explicit, c, before)
		} else {
			l.broken = true
		}
		g.Experiments = append(g.Experiments, exp)
	}
	for i, used := range l.setUsed {
		if !used && len(jobs) > 0 && !l.broken {
			o := l.sets[i]
			c.add(o.pos, c.suggest(o.stage, l.allStageIDs(), "stages"), "no loaded experiment has a stage %q", o.stage)
		}
	}
	if c.count > 0 {
		return nil, c.list()
	}
	for _, e := range g.Experiments {
		g.Nodes = append(g.Nodes, e.Nodes...)
	}
	return g, nil
}

// findJobs expands paths into experiment files, without duplicates.
func (l *loader) findJobs(paths []string, c *collector) []job {
	var jobs []job
	seen := map[string]bool{}
	addJob := func(j job) {
		abs := absPath(j.file)
		if !seen[abs] {
			seen[abs] = true
			jobs = append(jobs, j)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			c.add(Pos{File: p}, "check the path", "cannot open experiment: %v", unwrapPath(err))
			continue
		}
		if !st.IsDir() {
			root := l.opts.Root
			if root == "" {
				root = defaultRoot(filepath.Dir(absPath(p)))
			}
			addJob(job{file: p, root: root, explicit: true})
			continue
		}
		root := l.opts.Root
		if root == "" {
			root = defaultRoot(absPath(p))
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				c.add(Pos{File: path}, "check the directory's permissions", "cannot read: %v", unwrapPath(err))
				return nil
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".yaml") && !strings.HasPrefix(d.Name(), "_") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			c.add(Pos{File: p}, "check the directory", "cannot walk: %v", err)
		}
		if len(found) == 0 {
			c.add(Pos{File: p}, "experiment files end in .yaml; names starting with '_' are include-only", "no experiment files under %s", p)
		}
		sort.Strings(found)
		for _, f := range found {
			addJob(job{file: f, root: root})
		}
	}
	return jobs
}

// unwrapPath drops the path from an *fs.PathError, which the position names.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// defaultRoot returns the experiments root for the files in dir (an
// absolute path) when Options.Root is empty: the nearest directory named
// "experiments" that is dir or encloses it, else the working directory when
// it encloses dir, else dir. A file and the directories above it up to the
// root give every experiment the same path, so its results land in the same
// folder however the run names it.
func defaultRoot(dir string) string {
	for d := dir; ; {
		if filepath.Base(d) == "experiments" {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if wd, err := os.Getwd(); err == nil && localTo(wd, dir) {
		return wd
	}
	return dir
}

// localTo reports whether path (absolute) is dir or lies below it.
func localTo(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// experimentPath returns abs relative to root, with forward slashes; a file
// outside root is named by its base name.
func experimentPath(root, abs string) string {
	rel, err := filepath.Rel(absPath(root), abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.Base(abs)
	}
	return filepath.ToSlash(rel)
}

// allStageIDs lists the stage ids of every file read, for suggestions.
func (l *loader) allStageIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, f := range l.files {
		if f.top == nil {
			continue
		}
		for i := 0; i+1 < len(f.top.Content); i += 2 {
			if f.top.Content[i].Value != "stages" {
				continue
			}
			st := deref(f.top.Content[i+1])
			for j := 0; st.Kind == yaml.MappingNode && j+1 < len(st.Content); j += 2 {
				if id := st.Content[j].Value; !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// Set is a parsed command-line override "STAGE.PARAM=VALUE".
type Set struct {
	// Stage and Param name what to override.
	Stage, Param string
	// Value is VALUE as written.
	Value string
	// Flag is the whole flag, as given.
	Flag string
}

// ParseSet parses a --set flag "STAGE.PARAM=VALUE". VALUE is a YAML scalar
// or flow list ("250", "0.5", "text", "[250, 500]"); for a parameter that is
// a matrix axis, a list replaces the axis values. The error is an *Error
// whose position names the flag.
func ParseSet(s string) (Set, error) {
	pos := Pos{File: fmt.Sprintf("--set %q", clip(s))}
	key, val, ok := strings.Cut(s, "=")
	stage, param, ok2 := strings.Cut(strings.TrimSpace(key), ".")
	if !ok || !ok2 || !stageIDRe.MatchString(stage) || param == "" {
		return Set{}, &Error{Pos: pos, Msg: "an override must have the form STAGE.PARAM=VALUE", Fix: "for example --set noisy.t=[250,500]"}
	}
	if _, err := parseScalarText(val); err != nil {
		return Set{}, &Error{Pos: pos, Msg: "VALUE is not a YAML value: " + err.Error(), Fix: "quote text with spaces or special characters, write lists as [a, b]"}
	}
	return Set{Stage: stage, Param: param, Value: val, Flag: s}, nil
}

// override turns a parsed Set into an override; paths in it are relative to
// the working directory.
func (s Set) override() override {
	n, _ := parseScalarText(s.Value)
	pos := Pos{File: fmt.Sprintf("--set %q", clip(s.Flag))}
	return override{stage: s.Stage, param: s.Param, pos: pos, val: n,
		valPos: func(*yaml.Node) Pos { return pos }, dir: absPath("."), from: "--set"}
}
