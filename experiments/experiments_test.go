// Package experiments_test checks the shipped experiments against the real
// stage kinds: each loads and plans in both profiles, so a renamed
// parameter or kind breaks a test, not a user's run.
package experiments_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/runner"
	"difflab/runner/cache"
	"difflab/runner/experiment"
	_ "difflab/stages/all"
)

// needData points DIFFLAB_DATA at the installed data sets, whose digests
// are part of the keys of the stages that read them.
func needData(t *testing.T) {
	t.Helper()
	dir := os.Getenv("DIFFLAB_DATA")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", ".difflab", "data"))
		if _, err := os.Stat(filepath.Join(dir, "mnist")); err != nil {
			t.Skipf("no data sets in %s: run `npx --yes rust-just@1.57.0 setup` (the test recipe does)", dir)
		}
		t.Setenv("DIFFLAB_DATA", dir)
	}
	for _, set := range []string{"mnist", "fashion-mnist"} {
		if _, err := os.Stat(filepath.Join(dir, set)); err != nil {
			t.Fatalf("DIFFLAB_DATA=%s lacks %s: %v", dir, set, err)
		}
	}
}

// shippedMemory is the memory every shipped stage fits in, by its kind's
// estimate, in both profiles.
const shippedMemory = 8 << 30

// load loads every shipped experiment with the profile and overrides.
func load(t *testing.T, profile string, sets ...string) *experiment.Graph {
	t.Helper()
	g, err := experiment.Load([]string{"."}, experiment.Options{Profile: profile, Sets: sets, MaxMemory: shippedMemory})
	if err != nil {
		t.Fatalf("profile %s: %v", profile, err)
	}
	return g
}

func TestEveryExperimentLoadsAndPlans(t *testing.T) {
	needData(t)
	for _, profile := range []string{"quick", "full"} {
		t.Run(profile, func(t *testing.T) {
			g := load(t, profile)
			for _, e := range g.Experiments {
				// Only the DeepFloyd IF experiments may lack files: IF's
				// weights are exported by the user.
				if e.Skipped != "" && !strings.HasPrefix(e.Path, "deepfloyd/") {
					t.Errorf("%s is skipped: %s", e.Path, e.Skipped)
				}
			}
			c, err := cache.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s, err := runner.Plan(g, runner.Options{Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			if s.WouldRun < 100 || s.WouldRun != len(g.Nodes) {
				t.Errorf("%d of %d stages would run in an empty cache", s.WouldRun, len(g.Nodes))
			}
		})
	}
}

func TestPresentationStaysOutOfTrainingKeys(t *testing.T) {
	needData(t)
	keys := func(sets ...string) map[string]string {
		g := load(t, "quick", sets...)
		k, err := runner.Keys(g, cache.NewDigester(""), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for n, nk := range k {
			if n.Experiment.Path == "part_b/07_no_scheduler.yaml" {
				out[n.ID] = nk.Key
			}
		}
		return out
	}
	before := keys()
	after := keys(`loss_iter.labels=["lr 1e-2, decaying", "lr 1e-3, clipped"]`, `loss_iter.title=Loss`)
	for _, id := range []string{"flow_clip", "flow_class", "samples[epoch=10]"} {
		if before[id] == "" || before[id] != after[id] {
			t.Errorf("renaming a loss curve changed the key of %s: %s -> %s", id, before[id], after[id])
		}
	}
	if before["loss_iter"] == after["loss_iter"] {
		t.Error("the plot's own key ignores its labels")
	}
}

// docBlock returns the indented block that follows the line starting with
// header in the documentation text doc.
func docBlock(t *testing.T, doc, header string) string {
	t.Helper()
	i := strings.Index(doc, "// "+header)
	if i < 0 {
		t.Fatalf("doc.go has no %q", header)
	}
	var b strings.Builder
	for _, l := range strings.Split(doc[i:], "\n")[2:] { // skip the header and the blank line
		if !strings.HasPrefix(l, "//\t") {
			break
		}
		b.WriteString(strings.TrimPrefix(l, "//\t") + "\n")
	}
	return b.String()
}

// TestDocExample loads and plans the example of the experiment format's
// documentation (which the README points to) with the real stage kinds,
// beside the shipped files it includes.
func TestDocExample(t *testing.T) {
	needData(t)
	doc, err := os.ReadFile(filepath.Join("..", "runner", "experiment", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "experiments")
	files := map[string]string{
		"part_a/my_sdedit.yaml": docBlock(t, string(doc), "experiments/part_a/my_sdedit.yaml"),
		"part_a/_mine.yaml":     docBlock(t, string(doc), "experiments/part_a/_mine.yaml"),
	}
	for _, shipped := range []string{"part_a/_ddpm.yaml", "images/shirt.png"} {
		b, err := os.ReadFile(shipped)
		if err != nil {
			t.Fatal(err)
		}
		files[shipped] = string(b)
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loadOne := func(profile string) *experiment.Experiment {
		t.Helper()
		g, err := experiment.Load([]string{root}, experiment.Options{Profile: profile})
		if err != nil {
			t.Fatalf("the documented example does not load (profile %s): %v", profile, err)
		}
		c, err := cache.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runner.Plan(g, runner.Options{Cache: c}); err != nil {
			t.Fatalf("the documented example does not plan (profile %s): %v", profile, err)
		}
		return g.Experiments[0]
	}
	edits := func(e *experiment.Experiment) (n int) {
		for _, node := range e.Nodes {
			if node.Stage == "edited" {
				n++
			}
		}
		return n
	}
	e := loadOne("quick")
	if e.Path != "part_a/my_sdedit.yaml" || edits(e) != 2 {
		t.Errorf("quick: path %s with %d edits, want part_a/my_sdedit.yaml with 2", e.Path, edits(e))
	}
	for _, node := range e.Nodes {
		if node.ID == "figure" && len(node.Inputs["images"]) != 3 {
			t.Errorf("figure has %d images, want the shirt and both edits", len(node.Inputs["images"]))
		}
	}
	if e := loadOne("full"); edits(e) != 6 {
		t.Errorf("full: %d edits, want 6", edits(e))
	}
	// Without the required image, the experiment is skipped when found in
	// a directory and an error at its requires entry when named.
	os.Remove(filepath.Join(root, "images/shirt.png"))
	g, err := experiment.Load([]string{root}, experiment.Options{})
	if err != nil {
		t.Fatalf("without the image, the directory does not load: %v", err)
	}
	if !strings.Contains(g.Experiments[0].Skipped, "go run draw.go") {
		t.Errorf("without the image: skipped %q", g.Experiments[0].Skipped)
	}
	_, err = experiment.Load([]string{filepath.Join(root, "part_a/my_sdedit.yaml")}, experiment.Options{})
	if err == nil || !strings.Contains(err.Error(), "my_sdedit.yaml:7:5") {
		t.Errorf("named without its image: %v", err)
	}
}

func TestMisspeltPromptFailsBeforeTraining(t *testing.T) {
	needData(t)
	for _, tc := range []struct{ file, set, want, fix string }{
		{"part_a/07_sdedit.yaml", `edit_test.prompt=a photo of a sneeker`,
			`parameter prompt: the model of stage ddpm does not know the prompt "a photo of a sneeker"`, `did you mean "a photo of a sneaker"?`},
		{"part_a/11_anagrams.yaml", `pair1.prompts=["a photo of a dress", "a photo of a bagg"]`,
			`parameter prompts: the model of stage ddpm does not know the prompt "a photo of a bagg"`, `did you mean "a photo of a bag"?`},
	} {
		_, err := experiment.Load([]string{tc.file}, experiment.Options{Sets: []string{tc.set}})
		var list experiment.ErrorList
		if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, tc.want) || list[0].Fix != tc.fix {
			t.Errorf("--set %s: %v", tc.set, err)
		}
	}
}

func TestStagesTooBigForTheMachineAreRefusedAtLoad(t *testing.T) {
	needData(t)
	dir := t.TempDir()
	exp := filepath.Join(dir, "big.yaml")
	os.WriteFile(exp, []byte(`stages:
  noise:
    kind: noise.pure
    with: {n: 100000, channels: 4, size: 4096}
  model:
    kind: train.flow
    with: {hidden: 1024, batch: 60000}
`), 0o644)
	_, err := experiment.Load([]string{exp}, experiment.Options{MaxMemory: 24 << 30})
	var list experiment.ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("Load = %v, want two errors", err)
	}
	for i, want := range []struct {
		line     int
		msg, fix string
	}{
		{4, "parameter n: the stage needs about 48.8 TiB of memory, more than the 24.0 GiB allowed", "lower n, channels, size"},
		{7, "parameter batch: the stage needs about 9.2 TiB of memory", "lower batch, hidden"},
	} {
		if e := list[i]; e.Pos.Line != want.line || !strings.Contains(e.Msg, want.msg) || e.Fix != want.fix {
			t.Errorf("error %d: %v; want line %d, %q, fix %q", i, e, want.line, want.msg, want.fix)
		}
	}
}
