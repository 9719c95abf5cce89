package ddpm

import (
	"math"
	"testing"
)

func TestClip(t *testing.T) {
	x := []float32{-3, -1, 0.5, 1, 2}
	Clip(1)(x, Shape{N: 1, C: 1, H: 1, W: 5})
	for i, want := range []float32{-1, -1, 0.5, 1, 1} {
		if x[i] != want {
			t.Fatalf("Clip(1) = %v", x)
		}
	}
}

func TestDynamicThreshold(t *testing.T) {
	sh := Shape{N: 3, C: 1, H: 1, W: 5}
	x := []float32{
		// |x| sorted 0.2 0.4 0.6 0.8 1.4: the 0.75-quantile is at rank 3 exactly, 0.8, raised to s = 1:
		// values are clamped to [-1, 1] and kept.
		0.2, -1.4, 0.6, 0.8, -0.4,
		// |x| 1 2 3 4 5: quantile at rank 3, 4, lowered to maxValue s = 1.5.
		1, -2, 3, 4, 5,
		// |x| 0 1.1 1.2 1.3 2: quantile at rank 3, 1.3, kept: clamp to [-1.3, 1.3], divide by 1.3.
		-1.1, 1.2, 0, 1.3, -2,
	}
	DynamicThreshold(0.75, 1.5)(x, sh)
	want := []float64{
		0.2, -1, 0.6, 0.8, -0.4,
		1 / 1.5, -1, 1, 1, 1,
		-1.1 / 1.3, 1.2 / 1.3, 0, 1, -1,
	}
	for i := range want {
		if math.Abs(float64(x[i])-want[i]) > 1e-6 {
			t.Fatalf("value %d: %v, want %v (all: %v)", i, x[i], want[i], x)
		}
	}
	// Interpolation between ranks, as torch.quantile([1, 2, 3, 4], 0.5) = 2.5.
	if q := quantile([]float64{4, 1, 3, 2}, 0.5); q != 2.5 {
		t.Fatalf("quantile = %v, want 2.5", q)
	}
}
