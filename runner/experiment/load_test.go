package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// load loads paths and fails the test on error.
func load(t *testing.T, paths []string, opts Options) *Graph {
	t.Helper()
	g, err := Load(paths, opts)
	if err != nil {
		var b strings.Builder
		PrintError(&b, err)
		t.Fatalf("Load: %s", b.String())
	}
	return g
}

// loadErr loads paths and returns the error list, failing if there is none.
func loadErr(t *testing.T, paths []string, opts Options) ErrorList {
	t.Helper()
	g, err := Load(paths, opts)
	var list ErrorList
	if !errors.As(err, &list) || g != nil {
		t.Fatalf("Load returned %v, %v; want a nil graph and an ErrorList", g, err)
	}
	return list
}

// ids returns the node ids in order.
func ids(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

// node returns the node with id, failing if there is none.
func node(t *testing.T, e *Experiment, id string) *Node {
	t.Helper()
	for _, n := range e.Nodes {
		if n.ID == id {
			return n
		}
	}
	t.Fatalf("no node %s in %v", id, ids(e.Nodes))
	return nil
}

// sources formats a port's sources as "id.output".
func sources(n *Node, port string) []string {
	var out []string
	for _, s := range n.Inputs[port] {
		out = append(out, s.Node.ID+"."+s.Output)
	}
	return out
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestForward(t *testing.T) {
	g := load(t, []string{"testdata/ok/forward.yaml"}, Options{})
	eq(t, "experiments", len(g.Experiments), 1)
	e := g.Experiments[0]
	eq(t, "Path", e.Path, "testdata/ok/forward.yaml") // relative to the working directory
	eq(t, "File", e.File, "testdata/ok/forward.yaml")
	eq(t, "Name", e.Name, "1.1 Forward process")
	eq(t, "Doc", e.Doc, "Noise a test image to t = 250, 500 and 750.\n")
	eq(t, "Profile", e.Profile, "quick")
	want := []string{"image", "noisy[t=250]", "noisy[t=500]", "noisy[t=750]", "figure"}
	eq(t, "ids", ids(e.Nodes), want)
	eq(t, "graph ids", ids(g.Nodes), want)
	n := node(t, e, "noisy[t=500]")
	eq(t, "params", map[string]any(n.Params), map[string]any{"t": 500, "seed": 180, "scale": 1.0, "schedule": "linear"})
	eq(t, "matrix", n.Matrix, map[string]any{"t": 500})
	eq(t, "matrix order", n.MatrixOrder, []string{"t"})
	eq(t, "inputs", sources(n, "images"), []string{"image.images"})
	eq(t, "pos", n.Pos, Pos{File: "testdata/ok/forward.yaml", Line: 8, Col: 3})
	if n.Experiment != e || n.Kind.Name != "exptest.noise" || n.Stage != "noisy" {
		t.Errorf("node fields: %+v", n)
	}
	f := node(t, e, "figure")
	eq(t, "figure inputs", sources(f, "images"), []string{"image.images", "noisy[t=250].noisy", "noisy[t=500].noisy", "noisy[t=750].noisy"})
	eq(t, "figure params", map[string]any(f.Params), map[string]any{
		"titles": []string{"original", "t={t}"}, "cols": 0, "scales": []float64{1, 2}, "show": true})
	if f.Matrix != nil || len(f.Inputs) != 1 {
		t.Errorf("figure: matrix %v, inputs %v", f.Matrix, f.Inputs)
	}
}

func TestSweeps(t *testing.T) {
	e := load(t, []string{"testdata/ok/sweeps/sweeps.yaml"}, Options{}).Experiments[0]
	// Producers first; ties in definition order; expansions in matrix order,
	// the last axis fastest.
	eq(t, "ids", ids(e.Nodes), []string{
		"src[seed=1,split=train]", "src[seed=1,split=test]", "src[seed=2,split=train]", "src[seed=2,split=test]",
		"noisy[seed=2]", "noisy[seed=1]", "total", "figure", "again[seed=1]",
	})
	n := node(t, e, "src[seed=2,split=test]")
	eq(t, "matrix", n.Matrix, map[string]any{"seed": 2, "split": "test"})
	eq(t, "matrix order", n.MatrixOrder, []string{"seed", "split"})
	noisy := node(t, e, "noisy[seed=1]")
	eq(t, "noisy inputs", sources(noisy, "images"), []string{"src[seed=2,split=test].images"})
	eq(t, "noisy scale (int literal for a float)", noisy.Params["scale"], any(3.0))
	eq(t, "total inputs", sources(node(t, e, "total"), "tensors"), []string{"noisy[seed=2].eps", "noisy[seed=1].eps"})
	fig := node(t, e, "figure")
	eq(t, "figure images", sources(fig, "images"), []string{
		"src[seed=1,split=test].images", "src[seed=2,split=test].images", "noisy[seed=2].noisy", "noisy[seed=1].noisy"})
	eq(t, "figure caption", sources(fig, "caption"), []string{"total.text"})
	eq(t, "titles (one value for a list)", fig.Params["titles"], any([]string{"t={t}"}))
	eq(t, "scales", fig.Params["scales"], any([]float64{1, 2.5}))
	again := node(t, e, "again[seed=1]")
	eq(t, "zip", sources(again, "images"), []string{"noisy[seed=1].noisy"})
	eq(t, "merge key", map[string]any(again.Params), map[string]any{"t": 5, "seed": 1, "scale": 3.0, "schedule": "cosine"})
}

func TestIncludes(t *testing.T) {
	abs, _ := filepath.Abs("testdata/ok/includes/models")
	g := load(t, []string{"testdata/ok/includes/main.yaml", "testdata/ok/includes/other.yaml"}, Options{})
	main, other := g.Experiments[0], g.Experiments[1]
	eq(t, "main ids", ids(main.Nodes), []string{"model", "image", "sampled", "noisy[t=100]", "noisy[t=200]"})
	eq(t, "other ids", ids(other.Nodes), []string{"model", "sampled"})
	m := node(t, main, "model")
	eq(t, "path relative to the include", m.Params["file"], any(filepath.Join(abs, "m.onnx")))
	eq(t, "files", m.Files, []string{filepath.Join(abs, "m.onnx"), filepath.Join(abs, "weights.bin")})
	eq(t, "pos in the include", m.Pos, Pos{File: "testdata/ok/includes/common/_shared.yaml", Line: 5, Col: 3})
	if om := node(t, other, "model"); om == m || om.Experiment != other || !reflect.DeepEqual(om.Params, m.Params) {
		t.Errorf("each experiment needs its own, identical model node")
	}
	s := node(t, main, "sampled")
	// The include's quick profile sets steps and cfg; the experiment's wins on cfg.
	eq(t, "params", map[string]any(s.Params), map[string]any{"steps": 2, "cfg": 4.0, "prompt": ""})
	eq(t, "inputs", sources(s, "model"), []string{"model.model"})
	eq(t, "start", sources(s, "start"), []string{"image.images"})
	eq(t, "other params", node(t, other, "sampled").Params["cfg"], any(3.0))
	eq(t, "other start", len(node(t, other, "sampled").Inputs), 1)
	eq(t, "graph nodes", len(g.Nodes), 7)
}

func TestProfiles(t *testing.T) {
	file := []string{"testdata/ok/includes/main.yaml"}
	e := load(t, file, Options{Profile: "full"}).Experiments[0]
	eq(t, "profile", e.Profile, "full")
	eq(t, "full steps", node(t, e, "sampled").Params["steps"], any(50))
	eq(t, "full cfg is the default", node(t, e, "sampled").Params["cfg"], any(1.0))

	// A single value for a matrix axis gives a one-value axis.
	e = load(t, file, Options{Profile: "tiny"}).Experiments[0]
	eq(t, "tiny ids", ids(e.Nodes), []string{"model", "image", "sampled", "noisy[t=9]"})

	// --set wins over the profile; a list replaces the axis values.
	e = load(t, file, Options{Profile: "tiny", Sets: []string{"sampled.steps=7", "noisy.t=[3, 4]", "sampled.prompt=a photo"}}).Experiments[0]
	eq(t, "set ids", ids(e.Nodes), []string{"model", "image", "sampled", "noisy[t=3]", "noisy[t=4]"})
	eq(t, "set steps", node(t, e, "sampled").Params["steps"], any(7))
	eq(t, "set prompt", node(t, e, "sampled").Params["prompt"], any("a photo"))

	list := loadErr(t, file, Options{Profile: "fulll"})
	if len(list) != 1 || list[0].Pos != (Pos{File: file[0], Line: 3, Col: 1}) || !strings.Contains(list[0].Msg, `unknown profile "fulll"`) ||
		!strings.Contains(list[0].Fix, `did you mean "full"? (known profiles: full, quick, tiny)`) {
		t.Errorf("unknown profile: %v", list)
	}
	// quick and full always exist.
	load(t, []string{"testdata/ok/forward.yaml"}, Options{Profile: "full"})
}

func TestSetPaths(t *testing.T) {
	// A path given with --set is relative to the working directory.
	e := load(t, []string{"testdata/ok/includes/main.yaml"}, Options{Sets: []string{"model.file=testdata/ok/forward.yaml"}}).Experiments[0]
	want, _ := filepath.Abs("testdata/ok/forward.yaml")
	eq(t, "path", node(t, e, "model").Params["file"], any(want))
}

func TestSetErrors(t *testing.T) {
	for _, tc := range []struct {
		set   string
		words []string
	}{
		{"noisy.t", []string{"STAGE.PARAM=VALUE"}},
		{"noisy=3", []string{"STAGE.PARAM=VALUE"}},
		{"noisy.t=[1,", []string{"not a YAML value"}},
		{"nosiy.t=3", []string{`no loaded experiment has a stage "nosiy"`, `did you mean "noisy"?`}},
		{"noisy.tt=3", []string{`--set: kind exptest.noise of stage noisy has no parameter "tt"`, `did you mean "t"?`}},
		{"noisy.t=x", []string{`--set for matrix axis "t" of stage noisy: value must be an integer`}},
		{"noisy.t=[]", []string{`--set for matrix axis "t" has no values`}},
		{"noisy.seed=[1]", []string{`--set: parameter "seed" of stage noisy must be one int value, not a list`}},
		{"model.file=nope.onnx", []string{"nope.onnx does not exist", "working directory"}},
		{"model.file=testdata", []string{"testdata is a directory", "name a file"}},
		{"model.file=/dev/zero", []string{"zero is not a regular file but a character device", "name a regular file"}},
	} {
		list := loadErr(t, []string{"testdata/ok/forward.yaml", "testdata/ok/includes/main.yaml"}, Options{Sets: []string{tc.set}})
		if len(list) != 1 {
			t.Errorf("--set %s: got %d errors, want 1: %v", tc.set, len(list), list)
			continue
		}
		e := list[0]
		if e.Pos.File != `--set "`+tc.set+`"` || e.Pos.Line != 0 || !containsAll(e.Msg+" "+e.Fix, tc.words) || e.Fix == "" {
			t.Errorf("--set %s: %v, want position --set and %q", tc.set, e, tc.words)
		}
	}
	// An error of the kind's Check about a parameter given with --set
	// points at the flag.
	list := loadErr(t, []string{"testdata/ok/forward.yaml"}, Options{Sets: []string{"noisy.scale=7"}})
	if len(list) != 1 || list[0].Pos.File != `--set "noisy.scale=7"` || !strings.Contains(list[0].Msg, "parameter scale: 7 is refused") {
		t.Errorf("--set noisy.scale=7: %v", list)
	}
	if _, err := ParseSet("a.b=[1, 2]"); err != nil {
		t.Errorf("ParseSet: %v", err)
	}
	s, _ := ParseSet("noisy.t=250")
	eq(t, "ParseSet", s, Set{Stage: "noisy", Param: "t", Value: "250", Flag: "noisy.t=250"})
}

func TestWalk(t *testing.T) {
	g := load(t, []string{"testdata/ok/walk"}, Options{})
	var paths, skipped []string
	for _, e := range g.Experiments {
		paths = append(paths, e.Path)
		skipped = append(skipped, e.Skipped)
	}
	// Sorted by path; _common.yaml is include-only.
	eq(t, "paths", paths, []string{"testdata/ok/walk/a.yaml", "testdata/ok/walk/b.yaml", "testdata/ok/walk/sub/a.yaml"})
	eq(t, "skipped", skipped, []string{"", "", "missing ../missing.onnx: export it first"})
	eq(t, "skipped nodes", len(g.Experiments[2].Nodes), 0)
	eq(t, "ids", ids(g.Nodes), []string{"image", "image", "copy"})

	// Named explicitly, the same experiment fails.
	list := loadErr(t, []string{"testdata/ok/walk/sub/a.yaml"}, Options{})
	if len(list) != 1 || list[0].Pos != (Pos{File: "testdata/ok/walk/sub/a.yaml", Line: 3, Col: 5}) ||
		!strings.Contains(list[0].Msg, "required file ../missing.onnx is missing") || list[0].Fix != "export it first" {
		t.Errorf("requires: %v", list)
	}
	// A file named twice, or found again in a directory, loads once.
	g = load(t, []string{"testdata/ok/walk/a.yaml", "testdata/ok/walk"}, Options{Root: "testdata/ok/walk"})
	eq(t, "experiments", len(g.Experiments), 3)
}

func TestRoot(t *testing.T) {
	e := load(t, []string{"testdata/ok/experiments/part_a/one.yaml"}, Options{}).Experiments[0]
	eq(t, "path under experiments/", e.Path, "part_a/one.yaml")
	eq(t, "default name", e.Name, "part_a/one")
	e = load(t, []string{"testdata/ok/experiments/part_a/one.yaml"}, Options{Root: "testdata/ok"}).Experiments[0]
	eq(t, "path under Root", e.Path, "experiments/part_a/one.yaml")
	// However the run names it, an experiment has one path, so its results
	// land in one folder.
	for _, arg := range []string{"testdata/ok/experiments", "testdata/ok/experiments/part_a", "testdata/ok/experiments/part_a/"} {
		e = load(t, []string{arg}, Options{}).Experiments[0]
		eq(t, "path of an experiment found under "+arg, e.Path, "part_a/one.yaml")
	}
	for _, arg := range []string{"testdata/ok/walk", "testdata/ok/walk/sub", "testdata/ok"} {
		for _, e := range load(t, []string{arg}, Options{}).Experiments {
			if e.File == "testdata/ok/walk/b.yaml" || e.File == "testdata/ok/walk/sub/a.yaml" {
				eq(t, "path of "+e.File+" found under "+arg, e.Path, e.File)
			}
		}
	}
	// Two files with the same path under different roots would share results.
	list := loadErr(t, []string{"testdata/ok/walk/a.yaml", "testdata/ok/walk/sub/a.yaml"}, Options{Root: "testdata/ok/nowhere"})
	if len(list) != 1 || !strings.Contains(list[0].Msg, "both have the path a.yaml") {
		t.Errorf("path collision: %v", list)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("doc: "+strings.Repeat("x", maxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		words []string
	}{
		{big, []string{"cannot read the file", "more than the limit of 1048576"}},
		{"/dev/null", []string{"not a regular file"}},
		{filepath.Join(dir, "nope.yaml"), []string{"cannot open experiment: no such file or directory"}},
		{empty, []string{"no experiment files under"}},
	} {
		list := loadErr(t, []string{tc.path}, Options{})
		if len(list) != 1 || list[0].Pos.File != tc.path || !containsAll(list[0].Msg, tc.words) {
			t.Errorf("%s: %v, want %q", tc.path, list, tc.words)
		}
	}
	loadErr(t, nil, Options{})
}

func TestErrorsAreSortedAndCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("stages:\n")
	for i := range MaxErrors + 5 {
		b.WriteString("  s" + strings.Repeat("x", i) + ": {kind: nope}\n")
	}
	file := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	list := loadErr(t, []string{file}, Options{})
	eq(t, "errors", len(list), MaxErrors+5)
	for i, e := range list {
		if e.Pos.Line != i+2 || e.Pos.Col != 13+i {
			t.Errorf("error %d at %s", i, e.Pos)
		}
	}
	lines := strings.Split(list.Error(), "\n")
	eq(t, "lines", len(lines), MaxErrors+1)
	eq(t, "last line", lines[MaxErrors], "... and 5 more errors")
}

func TestPrintError(t *testing.T) {
	_, err := Load([]string{"testdata/errors/params.yaml"}, Options{})
	var b strings.Builder
	PrintError(&b, err)
	want := "testdata/errors/params.yaml:8:7: unknown parameter \"sed\" of kind exptest.source\n" +
		"    8 |       sed: 3               # want 8:7 \"unknown parameter \\\"sed\\\"\" \"did you mean \\\"seed\\\"\"\n" +
		"      |       ^\n" +
		"    fix: did you mean \"seed\"?\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("PrintError wrote\n%s\nwant it to contain\n%s", b.String(), want)
	}
	b.Reset()
	PrintError(&b, errors.New("plain"))
	eq(t, "plain", b.String(), "plain\n")
}

func TestAliasBombs(t *testing.T) {
	// 2000 stages each using a list of 2000 values through an alias: about
	// 20 MiB expanded, within maxExpanded, but more values than maxValues.
	var b strings.Builder
	b.WriteString("stages:\n  s0: {kind: exptest.grid, in: {images: img}, with: {scales: &a [")
	for i := range 2000 {
		fmt.Fprintf(&b, "%d, ", i)
	}
	b.WriteString("1]}}\n  img: {kind: exptest.source}\n")
	for i := 1; i < 2000; i++ {
		fmt.Fprintf(&b, "  s%d: {kind: exptest.grid, in: {images: img}, with: {scales: *a}}\n", i)
	}
	// Merge keys naming the same mapping many times, nested: 50^15 entries.
	var m strings.Builder
	m.WriteString("stages:\n  m0: &m0 {kind: exptest.source}\n")
	for i := 1; i < 16; i++ {
		fmt.Fprintf(&m, "  m%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 50), ", "))
	}
	// A large text used through an alias 100000 times: 10 GB expanded.
	var r strings.Builder
	r.WriteString("doc: &r \"img.images" + strings.Repeat(" ", 100000) + "\"\nstages:\n  img: {kind: exptest.source}\n  g: {kind: exptest.grid, in: {images: [")
	r.WriteString(strings.Repeat("*r, ", 100000) + "img]}}\n")
	for _, tc := range []struct{ name, text, want string }{
		{"values", b.String(), "more than 2000000 values"},
		{"merges", m.String(), "more than 32 MiB of YAML"},
		{"text", r.String(), "more than 32 MiB of YAML"},
		{"loop", "stages: &s {x: {kind: exptest.source, in: {a: *s}}}\n", "an alias names a value that contains it"},
	} {
		file := filepath.Join(t.TempDir(), "bomb.yaml")
		if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		list := loadErr(t, []string{file}, Options{})
		found := false
		for _, e := range list {
			found = found || strings.Contains(e.Msg, tc.want)
		}
		if !found {
			t.Errorf("%s: no error with %q: %v", tc.name, tc.want, list)
		}
	}
}

func TestPosString(t *testing.T) {
	eq(t, "full", Pos{File: "a.yaml", Line: 3, Col: 5}.String(), "a.yaml:3:5")
	eq(t, "no column", Pos{File: "a.yaml", Line: 3}.String(), "a.yaml:3")
	eq(t, "no line", Pos{File: "a.yaml"}.String(), "a.yaml")
}

func TestInheritedSweeps(t *testing.T) {
	e := load(t, []string{"testdata/ok/inherit/inherit.yaml"}, Options{}).Experiments[0]
	// A stage's own axes come first, inherited ones after (varying fastest).
	eq(t, "ids", ids(e.Nodes), []string{
		"image", "noisy[t=250]", "noisy[t=500]", "noisy[t=750]",
		"blurred[t=250]", "blurred[t=500]", "blurred[t=750]",
		"denoised[sigma=1,t=250]", "denoised[sigma=1,t=500]", "denoised[sigma=1,t=750]",
		"denoised[sigma=2,t=250]", "denoised[sigma=2,t=500]", "denoised[sigma=2,t=750]",
		"both[t=250]", "both[t=500]", "both[t=750]",
		"seeds[seed=1]", "seeds[seed=2]",
		"cross[sigma=1,t=250,seed=1]", "cross[sigma=1,t=250,seed=2]", "cross[sigma=1,t=500,seed=1]", "cross[sigma=1,t=500,seed=2]",
		"cross[sigma=1,t=750,seed=1]", "cross[sigma=1,t=750,seed=2]", "cross[sigma=2,t=250,seed=1]", "cross[sigma=2,t=250,seed=2]",
		"cross[sigma=2,t=500,seed=1]", "cross[sigma=2,t=500,seed=2]", "cross[sigma=2,t=750,seed=1]", "cross[sigma=2,t=750,seed=2]",
		"pick", "figure", "zipped[t=750]", "zipped[t=250]",
	})
	b := node(t, e, "blurred[t=500]")
	eq(t, "inherited matrix", b.Matrix, map[string]any{"t": 500})
	eq(t, "inherited matrix order", b.MatrixOrder, []string{"t"})
	eq(t, "params stay the kind's", map[string]any(b.Params), map[string]any{"kernel": 5, "sigma": 1.0})
	eq(t, "blurred inputs", sources(b, "images"), []string{"noisy[t=500].noisy"})

	d := node(t, e, "denoised[sigma=2,t=750]")
	eq(t, "chain matrix", d.Matrix, map[string]any{"sigma": 2.0, "t": 750})
	eq(t, "chain matrix order", d.MatrixOrder, []string{"sigma", "t"})
	eq(t, "chain params", map[string]any(d.Params), map[string]any{"kernel": 3, "sigma": 2.0})
	eq(t, "chain inputs", sources(d, "images"), []string{"blurred[t=750].images"})
	if d2 := node(t, e, "denoised[sigma=2,t=500]"); reflect.ValueOf(d.Params).Pointer() == reflect.ValueOf(d2.Params).Pointer() {
		t.Error("expansions that differ only in inherited axes share one Params map")
	}

	eq(t, "zip by value of two inputs", sources(node(t, e, "both[t=750]"), "images"), []string{"noisy[t=750].noisy", "blurred[t=750].images"})
	c := node(t, e, "cross[sigma=2,t=250,seed=1]")
	eq(t, "cross matrix order", c.MatrixOrder, []string{"sigma", "t", "seed"})
	eq(t, "cross matrix", c.Matrix, map[string]any{"sigma": 2.0, "t": 250, "seed": 1})
	eq(t, "cross inputs", sources(c, "images"), []string{
		"denoised[sigma=2,t=250].images", "seeds[seed=1].noisy", "noisy[t=500].noisy", "blurred[t=750].images"})
	eq(t, "cross params", map[string]any(c.Params), map[string]any{"titles": []string{}, "cols": 0, "scales": []float64{1, 2}, "show": true})

	p := node(t, e, "pick")
	eq(t, "selector on an inherited axis", sources(p, "images"), []string{"denoised[sigma=2,t=500].images"})
	if p.Matrix != nil {
		t.Errorf("pick: matrix %v", p.Matrix)
	}

	// The figure's titles use {t}: every source it collects carries t.
	f := node(t, e, "figure")
	var ts []any
	for _, src := range f.Inputs["images"] {
		ts = append(ts, src.Node.Matrix["t"])
	}
	eq(t, "titles data", ts, []any{250, 500, 750, 250, 500, 750})

	z := node(t, e, "zipped[t=250]")
	eq(t, "zip with an inherited axis", sources(z, "images"), []string{"blurred[t=250].images"})
	eq(t, "zip params", z.Params["t"], any(250))

	// --set on the producer's axis flows downstream, in the new order.
	e = load(t, []string{"testdata/ok/inherit/inherit.yaml"}, Options{Sets: []string{"noisy.t=[750, 500]", "zipped.t=500"}}).Experiments[0]
	var got []string
	for _, n := range e.Nodes {
		if n.Stage == "blurred" || n.Stage == "denoised" || n.Stage == "zipped" {
			got = append(got, n.ID)
		}
	}
	eq(t, "ids with --set", got, []string{"blurred[t=750]", "blurred[t=500]",
		"denoised[sigma=1,t=750]", "denoised[sigma=1,t=500]", "denoised[sigma=2,t=750]", "denoised[sigma=2,t=500]", "zipped[t=500]"})
	eq(t, "nodes with --set", len(e.Nodes), 1+2+2+4+2+2+8+1+1+1)

	// An inherited axis is not a parameter: --set says where to change it.
	list := loadErr(t, []string{"testdata/ok/inherit/inherit.yaml"}, Options{Sets: []string{"blurred.t=[250]"}})
	if len(list) != 1 || !strings.Contains(list[0].Msg, `kind exptest.blur of stage blurred has no parameter "t"`) ||
		!strings.Contains(list[0].Fix, "set it where it is swept, such as noisy.t") {
		t.Errorf("--set on an inherited axis: %v", list)
	}
}

func TestInheritedLimits(t *testing.T) {
	seeds := make([]string, 5000)
	for i := range seeds {
		seeds[i] = fmt.Sprint(i)
	}
	ids := "doc: &x 1234567890\nstages:\n  s:\n    kind: exptest.source\n    matrix:\n      indices: [[" +
		strings.Repeat("*x, ", 3000) + "1]]\n      seed: [" + strings.Join(seeds[:2000], ", ") + "]\n"
	for _, tc := range []struct{ name, text, want string }{
		{"nodes", "stages:\n  src: {kind: exptest.source, matrix: {seed: [" + strings.Join(seeds, ", ") + "]}}\n" +
			"  b: {kind: exptest.blur, in: {images: src}}\n  c: {kind: exptest.source}\n",
			"with the sweeps stages inherit from their inputs, the experiment expands to 10001 nodes, more than the limit of 10000"},
		{"ids", ids, "the ids of the experiment's nodes would take more than 16 MiB"},
	} {
		file := filepath.Join(t.TempDir(), "exp.yaml")
		if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		list := loadErr(t, []string{file}, Options{})
		if len(list) != 1 || !strings.Contains(list[0].Msg, tc.want) {
			t.Errorf("%s: %v, want one error with %q", tc.name, list, tc.want)
		}
	}
}

func TestPathMustNameARegularFile(t *testing.T) {
	// Reading a FIFO blocks until a writer comes: an experiment naming one
	// is refused at its line instead of hanging the run.
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	exp := filepath.Join(dir, "fifo.yaml")
	os.WriteFile(exp, []byte("stages:\n  model:\n    kind: exptest.model\n    with: {file: pipe}\n"), 0o644)
	list := loadErr(t, []string{exp}, Options{})
	if len(list) != 1 || list[0].Pos.Line != 4 || !strings.Contains(list[0].Msg, "pipe is not a regular file but a FIFO") {
		t.Fatalf("a path naming a FIFO: %v", list)
	}
}

func TestExpectationsFollowTheProfile(t *testing.T) {
	bounds := func(profile string) map[string]string {
		g := load(t, []string{"testdata/ok/expect.yaml"}, Options{Profile: profile})
		out := map[string]string{}
		for _, e := range node(t, g.Experiments[0], "measured").Expect {
			out[e.Metric] = e.String()
			if e.Pos.Line == 0 {
				t.Errorf("%s: the expectation on %s has no position", profile, e.Metric)
			}
		}
		return out
	}
	eq(t, "quick", bounds("quick"), map[string]string{"accuracy": "min 0.5", "fd": "max 40"})
	eq(t, "full", bounds("full"), map[string]string{"accuracy": "min 0.9", "fd": "max 20"})
	e := Expectation{Metric: "fd", Min: new(float64), Max: nil}
	if !e.Holds(0) || e.Holds(-1) {
		t.Errorf("min 0 holds for 0 but not for -1; got %v and %v", e.Holds(0), e.Holds(-1))
	}
}
