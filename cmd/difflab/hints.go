package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"difflab/models/dataset"
	"difflab/models/ort"
	"difflab/runner"
)

// printHints writes, after the message of err, the lines that say how to
// fix its cause: install what is missing, or choose another device.
func printHints(err error) {
	for _, hint := range []string{deviceHint(err), setupHint(err)} {
		if hint != "" {
			fmt.Fprintln(stderr, hint)
		}
	}
}

// setupCommand installs everything difflab needs; the README's set-up.
const setupCommand = "npx --yes rust-just@1.57.0 setup"

// setupHint returns a line telling how to install what err says is missing
// (a data set, the ONNX Runtime library, a downloaded file under the data
// root), or "" when err is about something else.
func setupHint(err error) string {
	var fe *runner.FileError
	missing := errors.Is(err, dataset.ErrNotInstalled) || errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrWrongLibrary) ||
		errors.As(err, &fe) && underDataRoot(fe.Path)
	if !missing {
		return ""
	}
	return "difflab: to install the data sets and libraries difflab needs, run `" + setupCommand + "` in the repository (or scripts/setup.sh)"
}

// underDataRoot reports whether path lies in the data directory.
func underDataRoot(path string) bool {
	root, err := dataset.Root()
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
