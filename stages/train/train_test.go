package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"difflab/models/dataset"
	"difflab/models/modelfile"
	"difflab/models/ort"
	"difflab/models/unet"
	"difflab/runner/cache"
	"difflab/stages"
	"difflab/stages/artifact"
)

// newState returns the state store of one key in a new cache, as the
// runner gives it to a stage, with the cache's root directory.
func newState(t *testing.T) (stages.State, string) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c.State(stateKey, "e.yaml trained"), filepath.Join(c.Root(), "state", stateKey)
}

// stateKey is the cache key of the tests' saved states.
const stateKey = "4b9d1f0c8e2a7d6b5c3f1e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

func needMNIST(t *testing.T) {
	t.Helper()
	root, err := dataset.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dataset.MNIST.Files(root, dataset.Train); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
}

// params returns the kind's defaults with the given overrides.
func params(k *stages.Kind, set stages.Params) stages.Params {
	p := stages.Params{}
	for _, d := range k.Params {
		p[d.Name] = d.Default
	}
	for n, v := range set {
		p[n] = v
	}
	return p
}

func newContext(t *testing.T, ctx context.Context, kind string, set stages.Params, st stages.State, progress func(int, int, string)) *stages.Context {
	k, err := stages.Lookup(kind)
	if err != nil {
		t.Fatal(err)
	}
	p := params(k, set)
	if k.Check != nil {
		if err := k.Check(p); err != nil {
			t.Fatal(err)
		}
	}
	return &stages.Context{Context: ctx, Kind: k, Stage: "trained", Params: p, Workdir: t.TempDir(), State: st, Progress: progress}
}

var tiny = stages.Params{"train_count": 48, "hidden": 2, "epochs": 2, "batch": 16, "seed": 3}

func TestFlowOutputs(t *testing.T) {
	needMNIST(t)
	ctx := newContext(t, context.Background(), "train.flow", tiny, nil, nil)
	if err := ctx.Kind.Run(ctx); err != nil {
		t.Fatal(err)
	}
	out := ctx.Outputs()
	iter := out["loss_iter"].(*artifact.Series)
	epoch := out["loss_epoch"].(*artifact.Series)
	if n := len(iter.Lines[0].Y); n != 6 {
		t.Errorf("%d step losses, want 2 epochs x 3 steps", n)
	}
	if n := len(epoch.Lines[0].Y); n != 2 || epoch.Lines[0].Name != "" { // plots name the lines
		t.Errorf("epoch losses %+v", epoch.Lines[0])
	}
	dir := out["model"].(*artifact.Model).Dir
	for e := 1; e <= 2; e++ {
		sub, err := modelfile.Resolve(dir, e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := modelfile.Read(sub)
		if err != nil {
			t.Fatal(err)
		}
		if d.Predicts != modelfile.PredictsVelocity || d.Trained.Epoch != e || d.Condition.Kind != modelfile.ConditionOnehot ||
			d.UNet.Cond != "time_class" || d.UNet.Hidden != 2 || d.Timestep.Scale != 1 {
			t.Errorf("epoch %d: description %+v", e, d)
		}
		if _, err := unet.Load(filepath.Join(sub, unet.FileName), unet.Config{Cond: unet.TimeClass, Hidden: 2, Channels: 1, Classes: 10, Size: 28}); err != nil {
			t.Error(err)
		}
		if fi, err := os.Stat(filepath.Join(sub, d.ONNX)); err != nil || fi.Size() == 0 {
			t.Errorf("epoch %d: no ONNX file: %v", e, err)
		}
	}
}

// TestResume interrupts a run after the first step of its second epoch
// (it saves a checkpoint there) and checks that a new run with the same
// state continues at the second step and ends with the outputs of an
// uninterrupted run.
func TestResume(t *testing.T) {
	needMNIST(t)
	set := stages.Params{"keep": []int{1}}
	for k, v := range tiny {
		set[k] = v
	}
	wholeState, _ := newState(t)
	whole := newContext(t, context.Background(), "train.denoiser", set, wholeState, nil)
	if err := whole.Kind.Run(whole); err != nil {
		t.Fatal(err)
	}

	st, _ := newState(t)
	cctx, cancel := context.WithCancel(context.Background())
	killed := newContext(t, cctx, "train.denoiser", set, st, func(done, total int, detail string) {
		if strings.HasPrefix(detail, "epoch 2/2") {
			cancel()
		}
	})
	if err := killed.Kind.Run(killed); err == nil {
		t.Fatal("the killed run did not fail")
	}
	var resumedFrom []string
	resumed := newContext(t, context.Background(), "train.denoiser", set, st, func(done, total int, detail string) {
		resumedFrom = append(resumedFrom, detail)
	})
	if err := resumed.Kind.Run(resumed); err != nil {
		t.Fatal(err)
	}
	if len(resumedFrom) == 0 || !strings.HasPrefix(resumedFrom[0], "epoch 2/2 step 2/3") {
		t.Errorf("the resumed run did not start at epoch 2, step 2: %q", resumedFrom)
	}
	sameOutputs(t, whole, resumed)
}

// sameOutputs checks that two runs of a training kind produced the same
// outputs: every file of the model directory byte for byte, and the losses.
func sameOutputs(t *testing.T, want, got *stages.Context) {
	t.Helper()
	a, b := want.Outputs(), got.Outputs()
	files := func(dir string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			m[filepath.ToSlash(rel)], err = os.ReadFile(p)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fa, fb := files(a["model"].(*artifact.Model).Dir), files(b["model"].(*artifact.Model).Dir)
	if len(fa) == 0 {
		t.Fatal("no model files")
	}
	for name, wa := range fa {
		if wb, ok := fb[name]; !ok {
			t.Errorf("model file %s is missing", name)
		} else if !bytes.Equal(wa, wb) {
			t.Errorf("model file %s differs from the uninterrupted run's", name)
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			t.Errorf("model file %s is not in the uninterrupted run's output", name)
		}
	}
	for _, name := range []string{"loss_iter", "loss_epoch"} {
		la, lb := a[name].(*artifact.Series).Lines[0].Y, b[name].(*artifact.Series).Lines[0].Y
		if !slices.Equal(la, lb) {
			t.Errorf("%s differs: %v vs %v", name, la, lb)
		}
	}
}

// fullDisk is a State that cannot save.
type fullDisk struct{}

func (fullDisk) Load(string, string) (bool, []error, error) { return false, nil, nil }

func (fullDisk) Save(string, func(string) error) error { return errors.New("no space left on device") }

// TestMidwaySaveFailureWarns interrupts a run inside an epoch on a State that
// cannot save: the run stops because it was interrupted, not because of the
// checkpoint, which only warns.
func TestMidwaySaveFailureWarns(t *testing.T) {
	needMNIST(t)
	cctx, cancel := context.WithCancel(context.Background())
	ctx := newContext(t, cctx, "train.denoiser", tiny, fullDisk{}, func(done, total int, detail string) {
		if strings.HasPrefix(detail, "epoch 1/2 step 1/3") {
			cancel()
		}
	})
	var log bytes.Buffer
	ctx.Log = zerolog.New(&log)
	if err := ctx.Kind.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancellation", err)
	}
	if !strings.Contains(log.String(), "cannot save a checkpoint") || !strings.Contains(log.String(), "no space left") {
		t.Errorf("no warning about the checkpoint: %s", log.String())
	}
}

func TestChecks(t *testing.T) {
	k, _ := stages.Lookup("train.ddpm")
	prompts := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	if err := k.Check(params(k, stages.Params{"prompts": prompts})); err != nil {
		t.Errorf("valid prompts: %v", err)
	}
	for name, set := range map[string]stages.Params{
		"too few prompts": {"prompts": prompts[:9]},
		"empty prompt":    {"prompts": append([]string{""}, prompts[1:]...)},
		"duplicate":       {"prompts": append([]string{"b"}, prompts[1:]...)},
		"keep past end":   {"prompts": prompts, "keep": []int{11}},
		"batch > count":   {"prompts": prompts, "train_count": 100, "batch": 128},
	} {
		if err := k.Check(params(k, set)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPureNoise(t *testing.T) {
	ctx := newContext(t, context.Background(), "noise.pure", stages.Params{"n": 50, "seed": 2}, nil, nil)
	if err := ctx.Kind.Run(ctx); err != nil {
		t.Fatal(err)
	}
	m := ctx.Outputs()["images"].(*artifact.Images)
	if m.N() != 50 || m.C() != 1 || m.H() != 28 || m.Lo != 0 || m.Hi != 1 {
		t.Fatalf("shape %v range [%v, %v]", m.Shape, m.Lo, m.Hi)
	}
	var s, s2 float64
	for _, v := range m.Data {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(m.Data))
	if mean, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n)); math.Abs(mean) > 0.02 || math.Abs(sd-1) > 0.02 {
		t.Errorf("noise mean %.3f sd %.3f, want 0 and 1", mean, sd)
	}
	k, _ := stages.Lookup("noise.pure")
	if err := k.Check(params(k, stages.Params{"range": []float64{1, 0}})); err == nil {
		t.Error("range [1, 0]: no error")
	}
}

func TestDDPMDescription(t *testing.T) {
	root, _ := dataset.Root()
	if _, _, err := dataset.FashionMNIST.Files(root, dataset.Train); err != nil {
		t.Skipf("Fashion-MNIST not available: %v", err)
	}
	prompts := []string{"a photo of a t-shirt", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	ctx := newContext(t, context.Background(), "train.ddpm",
		stages.Params{"train_count": 32, "hidden": 2, "epochs": 1, "batch": 16, "prompts": prompts}, nil, nil)
	if err := ctx.Kind.Run(ctx); err != nil {
		t.Fatal(err)
	}
	dir, err := modelfile.Resolve(ctx.Outputs()["model"].(*artifact.Model).Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := modelfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Predicts != modelfile.PredictsEpsilon || d.Timestep.Scale != 0.001 || d.Image.Range != [2]float64{-1, 1} ||
		d.Schedule == nil || d.Schedule.Name != "squaredcos_cap_v2" || d.Schedule.Steps != 1000 ||
		len(d.Prompts) != 10 || d.Prompts[0].Prompt != prompts[0] || d.Condition.Size != 10 || d.Inputs.Condition != "c" {
		t.Errorf("description %+v", d)
	}
}

// TestEngines trains the same flow model with engine gorgonia and
// onnxruntime: the same outputs, the losses within 1e-5 relative and the
// last epoch's weights within 1e-4, but for the biases of the convolutions
// ahead of BatchNorm and the running means they shift: their gradient is
// zero, so Adam moves them by rounding noise in either engine (see the
// tests of models/train).
func TestEngines(t *testing.T) {
	needMNIST(t)
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	run := func(engine string) (*artifact.Series, unet.Weights) {
		set := stages.Params{"engine": engine}
		for n, v := range tiny {
			set[n] = v
		}
		ctx := newContext(t, context.Background(), "train.flow", set, nil, nil)
		if err := ctx.Kind.Run(ctx); err != nil {
			t.Fatal(err)
		}
		out := ctx.Outputs()
		sub, err := modelfile.Resolve(out["model"].(*artifact.Model).Dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		w, err := unet.Load(filepath.Join(sub, unet.FileName), unet.Config{Cond: unet.TimeClass, Hidden: 2, Channels: 1, Classes: 10, Size: 28})
		if err != nil {
			t.Fatal(err)
		}
		return out["loss_iter"].(*artifact.Series), w
	}
	gl, gw := run("gorgonia")
	ol, ow := run("onnxruntime")
	for i, want := range gl.Lines[0].Y {
		if got := ol.Lines[0].Y[i]; math.Abs(got-want) > 1e-5*math.Abs(want) {
			t.Errorf("step %d: loss %v through ONNX Runtime, %v through Gorgonia", i+1, got, want)
		}
	}
	for name, w := range gw {
		if bn, ok := strings.CutSuffix(name, ".0.bias"); ok && gw[bn+".1.running_mean"] != nil || strings.HasSuffix(name, ".running_mean") {
			continue
		}
		for i, v := range w.Data {
			if d := math.Abs(float64(ow[name].Data[i] - v)); d > 1e-4 {
				t.Fatalf("%s[%d]: %v through ONNX Runtime, %v through Gorgonia", name, i, ow[name].Data[i], v)
			}
		}
	}
}
