package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/stages/artifact"
)

func TestMetricsTableComparesRuns(t *testing.T) {
	root := t.TempDir()
	f := func(v float64) *float64 { return &v }
	runs := []artifact.Metrics{
		{{Name: "accuracy", Value: 0.9, N: 40, Lo: f(0.8), Hi: f(0.97)}, {Name: "fd", Value: 10, N: 40, Lo: f(8), Hi: f(12)}, {Name: "share_1", Value: 0.1, N: 40}},
		{{Name: "accuracy", Value: 0.88, N: 40, Lo: f(0.78), Hi: f(0.95)}, {Name: "fd", Value: 30, N: 40, Lo: f(26), Hi: f(35)}},
	}
	n := &Node{ID: "metrics", Stage: "metrics", Kind: "metrics.samples", Outputs: []Output{{"metrics", artifact.TypeMetrics}}}
	for i, ms := range runs {
		dir := filepath.Join(root, "run", string(rune('a'+i)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := ms.Save(dir, "metrics"); err != nil {
			t.Fatal(err)
		}
		n.Runs = append(n.Runs, Run{Dir: dir})
	}
	exps := []*Experiment{{Path: "part_b/06_flow_class.yaml", Name: "flow", Profile: "quick", Nodes: []*Node{n}}}
	index, err := Write(exps, Options{Out: filepath.Join(root, "report"), Runs: []string{"before", "after"}, Now: sampleStart})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		`<tr><td><code>metrics</code></td><td>accuracy</td><td>0.9 [0.8, 0.97] n=40</td><td>0.88 [0.78, 0.95] n=40</td><td>-0.02</td></tr>`,
		`<tr class="differs"><td><code>metrics</code></td><td>fd</td><td>10 [8, 12] n=40</td><td>30 [26, 35] n=40</td><td>&#43;20 (beyond the intervals)</td></tr>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(html, "<td>share_1</td>") {
		t.Error("a per-class share is in the headline table")
	}
}
