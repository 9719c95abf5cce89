package unet

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

var configs = []Config{
	{Cond: Unconditional, Hidden: 4, Channels: 1, Size: 8},
	{Cond: Time, Hidden: 4, Channels: 1, Size: 8},
	{Cond: TimeClass, Hidden: 4, Channels: 1, Classes: 3, Size: 8},
}

// TestSpecsCount checks the number of values against a count of the
// PyTorch module's parameters and buffers written out by layer.
func TestSpecsCount(t *testing.T) {
	const D, ch, nc, k = 8, 1, 10, 7                              // k: the Unflatten kernel of 28x28 images
	conv := func(i, o, kk int) int { return o*i*kk*kk + o + 4*o } // weight, bias, BN (4 per channel)
	block := func(i, o int) int { return conv(i, o, 3) + conv(o, o, 3) }
	fc := func(i, o int) int { return o*i + o + o*o + o }
	base := block(ch, D) + conv(D, D, 3) + block(D, D) + conv(D, 2*D, 3) + block(2*D, 2*D) +
		conv(2*D, 2*D, k) + conv(4*D, D, 4) + block(D, D) + conv(2*D, D, 4) + block(D, D) + block(2*D, D) +
		ch*D*9 + ch
	want := map[Conditioning]int{
		Unconditional: base,
		Time:          base + fc(1, 2*D) + fc(1, D),
		TimeClass:     base + fc(1, 2*D) + fc(1, D) + fc(nc, 2*D) + fc(nc, D),
	}
	for cond, n := range want {
		specs, err := Specs(Config{Cond: cond, Hidden: D, Channels: ch, Classes: nc, Size: 28})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, s := range specs {
			got += count(s.Shape)
		}
		if got != n {
			t.Errorf("%s: %d values, want %d", cond, got, n)
		}
	}
}

func TestInit(t *testing.T) {
	cfg := Config{Cond: TimeClass, Hidden: 16, Channels: 1, Classes: 10, Size: 28}
	w, err := Init(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(cfg); err != nil {
		t.Fatal(err)
	}
	specs, _ := Specs(cfg)
	for _, s := range specs {
		d := w[s.Name].Data
		switch s.Role {
		case Weight, Bias:
			bound := 1 / math.Sqrt(float64(s.FanIn))
			var sq float64
			for _, v := range d {
				if math.Abs(float64(v)) > bound {
					t.Fatalf("%s: %v outside ±%v", s.Name, v, bound)
				}
				sq += float64(v) * float64(v)
			}
			// A uniform variable on ±b has variance b²/3.
			if len(d) >= 1000 {
				if r := sq / float64(len(d)) / (bound * bound / 3); math.Abs(r-1) > 0.1 {
					t.Errorf("%s: variance is %.3f of the uniform's", s.Name, r)
				}
			}
		case BNWeight, RunningVar:
			for _, v := range d {
				if v != 1 {
					t.Fatalf("%s = %v, want 1", s.Name, v)
				}
			}
		default:
			for _, v := range d {
				if v != 0 {
					t.Fatalf("%s = %v, want 0", s.Name, v)
				}
			}
		}
	}
	w2, _ := Init(cfg, 7)
	w3, _ := Init(cfg, 8)
	if w2["d1.0.0.weight"].Data[5] != w["d1.0.0.weight"].Data[5] {
		t.Error("same seed, different weights")
	}
	if w3["d1.0.0.weight"].Data[5] == w["d1.0.0.weight"].Data[5] {
		t.Error("different seeds, same weights")
	}
}

func TestCheckAndLoad(t *testing.T) {
	cfg := configs[2]
	w, _ := Init(cfg, 1)
	path := filepath.Join(t.TempDir(), FileName)
	if err := w.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got["fc2_c.2.bias"].Data[1] != w["fc2_c.2.bias"].Data[1] {
		t.Error("loaded weights differ")
	}
	if _, err := Load(path, configs[1]); err == nil {
		t.Error("class weights loaded into a time-only UNet without error")
	}
	bad := w.Clone()
	delete(bad, "un.1.running_var")
	if err := bad.Check(cfg); err == nil {
		t.Error("missing running_var: no error")
	}
	bad = w.Clone()
	bad["out.weight"].Shape = []int{1, 4, 9}
	if err := bad.Check(cfg); err == nil {
		t.Error("wrong shape: no error")
	}
	if _, err := Specs(Config{Cond: "spatial", Hidden: 4, Channels: 1, Size: 28}); err == nil {
		t.Error("unknown conditioning: no error")
	}
}

func inputs(cfg Config, B int, seed uint64) (x, tt, c []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x = make([]float32, B*cfg.Channels*cfg.Size*cfg.Size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if cfg.Cond != Unconditional {
		tt = make([]float32, B)
		for i := range tt {
			tt[i] = float32(rng.Float64())
		}
	}
	if cfg.Cond == TimeClass {
		c = make([]float32, B*cfg.Classes)
		for i := 0; i < B; i++ {
			c[i*cfg.Classes+rng.IntN(cfg.Classes)] = 1
		}
	}
	return x, tt, c
}

// TestInferenceIsPerImage checks that in inference mode each image's
// output depends only on its own inputs (BatchNorm uses running
// statistics), and that the conditioning inputs change the output.
func TestInferenceIsPerImage(t *testing.T) {
	for _, cfg := range configs {
		w, _ := Init(cfg, 3)
		x, tt, c := inputs(cfg, 4, 1)
		all, err := Forward(cfg, w, x, tt, c)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Cond, err)
		}
		per := len(x) / 4
		var t1, c1 []float32
		if tt != nil {
			t1 = tt[2:3]
		}
		if c != nil {
			c1 = c[2*cfg.Classes : 3*cfg.Classes]
		}
		one, err := Forward(cfg, w, x[2*per:3*per], t1, c1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range one {
			if d := math.Abs(float64(one[i] - all[2*per+i])); d > 1e-5 {
				t.Fatalf("%s: image 2 alone differs from it in a batch by %g", cfg.Cond, d)
			}
		}
		if cfg.Cond == Unconditional {
			continue
		}
		t2 := append([]float32(nil), t1...)
		t2[0] += 0.5
		other, err := Forward(cfg, w, x[2*per:3*per], t2, c1)
		if err != nil {
			t.Fatal(err)
		}
		if maxDiff(one, other) < 1e-6 {
			t.Errorf("%s: output does not depend on t", cfg.Cond)
		}
		if cfg.Cond == TimeClass {
			other, err := Forward(cfg, w, x[2*per:3*per], t1, make([]float32, cfg.Classes))
			if err != nil {
				t.Fatal(err)
			}
			if maxDiff(one, other) < 1e-6 {
				t.Errorf("output does not depend on c")
			}
		}
	}
}

// TestRunningStats checks inference mode against training mode: after the
// training-mode graph has run many times on one batch, the running
// statistics are that batch's statistics (momentum 0.1; the variance
// unbiased, n/(n-1) times the batch variance over n = B*H*W values). With
// the variances scaled back by (n-1)/n, inference mode reproduces training
// mode's output on that batch.
func TestRunningStats(t *testing.T) {
	cfg := Config{Cond: TimeClass, Hidden: 4, Channels: 1, Classes: 3, Size: 8}
	w, _ := Init(cfg, 5)
	const B = 16
	x, tt, c := inputs(cfg, B, 2)
	net, err := Build(cfg, w, B, true)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.SetInputs(x, tt, c); err != nil {
		t.Fatal(err)
	}
	var trained []float32
	for i := 0; i < 150; i++ { // 0.9^150 < 1e-6
		if trained, err = net.Run(); err != nil {
			t.Fatal(err)
		}
	}
	stats := net.Weights()
	// The side of the feature maps each BatchNorm normalises.
	side := map[string]int{"c0": 8, "d1": 4, "d2": 2, "un": 2, "u1": 4, "u2": 8, "c1": 8}
	for name, v := range stats {
		if !strings.HasSuffix(name, ".running_var") {
			continue
		}
		s := side[name[:2]]
		n := float32(B * s * s)
		for i := range v.Data {
			v.Data[i] *= (n - 1) / n
		}
	}
	inf, err := Forward(cfg, stats, x, tt, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(trained, inf); d > 2e-4 {
		t.Errorf("inference output differs from training output by %g", d)
	}
	if d := maxDiff(trained, mustForward(t, cfg, w, x, tt, c)); d < 0.05 {
		t.Errorf("fresh running statistics give the trained output too (diff %g): the test cannot tell", d)
	}
}

func mustForward(t *testing.T, cfg Config, w Weights, x, tt, c []float32) []float32 {
	out, err := Forward(cfg, w, x, tt, c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestForwardErrors(t *testing.T) {
	cfg := configs[2]
	w, _ := Init(cfg, 1)
	x, tt, c := inputs(cfg, 2, 1)
	if _, err := Forward(cfg, w, x[:10], tt, c); err == nil {
		t.Error("partial image: no error")
	}
	if _, err := Forward(cfg, w, x, tt[:1], c); err == nil {
		t.Error("short t: no error")
	}
	if _, err := Forward(cfg, w, x, tt, c[:3]); err == nil {
		t.Error("short c: no error")
	}
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
