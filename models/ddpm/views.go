package ddpm

import (
	"fmt"
	"sort"
	"strings"
)

// View is an invertible transform of a batch of images, used by visual
// anagrams: the model sees Apply(x) and its noise estimate is mapped back
// with Inverse. Views act on the noise channels only (a learned variance is
// never passed through them). Apply and Inverse write to dst, which must
// not alias src.
type View interface {
	// Name is the view's name in experiment files ("flip", ...).
	Name() string
	// Apply writes the view of src (shape sh) to dst.
	Apply(dst, src []float32, sh Shape)
	// Inverse undoes Apply: Inverse(Apply(x)) = x.
	Inverse(dst, src []float32, sh Shape)
}

// The built-in views, by name.
var views = map[string]View{
	"flip":   Flip{},
	"negate": Negate{},
	"skew":   Skew{Factor: 1.5},
}

// ViewByName returns the built-in view called name: flip, negate or skew
// (factor 1.5). The error lists the known names.
func ViewByName(name string) (View, error) {
	if v, ok := views[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("ddpm: unknown view %q (known views: %s)", name, strings.Join(ViewNames(), ", "))
}

// ViewNames lists the built-in views' names, sorted.
func ViewNames() []string {
	var ns []string
	for n := range views {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Flip turns images upside down (reverses the rows). It is its own inverse.
type Flip struct{}

// Name implements View.
func (Flip) Name() string { return "flip" }

// Apply implements View.
func (Flip) Apply(dst, src []float32, sh Shape) {
	sameLen("Flip", dst, src)
	for p := 0; p < sh.N*sh.C; p++ {
		plane := p * sh.H * sh.W
		for y := 0; y < sh.H; y++ {
			copy(dst[plane+y*sh.W:plane+(y+1)*sh.W], src[plane+(sh.H-1-y)*sh.W:plane+(sh.H-y)*sh.W])
		}
	}
}

// Inverse implements View.
func (f Flip) Inverse(dst, src []float32, sh Shape) { f.Apply(dst, src, sh) }

// Negate inverts the sign of every value. It is its own inverse.
type Negate struct{}

// Name implements View.
func (Negate) Name() string { return "negate" }

// Apply implements View.
func (Negate) Apply(dst, src []float32, sh Shape) {
	sameLen("Negate", dst, src)
	for i, v := range src {
		dst[i] = -v
	}
}

// Inverse implements View.
func (n Negate) Inverse(dst, src []float32, sh Shape) { n.Apply(dst, src, sh) }

// Skew rolls column i of every image down by int(Factor (i - H/2)) pixels
// (cyclically; int truncates toward zero).
type Skew struct{ Factor float64 }

// Name implements View.
func (Skew) Name() string { return "skew" }

// Shift returns the roll of column i for images of height h.
func (s Skew) Shift(i, h int) int { return int(s.Factor * (float64(i) - float64(h)/2)) }

func (s Skew) roll(dst, src []float32, sh Shape, sign int) {
	sameLen("Skew", dst, src)
	for p := 0; p < sh.N*sh.C; p++ {
		plane := p * sh.H * sh.W
		for i := 0; i < sh.W; i++ {
			k := sign * s.Shift(i, sh.H)
			for y := 0; y < sh.H; y++ {
				ny := ((y+k)%sh.H + sh.H) % sh.H
				dst[plane+ny*sh.W+i] = src[plane+y*sh.W+i]
			}
		}
	}
}

// Apply implements View.
func (s Skew) Apply(dst, src []float32, sh Shape) { s.roll(dst, src, sh, 1) }

// Inverse implements View.
func (s Skew) Inverse(dst, src []float32, sh Shape) { s.roll(dst, src, sh, -1) }
