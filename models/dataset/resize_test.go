package dataset

import (
	"math"
	"testing"

	"difflab/models/tensor"
)

func TestResizeBilinear(t *testing.T) {
	m := tensor.New(1, 1, 1, 2)
	m.Data[0], m.Data[1] = 0, 1
	up := Resize(m, 1, 4)
	// Output centres at source x = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
	want := []float32{0, 0.25, 0.75, 1}
	for i := range want {
		if math.Abs(float64(up.Data[i]-want[i])) > 1e-6 {
			t.Fatalf("dataset.Resize 2 -> 4 = %v, want %v", up.Data, want)
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
