package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/logtest"
	"difflab/stages"
	"difflab/stages/artifact"
)

type env struct {
	t       *testing.T
	dir     string
	c       *cache.Cache
	counter string
	results string
	log     *logtest.Buffer
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, c: c, counter: filepath.Join(dir, "counter"), results: filepath.Join(dir, "results"), log: &logtest.Buffer{}}
	t.Setenv("DIFFLAB_TEST_COUNTER", e.counter)
	return e
}

func (e *env) opts() Options {
	return Options{Cache: e.c, Jobs: 2, Results: e.results, Log: zerolog.New(e.log)}
}

func (e *env) run(g *graph, mod ...func(*Options)) *Summary {
	e.t.Helper()
	return e.runCtx(context.Background(), g, mod...)
}

func (e *env) runCtx(ctx context.Context, g *graph, mod ...func(*Options)) *Summary {
	e.t.Helper()
	o := e.opts()
	for _, m := range mod {
		m(&o)
	}
	s, err := Run(ctx, g.g, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// ran returns the sorted stage ids executed since the last call.
func (e *env) ran() []string {
	b, _ := os.ReadFile(e.counter)
	os.Remove(e.counter)
	ids := strings.Fields(string(b))
	sort.Strings(ids)
	return ids
}

func result(t *testing.T, s *Summary, id string) StageResult {
	t.Helper()
	for _, r := range s.Stages {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no stage %s in summary", id)
	return StageResult{}
}

func tensorOf(t *testing.T, c *cache.Cache, key string) []float32 {
	t.Helper()
	e, err := c.Get(key, true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Load("out")
	if err != nil {
		t.Fatal(err)
	}
	return a.(*artifact.Tensor).Data
}

func TestRunComputesAndRerunExecutesNothing(t *testing.T) {
	e := newEnv(t)
	g := chain(2)
	s := e.run(g)
	if s.Executed != 4 || s.Cached != 0 || s.Failed != 0 || got(e.ran()) != "a b c d" {
		t.Fatalf("first run: %+v", s)
	}
	// c = 10 * 2 * (1 + i)
	if d := tensorOf(t, e.c, result(t, s, "c").Key); d[0] != 20 || d[3] != 80 {
		t.Fatalf("c = %v", d)
	}
	s = e.run(chain(2))
	if s.Executed != 0 || s.Cached != 4 || len(e.ran()) != 0 {
		t.Fatalf("rerun executed something: %+v", s)
	}
}

func got(ids []string) string { return strings.Join(ids, " ") }

func TestChangedParameterRerunsStageAndDependents(t *testing.T) {
	e := newEnv(t)
	e.run(chain(2))
	e.ran()
	s := e.run(chain(3))
	if got(e.ran()) != "b c" || s.Executed != 2 || s.Cached != 2 {
		t.Fatalf("after changing b: ran %+v", s)
	}
	if d := tensorOf(t, e.c, result(t, s, "c").Key); d[0] != 30 {
		t.Fatalf("c = %v, want 30 first", d)
	}
	// Going back finds the old entries.
	if s := e.run(chain(2)); s.Executed != 0 {
		t.Fatalf("old parameters recomputed: %+v", s)
	}
}

func TestFailedStageSkipsOnlyDependents(t *testing.T) {
	for _, kind := range []string{"test.fail", "test.panic", "test.noout"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			g := newGraph("x.yaml")
			g.add("noisy[t=250]", kind, nil)
			g.add("den", "test.scale", stages.Params{"factor": 1.0}, "in=noisy[t=250]")
			g.add("plot", "test.scale", stages.Params{"factor": 1.0}, "in=den")
			g.add("other", "test.source", src(1))
			s := e.run(g)
			if s.Failed != 1 || s.Skipped != 2 || s.Executed != 1 {
				t.Fatalf("summary %+v", s)
			}
			if r := result(t, s, "den"); r.Status != StatusSkipped || r.Reason != "input noisy[t=250] failed" {
				t.Fatalf("den: %+v", r)
			}
			if r := result(t, s, "plot"); r.Reason != "input den skipped" {
				t.Fatalf("plot: %+v", r)
			}
			if r := result(t, s, "noisy[t=250]"); r.Error == "" {
				t.Fatalf("failure without error: %+v", r)
			}
			if got(e.ran()) != "noisy[t=250] other" {
				t.Fatal("dependents of a failed stage ran")
			}
			if kind == "test.panic" && !strings.Contains(e.log.String(), "goroutine") {
				t.Fatal("panic logged without its stack")
			}
			if _, err := e.c.Get(result(t, s, "noisy[t=250]").Key, false); err == nil {
				t.Fatal("a failed stage published an entry")
			}
		})
	}
}

func TestCorruptEntryIsRecomputed(t *testing.T) {
	corruptions := map[string]func(t *testing.T, en *cache.Entry){
		"flipped byte": func(t *testing.T, en *cache.Entry) {
			p := filepath.Join(en.OutDir, "out.npy")
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0x40
			os.WriteFile(p, b, 0o644)
			later := time.Now().Add(time.Second) // an edit made later than publication
			os.Chtimes(p, later, later)
		},
		"truncated": func(t *testing.T, en *cache.Entry) {
			os.Truncate(filepath.Join(en.OutDir, "out.npy"), 10)
		},
		"deleted file": func(t *testing.T, en *cache.Entry) {
			os.Remove(filepath.Join(en.OutDir, "out.npy"))
		},
		"garbage manifest": func(t *testing.T, en *cache.Entry) {
			os.WriteFile(filepath.Join(en.Dir, "manifest.json"), []byte("\x00garbage"), 0o644)
		},
		"manifest lacks the output": func(t *testing.T, en *cache.Entry) {
			rewriteManifest(t, en, func(m *cache.Manifest) { m.Outputs = nil })
		},
		"manifest lists no files": func(t *testing.T, en *cache.Entry) {
			rewriteManifest(t, en, func(m *cache.Manifest) { m.Outputs[0].Files = nil })
		},
		"manifest gives another type": func(t *testing.T, en *cache.Entry) {
			rewriteManifest(t, en, func(m *cache.Manifest) { m.Outputs[0].Type = artifact.TypeFigure })
		},
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			s := e.run(chain(2))
			want := tensorOf(t, e.c, result(t, s, "b").Key)
			e.ran()
			en, _ := e.c.Get(result(t, s, "b").Key, false)
			corrupt(t, en)
			s = e.run(chain(2))
			if got(e.ran()) != "b" || s.Executed != 1 {
				t.Fatalf("after corrupting b: %+v", s)
			}
			if !strings.Contains(e.log.String(), "cache entry is invalid; removing it") {
				t.Fatalf("no warning in log:\n%s", e.log)
			}
			if d := tensorOf(t, e.c, result(t, s, "b").Key); d[3] != want[3] {
				t.Fatalf("recomputed b = %v, want %v", d, want)
			}
		})
	}
}

// rewriteManifest rewrites en's manifest as edit changes it.
func rewriteManifest(t *testing.T, en *cache.Entry, edit func(*cache.Manifest)) {
	t.Helper()
	m := *en.Manifest
	m.Outputs = append([]cache.Output(nil), m.Outputs...)
	edit(&m)
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(en.Dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// An artifact that passes the cache's checks (same size and time) but does
// not load fails its consumer once and is recomputed by the next run.
func TestUnloadableInputIsRecomputed(t *testing.T) {
	e := newEnv(t)
	s := e.run(chain(2))
	want := tensorOf(t, e.c, result(t, s, "b").Key)
	a, _ := e.c.Get(result(t, s, "a").Key, false)
	p := filepath.Join(a.OutDir, "out.npy")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(st.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime(), st.ModTime())
	b, _ := e.c.Get(result(t, s, "b").Key, false)
	os.Remove(filepath.Join(b.OutDir, "out.npy"))
	e.ran()

	s = e.run(chain(2))
	if r := result(t, s, "b"); r.Status != StatusFailed || !strings.Contains(r.Error, "next run recomputes a") {
		t.Fatalf("b after a's artifact was damaged: %+v", r)
	}
	s = e.run(chain(2))
	if ran := got(e.ran()); ran != "a b" || s.Failed != 0 {
		t.Fatalf("second run after the damage: ran %v, %+v", ran, s)
	}
	if d := tensorOf(t, e.c, result(t, s, "b").Key); d[3] != want[3] {
		t.Fatalf("recomputed b = %v, want %v", d, want)
	}
}

// Engine checks run before any stage, once per engine, and only for
// engines of stages that would compute.
func TestEngineChecks(t *testing.T) {
	e := newEnv(t)
	b := newGraph("part/engine.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	b.add("y", "test.engine", stages.Params{"value": 2.0})
	b.add("s", "test.source", src(3))
	calls := 0
	check := func(err error) func(*Options) {
		return func(o *Options) {
			o.EngineChecks = map[string]func() error{"onnxruntime": func() error { calls++; return err }}
		}
	}
	o := e.opts()
	check(errors.New("no library"))(&o)
	_, err := Run(context.Background(), b.g, o)
	var ee *EngineError
	if !errors.As(err, &ee) || ee.Engine != "onnxruntime" || got(ee.Stages) != "part/engine.yaml:x part/engine.yaml:y" ||
		!strings.Contains(err.Error(), "no library") || calls != 1 {
		t.Fatalf("failing check: %v (%d calls)", err, calls)
	}
	if ran := e.ran(); len(ran) != 0 {
		t.Fatalf("stages ran despite the failed check: %v", ran)
	}
	calls = 0
	if s := e.run(b, check(nil)); s.Executed != 3 || calls != 1 {
		t.Fatalf("passing check: %+v, %d calls", s, calls)
	}
	calls = 0
	if s := e.run(b, check(errors.New("no library"))); s.Cached != 3 || calls != 0 {
		t.Fatalf("everything cached: %+v, %d calls", s, calls)
	}
}

// A device other than an engine's default enters the keys of the stages
// using the engine (and their consumers'), plan says so, and manifests
// record where each engine ran.
func TestDevicesEnterKeysAndManifests(t *testing.T) {
	e := newEnv(t)
	b := newGraph("part/device.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	b.add("y", "test.scale", stages.Params{"factor": 2.0}, "in=x")
	b.add("s", "test.source", src(3))
	where := "cpu"
	placement := func(o *Options) { o.Placement = func(string) string { return where } }
	cpu := e.run(b, placement)
	if e.ran(); cpu.Executed != 3 {
		t.Fatalf("first run: %+v", cpu)
	}
	m, err := e.c.ReadManifest(result(t, cpu, "x").Key)
	if err != nil || m.Devices["onnxruntime"] != "cpu" {
		t.Fatalf("manifest of x: devices %v, %v", m.Devices, err)
	}
	gpu := func(o *Options) { o.Devices = map[string]string{"onnxruntime": "webgpu"} }
	p, err := Plan(b.g, func() Options { o := e.opts(); gpu(&o); return o }())
	if err != nil {
		t.Fatal(err)
	}
	if r := result(t, p, "x").Reason; r != "device onnxruntime: default -> webgpu (another device rounds differently)" {
		t.Fatalf("plan of x on another device: %q", r)
	}
	if r := result(t, p, "y").Reason; r != "input in (x) changed" || result(t, p, "s").Status != StatusCached {
		t.Fatalf("plan on another device: %+v", p.Stages)
	}
	where = "webgpu: a test adapter"
	s := e.run(b, placement, gpu)
	if got(e.ran()) != "x y" || s.Executed != 2 {
		t.Fatalf("run on another device: ran %+v", s)
	}
	m, err = e.c.ReadManifest(result(t, s, "x").Key)
	if err != nil || m.Devices["onnxruntime"] != where || !slices.Contains(m.KeyLines, "device onnxruntime webgpu") {
		t.Fatalf("manifest of x on the GPU: devices %v, key lines %v, %v", m.Devices, m.KeyLines, err)
	}
	if m, _ := e.c.ReadManifest(result(t, s, "y").Key); len(m.Devices) != 0 {
		t.Fatalf("a stage without engines records devices: %v", m.Devices)
	}
	// Both devices' entries stay valid side by side.
	if s := e.run(b, placement); s.Cached != 3 {
		t.Fatalf("back on the default device: %+v", s)
	}
	if s := e.run(b, placement, gpu); s.Cached != 3 {
		t.Fatalf("again on the other device: %+v", s)
	}
}

func TestPlanExplainsWhy(t *testing.T) {
	e := newEnv(t)
	p, err := Plan(chain(2).g, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if p.WouldRun != 4 || result(t, p, "a").Reason != "no entry (never run)" {
		t.Fatalf("plan before any run: %+v", p)
	}
	if len(e.ran()) != 0 {
		t.Fatal("Plan ran stages")
	}
	e.run(chain(2))
	p, _ = Plan(chain(3).g, e.opts())
	want := map[string]string{
		"a": "",
		"b": "param factor: 2 -> 3",
		"c": "input in (b) changed",
		"d": "",
	}
	for id, reason := range want {
		r := result(t, p, id)
		if r.Reason != reason || (reason == "") != (r.Status == StatusCached) {
			t.Errorf("%s: %s %q, want %q", id, r.Status, r.Reason, reason)
		}
	}
	p, _ = Plan(chain(2).g, func() Options { o := e.opts(); o.Force = true; o.Only = []string{"b"}; return o }())
	if p.WouldRun != 1 || result(t, p, "b").Reason != "forced" || len(p.Stages) != 2 {
		t.Fatalf("forced plan of b: %+v", p)
	}

	// A file's content.
	data := filepath.Join(e.dir, "data", "photo.txt")
	os.MkdirAll(filepath.Dir(data), 0o755)
	os.WriteFile(data, []byte("one"), 0o644)
	fg := func() *graph {
		g := newGraph("f.yaml")
		g.add("read", "test.file", stages.Params{"file": data})
		return g
	}
	e.run(fg())
	os.WriteFile(data, []byte("two"), 0o644)
	p, _ = Plan(fg().g, e.opts())
	if r := result(t, p, "read"); r.Reason != "file photo.txt changed" {
		t.Fatalf("file change: %+v", r)
	}
	// An invalid entry.
	s := e.run(chain(2))
	os.Remove(filepath.Join(e.c.EntryDir(result(t, s, "d").Key), "out", "out.npy"))
	p, _ = Plan(chain(2).g, e.opts())
	if r := result(t, p, "d"); !strings.HasPrefix(r.Reason, "entry invalid: file out.npy") {
		t.Fatalf("invalid entry: %+v", r)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	g := func(factor float64, value float64, file string) map[string]string {
		b := newGraph("k.yaml")
		b.add("a", "test.source", src(value))
		b.add("b", "test.scale", stages.Params{"factor": factor}, "in=a")
		b.add("f", "test.file", stages.Params{"file": file})
		keys, err := Keys(b.g, cache.NewDigester(""), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for n, k := range keys {
			out[n.ID] = k.Key
		}
		return out
	}
	f1 := write("one/photo.png", "pixels")
	base := g(2, 1, f1)
	if again := g(2, 1, f1); again["a"] != base["a"] || again["b"] != base["b"] || again["f"] != base["f"] {
		t.Fatal("keys are not deterministic")
	}
	if k := g(3, 1, f1); k["b"] == base["b"] || k["a"] != base["a"] {
		t.Fatal("a parameter change must change exactly its stage's key (and dependents')")
	}
	if k := g(2, 5, f1); k["a"] == base["a"] || k["b"] == base["b"] {
		t.Fatal("an input's change must change its consumer's key")
	}
	if k := g(2, 1, write("two/photo.png", "pixels")); k["f"] != base["f"] {
		t.Fatal("moving a file (same name and content) changed the key")
	}
	if k := g(2, 1, write("three/photo.png", "pixelz")); k["f"] == base["f"] {
		t.Fatal("a file's content change kept the key")
	}
	if k := g(2, 1, write("one/other.png", "pixels")); k["f"] == base["f"] {
		t.Fatal("a file's name change kept the key")
	}
	b := newGraph("k.yaml")
	b.add("a", "test.source", src(1))
	var out bytes.Buffer
	keys, _ := Keys(b.g, cache.NewDigester(""), nil)
	ExplainKeys(&out, b.g, keys)
	for _, line := range []string{"difflab-cache v1", "kind test.source 1", "param n 4", "param value 1", "param sleep_ms 0"} {
		if !strings.Contains(out.String(), "\t"+line+"\n") {
			t.Errorf("explanation lacks %q:\n%s", line, out.String())
		}
	}
}

func TestResultsFolder(t *testing.T) {
	e := newEnv(t)
	g := newGraph("part_a/1_7_sdedit.yaml")
	g.add("edited[i_start=10]", "test.source", src(1))
	s := e.run(g)
	dir := filepath.Join(e.results, "part_a", "1_7_sdedit", "edited[i_start=10]")
	out := filepath.Join(dir, "out.npy")
	if r := result(t, s, "edited[i_start=10]"); len(r.Outputs) != 1 || r.Outputs[0] != out {
		t.Fatalf("outputs = %v, want [%s]", r.Outputs, out)
	}
	a, err := LoadResult(dir, "out")
	if err != nil || a.(*artifact.Tensor).Data[1] != 2 {
		t.Fatalf("LoadResult = %v, %v", a, err)
	}
	st1, _ := os.Stat(out)
	time.Sleep(10 * time.Millisecond)
	e.run(g) // cached: the folder is already up to date
	if st2, _ := os.Stat(out); !st2.ModTime().Equal(st1.ModTime()) {
		t.Fatal("an up-to-date results folder was rewritten")
	}
	// A stale file disappears when the folder is replaced.
	os.WriteFile(filepath.Join(dir, "stale.txt"), []byte("old"), 0o644)
	g2 := newGraph("part_a/1_7_sdedit.yaml")
	g2.add("edited[i_start=10]", "test.source", src(5))
	if r := result(t, e.run(g2), "edited[i_start=10]"); r.Error != "" {
		t.Fatal(r.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); !os.IsNotExist(err) {
		t.Fatal("stale file survived")
	}
	if a, _ := LoadResult(dir, "out"); a.(*artifact.Tensor).Data[0] != 5 {
		t.Fatal("results folder not updated")
	}
	// Editing a result is repaired on the next run.
	os.WriteFile(out, []byte("edited"), 0o644)
	e.run(g2)
	if a, err := LoadResult(dir, "out"); err != nil || a.(*artifact.Tensor).Data[0] != 5 {
		t.Fatalf("edited result not restored: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary folders left: %v", leftovers)
	}
}

func TestSummaryJSON(t *testing.T) {
	e := newEnv(t)
	g := chain(2)
	g.exp.Nodes = g.exp.Nodes[:0]
	g.g.Experiments = append(g.g.Experiments, &experimentSkipped)
	s := e.run(g)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, f := range []string{"executed", "cached", "failed", "skipped", "interrupted", "seconds", "stages"} {
		if _, ok := m[f]; !ok {
			t.Errorf("summary JSON lacks %q: %s", f, b)
		}
	}
	st := m["stages"].([]any)
	first := st[0].(map[string]any)
	if first["status"] != "skipped" || first["reason"] != experimentSkipped.Skipped || m["skipped"].(float64) != 1 {
		t.Errorf("skipped experiment: %v", first)
	}
	last := st[len(st)-1].(map[string]any)
	for _, f := range []string{"experiment", "id", "kind", "status", "key", "seconds", "outputs"} {
		if _, ok := last[f]; !ok {
			t.Errorf("stage JSON lacks %q: %v", f, last)
		}
	}
}

func TestOnlyAndForce(t *testing.T) {
	e := newEnv(t)
	s := e.run(chain(2), func(o *Options) { o.Only = []string{"b"} })
	if got(e.ran()) != "a b" || len(s.Stages) != 2 {
		t.Fatalf("--only b: %+v", s)
	}
	s = e.run(chain(2), func(o *Options) { o.Only = []string{"b"}; o.Force = true })
	if got(e.ran()) != "b" || result(t, s, "a").Status != StatusCached {
		t.Fatalf("--only b --force: %+v", s)
	}
	if s = e.run(chain(2), func(o *Options) { o.Force = true }); got(e.ran()) != "a b c d" {
		t.Fatalf("--force: %+v", s)
	}
	if _, err := Run(context.Background(), chain(2).g, Options{Cache: e.c, Only: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "stages: a, b, c, d") {
		t.Fatalf("unknown --only: %v", err)
	}
}

// interruptWhenReady sets test.block's mode and returns a context that is
// cancelled once the kind signals it is ready (signalReady writes a file in
// dir).
func interruptWhenReady(t *testing.T, dir, mode string) context.Context {
	ready := filepath.Join(dir, "ready")
	t.Setenv("DIFFLAB_TEST_MODE", mode)
	t.Setenv("DIFFLAB_TEST_READY", ready)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(ready); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ctx
}

func TestInterruptKeepsState(t *testing.T) {
	e := newEnv(t)
	g := newGraph("i.yaml")
	g.add("train", "test.block", nil)
	ctx := interruptWhenReady(t, e.dir, "state")
	s := e.runCtx(ctx, g)
	res := result(t, s, "train")
	if !s.Interrupted || res.Status != StatusSkipped || res.Reason != "interrupted while running; its saved state resumes on the next run" {
		t.Fatalf("interrupted stage with state: %+v", res)
	}
	if !e.c.HasState(res.Key) {
		t.Fatal("the interrupted stage's state was removed")
	}
}

func TestInterruptPublishesNothing(t *testing.T) {
	e := newEnv(t)
	g := newGraph("i.yaml")
	g.add("slow", "test.block", nil)
	g.add("after", "test.scale", stages.Params{"factor": 1.0}, "in=slow")
	ctx := interruptWhenReady(t, e.dir, "run")
	s := e.runCtx(ctx, g)
	if !s.Interrupted || s.Executed != 0 || result(t, s, "after").Status != StatusSkipped {
		t.Fatalf("summary: %+v", s)
	}
	if _, err := e.c.Get(result(t, s, "slow").Key, false); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("interrupted stage left an entry: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(e.c.Root(), "tmp")); len(left) != 0 {
		t.Fatalf("interrupted stage left %d temporary directories", len(left))
	}
}

func TestStateResumes(t *testing.T) {
	e := newEnv(t)
	g := newGraph("r.yaml")
	g.add("train", "test.resume", nil)
	s := e.run(g)
	if s.Failed != 1 {
		t.Fatalf("first run: %+v", s)
	}
	p, err := Plan(g.g, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if r := result(t, p, "train").Reason; !strings.HasSuffix(r, "; resumes from its saved state") {
		t.Fatalf("plan after a failed run with state: %q", r)
	}
	if st, err := e.c.States(); err != nil || len(st) != 1 || st[0].Owner != "r.yaml train" {
		t.Fatalf("states after a failed run: %+v, %v", st, err)
	}
	s = e.run(g)
	en, err := e.c.Get(result(t, s, "train").Key, false)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := en.Load("text"); a != artifact.Text("resumed after epoch 1") {
		t.Fatalf("second run did not resume: %v", a)
	}
	if e.c.HasState(en.Key) {
		t.Fatal("state kept after the entry was published")
	}
}

// TestDamagedStateIsDiscarded changes a byte of a saved state: plan says
// the state is damaged and what the run will do, and the run discards it
// with a warning and resumes from the state saved before it, or starts
// over when none is left.
func TestDamagedStateIsDiscarded(t *testing.T) {
	e := newEnv(t)
	g := newGraph("r.yaml")
	g.add("train", "test.resume", nil)
	key := result(t, e.run(g), "train").Key
	plan := func() string {
		t.Helper()
		p, err := Plan(g.g, e.opts())
		if err != nil {
			t.Fatal(err)
		}
		return result(t, p, "train").Reason
	}
	// A second save keeps the first as the previous state.
	if err := e.c.State(key, "r.yaml train").Save("epoch", func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "n"), []byte("2"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	newest := filepath.Join(e.c.Root(), "state", key, "epoch")
	if err := os.WriteFile(filepath.Join(newest, "n"), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	damage := "saved state " + cache.Short(key) + "/epoch: file n has SHA-256 "
	if r := plan(); !strings.Contains(r, "; resumes from its previous saved state, the newest is damaged ("+damage) {
		t.Fatalf("plan with a damaged newest state: %q", r)
	}
	if err := os.WriteFile(filepath.Join(newest+".previous", "n"), []byte("12"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := plan(); !strings.Contains(r, "; starts over: its saved state is damaged ("+damage) ||
		!strings.Contains(r, "; saved state "+cache.Short(key)+"/epoch.previous: file n is 2 bytes, its record says 1) and will be discarded") {
		t.Fatalf("plan with both states damaged: %q", r)
	}
	os.WriteFile(filepath.Join(newest+".previous", "n"), []byte("1"), 0o644)
	s := e.run(g)
	en, err := e.c.Get(result(t, s, "train").Key, false)
	if err != nil {
		t.Fatalf("the run after the damage: %v\n%s", err, e.log.String())
	}
	if a, _ := en.Load("text"); a != artifact.Text("resumed after epoch 1") {
		t.Fatalf("the run after the damage did not resume from the previous state: %v", a)
	}
	if !strings.Contains(e.log.String(), `"stage":"r.yaml:train"`) || !strings.Contains(e.log.String(), damage) {
		t.Fatalf("no warning naming the stage and the damaged file:\n%s", e.log.String())
	}
}

// modelEntry runs a graph of one test.model stage m in experiment m.yaml
// and returns its graph and cache entry.
func modelEntry(t *testing.T, e *env) (*graph, *cache.Entry) {
	t.Helper()
	g := newGraph("m.yaml")
	g.add("m", "test.model", nil)
	s := e.run(g)
	en, err := e.c.Get(result(t, s, "m").Key, false)
	if err != nil {
		t.Fatal(err)
	}
	return g, en
}

func TestModelFilesAreLinked(t *testing.T) {
	e := newEnv(t)
	_, en := modelEntry(t, e)
	same := func(rel string) bool {
		a, err := os.Stat(filepath.Join(en.OutDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(ResultDir(e.results, "m.yaml", "m"), rel))
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(a, b)
	}
	if !same("model/epoch_001/weights.bin") {
		t.Error("the results folder holds a copy of the 1 MiB weights, not a link to the cache entry")
	}
	for _, small := range []string{"model/model.json", "text.txt"} {
		if same(small) {
			t.Errorf("the results folder links %s, which a user may edit", small)
		}
	}
}

func TestProgressIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := progressLogger(zerolog.New(&buf), 2*time.Second, func() time.Time { return now })
	for i := 1; i <= 10; i++ {
		now = now.Add(time.Second)
		p(i, 10, "step")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// Logged at 1 s, 3 s, 5 s, 7 s, 9 s and the final 10 s.
	if len(lines) != 6 {
		t.Fatalf("%d progress lines:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], `"pct":"30%"`) || !strings.Contains(lines[1], `"eta":"7s"`) {
		t.Fatalf("second line %s", lines[1])
	}

	// A resumed stage starts at 50 of 100 and then does 1 per second.
	buf.Reset()
	p = progressLogger(zerolog.New(&buf), 2*time.Second, func() time.Time { return now })
	for i := 50; i <= 52; i++ {
		now = now.Add(time.Second)
		p(i, 100, "step")
	}
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "eta") || !strings.Contains(lines[1], `"eta":"48s"`) {
		t.Fatalf("resumed progress:\n%s", buf.String())
	}
}

func TestIdenticalNodesOfTwoExperimentsRunOnce(t *testing.T) {
	e := newEnv(t)
	g := newGraph("one.yaml")
	g.add("img", "test.source", src(3))
	g.add("bad", "test.fail", nil)
	other := newGraph("two.yaml")
	other.add("img", "test.source", src(3))
	other.add("bad", "test.fail", nil)
	g.g.Experiments = append(g.g.Experiments, other.exp)
	g.g.Nodes = append(g.g.Nodes, other.g.Nodes...)
	s := e.run(g)
	if got(e.ran()) != "bad img" || s.Executed != 1 || s.Cached != 1 || s.Failed != 2 {
		t.Fatalf("summary %+v", s)
	}
	for _, r := range s.Stages {
		if r.Status == StatusCached {
			if len(r.Outputs) != 1 || !strings.Contains(r.Outputs[0], r.Experiment[:3]) {
				t.Fatalf("shared node's results not copied to its own experiment: %+v", r)
			}
		}
	}
}

func TestReproduce(t *testing.T) {
	e := newEnv(t)
	first := e.run(chain(2))
	e.ran()
	reproduce := func(o *Options) { o.Reproduce = true; o.Only = []string{"a"} }
	s := e.run(chain(2), reproduce)
	if r := result(t, s, "a"); got(e.ran()) != "a" || r.Status != StatusExecuted || !strings.HasPrefix(r.Reason, "reproduced") {
		t.Fatalf("reproducing a deterministic stage: %+v", r)
	}
	t.Setenv("DIFFLAB_TEST_SALT", "1")
	s = e.run(chain(2), reproduce)
	if r := result(t, s, "a"); r.Status != StatusFailed || !strings.Contains(r.Error, "out.npy differs") {
		t.Fatalf("reproducing a stage with an influence missing from its key: %+v", r)
	}
	if !strings.Contains(e.log.String(), "param value 1") {
		t.Fatal("key lines not logged")
	}
	if d := tensorOf(t, e.c, result(t, first, "a").Key); d[0] != 1 {
		t.Fatalf("reproducing replaced the entry: %v", d)
	}
}
