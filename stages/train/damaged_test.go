package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"difflab/stages"
)

// flipBit changes one bit of the file at path: the most significant bit
// of the mantissa of its last float32 (little-endian), which changes the
// value by less than half and keeps it finite.
func flipBit(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// truncate cuts the file at path to half its size.
func truncate(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedCheckpoint stops a run on a cache's state store after the
// first step of its second epoch, which leaves two checkpoints: the newest
// after that step and the one before it after epoch 1. It damages the saved
// files on disk (or saves a state that is no checkpoint), runs again, and
// checks that the damage is reported, that the run resumes from the newest
// intact checkpoint (or starts over when none is left) and that it ends with
// the outputs of an uninterrupted run.
func TestDamagedCheckpoint(t *testing.T) {
	needMNIST(t)
	set := stages.Params{"keep": []int{1}}
	for k, v := range tiny {
		set[k] = v
	}
	whole := newContext(t, context.Background(), "train.denoiser", set, nil, nil)
	if err := whole.Kind.Run(whole); err != nil {
		t.Fatal(err)
	}
	const damaged = "discarded a damaged checkpoint"
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, st stages.State, newest, previous string)
		// warnings are what the rerun's log must say; start is its first
		// step.
		warnings []string
		start    string
	}{
		{"weights bit", func(t *testing.T, _ stages.State, n, _ string) {
			flipBit(t, filepath.Join(n, "train", "weights.safetensors"))
		}, []string{damaged, "train/weights.safetensors"}, "epoch 2/2 step 1/3"},
		{"optimiser bit", func(t *testing.T, _ stages.State, n, _ string) {
			flipBit(t, filepath.Join(n, "train", "adam.safetensors"))
		}, []string{damaged, "train/adam.safetensors"}, "epoch 2/2 step 1/3"},
		{"truncated weights", func(t *testing.T, _ stages.State, n, _ string) {
			truncate(t, filepath.Join(n, "train", "weights.safetensors"))
		}, []string{damaged, "train/weights.safetensors"}, "epoch 2/2 step 1/3"},
		{"truncated epoch model", func(t *testing.T, _ stages.State, n, _ string) {
			truncate(t, filepath.Join(n, "model", "epoch_001", "model.onnx"))
		}, []string{damaged, "model/epoch_001/model.onnx"}, "epoch 2/2 step 1/3"},
		{"both damaged", func(t *testing.T, _ stages.State, n, p string) {
			truncate(t, filepath.Join(n, "model", "epoch_001", "weights.safetensors"))
			flipBit(t, filepath.Join(p, "train", "adam.safetensors"))
		}, []string{damaged, "model/epoch_001/weights.safetensors", "train/adam.safetensors"}, "epoch 1/2 step 1/3"},
		// An intact state that is no checkpoint (no train/state.json) does
		// not stop the stage either.
		{"not a checkpoint", func(t *testing.T, st stages.State, _, _ string) {
			if err := st.Save(stateName, func(dir string) error {
				return os.WriteFile(filepath.Join(dir, "notes"), []byte("x"), 0o644)
			}); err != nil {
				t.Fatal(err)
			}
		}, []string{"cannot resume from the saved checkpoint", "state.json"}, "epoch 1/2 step 1/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, root := newState(t)
			cctx, cancel := context.WithCancel(context.Background())
			killed := newContext(t, cctx, "train.denoiser", set, st, func(done, total int, detail string) {
				if strings.HasPrefix(detail, "epoch 2/2") {
					cancel()
				}
			})
			if err := killed.Kind.Run(killed); err == nil {
				t.Fatal("the stopped run did not fail")
			}
			newest := filepath.Join(root, stateName)
			tc.damage(t, st, newest, newest+".previous")

			var first string
			rerun := newContext(t, context.Background(), "train.denoiser", set, st, func(done, total int, detail string) {
				if first == "" {
					first = detail
				}
			})
			var log bytes.Buffer
			rerun.Log = zerolog.New(&log)
			if err := rerun.Kind.Run(rerun); err != nil {
				t.Fatalf("the run after the damage failed: %v\n%s", err, log.String())
			}
			if !strings.HasPrefix(first, tc.start) {
				t.Errorf("the run after the damage began with %q, want %q", first, tc.start)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(log.String(), w) {
					t.Errorf("the log does not say %q:\n%s", w, log.String())
				}
			}
			sameOutputs(t, whole, rerun)
		})
	}
}
