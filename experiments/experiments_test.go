// Package experiments_test checks the shipped experiments against the real
// stage kinds: each loads and plans in both profiles, so a renamed
// parameter or kind breaks a test, not a user's run.
package experiments_test

import (
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

// load loads every shipped experiment with the profile and overrides.
func load(t *testing.T, profile string, sets ...string) *experiment.Graph {
	t.Helper()
	g, err := experiment.Load([]string{"."}, experiment.Options{Profile: profile, Sets: sets})
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
		k, err := runner.Keys(g, cache.NewDigester(""))
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
