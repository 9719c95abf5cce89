package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"difflab/stages/artifact"
)

// EnvDataDir is the environment variable naming the data directory; without
// it the directory is DefaultDataDir below the working directory.
const EnvDataDir = "DIFFLAB_DATA"

// DefaultDataDir is the data directory `just setup` fills, relative to the
// repository root.
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

// Files returns the paths of the images and labels files of split under the
// data root, preferring the gzip-compressed names. The error of a missing
// data set says how to install it.
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
		return "", fmt.Errorf("%s: %s(.gz) not found in %s: run `npx --yes rust-just@1.57.0 setup` (or set %s to a directory holding %s/)",
			d.Name, base, filepath.Join(root, d.Dir), EnvDataDir, d.Dir)
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
func (d *Dataset) Load(root, split string, indices []int) (*artifact.Images, artifact.Labels, error) {
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
	out := artifact.NewImages(len(indices), 1, h, w, 0, 1)
	labels := make(artifact.Labels, len(indices))
	for j, i := range indices {
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("%s: index %d outside the %d images of the %s split", d.Name, i, n, split)
		}
		src := imgs.Data[i*h*w : (i+1)*h*w]
		dst := out.Image(j)
		for k, v := range src {
			dst[k] = float32(v) / 255
		}
		labels[j] = int64(lbls.Data[i])
	}
	return out, labels, nil
}

// LoadMNIST reads a whole split ("train" or "test") of MNIST from the data
// root (see Root): images N x 1 x 28 x 28 in [0, 1] and their labels.
func LoadMNIST(root, split string) (*artifact.Images, artifact.Labels, error) {
	return MNIST.Load(root, split, nil)
}

// LoadFashionMNIST reads a whole split of Fashion-MNIST like LoadMNIST.
func LoadFashionMNIST(root, split string) (*artifact.Images, artifact.Labels, error) {
	return FashionMNIST.Load(root, split, nil)
}
