package main

import (
	"fmt"
	"os"

	"difflab/runner"
	"difflab/runner/export"
	"difflab/stages/artifact"
)

func init() {
	register("export", "write one output of a stage as .npy, .png, .json or .txt", cmdExport)
}

func cmdExport(args []string) int {
	fs := newFlagSet("export", "KEY|RESULTS_PATH OUTPUT --to FILE",
		"Write output OUTPUT of a stage, named by its cache key (or a unique prefix) or\n"+
			"by its results folder, to FILE in the format of FILE's extension: images and\n"+
			"tensors to .npy, images to a PNG grid, figures to .png, series to .json, text\n"+
			"to .txt.")
	dir := addCacheFlag(fs)
	to := fs.String("to", "", "file to write (.npy, .png, .json or .txt)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 || *to == "" {
		fs.Usage()
		return exitUsage
	}
	from, output := pos[0], pos[1]
	var a artifact.Artifact
	var err error
	if info, statErr := os.Stat(from); statErr == nil && info.IsDir() {
		a, err = runner.LoadResult(from, output)
	} else {
		c, ok := openCache(*dir)
		if !ok {
			return exitError
		}
		var key string
		if key, err = c.Resolve(from); err == nil {
			e, gerr := c.Get(key, true)
			if gerr != nil {
				err = gerr
			} else {
				a, err = e.Load(output)
			}
		}
	}
	if err == nil {
		err = export.Write(a, *to)
	}
	if err != nil {
		fmt.Fprintln(stderr, "difflab export:", err)
		return exitError
	}
	return exitOK
}
