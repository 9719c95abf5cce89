package modelfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Index is the top-level model.json of a training output directory: it
// lists the saved epochs, each in EpochDir(epoch).
type Index struct {
	Format string `json:"format"`
	Epochs []int  `json:"epochs"`
}

// EpochDir returns the name of the subdirectory holding epoch n, such as
// "epoch_005".
func EpochDir(n int) string { return fmt.Sprintf("epoch_%03d", n) }

// WriteIndex writes dir/model.json listing epochs (sorted, without
// duplicates). Every listed epoch's directory must already hold a model.json.
func WriteIndex(dir string, epochs []int) error {
	es := append([]int(nil), epochs...)
	sort.Ints(es)
	for i, e := range es {
		if e < 1 || (i > 0 && es[i-1] == e) {
			return fmt.Errorf("modelfile: index of %s: epochs %v must be distinct and positive", dir, epochs)
		}
		if _, err := os.Stat(filepath.Join(dir, EpochDir(e), FileName)); err != nil {
			return fmt.Errorf("modelfile: index of %s lists epoch %d: %w", dir, e, err)
		}
	}
	b, err := json.MarshalIndent(Index{Format: Format, Epochs: es}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, FileName), append(b, '\n'), 0o644)
}

// ReadIndex reads the epoch index of a training output directory. ok is false
// (and err nil) when dir/model.json describes a single model instead.
func ReadIndex(dir string) (idx *Index, ok bool, err error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("modelfile: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, false, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	if _, has := raw["epochs"]; !has {
		return nil, false, nil
	}
	var x Index
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, false, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	if x.Format != Format {
		return nil, false, fmt.Errorf("modelfile: %s: field \"format\" is %q, want %q", path, x.Format, Format)
	}
	if len(x.Epochs) == 0 {
		return nil, false, fmt.Errorf("modelfile: %s: field \"epochs\" is empty: the training output holds no saved epoch", path)
	}
	sort.Ints(x.Epochs)
	return &x, true, nil
}

// Resolve returns the model directory for epoch of the model at dir: dir
// itself when it holds a single model (epoch must then be 0 or the model's
// trained epoch), else the directory of that epoch of the training output,
// epoch 0 meaning the last saved one.
func Resolve(dir string, epoch int) (string, error) {
	if epoch < 0 {
		return "", fmt.Errorf("modelfile: epoch %d: want 0 (the last) or a saved epoch", epoch)
	}
	idx, ok, err := ReadIndex(dir)
	if err != nil {
		return "", err
	}
	if !ok {
		if epoch != 0 {
			d, err := Read(dir)
			if err != nil {
				return "", err
			}
			if d.Trained == nil || d.Trained.Epoch != epoch {
				return "", fmt.Errorf("modelfile: %s is a single model, not a training output with epoch %d; use epoch 0", dir, epoch)
			}
		}
		return dir, nil
	}
	if epoch == 0 {
		epoch = idx.Epochs[len(idx.Epochs)-1]
	}
	for _, e := range idx.Epochs {
		if e == epoch {
			return filepath.Join(dir, EpochDir(e)), nil
		}
	}
	return "", fmt.Errorf("modelfile: %s has no epoch %d (saved epochs: %v; 0 = the last)", dir, epoch, idx.Epochs)
}
