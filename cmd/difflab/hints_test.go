package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/dataset"
	"difflab/models/ort"
	"difflab/runner"
)

func TestMissingDataSetNamesTheSetUp(t *testing.T) {
	t.Setenv(dataset.EnvDataDir, t.TempDir())
	w := newWS(t, map[string]string{"digits.yaml": "name: digits\nstages:\n  d:\n    kind: dataset.mnist\n    with: {count: 4}\n"})
	code, _, errs := w.do("plan", w.exp)
	if code != exitValidation || !strings.Contains(errs, "digits.yaml:") || !strings.Contains(errs, "mnist") || !strings.Contains(errs, setupCommand) {
		t.Errorf("plan with no data sets: exit %d, stderr:\n%s\nwant exit %d naming the file, the data set and `%s`", code, errs, exitValidation, setupCommand)
	}
}

func TestSetupHintOnlyForWhatSetUpInstalls(t *testing.T) {
	data := t.TempDir()
	t.Setenv(dataset.EnvDataDir, data)
	t.Setenv(ort.LibEnv, filepath.Join(t.TempDir(), "missing.so"))
	_, libErr := ort.LibraryPath()
	_, _, dataErr := dataset.MNIST.Files(data, dataset.Test)
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no ONNX Runtime library", libErr, true},
		{"no data set", dataErr, true},
		{"unreadable file under the data root", &runner.FileError{Path: filepath.Join(data, "mnist", "x.gz"), Err: os.ErrNotExist}, true},
		{"unreadable file of the user's", &runner.FileError{Path: filepath.Join(t.TempDir(), "photo.png"), Err: os.ErrNotExist}, false},
		{"a path next to the data root", &runner.FileError{Path: data + "-old/x", Err: os.ErrNotExist}, false},
	} {
		if got := setupHint(c.err) != ""; got != c.want {
			t.Errorf("%s (%v): hint %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
