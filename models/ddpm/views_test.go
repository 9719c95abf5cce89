package ddpm

import (
	"slices"
	"testing"
)

func TestViewsRoundTrip(t *testing.T) {
	sh := Shape{N: 2, C: 3, H: 28, W: 28}
	x := make([]float32, sh.Len())
	FillNormal(x, NewRand(8))
	for _, name := range ViewNames() {
		v, err := ViewByName(name)
		if err != nil {
			t.Fatal(err)
		}
		a := make([]float32, len(x))
		b := make([]float32, len(x))
		v.Apply(a, x, sh)
		if slices.Equal(a, x) {
			t.Errorf("%s: Apply is the identity", name)
		}
		v.Inverse(b, a, sh)
		if !slices.Equal(b, x) {
			t.Errorf("%s: Inverse(Apply(x)) != x", name)
		}
		v.Apply(b, x, sh)
		v.Inverse(a, x, sh)
		v.Apply(b, a, sh)
		if !slices.Equal(b, x) {
			t.Errorf("%s: Apply(Inverse(x)) != x", name)
		}
	}
	if _, err := ViewByName("rotate"); err == nil {
		t.Error("unknown view accepted")
	}
}

func TestFlipAndNegateAreInvolutions(t *testing.T) {
	sh := Shape{N: 1, C: 1, H: 3, W: 2}
	x := []float32{1, 2, 3, 4, 5, 6}
	f := make([]float32, 6)
	Flip{}.Apply(f, x, sh)
	if want := []float32{5, 6, 3, 4, 1, 2}; !slices.Equal(f, want) {
		t.Errorf("flip = %v, want %v", f, want)
	}
	ff := make([]float32, 6)
	Flip{}.Apply(ff, f, sh)
	Negate{}.Apply(f, x, sh)
	if !slices.Equal(ff, x) || f[0] != -1 || f[5] != -6 {
		t.Errorf("flip twice %v, negate %v", ff, f)
	}
}

func TestSkewRollsColumns(t *testing.T) {
	sh := Shape{N: 1, C: 1, H: 4, W: 4}
	x := make([]float32, 16)
	for i := range x {
		x[i] = float32(i)
	}
	s := Skew{Factor: 1.5}
	// Shifts for columns 0..3 with h/2 = 2: int(-3), int(-1.5), 0, int(1.5).
	for i, want := range []int{-3, -1, 0, 1} {
		if got := s.Shift(i, 4); got != want {
			t.Errorf("shift of column %d = %d, want %d", i, got, want)
		}
	}
	got := make([]float32, 16)
	s.Apply(got, x, sh)
	for y := 0; y < 4; y++ {
		for c, k := range []int{-3, -1, 0, 1} {
			ny := ((y+k)%4 + 4) % 4
			if got[ny*4+c] != x[y*4+c] {
				t.Fatalf("column %d row %d did not move to row %d: %v", c, y, ny, got)
			}
		}
	}
}
