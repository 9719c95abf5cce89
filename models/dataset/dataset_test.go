package dataset_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/dataset"
	"difflab/models/dataset/datasettest"
)

func TestIDXRoundTrip(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6}
	enc, err := dataset.EncodeIDX([]int{2, 3}, data)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	if !bytes.Equal(enc, want) {
		t.Fatalf("dataset.EncodeIDX = %v, want %v", enc, want)
	}
	for name, b := range map[string][]byte{"plain": enc, "gzip": datasettest.Gzip(t, enc)} {
		idx, err := dataset.DecodeIDX(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(idx.Dims) != 2 || idx.Dims[0] != 2 || idx.Dims[1] != 3 || !bytes.Equal(idx.Data, data) {
			t.Errorf("%s: decoded %v %v, want [2 3] %v", name, idx.Dims, idx.Data, data)
		}
	}
}

func TestIDXErrors(t *testing.T) {
	good, _ := dataset.EncodeIDX([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	huge := []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "short header"},
		{"magic", append([]byte{1}, good[1:]...), "bad magic"},
		{"type", append([]byte{0, 0, 0x0d}, good[3:]...), "element type 0x0d"},
		{"truncated", good[:len(good)-1], "needs 6 bytes"},
		{"trailing", append(append([]byte{}, good...), 9), "trailing bytes"},
		{"huge", huge, "more than"},
		{"bad gzip", []byte{0x1f, 0x8b, 0}, "gzip"},
	} {
		_, err := dataset.DecodeIDX(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestDatasetLoad(t *testing.T) {
	root := t.TempDir()
	datasettest.WriteDataset(t, root, dataset.MNIST, "t10k", 12, 4, 3, true)
	datasettest.WriteDataset(t, root, dataset.MNIST, "train", 5, 4, 3, false)
	imgs, lbls, err := dataset.MNIST.Load(root, dataset.Test, []int{11, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := imgs.Shape; len(got) != 4 || got[0] != 2 || got[1] != 1 || got[2] != 4 || got[3] != 3 {
		t.Fatalf("shape %v, want [2 1 4 3]", got)
	}
	for k, i := range []int{11, 2} {
		if lbls[k] != int64(i%10) {
			t.Errorf("label %d = %d, want %d", k, lbls[k], i%10)
		}
		for j, v := range imgs.Data[k*12 : (k+1)*12] {
			if want := float32((i*7+j)%256) / 255; v != want {
				t.Fatalf("image %d pixel %d = %g, want %g", k, j, v, want)
			}
		}
	}
	all, lbls, err := dataset.MNIST.Load(root, dataset.Train, nil)
	if err != nil {
		t.Fatal(err)
	}
	if all.Shape[0] != 5 || len(lbls) != 5 {
		t.Errorf("Load(train) gave %d images and %d labels, want 5", all.Shape[0], len(lbls))
	}
	if _, _, err := dataset.MNIST.Load(root, dataset.Test, []int{12}); err == nil || !strings.Contains(err.Error(), "index 12 outside the 12 images") {
		t.Errorf("out-of-range index gave %v", err)
	}
}

func TestDatasetMissingSaysHowToInstall(t *testing.T) {
	_, _, err := dataset.FashionMNIST.Load(t.TempDir(), dataset.Train, nil)
	if !errors.Is(err, dataset.ErrNotInstalled) || !strings.Contains(err.Error(), "DIFFLAB_DATA") || !strings.Contains(err.Error(), "fashion-mnist") {
		t.Errorf("error %v, want ErrNotInstalled naming the directory and DIFFLAB_DATA", err)
	}
	if _, _, err := dataset.MNIST.Files(t.TempDir(), "validation"); err == nil || !strings.Contains(err.Error(), `unknown split "validation"`) {
		t.Errorf("unknown split gave %v", err)
	}
}

// TestRealDatasets checks the files `just setup` installs, where they are.
func TestRealDatasets(t *testing.T) {
	root, err := dataset.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d     *dataset.Dataset
		first int64 // label of the first test image
	}{{dataset.MNIST, 7}, {dataset.FashionMNIST, 9}} {
		if _, _, err := c.d.Files(root, dataset.Test); err != nil {
			t.Skipf("data sets not installed (%v)", err)
		}
		imgs, lbls, err := c.d.Load(root, dataset.Test, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sh := imgs.Shape; sh[0] != 10000 || sh[2] != 28 || sh[3] != 28 || lbls[0] != c.first {
			t.Errorf("%s test split: %v images, first label %d; want 10000 x 28 x 28 and %d", c.d.Name, imgs.Shape, lbls[0], c.first)
		}
		counts := make([]int, 10)
		for _, l := range lbls {
			counts[l]++
		}
		for l, n := range counts {
			if n < 800 {
				t.Errorf("%s test split: only %d images of class %d", c.d.Name, n, l)
			}
		}
	}
}

func TestLoadImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			img.Set(x, y, color.NRGBA{uint8(40 * x), uint8(60 * y), 255, 255})
		}
	}
	path := datasettest.WritePNG(t, img)
	rgb, err := dataset.LoadImage(path, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if sh := rgb.Shape; sh[0] != 1 || sh[1] != 3 || sh[2] != 4 || sh[3] != 6 {
		t.Fatalf("shape %v, want [1 3 4 6]", rgb.Shape)
	}
	// Pixel (x=5, y=2): R = 200/255, G = 120/255, B = 1.
	for c, want := range []float64{200.0 / 255, 120.0 / 255, 1} {
		if got := rgb.Data[c*24+2*6+5]; math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("channel %d = %g, want %g", c, got, want)
		}
	}
	gray, err := dataset.LoadImage(path, 0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.299*200/255 + 0.587*120/255 + 0.114; math.Abs(float64(gray.Data[2*6+5])-want) > 1e-6 {
		t.Errorf("gray = %g, want %g", gray.Data[2*6+5], want)
	}
	// Area downscale by 2 on each axis is the mean of each 2 x 2 block.
	small, err := dataset.LoadImage(path, 2, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < 2; y++ {
			for x := 0; x < 3; x++ {
				var want float64
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						want += float64(rgb.Data[c*24+(2*y+dy)*6+2*x+dx]) / 4
					}
				}
				if got := small.Data[c*6+y*3+x]; math.Abs(float64(got)-want) > 1e-6 {
					t.Fatalf("downscaled (%d, %d, %d) = %g, want %g", c, y, x, got, want)
				}
			}
		}
	}
}

// pngHeader returns a PNG signature and IHDR chunk announcing w x h pixels,
// with no image data: enough for DecodeConfig, not for Decode.
func pngHeader(w, h uint32) []byte {
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	binary.Write(&ihdr, binary.BigEndian, w)
	binary.Write(&ihdr, binary.BigEndian, h)
	ihdr.Write([]byte{8, 6, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(ihdr.Len()-4))
	b.Write(ihdr.Bytes())
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr.Bytes()))
	return b.Bytes()
}

func TestLoadImageRejectsHugeAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.png")
	os.WriteFile(bomb, pngHeader(100000, 100000), 0o644)
	if _, err := dataset.LoadImage(bomb, 0, 0, false); err == nil || !strings.Contains(err.Error(), "100000 x 100000") {
		t.Errorf("huge PNG gave %v, want a size error", err)
	}
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("not an image"), 0o644)
	if _, err := dataset.LoadImage(text, 0, 0, false); err == nil || !strings.Contains(err.Error(), "not a PNG or JPEG") {
		t.Errorf("text file gave %v", err)
	}
	if _, err := dataset.LoadImage(filepath.Join(dir, "missing.png"), 0, 0, false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file gave %v", err)
	}
}
