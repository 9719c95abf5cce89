package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"os"

	"difflab/models/tensor"
)

// MaxSide bounds the width and height of images that LoadImage accepts, both
// in the file and after resizing.
const MaxSide = 4096

// LoadImage decodes the PNG or JPEG file at path into a 1 x C x H x W batch
// with values in [0, 1]: C is 1 when gray is set (luma 0.299 R + 0.587 G +
// 0.114 B) and 3 otherwise. Transparent pixels are composed onto black. When
// h and w are positive the image is resized to h x w (see Resize). The file's
// header is read first, so an image larger than MaxSide on a side is rejected
// before any pixel is decoded.
func LoadImage(path string, h, w int, gray bool) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PNG or JPEG image: %w", path, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxSide || cfg.Height > MaxSide {
		return nil, fmt.Errorf("%s: %s image of %d x %d pixels; at most %d on a side is accepted", path, format, cfg.Width, cfg.Height, MaxSide)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	c := 3
	if gray {
		c = 1
	}
	out := tensor.New(1, c, b.Dy(), b.Dx())
	plane := b.Dx() * b.Dy()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA() // alpha-premultiplied, 16 bits
			i := (y-b.Min.Y)*b.Dx() + (x - b.Min.X)
			rf, gf, bf := float64(r)/0xffff, float64(g)/0xffff, float64(bl)/0xffff
			if gray {
				out.Data[i] = float32(0.299*rf + 0.587*gf + 0.114*bf)
			} else {
				out.Data[i], out.Data[plane+i], out.Data[2*plane+i] = float32(rf), float32(gf), float32(bf)
			}
		}
	}
	if h > 0 && w > 0 && (h != b.Dy() || w != b.Dx()) {
		return Resize(out, h, w), nil
	}
	return out, nil
}

// Resize returns the N x C x H x W images m resampled to h x w pixels. Along each axis that
// shrinks it averages the source pixels each output pixel covers, weighted by
// the covered area ("area" resampling, which does not alias); along each axis
// that grows it interpolates linearly between pixel centres ("bilinear" with
// half-pixel centres, edges clamped). The value range is kept.
func Resize(m *tensor.Tensor, h, w int) *tensor.Tensor {
	n, c, mh, mw := m.Shape[0], m.Shape[1], m.Shape[2], m.Shape[3]
	rows := resampleWeights(mh, h)
	cols := resampleWeights(mw, w)
	out := tensor.New(n, c, h, w)
	tmp := make([]float64, mh*w)
	for p := 0; p < n*c; p++ {
		src := m.Data[p*mh*mw : (p+1)*mh*mw]
		dst := out.Data[p*h*w : (p+1)*h*w]
		for y := 0; y < mh; y++ {
			for x, taps := range cols {
				s := 0.0
				for _, t := range taps {
					s += t.weight * float64(src[y*mw+t.index])
				}
				tmp[y*w+x] = s
			}
		}
		for y, taps := range rows {
			for x := 0; x < w; x++ {
				s := 0.0
				for _, t := range taps {
					s += t.weight * tmp[t.index*w+x]
				}
				dst[y*w+x] = float32(s)
			}
		}
	}
	return out
}

type tap struct {
	index  int
	weight float64
}

// resampleWeights returns, for each of the m output positions of an axis of n
// source pixels, the source pixels it reads and their weights (summing to 1).
func resampleWeights(n, m int) [][]tap {
	taps := make([][]tap, m)
	scale := float64(n) / float64(m)
	for i := range taps {
		if m < n { // area: output pixel i covers source [i*scale, (i+1)*scale)
			lo, hi := float64(i)*scale, float64(i+1)*scale
			for j := int(lo); j < n && float64(j) < hi; j++ {
				overlap := min(hi, float64(j+1)) - max(lo, float64(j))
				if overlap > 0 {
					taps[i] = append(taps[i], tap{j, overlap / scale})
				}
			}
			continue
		}
		// bilinear: the centre of output pixel i sits at source coordinate c.
		c := (float64(i)+0.5)*scale - 0.5
		c = max(0, min(c, float64(n-1)))
		j := int(c)
		f := c - float64(j)
		taps[i] = append(taps[i], tap{j, 1 - f})
		if f > 0 {
			taps[i] = append(taps[i], tap{j + 1, f})
		}
	}
	return taps
}
