package ops

import (
	"math"
	"testing"
)

func TestErf32MatchesMathErf(t *testing.T) {
	worst := 0.0
	for x := -6.0; x <= 6.0; x += 1e-3 {
		got := float64(erf32(float32(x)))
		want := math.Erf(float64(float32(x)))
		worst = max(worst, math.Abs(got-want))
	}
	if worst > 5e-7 {
		t.Fatalf("erf32 max abs error %.3g, want <= 5e-7", worst)
	}
}

func TestExp32MatchesMathExp(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88.0; x += 1e-3 {
		got := float64(exp32(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("exp32 max relative error %.3g, want <= 3e-7", worst)
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Fatal("exp32 does not saturate outside [-87, 88]")
	}
}
