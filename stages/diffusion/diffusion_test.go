package diffusion

import (
	"context"
	"math"
	"strings"
	"testing"

	"difflab/models/ddpm"
	"difflab/models/modelfile"
	"difflab/models/schedule"
	"difflab/models/tensor"
	"difflab/stages"
	"difflab/stages/artifact"
)

const size = 8

// target is the image an oracle model denoises toward under class c
// (c = -1: the unconditional target, zeros).
func target(c int) []float32 {
	x := make([]float32, size*size)
	if c < 0 {
		return x
	}
	for i := range x {
		x[i] = 0.1 * float32(c+1) * float32(math.Sin(float64(i*(c+2))))
	}
	return x
}

// oracleModel is a fake epsilon model over 1 x 8 x 8 images in [-1, 1] with
// prompts "a", "b", "c" (classes 0..2): it returns the exact noise that
// would lead x_t to the prompt's target image. calls counts its batches.
func oracleModel(t *testing.T, calls *[]int) *noiseModel {
	sc, err := schedule.New("squaredcos_cap_v2", 1000)
	if err != nil {
		t.Fatal(err)
	}
	desc := &modelfile.Description{
		Format: modelfile.Format, ONNX: "model.onnx", Predicts: modelfile.PredictsEpsilon,
		Inputs:    modelfile.Inputs{Sample: "x", Timestep: "t", Condition: "c"},
		Timestep:  modelfile.Timestep{DType: "float32", Scale: 0.001, Shape: "b1"},
		Output:    modelfile.Output{Name: "u", Channels: 1, Variance: modelfile.VarianceNone},
		Image:     modelfile.Image{Channels: 1, Height: size, Width: size, Range: [2]float64{-1, 1}},
		Condition: modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: 3},
		Prompts:   []modelfile.Prompt{{Prompt: "a", Class: 0}, {Prompt: "b", Class: 1}, {Prompt: "c", Class: 2}},
		Schedule:  &modelfile.Schedule{Name: "squaredcos_cap_v2", Steps: 1000},
	}
	if err := desc.Validate(); err != nil {
		t.Fatal(err)
	}
	m := &noiseModel{name: "the oracle model", desc: desc, sched: ddpm.Schedule{AlphasCumprod: sc.AlphasCumprod}}
	m.predict = func(x *tensor.Tensor, ts []float64, prompts []string) (*modelfile.Prediction, error) {
		if calls != nil {
			*calls = append(*calls, x.Shape[0])
		}
		out := tensor.New(x.Shape...)
		per := size * size
		for i, p := range prompts {
			c, err := m.class("prompt", p)
			if err != nil {
				return nil, err
			}
			a := m.sched.Abar(int(ts[i]))
			tg := target(int(c))
			for k := 0; k < per; k++ {
				out.Data[i*per+k] = float32((float64(x.Data[i*per+k]) - math.Sqrt(a)*float64(tg[k])) / math.Sqrt(1-a))
			}
		}
		return &modelfile.Prediction{Out: out}, nil
	}
	return m
}

// newContext returns a context for kind with its defaults and overrides.
func newContext(t *testing.T, kind string, with map[string]any) *stages.Context {
	k, err := stages.Lookup(kind)
	if err != nil {
		t.Fatal(err)
	}
	p := stages.Params{}
	for _, d := range k.Params {
		if d.Default != nil {
			p[d.Name] = d.Default
		}
	}
	for n, v := range with {
		if k.Param(n) == nil {
			t.Fatalf("kind %s has no parameter %s", kind, n)
		}
		p[n] = v
	}
	if k.Check != nil {
		if err := k.Check(p); err != nil {
			t.Fatal(err)
		}
	}
	return &stages.Context{Context: context.Background(), Kind: k, Stage: "test", Params: p}
}

// near fails unless every value of got is within tol of want.
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol {
			t.Fatalf("%s[%d] = %v, want %v (diff %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

// tol is the spread of the last reverse step, sqrt(1 - abar_0), with margin.
const tol = 0.05

func TestSampleCFGClosedForm(t *testing.T) {
	var calls []int
	m := oracleModel(t, &calls)
	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"b", "c"}, "n": 2, "cfg": 3.0, "seed": 7})
	samples, labels, err := sample(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 33 || calls[0] != 8 {
		t.Fatalf("model calls %v: want 33 steps of one batch of 8 (4 conditional + 4 unconditional)", calls)
	}
	if samples.N() != 4 || len(labels) != 4 || labels[0] != 1 || labels[1] != 1 || labels[2] != 2 || labels[3] != 2 {
		t.Fatalf("samples %v labels %v", samples.Shape, labels)
	}
	// eps = eps_u + 3 (eps_c - eps_u) leads to target_u + 3 (target_c - target_u) = 3 target_c.
	for i := 0; i < 4; i++ {
		want := target(1 + i/2)
		for k := range want {
			want[k] = min(max(3*want[k], -1), 1)
		}
		near(t, "CFG sample", samples.Image(i), want, tol)
	}
}

func TestSampleStepsAndErrors(t *testing.T) {
	var calls []int
	m := oracleModel(t, &calls)
	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"a"}, "steps": 5})
	if _, _, err := sample(ctx, m); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 || calls[0] != 1 {
		t.Errorf("5 steps without guidance made calls %v, want 4 batches of 1", calls)
	}
	ctx = newContext(t, "sample", map[string]any{"prompts": []string{"a photo of a cat"}})
	if _, _, err := sample(ctx, m); err == nil || !strings.Contains(err.Error(), `"a photo of a cat"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("unknown prompt error %v should name it and the known prompts", err)
	}
}

func TestOneStepInvertsForward(t *testing.T) {
	m := oracleModel(t, nil)
	in := artifact.NewImages(1, 1, size, size, -1, 1)
	noise := make([]float32, size*size)
	ddpm.FillNormal(noise, ddpm.NewRand(1))
	ddpm.Forward(in.Data, target(2), noise, m.sched, 500)
	out, err := oneStep(m, in, 500, "c")
	if err != nil {
		t.Fatal(err)
	}
	near(t, "one-step estimate", out.Data, target(2), 1e-5)
	if _, err := oneStep(m, in, 1000, "c"); err == nil {
		t.Error("t = 1000 accepted for a 1000-step model")
	}
	small := artifact.NewImages(1, 1, 4, 4, -1, 1)
	if _, err := oneStep(m, small, 500, "c"); err == nil || !strings.Contains(err.Error(), "8 x 8") {
		t.Errorf("size mismatch error %v should name the model's size", err)
	}
}

func TestOneStepDirectDenoiser(t *testing.T) {
	m := oracleModel(t, nil)
	m.desc.Predicts = modelfile.PredictsX0
	m.desc.Image.Range = [2]float64{0, 1}
	m.predict = func(x *tensor.Tensor, ts []float64, _ []string) (*modelfile.Prediction, error) {
		out := tensor.New(x.Shape...)
		for i, v := range x.Data {
			out.Data[i] = v / 2
		}
		return &modelfile.Prediction{Out: out}, nil
	}
	in := artifact.NewImages(1, 1, size, size, 0, 1)
	for i := range in.Data {
		in.Data[i] = float32(i) / 64
	}
	out, err := oneStep(m, in, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out.Data {
		if v != in.Data[i]/2 {
			t.Fatalf("x0 model output[%d] = %v, want the model's output %v", i, v, in.Data[i]/2)
		}
	}
}

func TestIterativeKeepsEveryFifthStep(t *testing.T) {
	m := oracleModel(t, nil)
	in := artifact.NewImages(2, 1, size, size, -1, 1)
	ddpm.FillNormal(in.Data, ddpm.NewRand(3))
	var ts []int
	ctx := newContext(t, "denoise.iterative", map[string]any{"prompt": "a"})
	ctx.Progress = func(done, total int, detail string) {
		if total != 23 {
			t.Fatalf("total %d, want the 23 steps from i_start 10", total)
		}
		ts = append(ts, done)
	}
	final, inter, err := iterative(ctx, m, in)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "iterative result", final.Image(1), target(0), tol)
	// t = 690 (the input), 540, 390, 240, 90 for both images.
	if inter.N() != 10 {
		t.Fatalf("%d intermediate images, want 10", inter.N())
	}
	near(t, "first intermediate", inter.Image(1), in.Image(1), 0)
	if len(ts) != 23 {
		t.Errorf("%d progress reports", len(ts))
	}
}

func TestSDEditAndImageRange(t *testing.T) {
	m := oracleModel(t, nil)
	in := artifact.NewImages(1, 1, size, size, 0, 1) // a [0, 1] image is mapped to [-1, 1]
	ctx := newContext(t, "sdedit", map[string]any{"prompt": "b", "i_start": 20, "n": 3, "cfg": 1.0})
	out, labels, err := sdedit(ctx, m, in, 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	if out.N() != 3 || out.Lo != -1 || len(labels) != 3 || labels[2] != 1 {
		t.Fatalf("sdedit: %v in [%v, %v], labels %v", out.Shape, out.Lo, out.Hi, labels)
	}
	near(t, "sdedit", out.Image(2), target(1), tol)
	wrong := artifact.NewImages(1, 3, size, size, 0, 1)
	if _, _, err := sdedit(ctx, m, wrong, 20, 1); err == nil || !strings.Contains(err.Error(), "images are 3 x 8 x 8, the oracle model works on 1 x 8 x 8") {
		t.Errorf("an RGB image for a gray model: %v", err)
	}
	ctx = newContext(t, "sdedit", map[string]any{"i_start": 33})
	if _, _, err := sdedit(ctx, m, in, 33, 1); err == nil || !strings.Contains(err.Error(), "i_start") {
		t.Errorf("i_start 33 error: %v", err)
	}
}

func TestInpaintRect(t *testing.T) {
	m := oracleModel(t, nil)
	in := artifact.NewImages(1, 1, size, size, -1, 1)
	for i := range in.Data {
		in.Data[i] = 0.5
	}
	ctx := newContext(t, "inpaint", map[string]any{"prompt": "c", "rect": []int{2, 1, 6, 4}, "cfg": 1.0})
	r, err := inpaint(ctx, m, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := target(2)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			k := y*size + x
			inside := x >= 2 && x < 6 && y >= 1 && y < 4
			want := float32(0.5)
			if inside {
				want = tg[k]
			}
			if d := math.Abs(float64(r.samples.Data[k] - want)); d > tol {
				t.Fatalf("pixel (%d, %d) inside=%v: %v, want %v", x, y, inside, r.samples.Data[k], want)
			}
			if (r.mask.Data[k] == 1) != inside || (inside && r.hole.Data[k] != -1) {
				t.Fatalf("pixel (%d, %d): mask %v hole %v", x, y, r.mask.Data[k], r.hole.Data[k])
			}
		}
	}
	ctx = newContext(t, "inpaint", nil)
	if _, err := inpaint(ctx, m, in, nil); err == nil || !strings.Contains(err.Error(), "rect") {
		t.Errorf("missing mask error: %v", err)
	}
}

func TestInpaintMaskImage(t *testing.T) {
	mask := artifact.NewImages(1, 1, size, size, 0, 255)
	for i := 0; i < size*size/2; i++ {
		mask.Data[i] = 255
	}
	sh := ddpm.Shape{N: 2, C: 1, H: size, W: size}
	got, err := buildMask(mask, nil, sh)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if want := float32(0); (i%(size*size) < size*size/2) && v != 1 || (i%(size*size) >= size*size/2) && v != want {
			t.Fatalf("mask[%d] = %v", i, v)
		}
	}
	if _, err := buildMask(artifact.NewImages(3, 1, size, size, 0, 1), nil, sh); err == nil {
		t.Error("3 masks for 2 images accepted")
	}
}

func TestAnagramClosedForm(t *testing.T) {
	var calls []int
	m := oracleModel(t, &calls)
	ctx := newContext(t, "anagram", map[string]any{"prompts": []string{"a", "c"}, "views": []string{"flip"}, "cfg": 1.0, "n": 2})
	outs, err := anagram(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0] != 4 || len(calls) != 33 {
		t.Fatalf("anagram calls %v, want 33 batches of 4 (both views of 2 images)", calls)
	}
	// eps = mean(eps toward target a, flip(eps toward target c on flip(x))) leads to (a + flip(c)) / 2.
	sh := ddpm.Shape{N: 1, C: 1, H: size, W: size}
	fc := make([]float32, size*size)
	ddpm.Flip{}.Apply(fc, target(2), sh)
	want := make([]float32, size*size)
	for k := range want {
		want[k] = (target(0)[k] + fc[k]) / 2
	}
	s := outs["samples"].(*artifact.Images)
	near(t, "anagram", s.Image(1), want, tol)
	v := outs["view_samples"].(*artifact.Images)
	fw := make([]float32, size*size)
	ddpm.Flip{}.Apply(fw, s.Image(1), sh)
	near(t, "view sample", v.Image(1), fw, 0)
	if l := outs["view_labels"].(artifact.Labels); len(l) != 2 || l[0] != 2 {
		t.Errorf("view labels %v", l)
	}
	if l := outs["labels"].(artifact.Labels); len(l) != 2 || l[0] != 0 {
		t.Errorf("labels %v", l)
	}
}

func TestHybridClosedForm(t *testing.T) {
	m := oracleModel(t, nil)
	ctx := newContext(t, "hybrid", map[string]any{"low_prompt": "a", "high_prompt": "c", "cfg": 1.0, "kernel_size": 5, "sigma": 1.0})
	s, low, high, err := hybrid(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// The estimate is linear in its targets: the result is lowpass(a) + highpass(c).
	want := ddpm.CombineFrequencies(target(0), target(2), ddpm.Shape{N: 1, C: 1, H: size, W: size},
		func(dst, src []float32, sh ddpm.Shape) { blur5(dst, src) })
	near(t, "hybrid", s.Data, want, tol)
	if low[0] != 0 || high[0] != 2 {
		t.Errorf("labels %v %v", low, high)
	}
}

// blur5 is an independent 5x5 Gaussian (sigma 1) blur with reflect padding.
func blur5(dst, src []float32) {
	var w [5]float64
	var sum float64
	for i := range w {
		x := float64(i - 2)
		w[i] = math.Exp(-x * x / 2)
		sum += w[i]
	}
	refl := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= size {
			return 2*size - 2 - i
		}
		return i
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var s float64
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					s += w[dy+2] * w[dx+2] / (sum * sum) * float64(src[refl(y+dy)*size+refl(x+dx)])
				}
			}
			dst[y*size+x] = float32(s)
		}
	}
}

// learnedModel is the oracle model with a learned-range variance output of
// constant value v.
func learnedModel(t *testing.T, v float32) *noiseModel {
	learned := oracleModel(t, nil)
	learned.desc.Output.Variance = modelfile.VarianceLearnedRange
	inner := learned.predict
	learned.predict = func(x *tensor.Tensor, ts []float64, prompts []string) (*modelfile.Prediction, error) {
		p, err := inner(x, ts, prompts)
		if err != nil {
			return nil, err
		}
		p.Variance = tensor.New(x.Shape...)
		for i := range p.Variance.Data {
			p.Variance.Data[i] = v
		}
		return p, nil
	}
	return learned
}

func TestLearnedVariance(t *testing.T) {
	plain := oracleModel(t, nil)
	with := map[string]any{"prompts": []string{"a", "b"}, "cfg": 4.0, "seed": 3}
	a, _, err := sample(newContext(t, "sample", with), plain)
	if err != nil {
		t.Fatal(err)
	}
	// v = -1: frac 0, the variance is beta_tilde, as without a learned variance.
	b, _, err := sample(newContext(t, "sample", with), learnedModel(t, -1))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "learned range v=-1 vs posterior", b.Data, a.Data, 1e-5)
	// v = 1: the variance is beta_t > beta_tilde, so the same noise draws move the result.
	c, _, err := sample(newContext(t, "sample", with), learnedModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	var diff float64
	for i := range c.Data {
		diff = math.Max(diff, math.Abs(float64(c.Data[i]-a.Data[i])))
	}
	if diff < 1e-3 {
		t.Errorf("learned variance v=1 changed the result by only %g", diff)
	}
}

func TestSamplingRefusesWhatExceedsTheMemoryLimit(t *testing.T) {
	var calls []int
	m := oracleModel(t, &calls)
	// 4 prompts x 1000 samples of the oracle's images, 8 copies of each.
	need := int64(samplerCopies * 4 * 4000 * m.shape(1).Len())
	ctx := newContext(t, "sample", map[string]any{"prompts": []string{"a", "b", "c", ""}, "n": 1000})
	ctx.MemoryLimit = need - 1
	_, _, err := sample(ctx, m)
	if err == nil || !strings.Contains(err.Error(), "parameter n:") || !strings.Contains(err.Error(), "lower n, prompts") || len(calls) != 0 {
		t.Fatalf("sample over the limit: %v after %d model calls; want a refusal naming n before any call", err, len(calls))
	}
	in := artifact.NewImages(2, 1, size, size, -1, 1)
	for _, kind := range []string{"sdedit", "inpaint"} {
		ctx = newContext(t, kind, map[string]any{"n": 2000})
		ctx.MemoryLimit = need - 1
		var err error
		if kind == "sdedit" {
			_, _, err = sdedit(ctx, m, in, 1, 2000)
		} else {
			_, err = inpaint(ctx, m, in, nil)
		}
		if err == nil || !strings.Contains(err.Error(), "parameter n:") || len(calls) != 0 {
			t.Fatalf("%s of 2 x 2000 images over the limit: %v after %d model calls", kind, err, len(calls))
		}
	}
	// Upscaling 2 images 16 x 16 times needs 2 x 256 times their memory.
	ctx = newContext(t, "upscale", map[string]any{"factor": 16})
	ctx.In = map[string][]stages.Input{"images": {{Artifact: in}}}
	ctx.MemoryLimit = 2 * 4 * int64(len(in.Data)) * 256
	if err := ctx.Kind.Run(ctx); err != nil {
		t.Errorf("upscale at its limit: %v", err)
	}
	ctx = newContext(t, "upscale", map[string]any{"factor": 16})
	ctx.In = map[string][]stages.Input{"images": {{Artifact: in}}}
	ctx.MemoryLimit = 2*4*int64(len(in.Data))*256 - 1
	if err := ctx.Kind.Run(ctx); err == nil || !strings.Contains(err.Error(), "parameter factor:") {
		t.Errorf("upscale over the limit: %v, want a refusal naming factor", err)
	}
	ctx = newContext(t, "sample", map[string]any{"prompts": []string{"a"}, "n": 2, "steps": 5})
	ctx.MemoryLimit = need - 1
	if _, _, err := sample(ctx, m); err != nil {
		t.Errorf("a small sample under the limit: %v", err)
	}
}
