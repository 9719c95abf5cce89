package schedule

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestLinearClosedForm(t *testing.T) {
	s, err := New("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if s.T != 1000 || len(s.Betas) != 1000 || len(s.Alphas) != 1000 || len(s.AlphasCumprod) != 1000 {
		t.Fatalf("lengths: T=%d betas=%d alphas=%d cumprod=%d", s.T, len(s.Betas), len(s.Alphas), len(s.AlphasCumprod))
	}
	if s.Betas[0] != 1e-4 || math.Abs(s.Betas[999]-0.02) > 1e-15 {
		t.Errorf("betas run from %g to %g, want 1e-4 to 0.02", s.Betas[0], s.Betas[999])
	}
	// Evenly spaced: constant difference.
	step := (0.02 - 1e-4) / 999
	logSum := 0.0
	for i := range s.Betas {
		if want := 1e-4 + step*float64(i); math.Abs(s.Betas[i]-want) > 1e-15 {
			t.Fatalf("beta[%d] = %g, want %g", i, s.Betas[i], want)
		}
		if s.Alphas[i] != 1-s.Betas[i] {
			t.Fatalf("alpha[%d] = %g, want 1 - beta = %g", i, s.Alphas[i], 1-s.Betas[i])
		}
		// Independent product: exp of the sum of log1p(-beta).
		logSum += math.Log1p(-s.Betas[i])
		if want := math.Exp(logSum); math.Abs(s.AlphasCumprod[i]-want) > 1e-12*want {
			t.Fatalf("alphas_cumprod[%d] = %g, want %g", i, s.AlphasCumprod[i], want)
		}
	}
	// The well-known DDPM value: abar_999 is about 4.036e-5.
	if got := s.AlphasCumprod[999]; math.Abs(got-4.0358e-5) > 1e-8 {
		t.Errorf("alphas_cumprod[999] = %g, want about 4.0358e-5", got)
	}
}

func TestCosineClosedForm(t *testing.T) {
	const T = 1000
	s, err := New("squaredcos_cap_v2", T)
	if err != nil {
		t.Fatal(err)
	}
	f := func(u float64) float64 { return math.Pow(math.Cos((u+0.008)/1.008*math.Pi/2), 2) }
	capped := 0
	for i := 0; i < T; i++ {
		want := math.Min(1-f(float64(i+1)/T)/f(float64(i)/T), 0.999)
		if math.Abs(s.Betas[i]-want) > 1e-15 {
			t.Fatalf("beta[%d] = %g, want %g", i, s.Betas[i], want)
		}
		if s.Betas[i] == 0.999 {
			capped++
			continue
		}
		// Until the cap bites the product telescopes: abar_i = f((i+1)/T) / f(0).
		if capped == 0 {
			if want := f(float64(i+1)/T) / f(0); math.Abs(s.AlphasCumprod[i]-want) > 1e-12 {
				t.Fatalf("alphas_cumprod[%d] = %.15g, want %.15g", i, s.AlphasCumprod[i], want)
			}
		}
	}
	if capped != 1 {
		t.Errorf("%d betas capped at 0.999, want exactly the last one", capped)
	}
	if s.Betas[T-1] != 0.999 {
		t.Errorf("beta[%d] = %g, want the cap 0.999", T-1, s.Betas[T-1])
	}
}

func TestInvariants(t *testing.T) {
	for _, name := range Names() {
		for _, T := range []int{1, 2, 10, 1000} {
			s, err := New(name, T)
			if err != nil {
				t.Fatalf("%s T=%d: %v", name, T, err)
			}
			prev := 1.0
			for i := 0; i < T; i++ {
				if b := s.Betas[i]; !(b > 0 && b < 1) {
					t.Errorf("%s T=%d: beta[%d] = %g outside (0, 1)", name, T, i, b)
				}
				if a := s.AlphasCumprod[i]; !(a > 0 && a < prev) {
					t.Errorf("%s T=%d: alphas_cumprod[%d] = %g not in (0, %g)", name, T, i, a, prev)
				}
				prev = s.AlphasCumprod[i]
				sig, noi := s.Coefficients(i)
				if math.Abs(sig*sig+noi*noi-1) > 1e-12 {
					t.Errorf("%s T=%d t=%d: signal^2 + noise^2 = %g, want 1", name, T, i, sig*sig+noi*noi)
				}
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		T    int
		want string
	}{
		{"cosine", 1000, `unknown schedule "cosine" (known: linear, squaredcos_cap_v2)`},
		{"linear", 0, "T = 0 timesteps, want 1 to"},
		{"linear", MaxSteps + 1, "want 1 to 1000000"},
	} {
		_, err := New(c.name, c.T)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %d) error = %v, want it to contain %q", c.name, c.T, err, c.want)
		}
	}
}

func TestFromAlphasCumprodRoundTrip(t *testing.T) {
	ref, err := New("squaredcos_cap_v2", 1000)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromAlphasCumprod("published", ref.AlphasCumprod)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.Betas {
		if math.Abs(s.Betas[i]-ref.Betas[i]) > 1e-9 {
			t.Fatalf("beta[%d] = %g, want %g", i, s.Betas[i], ref.Betas[i])
		}
		if s.AlphasCumprod[i] != ref.AlphasCumprod[i] {
			t.Fatalf("alphas_cumprod[%d] = %g, want the given %g", i, s.AlphasCumprod[i], ref.AlphasCumprod[i])
		}
	}
	for _, bad := range [][]float64{nil, {1}, {0.9, 0.95}, {0.9, 0}, {0.5, math.NaN()}} {
		if _, err := FromAlphasCumprod("bad", bad); err == nil {
			t.Errorf("FromAlphasCumprod(%v) succeeded, want an error", bad)
		}
	}
}

func TestCoefficientsPanicsOutOfRange(t *testing.T) {
	s, _ := New("linear", 10)
	defer func() {
		if recover() == nil {
			t.Error("Coefficients(10) on T=10 did not panic")
		}
	}()
	s.Coefficients(10)
}

func ExampleNew() {
	s, err := New("squaredcos_cap_v2", 1000)
	if err != nil {
		panic(err)
	}
	for _, t := range []int{250, 500, 750} {
		signal, noise := s.Coefficients(t)
		fmt.Printf("t=%d: sqrt(abar)=%.4f sqrt(1-abar)=%.4f\n", t, signal, noise)
	}
	// Output:
	// t=250: sqrt(abar)=0.9197 sqrt(1-abar)=0.3926
	// t=500: sqrt(abar)=0.7016 sqrt(1-abar)=0.7125
	// t=750: sqrt(abar)=0.3784 sqrt(1-abar)=0.9256
}
