// Package dataset reads the data difflab learns from and conditions on: the
// MNIST-like data sets (IDX files under a data root) and PNG or JPEG images,
// as plain tensors with values in [0, 1].
//
// # Overview
//
// Data sets live under a data root: $DIFFLAB_DATA, or .difflab/data in the
// working directory (see Root). Each data set is a directory of IDX files
// (see Dataset); ReadIDX decodes them and Dataset.Load turns them into
// N x 1 x H x W images in [0, 1] and int64 labels. LoadImage decodes an image
// file into a 1 x C x H x W tensor in [0, 1], and Resize resamples one.
//
// A data set that is not installed gives an error wrapping ErrNotInstalled,
// which callers can turn into set-up instructions.
package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"difflab/models/tensor"
)

// EnvDataDir is the environment variable naming the data directory; without
// it the directory is DefaultDataDir below the working directory.
const EnvDataDir = "DIFFLAB_DATA"

// DefaultDataDir is the data directory difflab's set-up fills, relative to
// the repository root.
const DefaultDataDir = ".difflab/data"

// Root returns the absolute data directory: $DIFFLAB_DATA, or
// .difflab/data in the working directory.
func Root() (string, error) {
	dir := os.Getenv(EnvDataDir)
	if dir == "" {
		dir = DefaultDataDir
	}
	return filepath.Abs(dir)
}

// Dataset describes an MNIST-like data set: 28 x 28 grayscale images with
// labels 0..9, stored as IDX files (gzip-compressed or not) under
// <root>/<Dir>/ with the standard names train-images-idx3-ubyte[.gz],
// train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and
// t10k-labels-idx1-ubyte[.gz].
type Dataset struct {
	// Name is the data set's name in stage kinds ("dataset.<Name>").
	Name string
	// Dir is the data set's directory below the data root.
	Dir string
	// Classes names the labels 0..9.
	Classes []string
	// Sizes gives the number of images of each split.
	Sizes map[string]int
}

// The two splits of a data set.
const (
	Train = "train"
	Test  = "test"
)

// MNIST is the MNIST handwritten digits data set.
var MNIST = &Dataset{
	Name:    "mnist",
	Dir:     "mnist",
	Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	Sizes:   map[string]int{Train: 60000, Test: 10000},
}

// FashionMNISTClasses names the ten Fashion-MNIST labels.
var FashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// FashionMNIST is the Fashion-MNIST clothing data set.
var FashionMNIST = &Dataset{
	Name:    "fashion_mnist",
	Dir:     "fashion-mnist",
	Classes: FashionMNISTClasses,
	Sizes:   map[string]int{Train: 60000, Test: 10000},
}

// ErrNotInstalled is wrapped by the error of a data set whose files are not
// under the data root.
var ErrNotInstalled = errors.New("data set not installed")

// Files returns the paths of the images and labels files of split under the
// data root, preferring the gzip-compressed names. The error of a missing
// data set wraps ErrNotInstalled.
func (d *Dataset) Files(root, split string) (images, labels string, err error) {
	prefix := map[string]string{Train: "train", Test: "t10k"}[split]
	if prefix == "" {
		return "", "", fmt.Errorf("%s: unknown split %q, want %q or %q", d.Name, split, Train, Test)
	}
	find := func(base string) (string, error) {
		for _, name := range []string{base + ".gz", base} {
			p := filepath.Join(root, d.Dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
		}
		return "", fmt.Errorf("%w: %s: %s(.gz) not found in %s (set %s to a directory holding %s/)",
			ErrNotInstalled, d.Name, base, filepath.Join(root, d.Dir), EnvDataDir, d.Dir)
	}
	if images, err = find(prefix + "-images-idx3-ubyte"); err != nil {
		return "", "", err
	}
	if labels, err = find(prefix + "-labels-idx1-ubyte"); err != nil {
		return "", "", err
	}
	return images, labels, nil
}

// Load reads the images with the given indices (all of the split when
// indices is nil) and their labels. The images are N x 1 x 28 x 28 with
// values in [0, 1] (pixel / 255).
func (d *Dataset) Load(root, split string, indices []int) (*tensor.Tensor, []int64, error) {
	imgPath, lblPath, err := d.Files(root, split)
	if err != nil {
		return nil, nil, err
	}
	imgs, err := ReadIDX(imgPath)
	if err != nil {
		return nil, nil, err
	}
	lbls, err := ReadIDX(lblPath)
	if err != nil {
		return nil, nil, err
	}
	if len(imgs.Dims) != 3 {
		return nil, nil, fmt.Errorf("%s: shape %v, want N x H x W", imgPath, imgs.Dims)
	}
	if len(lbls.Dims) != 1 || lbls.Dims[0] != imgs.Dims[0] {
		return nil, nil, fmt.Errorf("%s: shape %v, want one label for each of the %d images of %s", lblPath, lbls.Dims, imgs.Dims[0], imgPath)
	}
	n, h, w := imgs.Dims[0], imgs.Dims[1], imgs.Dims[2]
	if indices == nil {
		indices = make([]int, n)
		for i := range indices {
			indices[i] = i
		}
	}
	out := tensor.New(len(indices), 1, h, w)
	labels := make([]int64, len(indices))
	for j, i := range indices {
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("%s: index %d outside the %d images of the %s split", d.Name, i, n, split)
		}
		src := imgs.Data[i*h*w : (i+1)*h*w]
		dst := out.Data[j*h*w : (j+1)*h*w]
		for k, v := range src {
			dst[k] = float32(v) / 255
		}
		labels[j] = int64(lbls.Data[i])
	}
	return out, labels, nil
}
