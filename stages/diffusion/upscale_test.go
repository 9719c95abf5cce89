package diffusion

import (
	"math"
	"testing"

	"difflab/stages/artifact"
)

func TestResize(t *testing.T) {
	in := artifact.NewImages(2, 1, 6, 5, -1, 1)
	for i := range in.Data {
		in.Data[i] = float32(math.Sin(float64(i))) * 0.9
	}
	for _, method := range []string{"bicubic", "lanczos"} {
		same := resize(in, 1, method)
		near(t, method+" factor 1", same.Data, in.Data, 1e-6)

		c := artifact.NewImages(1, 1, 4, 4, 0, 1)
		for i := range c.Data {
			c.Data[i] = 0.3
		}
		up := resize(c, 3, method)
		if up.H() != 12 || up.W() != 12 {
			t.Fatalf("%s: shape %v", method, up.Shape)
		}
		for i, v := range up.Data {
			if math.Abs(float64(v)-0.3) > 1e-6 {
				t.Fatalf("%s: constant image changed at %d: %v", method, i, v)
			}
		}
	}
	// Keys' cubic reproduces a linear ramp exactly away from the borders.
	ramp := artifact.NewImages(1, 1, 1, 10, 0, 100)
	for i := range ramp.Data {
		ramp.Data[i] = float32(i)
	}
	up := resize(ramp, 4, "bicubic")
	for x := 8; x < 32; x++ {
		want := (float64(x)+0.5)/4 - 0.5
		if math.Abs(float64(up.Data[x])-want) > 1e-5 {
			t.Fatalf("bicubic ramp at %d: %v, want %v", x, up.Data[x], want)
		}
	}
}
