package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"difflab/stages"
	"difflab/stages/artifact"
)

func gz(t *testing.T, b []byte) []byte {
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

func TestIDXRoundTrip(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6}
	enc, err := EncodeIDX([]int{2, 3}, data)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	if !bytes.Equal(enc, want) {
		t.Fatalf("EncodeIDX = %v, want %v", enc, want)
	}
	for name, b := range map[string][]byte{"plain": enc, "gzip": gz(t, enc)} {
		idx, err := DecodeIDX(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(idx.Dims) != 2 || idx.Dims[0] != 2 || idx.Dims[1] != 3 || !bytes.Equal(idx.Data, data) {
			t.Errorf("%s: decoded %v %v, want [2 3] %v", name, idx.Dims, idx.Data, data)
		}
	}
}

func TestIDXErrors(t *testing.T) {
	good, _ := EncodeIDX([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
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
		_, err := DecodeIDX(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// writeDataset writes a small MNIST-like data set of n h x w images whose
// pixel j of image i is (i*7 + j) % 256 and whose labels are i % 10.
func writeDataset(t *testing.T, dir string, d *Dataset, prefix string, n, h, w int, compress bool) {
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
		b, err := EncodeIDX(f.dims, f.data)
		if err != nil {
			t.Fatal(err)
		}
		if compress {
			b, name = gz(t, b), name+".gz"
		}
		if err := os.MkdirAll(filepath.Join(dir, d.Dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d.Dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDatasetLoad(t *testing.T) {
	root := t.TempDir()
	writeDataset(t, root, MNIST, "t10k", 12, 4, 3, true)
	writeDataset(t, root, MNIST, "train", 5, 4, 3, false)
	imgs, lbls, err := MNIST.Load(root, Test, []int{11, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := imgs.Shape; len(got) != 4 || got[0] != 2 || got[1] != 1 || got[2] != 4 || got[3] != 3 {
		t.Fatalf("shape %v, want [2 1 4 3]", got)
	}
	if imgs.Lo != 0 || imgs.Hi != 1 {
		t.Errorf("range [%g, %g], want [0, 1]", imgs.Lo, imgs.Hi)
	}
	for k, i := range []int{11, 2} {
		if lbls[k] != int64(i%10) {
			t.Errorf("label %d = %d, want %d", k, lbls[k], i%10)
		}
		for j, v := range imgs.Image(k) {
			if want := float32((i*7+j)%256) / 255; v != want {
				t.Fatalf("image %d pixel %d = %g, want %g", k, j, v, want)
			}
		}
	}
	all, lbls, err := LoadMNIST(root, Train)
	if err != nil {
		t.Fatal(err)
	}
	if all.N() != 5 || len(lbls) != 5 {
		t.Errorf("LoadMNIST(train) gave %d images and %d labels, want 5", all.N(), len(lbls))
	}
	if _, _, err := MNIST.Load(root, Test, []int{12}); err == nil || !strings.Contains(err.Error(), "index 12 outside the 12 images") {
		t.Errorf("out-of-range index gave %v", err)
	}
}

func TestDatasetMissingSaysHowToInstall(t *testing.T) {
	_, _, err := LoadFashionMNIST(t.TempDir(), Train)
	if err == nil || !strings.Contains(err.Error(), "setup") || !strings.Contains(err.Error(), "fashion-mnist") {
		t.Errorf("error %v, want one naming the directory and `setup`", err)
	}
	if _, _, err := MNIST.Files(t.TempDir(), "validation"); err == nil || !strings.Contains(err.Error(), `unknown split "validation"`) {
		t.Errorf("unknown split gave %v", err)
	}
}

func runKind(t *testing.T, name string, p stages.Params) (map[string]artifact.Artifact, error) {
	t.Helper()
	k, err := stages.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	full := stages.Params{}
	for _, d := range k.Params {
		if d.Default != nil {
			full[d.Name] = d.Default
		}
	}
	for n, v := range p {
		full[n] = v
	}
	if k.Check != nil {
		if err := k.Check(full); err != nil {
			return nil, err
		}
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "test", Params: full}
	if err := k.Run(ctx); err != nil {
		return nil, err
	}
	return ctx.Outputs(), nil
}

func TestDatasetKind(t *testing.T) {
	root := t.TempDir()
	t.Setenv(EnvDataDir, root)
	writeDataset(t, root, FashionMNIST, "t10k", 20, 28, 28, true)
	k, _ := stages.Lookup("dataset.fashion_mnist")
	files, err := k.Files(stages.Params{"split": Test})
	if err != nil || len(files) != 2 || files[0] != filepath.Join(root, "fashion-mnist", "t10k-images-idx3-ubyte.gz") {
		t.Fatalf("Files = %v, %v", files, err)
	}
	out, err := runKind(t, "dataset.fashion_mnist", stages.Params{"count": 3, "range": []float64{-1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	imgs, lbls := out["images"].(*artifact.Images), out["labels"].(artifact.Labels)
	if imgs.N() != 3 || len(lbls) != 3 || lbls[2] != 2 || imgs.Lo != -1 || imgs.Hi != 1 {
		t.Fatalf("got %d images in [%g, %g] and labels %v", imgs.N(), imgs.Lo, imgs.Hi, lbls)
	}
	// Pixel 5 of image 1 is (7 + 5) / 255 in [0, 1], so 2*12/255 - 1 in [-1, 1].
	if got, want := imgs.Image(1)[5], float32(2*12.0/255-1); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("pixel = %g, want %g", got, want)
	}
	for _, c := range []struct {
		p    stages.Params
		want string
	}{
		{stages.Params{"count": 2, "indices": []int{1}}, "not both"},
		{stages.Params{"indices": []int{10000}}, "parameter indices: 10000"},
		{stages.Params{"split": Train, "count": 60001}, "parameter count"},
		{stages.Params{"range": []float64{1, 0}}, "parameter range"},
	} {
		if _, err := runKind(t, "dataset.fashion_mnist", c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.p, err, c.want)
		}
	}
}

// TestRealDatasets checks the files `just setup` installs, where they are.
func TestRealDatasets(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d     *Dataset
		first int64 // label of the first test image
	}{{MNIST, 7}, {FashionMNIST, 9}} {
		if _, _, err := c.d.Files(root, Test); err != nil {
			t.Skipf("data sets not installed (%v)", err)
		}
		imgs, lbls, err := c.d.Load(root, Test, nil)
		if err != nil {
			t.Fatal(err)
		}
		if imgs.N() != 10000 || imgs.H() != 28 || imgs.W() != 28 || lbls[0] != c.first {
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

func writePNG(t *testing.T, img image.Image) string {
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

func TestLoadImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			img.Set(x, y, color.NRGBA{uint8(40 * x), uint8(60 * y), 255, 255})
		}
	}
	path := writePNG(t, img)
	rgb, err := LoadImage(path, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.N() != 1 || rgb.C() != 3 || rgb.H() != 4 || rgb.W() != 6 {
		t.Fatalf("shape %v, want [1 3 4 6]", rgb.Shape)
	}
	// Pixel (x=5, y=2): R = 200/255, G = 120/255, B = 1.
	for c, want := range []float64{200.0 / 255, 120.0 / 255, 1} {
		if got := rgb.Data[c*24+2*6+5]; math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("channel %d = %g, want %g", c, got, want)
		}
	}
	gray, err := LoadImage(path, 0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.299*200/255 + 0.587*120/255 + 0.114; math.Abs(float64(gray.Data[2*6+5])-want) > 1e-6 {
		t.Errorf("gray = %g, want %g", gray.Data[2*6+5], want)
	}
	// Area downscale by 2 on each axis is the mean of each 2 x 2 block.
	small, err := LoadImage(path, 2, 3, false)
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

func TestResizeBilinear(t *testing.T) {
	m := artifact.NewImages(1, 1, 1, 2, 0, 1)
	m.Data[0], m.Data[1] = 0, 1
	up := Resize(m, 1, 4)
	// Output centres at source x = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
	want := []float32{0, 0.25, 0.75, 1}
	for i := range want {
		if math.Abs(float64(up.Data[i]-want[i])) > 1e-6 {
			t.Fatalf("Resize 2 -> 4 = %v, want %v", up.Data, want)
		}
	}
	for _, c := range [][2]int{{28, 64}, {64, 28}, {7, 7}, {5, 3}} {
		for i, taps := range resampleWeights(c[0], c[1]) {
			s := 0.0
			for _, tp := range taps {
				s += tp.weight
			}
			if math.Abs(s-1) > 1e-12 {
				t.Errorf("%d -> %d: weights of output %d sum to %g", c[0], c[1], i, s)
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
	if _, err := LoadImage(bomb, 0, 0, false); err == nil || !strings.Contains(err.Error(), "100000 x 100000") {
		t.Errorf("huge PNG gave %v, want a size error", err)
	}
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("not an image"), 0o644)
	if _, err := LoadImage(text, 0, 0, false); err == nil || !strings.Contains(err.Error(), "not a PNG or JPEG") {
		t.Errorf("text file gave %v", err)
	}
	if _, err := LoadImage(filepath.Join(dir, "missing.png"), 0, 0, false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file gave %v", err)
	}
}

func TestImageLoadKind(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	path := writePNG(t, img)
	out, err := runKind(t, "image.load", stages.Params{"path": path, "mode": "gray", "size": []int{8, 2}})
	if err != nil {
		t.Fatal(err)
	}
	m := out["images"].(*artifact.Images)
	if m.C() != 1 || m.H() != 8 || m.W() != 2 || m.Lo != -1 || m.Hi != 1 {
		t.Fatalf("shape %v range [%g, %g], want [1 1 8 2] in [-1, 1]", m.Shape, m.Lo, m.Hi)
	}
	for i, v := range m.Data {
		if math.Abs(float64(v)-1) > 1e-6 {
			t.Fatalf("white pixel %d = %g, want 1 (top of [-1, 1])", i, v)
		}
	}
	if _, err := runKind(t, "image.load", stages.Params{"path": path, "size": []int{8}}); err == nil || !strings.Contains(err.Error(), "parameter size") {
		t.Errorf("one-value size gave %v", err)
	}
}
