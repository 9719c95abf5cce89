package diffusion

import (
	"math"
	"strings"
	"testing"

	"difflab/models/ddpm"
	"difflab/models/modelfile"
	"difflab/models/schedule"
	"difflab/models/tensor"
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

// cosineAbar is squaredcos_cap_v2's abar_t over T steps, computed here from
// its definition: betas 1 - f(i+1)/f(i) capped at 0.999, f(u) =
// cos²((u/T + 0.008) / 1.008 · π/2), abar_t the product of 1 - beta_i, i <= t.
func cosineAbar(t, T int) float64 {
	f := func(u float64) float64 {
		c := math.Cos((u/float64(T) + 0.008) / 1.008 * math.Pi / 2)
		return c * c
	}
	a := 1.0
	for i := 0; i <= t; i++ {
		a *= 1 - math.Min(1-f(float64(i+1))/f(float64(i)), 0.999)
	}
	return a
}

// TestNoisedLowResClosedForm checks the conditioning image of a
// super-resolution model against its closed form: the bilinear upscale with
// aligned corners, as a tent kernel over the source pixels at j (n-1)/(N-1),
// noised to the noise level s: sqrt(abar_s) up + sqrt(1 - abar_s) eps.
func TestNoisedLowResClosedForm(t *testing.T) {
	sc, err := schedule.New("squaredcos_cap_v2", 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := ddpm.Schedule{AlphasCumprod: sc.AlphasCumprod}
	sh := ddpm.Shape{N: 2, C: 3, H: 4, W: 5}
	H, W := 16, 20
	low := make([]float32, sh.Len())
	for i := range low {
		low[i] = float32(math.Sin(float64(3*i+1))) * 0.8
	}
	eps := make([]float32, sh.N*sh.C*H*W)
	ddpm.FillNormal(eps, ddpm.NewRand(9))
	for _, level := range []int{0, 250, 900} {
		got := noisedLowRes(low, sh, H, W, s, level, eps)
		a := cosineAbar(level, 1000)
		want := make([]float32, len(got))
		for p := 0; p < sh.N*sh.C; p++ {
			for y := range H {
				for x := range W {
					sy, sx := float64(y)*float64(sh.H-1)/float64(H-1), float64(x)*float64(sh.W-1)/float64(W-1)
					var up float64
					for i := range sh.H {
						for k := range sh.W {
							up += math.Max(0, 1-math.Abs(sy-float64(i))) * math.Max(0, 1-math.Abs(sx-float64(k))) * float64(low[(p*sh.H+i)*sh.W+k])
						}
					}
					j := (p*H+y)*W + x
					want[j] = float32(math.Sqrt(a)*up + math.Sqrt(1-a)*float64(eps[j]))
				}
			}
		}
		near(t, "noised low-resolution image", got, want, 1e-5)
	}
	// The corners keep the source's corner values (before the noise).
	up := resizeAligned(low, sh, H, W)
	if up[0] != low[0] || up[W-1] != low[sh.W-1] || up[H*W-1] != low[sh.H*sh.W-1] {
		t.Errorf("corners moved: %v %v %v, want %v %v %v", up[0], up[W-1], up[H*W-1], low[0], low[sh.W-1], low[sh.H*sh.W-1])
	}
}

// superResOracle is a fake super-resolution model of 1 x 8 x 8 images
// conditioned on 1 x 4 x 4 ones, with prompt "a": it returns the exact
// noise that leads x_t to the conditioning image it is shown, and records
// what it was shown.
type superResOracle struct {
	*noiseModel
	ups     [][]float32 // per call, the upscaled images
	levels  []int
	prompts []string
}

func newSuperResOracle(t *testing.T) *superResOracle {
	o := &superResOracle{noiseModel: oracleModel(t, nil)}
	d := o.desc
	d.Inputs = modelfile.Inputs{Sample: "x", Timestep: "t", Condition: "c", NoiseLevel: "s"}
	d.LowRes = &modelfile.LowRes{Channels: 1, Height: size / 2, Width: size / 2}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	o.predictUpscaled = func(x *tensor.Tensor, ts []float64, prompts []string, up *tensor.Tensor, levels []int) (*modelfile.Prediction, error) {
		o.ups = append(o.ups, up.Data)
		o.levels = append(o.levels, levels...)
		o.prompts = append(o.prompts, prompts...)
		out := tensor.New(x.Shape...)
		for i, v := range x.Data {
			a := o.sched.Abar(int(ts[i/(size*size)]))
			out.Data[i] = float32((float64(v) - math.Sqrt(a)*float64(up.Data[i])) / math.Sqrt(1-a))
		}
		return &modelfile.Prediction{Out: out}, nil
	}
	return o
}

// TestSuperResolutionConditioning runs kind upscale's super-resolution loop
// on the oracle: every guided call must show each image its own noised,
// upscaled input (the closed form above, with the noise drawn after the
// starting noise, as diffusers does), the noise level and the prompts, and
// the samples must end at that image.
func TestSuperResolutionConditioning(t *testing.T) {
	o := newSuperResOracle(t)
	in := artifact.NewImages(2, 1, size/2, size/2, 0, 1)
	for i := range in.Data {
		in.Data[i] = 0.5 + 0.15*float32(math.Sin(float64(i)))
	}
	with := map[string]any{"factor": 2, "noise_level": 50, "stride": 100, "prompt": "a", "cfg": 3.0, "seed": 11}
	out, err := superResolve(newContext(t, "upscale", with), o.noiseModel, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := ddpm.NewRand(11)
	ddpm.FillNormal(make([]float32, 2*size*size), rng)
	eps := make([]float32, 2*size*size)
	ddpm.FillNormal(eps, rng)
	low := make([]float32, len(in.Data))
	for i, v := range in.Data {
		low[i] = 2*v - 1
	}
	want := noisedLowRes(low, ddpm.Shape{N: 2, C: 1, H: size / 2, W: size / 2}, size, size, o.sched, 50, eps)
	per := size * size
	if len(o.ups) != 9 {
		t.Fatalf("%d model calls, want 9 (stride 100: 900 down to 0)", len(o.ups))
	}
	for _, up := range o.ups {
		// Guided batches: the conditional halves, then the unconditional.
		near(t, "upscaled image shown", up, append(append([]float32{}, want...), want...), 1e-6)
	}
	for j, l := range o.levels {
		if l != 50 || o.prompts[j] != []string{"a", "a", "", ""}[j%4] {
			t.Fatalf("batch image %d: noise level %d, prompt %q", j, l, o.prompts[j])
		}
	}
	near(t, "super-resolved images", out.Data, want, tol)
	if out.H() != size || out.W() != size || len(want) != 2*per {
		t.Fatalf("output shape %v", out.Shape)
	}
	for _, c := range []struct {
		with map[string]any
		in   *artifact.Images
		want string
	}{
		{map[string]any{"factor": 4}, in, "parameter factor: is 4, but the oracle model upscales 4 x 4 images to 8 x 8; set factor: 2"},
		{map[string]any{"factor": 2}, artifact.NewImages(1, 1, size, size, 0, 1), "input images: images are 1 x 8 x 8, the oracle model upscales 1 x 4 x 4"},
		{map[string]any{"factor": 2, "noise_level": 1000}, in, "parameter noise_level: 1000 must lie in 0..999"},
		{map[string]any{"factor": 2, "prompt": "d"}, in, `the model does not know the prompt "d"`},
	} {
		if _, err := superResolve(newContext(t, "upscale", c.with), o.noiseModel, c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want %q", c.with, err, c.want)
		}
	}
}
