//go:build ignore

// Draw writes the small images the Part A experiments ship with: 28 x 28
// gray PNGs in the style of Fashion-MNIST (a light object on black), drawn
// from geometric shapes so that they can be regenerated exactly:
//
//	go run draw.go
//
// hand_sneaker.png and hand_bag.png are "hand-drawn" outlines (thick
// strokes), shirt.png and boot.png filled and shaded "photos", logo.png the
// emblem of the logo experiment, and mask_*.png inpainting masks (white =
// regenerate). tower.png (64 x 64 RGB: a bell tower against the sky) and
// mask_tower.png are the test image and mask of the DeepFloyd IF experiments.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

const size = 28

// sub is the supersampling factor per axis.
const sub = 8

// canvas is a float gray image in [0, 1], rendered from a coverage function.
type canvas [size][size]float64

// fill paints value v where inside(x, y) holds, anti-aliased by supersampling
// (x, y in pixel units, origin at the top-left corner).
func (c *canvas) fill(v float64, inside func(x, y float64) bool) {
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			hits := 0
			for sy := 0; sy < sub; sy++ {
				for sx := 0; sx < sub; sx++ {
					if inside(float64(px)+(float64(sx)+0.5)/sub, float64(py)+(float64(sy)+0.5)/sub) {
						hits++
					}
				}
			}
			a := float64(hits) / (sub * sub)
			c[py][px] = c[py][px]*(1-a) + v*a
		}
	}
}

// polygon reports whether (x, y) lies inside the polygon pts (even-odd rule).
func polygon(pts [][2]float64) func(x, y float64) bool {
	return func(x, y float64) bool {
		in := false
		for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
			a, b := pts[i], pts[j]
			if (a[1] > y) != (b[1] > y) && x < (b[0]-a[0])*(y-a[1])/(b[1]-a[1])+a[0] {
				in = !in
			}
		}
		return in
	}
}

// stroke reports whether (x, y) lies within w/2 of the polyline pts.
func stroke(pts [][2]float64, w float64) func(x, y float64) bool {
	return func(x, y float64) bool {
		for i := 1; i < len(pts); i++ {
			a, b := pts[i-1], pts[i]
			dx, dy := b[0]-a[0], b[1]-a[1]
			t := ((x-a[0])*dx + (y-a[1])*dy) / (dx*dx + dy*dy)
			t = math.Max(0, math.Min(1, t))
			ex, ey := a[0]+t*dx-x, a[1]+t*dy-y
			if ex*ex+ey*ey <= w*w/4 {
				return true
			}
		}
		return false
	}
}

func rect(x0, y0, x1, y1 float64) func(x, y float64) bool {
	return func(x, y float64) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

func ellipse(cx, cy, rx, ry float64) func(x, y float64) bool {
	return func(x, y float64) bool {
		u, v := (x-cx)/rx, (y-cy)/ry
		return u*u+v*v <= 1
	}
}

// canvas64 is a 64 x 64 binary mask.
type canvas64 [64][64]bool

func (c *canvas64) fill(inside func(x, y float64) bool) {
	for y := range c {
		for x := range c[y] {
			if inside(float64(x)+0.5, float64(y)+0.5) {
				c[y][x] = true
			}
		}
	}
}

func (c *canvas64) save(name string) {
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for y := range c {
		for x := range c[y] {
			if c[y][x] {
				img.SetGray(x, y, color.Gray{Y: 255})
			}
		}
	}
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func save(name string, c *canvas) {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.SetGray(x, y, color.Gray{Y: uint8(math.Round(255 * math.Max(0, math.Min(1, c[y][x]))))})
		}
	}
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// rgbCanvas is a float RGB image in [0, 1] of side n.
type rgbCanvas struct {
	n   int
	pix [][3]float64
}

func newRGB(n int) *rgbCanvas { return &rgbCanvas{n: n, pix: make([][3]float64, n*n)} }

// fill paints colour v where inside(x, y) holds, anti-aliased.
func (c *rgbCanvas) fill(v [3]float64, inside func(x, y float64) bool) {
	for py := 0; py < c.n; py++ {
		for px := 0; px < c.n; px++ {
			hits := 0
			for sy := 0; sy < sub; sy++ {
				for sx := 0; sx < sub; sx++ {
					if inside(float64(px)+(float64(sx)+0.5)/sub, float64(py)+(float64(sy)+0.5)/sub) {
						hits++
					}
				}
			}
			a := float64(hits) / (sub * sub)
			p := &c.pix[py*c.n+px]
			for k := range p {
				p[k] = p[k]*(1-a) + v[k]*a
			}
		}
	}
}

func saveRGB(name string, c *rgbCanvas) {
	img := image.NewRGBA(image.Rect(0, 0, c.n, c.n))
	for i, p := range c.pix {
		q := func(v float64) uint8 { return uint8(math.Round(255 * math.Max(0, math.Min(1, v)))) }
		img.SetRGBA(i%c.n, i/c.n, color.RGBA{R: q(p[0]), G: q(p[1]), B: q(p[2]), A: 255})
	}
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	// A bell tower against a blue sky over green trees.
	tower := newRGB(64)
	tower.fill([3]float64{0.55, 0.72, 0.92}, rect(0, 0, 64, 64))
	tower.fill([3]float64{0.75, 0.85, 0.97}, rect(0, 30, 64, 64))
	tower.fill([3]float64{0.86, 0.82, 0.72}, rect(26, 14, 38, 60))
	tower.fill([3]float64{0.3, 0.45, 0.3}, polygon([][2]float64{{25, 14}, {39, 14}, {32, 4}}))
	tower.fill([3]float64{0.25, 0.22, 0.2}, rect(29, 18, 35, 24))
	tower.fill([3]float64{0.9, 0.9, 0.85}, ellipse(32, 28, 3, 3))
	tower.fill([3]float64{0.2, 0.45, 0.2}, ellipse(12, 60, 16, 8))
	tower.fill([3]float64{0.25, 0.5, 0.22}, ellipse(52, 61, 16, 7))
	saveRGB("tower.png", tower)
	var towerMask canvas64
	towerMask.fill(rect(22, 0, 42, 26))
	towerMask.save("mask_tower.png")

	// A sneaker in side view drawn as an outline: sole, toe cap, heel, laces.
	var sneaker canvas
	sneaker.fill(0.9, stroke([][2]float64{{3, 20}, {3, 13}, {8, 11}, {12, 13}, {17, 15}, {23, 17}, {25, 19}, {25, 21}, {3, 21}, {3, 20}}, 1.6))
	sneaker.fill(0.8, stroke([][2]float64{{3, 18.5}, {25, 18.5}}, 1.2))
	sneaker.fill(0.7, stroke([][2]float64{{11, 13}, {13, 11.5}}, 1))
	sneaker.fill(0.7, stroke([][2]float64{{14, 14}, {16, 12.5}}, 1))
	save("hand_sneaker.png", &sneaker)

	// A handbag outline: a trapezoid body and an arched handle.
	var bag canvas
	bag.fill(0.9, stroke([][2]float64{{5, 11}, {23, 11}, {25, 24}, {3, 24}, {5, 11}}, 1.6))
	var handle [][2]float64
	for a := 0.0; a <= math.Pi+1e-9; a += math.Pi / 16 {
		handle = append(handle, [2]float64{14 - 6*math.Cos(a), 11 - 7*math.Sin(a)})
	}
	bag.fill(0.8, stroke(handle, 1.4))
	save("hand_bag.png", &bag)

	// A shaded t-shirt: body with sleeves and a darker neckline.
	var shirt canvas
	shirt.fill(0.75, polygon([][2]float64{{9, 3}, {19, 3}, {26, 8}, {23, 12}, {20, 10}, {20, 26}, {8, 26}, {8, 10}, {5, 12}, {2, 8}}))
	shirt.fill(0.55, ellipse(14, 3, 3.5, 2))
	shirt.fill(0.85, rect(11, 12, 17, 14))
	save("shirt.png", &shirt)

	// A filled ankle boot: shaft, foot and a dark sole.
	var boot canvas
	boot.fill(0.7, polygon([][2]float64{{8, 3}, {16, 3}, {16, 14}, {24, 18}, {25, 22}, {6, 22}, {7, 12}}))
	boot.fill(0.35, rect(5, 22, 26, 25))
	boot.fill(0.9, rect(8, 5, 16, 7))
	save("boot.png", &boot)

	// The logo: a bag-like emblem with a star on it.
	var logo canvas
	logo.fill(0.6, polygon([][2]float64{{5, 10}, {23, 10}, {24, 25}, {4, 25}}))
	logo.fill(0.8, stroke(handle, 1.6))
	var star [][2]float64
	for k := 0; k < 10; k++ {
		r := 5.0
		if k%2 == 1 {
			r = 2.2
		}
		a := -math.Pi/2 + float64(k)*math.Pi/5
		star = append(star, [2]float64{14 + r*math.Cos(a), 17.5 + r*math.Sin(a)})
	}
	logo.fill(1, polygon(star))
	save("logo.png", &logo)

	// Inpainting masks: the top half of the shirt, the shaft of the boot.
	var m1, m2 canvas
	m1.fill(1, rect(0, 0, 28, 12))
	save("mask_top.png", &m1)
	m2.fill(1, rect(6, 2, 18, 14))
	save("mask_shaft.png", &m2)
}
