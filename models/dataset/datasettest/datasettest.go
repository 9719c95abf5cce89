// Package datasettest writes small data sets and image files for tests.
package datasettest

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"difflab/models/dataset"
)

// Gzip returns b gzip-compressed.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WriteDataset writes, below dir in the directory of d, the IDX files of
// split prefix ("train" or "t10k") of a small MNIST-like data set: n h x w
// images whose pixel j of image i is (i*7 + j) % 256, and labels i % 10.
func WriteDataset(t testing.TB, dir string, d *dataset.Dataset, prefix string, n, h, w int, compress bool) {
	t.Helper()
	pix := make([]byte, n*h*w)
	for i := 0; i < n; i++ {
		for j := 0; j < h*w; j++ {
			pix[i*h*w+j] = byte((i*7 + j) % 256)
		}
	}
	lbl := make([]byte, n)
	for i := range lbl {
		lbl[i] = byte(i % 10)
	}
	for name, f := range map[string]struct {
		dims []int
		data []byte
	}{prefix + "-images-idx3-ubyte": {[]int{n, h, w}, pix}, prefix + "-labels-idx1-ubyte": {[]int{n}, lbl}} {
		b, err := dataset.EncodeIDX(f.dims, f.data)
		if err != nil {
			t.Fatal(err)
		}
		if compress {
			b, name = Gzip(t, b), name+".gz"
		}
		if err := os.MkdirAll(filepath.Join(dir, d.Dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d.Dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// WritePNG encodes img as a PNG file in a temporary folder of t and returns
// its path.
func WritePNG(t testing.TB, img image.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.png")
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
