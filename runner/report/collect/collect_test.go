package collect

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/runner/report"
	"difflab/stages"
	"difflab/stages/artifact"
)

// plotKind stands for a plotting stage: a figure and a loss curve out.
var plotKind = &stages.Kind{
	Name: "test.plot", Version: 1,
	Outputs: []stages.Port{{Name: "figure", Type: artifact.TypeFigure}, {Name: "loss", Type: artifact.TypeSeries}},
	Params:  []stages.Param{{Name: "steps", Type: stages.Int}, {Name: "image", Type: stages.Path}},
	Run:     func(*stages.Context) error { return nil },
}

// graph returns one experiment with a two-value sweep "plot" collected by
// nothing; keys are made up per node.
func graph() (*experiment.Graph, map[*experiment.Node]string) {
	e := &experiment.Experiment{Path: "part_a/1_1_forward.yaml", Name: "1.1 Forward", Doc: "Noise <the> image.", Profile: "quick"}
	keys := map[*experiment.Node]string{}
	for i, t := range []int{250, 500} {
		n := &experiment.Node{
			ID: "plot[t=" + report.FormatValue(t) + "]", Stage: "plot", Experiment: e, Kind: plotKind,
			Params: stages.Params{"steps": 10 * (i + 1), "image": "/abs/data/campanile.png", "t": t},
			Matrix: map[string]any{"t": t}, MatrixOrder: []string{"t"},
		}
		e.Nodes = append(e.Nodes, n)
		keys[n] = strings.Repeat(string(rune('a'+i)), 64)
	}
	skipped := &experiment.Experiment{Path: "extras/deepfloyd.yaml", Name: "DeepFloyd", Skipped: "models/deepfloyd/stage1.onnx is missing"}
	return &experiment.Graph{Experiments: []*experiment.Experiment{skipped, e}, Nodes: e.Nodes}, keys
}

// publish writes an entry for n under key with a 4x4 PNG and a loss curve.
func publish(t *testing.T, c *cache.Cache, n *experiment.Node, key string, steps int) {
	t.Helper()
	p, err := c.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))
	fig, err := (&artifact.Figure{PNG: buf.Bytes()}).Save(p.OutDir(), "figure")
	if err != nil {
		t.Fatal(err)
	}
	loss, err := (&artifact.Series{Lines: []artifact.Line{{X: []float64{0, 1}, Y: []float64{1, 0.5}}}}).Save(p.OutDir(), "loss")
	if err != nil {
		t.Fatal(err)
	}
	m := &cache.Manifest{
		Kind: n.Kind.Name, KindVersion: 1, Stage: n.ID, Experiment: n.Experiment.Path,
		Params:  map[string]any{"steps": steps, "image": "/elsewhere/campanile.png", "t": n.Matrix["t"]},
		Outputs: []cache.Output{{Name: "figure", Type: artifact.TypeFigure, Files: []cache.File{{Path: fig[0]}}}, {Name: "loss", Type: artifact.TypeSeries, Files: []cache.File{{Path: loss[0]}}}},
		Start:   time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Seconds: 2.5,
		Engines: map[string]string{"onnxruntime": "1.22.0"},
	}
	if _, err := p.Commit(m); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLast(n.Experiment.Path, n.ID, key); err != nil {
		t.Fatal(err)
	}
}

func openCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExperimentsByCurrentKeys(t *testing.T) {
	g, keys := graph()
	c := openCache(t)
	publish(t, c, g.Nodes[0], keys[g.Nodes[0]], 10)
	// An older entry for the second node, under a key the graph no longer has.
	publish(t, c, g.Nodes[1], strings.Repeat("f", 64), 5)

	exps := Experiments(g, []Source{{Label: "results", Cache: c, Expected: Expect(g, g, keys)}})
	if len(exps) != 2 || exps[0].Path != "part_a/1_1_forward.yaml" || exps[1].Skipped == "" {
		t.Fatalf("experiments not in write-up order or skip lost: %+v", exps)
	}
	nodes := exps[0].Nodes
	if nodes[0].Kind != "test.plot" || len(nodes[0].Outputs) != 2 || nodes[0].Matrix[0] != (report.Value{Name: "t", Value: "250"}) {
		t.Fatalf("node 0: %+v", nodes[0])
	}
	r0, r1 := nodes[0].Runs[0], nodes[1].Runs[0]
	if !r0.Computed() || r0.Provenance == nil || r0.Provenance.Key != keys[g.Nodes[0]] || r0.Provenance.Duration != 2500*time.Millisecond {
		t.Fatalf("computed node: %+v %+v", r0, r0.Provenance)
	}
	if got := r0.Provenance.Engines; len(got) != 1 || got[0] != "onnxruntime 1.22.0" {
		t.Errorf("engines %v", got)
	}
	if _, err := os.Stat(filepath.Join(r0.Dir, "figure.png")); err != nil {
		t.Errorf("run dir does not hold the figure: %v", err)
	}
	if r1.Computed() {
		t.Error("node whose current key has no entry shows as computed")
	}
	if want := "image=campanile.png steps=20 t=500"; values(r1.Params) != want {
		t.Errorf("params %q, want %q (from the graph, paths as base names)", values(r1.Params), want)
	}
}

func TestExperimentsCompareByLastKey(t *testing.T) {
	g, keys := graph()
	mine, other := openCache(t), openCache(t)
	publish(t, mine, g.Nodes[0], keys[g.Nodes[0]], 10)
	publish(t, other, g.Nodes[0], strings.Repeat("9", 64), 1000)

	exps := Experiments(g, []Source{{Label: "quick", Cache: mine, Expected: Expect(g, g, keys)}, {Label: "full", Cache: other}})
	n := exps[0].Nodes[0]
	if len(n.Runs) != 2 || !n.Runs[0].Computed() || !n.Runs[1].Computed() {
		t.Fatalf("runs: %+v", n.Runs)
	}
	if want := "image=campanile.png steps=1000 t=250"; values(n.Runs[1].Params) != want {
		t.Errorf("compared params %q, want %q (from the other manifest)", values(n.Runs[1].Params), want)
	}
	if n.Runs[1].Provenance.Key != strings.Repeat("9", 64) {
		t.Errorf("compared key %s", n.Runs[1].Provenance.Key)
	}
	if exps[0].Nodes[1].Runs[1].Computed() {
		t.Error("node never run in the other cache shows as computed")
	}

	index, err := report.Write(exps, report.Options{Out: t.TempDir(), Runs: []string{"quick", "full"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(index)
	html := string(b)
	for _, want := range []string{"Plot with t=250 (figure)", `<tr class="differs"><td>plot</td><td>steps</td><td>10</td><td>1000</td></tr>`, "Noise &lt;the&gt; image.", "models/deepfloyd/stage1.onnx is missing"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestDamagedEntryIsAProblem(t *testing.T) {
	g, keys := graph()
	c := openCache(t)
	publish(t, c, g.Nodes[0], keys[g.Nodes[0]], 10)
	if err := os.WriteFile(filepath.Join(c.EntryDir(keys[g.Nodes[0]]), "out", "figure.png"), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Experiments(g, []Source{{Label: "results", Cache: c, Expected: Expect(g, g, keys)}})[0].Nodes[0].Runs[0]
	if r.Computed() || !strings.Contains(r.Problem, "figure.png") {
		t.Fatalf("damaged entry: computed=%v problem=%q", r.Computed(), r.Problem)
	}
}

func TestExpectMatchesAnotherProfile(t *testing.T) {
	g, keys := graph()
	full, fullKeys := graph()
	for i, n := range full.Nodes {
		n.Params["steps"] = 1000 + i
		fullKeys[n] = strings.Repeat(string(rune('c'+i)), 64)
	}
	c := openCache(t)
	publish(t, c, g.Nodes[0], keys[g.Nodes[0]], 10)
	publish(t, c, full.Nodes[0], fullKeys[full.Nodes[0]], 1000)

	exps := Experiments(g, []Source{{Label: "quick", Cache: c, Expected: Expect(g, g, keys)}, {Label: "full", Cache: c, Expected: Expect(g, full, fullKeys)}})
	n0, n1 := exps[0].Nodes[0], exps[0].Nodes[1]
	if !n0.Runs[1].Computed() || n0.Runs[1].Provenance.Key != fullKeys[full.Nodes[0]] {
		t.Fatalf("full run of node 0 not found by the full profile's key: %+v", n0.Runs[1])
	}
	if !n0.Runs[0].Computed() || n0.Runs[0].Provenance.Key != keys[g.Nodes[0]] {
		t.Fatalf("quick run of node 0: %+v", n0.Runs[0])
	}
	if n1.Runs[1].Computed() {
		t.Error("node 1 was never run with the full profile")
	}
	if want := "image=campanile.png steps=1001 t=500"; values(n1.Runs[1].Params) != want {
		t.Errorf("full params of an uncomputed node %q, want %q", values(n1.Runs[1].Params), want)
	}
}

func values(vs []report.Value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Name + "=" + v.Value
	}
	return strings.Join(parts, " ")
}
