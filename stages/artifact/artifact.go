// Package artifact defines the typed values that stages exchange and how each
// is stored on disk.
//
// # Overview
//
// Every output of a stage is an Artifact of one Type. The runner stores it in
// a cache entry directory with Save and reads it back with Load; the same
// files, under the same stable names, are copied to the results folder.
//
//	images  <name>.npy (float32, N x C x H x W) and <name>.json (value range)
//	tensor  <name>.npy (float32, any shape)
//	labels  <name>.npy (int64, N)
//	series  <name>.json (named scalar series, for loss curves)
//	figure  <name>.png
//	model   <name>/ (a directory: model files and their description)
//	text    <name>.txt
//
// # Invariants
//
// Save writes only below dir and only files whose names start with name, so
// several outputs can share one directory. Load never returns a partially
// decoded artifact: any problem is an error naming the file.
package artifact

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"difflab/models/tensor"
)

// Type names the kind of value an artifact holds. Stage ports declare a Type
// and the runner checks, before running anything, that every input is fed by
// an output of the same Type.
type Type string

// The artifact types.
const (
	TypeImages  Type = "images"
	TypeTensor  Type = "tensor"
	TypeLabels  Type = "labels"
	TypeSeries  Type = "series"
	TypeFigure  Type = "figure"
	TypeModel   Type = "model"
	TypeText    Type = "text"
	TypeMetrics Type = "metrics"
)

// Artifact is a typed stage output.
type Artifact interface {
	// Type reports the artifact's type.
	Type() Type
	// Save writes the artifact into dir under names that start with name and
	// returns the paths it wrote, relative to dir, in a stable order.
	Save(dir, name string) ([]string, error)
}

// Load reads the artifact of type t saved under name in dir.
func Load(t Type, dir, name string) (Artifact, error) {
	switch t {
	case TypeImages:
		return loadImages(dir, name)
	case TypeTensor:
		return loadTensor(dir, name)
	case TypeLabels:
		return loadLabels(dir, name)
	case TypeSeries:
		return loadSeries(dir, name)
	case TypeFigure:
		return loadFigure(dir, name)
	case TypeModel:
		return loadModel(dir, name)
	case TypeText:
		return loadText(dir, name)
	case TypeMetrics:
		return loadMetrics(dir, name)
	}
	return nil, fmt.Errorf("artifact: unknown type %q (known: %v)", t, Types())
}

// Types lists the artifact types in sorted order.
func Types() []Type {
	ts := []Type{TypeImages, TypeTensor, TypeLabels, TypeSeries, TypeFigure, TypeModel, TypeText, TypeMetrics}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// writeFile writes data to dir/rel, creating parent directories.
func writeFile(dir, rel string, data []byte) error {
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// LinkOrCopy makes to a hard link to from, creating parent directories, or
// a copy where the file system cannot link (another device, say). A file
// already at to is replaced, never written through. Use it for files that
// are never modified in place: the two names share the data.
func LinkOrCopy(from, to string) error {
	if err := replaceable(to); err != nil {
		return err
	}
	if err := os.Link(from, to); err == nil {
		return nil
	}
	return CopyFile(from, to)
}

// CopyFile copies the file from to to, streaming, creating parent
// directories. A file already at to is replaced, never written through (it
// may be a link that shares its data with another file).
func CopyFile(from, to string) error {
	if err := replaceable(to); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// replaceable creates the parent directories of path and removes a file
// already there.
func replaceable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// readNPY reads and decodes an NPY file, naming the file in any error.
func readNPY(path string) ([]int, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	shape, data, err := tensor.DecodeNPY(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return shape, data, nil
}
