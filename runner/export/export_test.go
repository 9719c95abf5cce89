package export

import (
	"bytes"
	"image/png"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"difflab/models/tensor"
	"difflab/stages/artifact"
)

func TestGrid(t *testing.T) {
	// Two RGB 2x2 images in [-1, 1]; image 1 pixel (0, 1) is (1, -1, 0).
	m := artifact.NewImages(2, 3, 2, 2, -1, 1)
	img1 := m.Image(1)
	img1[0*4+1], img1[1*4+1], img1[2*4+1] = 1, -1, 0
	m.Image(0)[0] = 5 // clamps to 255
	b, err := Grid(m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Bounds().Size(); got.X != 2+gridPad+2 || got.Y != 2 {
		t.Fatalf("grid size %v", got)
	}
	check := func(x, y int, want [3]uint32) {
		r, g, b, _ := p.At(x, y).RGBA()
		if got := [3]uint32{r >> 8, g >> 8, b >> 8}; got != want {
			t.Errorf("pixel (%d, %d) = %v, want %v", x, y, got, want)
		}
	}
	check(0, 0, [3]uint32{255, 128, 128}) // clamped red, zeros map to 128 (127.5 rounds up)
	check(2+gridPad+1, 0, [3]uint32{255, 0, 128})
	check(2, 0, [3]uint32{255, 255, 255}) // padding
	gray := artifact.NewImages(9, 1, 1, 1, 0, 1)
	gray.Data[8] = 1
	b, _ = Grid(gray)
	p, _ = png.Decode(bytes.NewReader(b))
	if got := p.Bounds().Size(); got.X != 8+7*gridPad || got.Y != 1+gridPad+1 {
		t.Fatalf("9 images: grid size %v, want 8 columns and 2 rows", got)
	}
	check(0, 1+gridPad, [3]uint32{255, 255, 255})
}

func TestEncodeRoundTripsAndRefuses(t *testing.T) {
	tn := &artifact.Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}
	b, err := Encode(tn, ".npy")
	if err != nil {
		t.Fatal(err)
	}
	shape, data, err := tensor.DecodeNPY(b)
	if err != nil || !reflect.DeepEqual(shape, tn.Shape) || !reflect.DeepEqual(data, tn.Data) {
		t.Fatalf("npy round trip: %v %v %v", shape, data, err)
	}
	if _, err := Encode(tn, ".png"); err == nil || !strings.Contains(err.Error(), ".npy") {
		t.Fatalf("tensor as PNG: %v", err)
	}
	out := filepath.Join(t.TempDir(), "l.npy")
	if err := Write(artifact.Labels{3, 1}, out); err != nil {
		t.Fatal(err)
	}
}
