// Package export converts artifacts into files for people and other tools:
// NumPy arrays (.npy), PNG images (.png), JSON series and text.
//
// # Formats
//
//	.npy   images, tensor (float32) and labels (int64), shape preserved
//	.png   images (as a grid, up to 8 columns, values mapped from the batch's
//	       range [Lo, Hi] to 0..255, 1 or 3 channels) and figures (as is)
//	.json  series
//	.txt   text
package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"

	"difflab/models/tensor"
	"difflab/stages/artifact"
)

// GridColumns is the most images per row of a PNG grid.
const GridColumns = 8

// gridPad is the white space between images of a grid, in pixels.
const gridPad = 2

// Write writes a to path in the format named by path's extension.
func Write(a artifact.Artifact, path string) error {
	b, err := Encode(a, filepath.Ext(path))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Encode returns a encoded in the format of extension ext (".npy", ".png",
// ".json" or ".txt"). The error names the formats a's type supports.
func Encode(a artifact.Artifact, ext string) ([]byte, error) {
	switch ext = strings.ToLower(ext); {
	case ext == ".npy":
		switch v := a.(type) {
		case *artifact.Images:
			return tensor.EncodeNPY(v.Shape, v.Data)
		case *artifact.Tensor:
			return tensor.EncodeNPY(v.Shape, v.Data)
		case artifact.Labels:
			return tensor.EncodeNPY([]int{len(v)}, []int64(v))
		}
	case ext == ".png":
		switch v := a.(type) {
		case *artifact.Images:
			return Grid(v)
		case *artifact.Figure:
			return v.PNG, nil
		}
	case ext == ".json":
		switch v := a.(type) {
		case *artifact.Series:
			return json.MarshalIndent(v, "", " ")
		case artifact.Metrics:
			return json.MarshalIndent(v, "", " ")
		}
	case ext == ".txt":
		if v, ok := a.(artifact.Text); ok {
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("export: cannot write %s as %q (fix: use %s)", a.Type(), ext, strings.Join(Formats(a.Type()), " or "))
}

// Formats lists the file extensions an artifact type can be exported to.
func Formats(t artifact.Type) []string {
	switch t {
	case artifact.TypeImages:
		return []string{".npy", ".png"}
	case artifact.TypeTensor, artifact.TypeLabels:
		return []string{".npy"}
	case artifact.TypeFigure:
		return []string{".png"}
	case artifact.TypeSeries, artifact.TypeMetrics:
		return []string{".json"}
	case artifact.TypeText:
		return []string{".txt"}
	}
	return []string{"nothing (copy the folder)"}
}

// Grid encodes a batch of 1- or 3-channel images as one PNG: up to
// GridColumns images per row, separated by white space, each value v mapped
// to round(255 (v - Lo) / (Hi - Lo)), clamped to 0..255.
func Grid(m *artifact.Images) ([]byte, error) {
	if len(m.Shape) != 4 || m.N() == 0 {
		return nil, fmt.Errorf("export: images of shape %v are not a non-empty N x C x H x W batch", m.Shape)
	}
	c, h, w := m.C(), m.H(), m.W()
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("export: images with %d channels cannot be a PNG (fix: export to .npy)", c)
	}
	if m.Hi <= m.Lo {
		return nil, fmt.Errorf("export: images have an empty value range [%g, %g]", m.Lo, m.Hi)
	}
	cols := min(m.N(), GridColumns)
	rows := (m.N() + cols - 1) / cols
	img := image.NewNRGBA(image.Rect(0, 0, cols*w+(cols-1)*gridPad, rows*h+(rows-1)*gridPad))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	level := func(v float32) uint8 {
		x := math.Round(255 * float64(v-m.Lo) / float64(m.Hi-m.Lo))
		return uint8(math.Max(0, math.Min(255, x)))
	}
	for i := 0; i < m.N(); i++ {
		px := m.Image(i)
		x0, y0 := (i%cols)*(w+gridPad), (i/cols)*(h+gridPad)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var r, g, b uint8
				if c == 1 {
					r = level(px[y*w+x])
					g, b = r, r
				} else {
					r, g, b = level(px[y*w+x]), level(px[h*w+y*w+x]), level(px[2*h*w+y*w+x])
				}
				img.SetNRGBA(x0+x, y0+y, color.NRGBA{r, g, b, 255})
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
