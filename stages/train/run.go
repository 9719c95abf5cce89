package train

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"difflab/models/dataset"
	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/schedule"
	"difflab/models/train"
	"difflab/models/unet"
	"difflab/stages"
	"difflab/stages/artifact"
)

var datasets = map[string]*dataset.Dataset{datasetMNIST: dataset.MNIST, datasetFashion: dataset.FashionMNIST}

func datasetFiles(p stages.Params) ([]string, error) {
	root, err := dataset.Root()
	if err != nil {
		return nil, err
	}
	images, labels, err := datasets[p.String("dataset")].Files(root, dataset.Train)
	if err != nil {
		return nil, err
	}
	return []string{images, labels}, nil
}

// loadData reads the training images, mapped from [0, 1] to [lo, hi].
func loadData(p stages.Params, lo, hi float32) (*train.Dataset, error) {
	root, err := dataset.Root()
	if err != nil {
		return nil, err
	}
	var idx []int
	if n := p.Int("train_count"); n > 0 {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	}
	images, labels, err := datasets[p.String("dataset")].Load(root, dataset.Train, idx)
	if err != nil {
		return nil, err
	}
	if lo != 0 || hi != 1 {
		for i, v := range images.Data {
			images.Data[i] = lo + (hi-lo)*v
		}
	}
	sh := images.Shape // N x 1 x H x W
	return &train.Dataset{Images: images.Data, Labels: labels, N: sh[0], Per: sh[1] * sh[2] * sh[3]}, nil
}

// job is what distinguishes the training kinds: the UNet, the task and how
// the model is described.
type job struct {
	net  unet.Config
	task train.Task
	desc modelfile.Description // without Trained
	lo   float32
	hi   float32
}

func runDenoiser(ctx *stages.Context) error {
	p := ctx.Params
	return run(ctx, job{
		net:  unet.Config{Cond: unet.Unconditional, Hidden: p.Int("hidden"), Channels: 1, Size: 28},
		task: train.Denoise{Sigma: p.Float("sigma"), PureNoise: p.Bool("pure_noise")},
		desc: modelfile.Description{Predicts: modelfile.PredictsX0},
		lo:   0, hi: 1,
	})
}

func runFlow(ctx *stages.Context) error {
	p := ctx.Params
	cfg := unet.Config{Cond: unet.Conditioning(p.String("cond")), Hidden: p.Int("hidden"), Channels: 1, Size: 28}
	task := train.Flow{}
	desc := modelfile.Description{Predicts: modelfile.PredictsVelocity,
		Timestep: modelfile.Timestep{DType: "float32", Scale: 1, Shape: "b1"}}
	if cfg.Cond == unet.TimeClass {
		cfg.Classes = len(datasets[p.String("dataset")].Classes)
		task = train.Flow{Classes: cfg.Classes, PUncond: p.Float("p_uncond")}
		for i, name := range datasets[p.String("dataset")].Classes {
			desc.Prompts = append(desc.Prompts, modelfile.Prompt{Prompt: name, Class: i})
		}
	}
	return run(ctx, job{net: cfg, task: task, desc: desc, lo: 0, hi: 1})
}

func runDDPM(ctx *stages.Context) error {
	p := ctx.Params
	s, err := schedule.New(p.String("schedule"), p.Int("steps"))
	if err != nil {
		return fmt.Errorf("parameter schedule: %w", err)
	}
	prompts := p.Strings("prompts")
	cfg := unet.Config{Cond: unet.TimeClass, Hidden: p.Int("hidden"), Channels: 1, Classes: len(prompts), Size: 28}
	const timeScale = 0.001
	desc := modelfile.Description{Predicts: modelfile.PredictsEpsilon,
		Timestep: modelfile.Timestep{DType: "float32", Scale: timeScale, Shape: "b1"},
		Schedule: &modelfile.Schedule{Name: p.String("schedule"), Steps: p.Int("steps")}}
	for i, pr := range prompts {
		desc.Prompts = append(desc.Prompts, modelfile.Prompt{Prompt: pr, Class: i})
	}
	return run(ctx, job{net: cfg,
		task: train.DDPM{AlphaBar: s.AlphasCumprod, TimeScale: timeScale, Classes: len(prompts), PUncond: p.Float("p_uncond")},
		desc: desc, lo: -1, hi: 1})
}

// The layout of the resumable state: the training checkpoint and the model
// directories of the kept epochs so far.
const (
	stateName     = "checkpoint"
	stateTrainDir = "train"
	stateModelDir = "model"
)

// midwayEvery is how often a training stage also saves its state inside an
// epoch, so that a stopped run loses at most this much work.
const midwayEvery = 10 * time.Minute

func run(ctx *stages.Context, j job) error {
	p := ctx.Params
	opt := train.Options{Net: j.net, Epochs: p.Int("epochs"), Batch: p.Int("batch"), LR: p.Float("lr"),
		Scheduler: train.Scheduler(p.String("scheduler")), Clip: p.Float("clip"), Seed: uint64(p.Int("seed")),
		Engine: train.Engine(ctx.Kind.EnginesFor(p, ctx.Devices)[0])}
	ds, err := loadData(p, j.lo, j.hi)
	if err != nil {
		return err
	}
	if err := opt.Check(ds); err != nil {
		return err
	}
	out := filepath.Join(ctx.Workdir, "model")
	from, err := resume(ctx, j.net, out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	// save keeps ck and the epoch directories written so far as the
	// resumable state.
	save := func(ck *train.Checkpoint) error {
		if ctx.State == nil {
			return nil
		}
		return ctx.State.Save(stateName, func(dir string) error {
			if err := ck.Save(filepath.Join(dir, stateTrainDir)); err != nil {
				return err
			}
			return os.CopyFS(filepath.Join(dir, stateModelDir), os.DirFS(out))
		})
	}
	steps := opt.StepsPerEpoch(ds.N)
	total := opt.Epochs * steps
	var last time.Time
	hooks := train.Hooks{
		Progress: func(pr train.Progress) {
			done := (pr.Epoch-1)*steps + pr.Step
			if time.Since(last) < time.Second && pr.Step != 1 && pr.Step != pr.Steps {
				return
			}
			last = time.Now()
			ctx.Report(done, total, fmt.Sprintf("epoch %d/%d step %d/%d loss %.4f %.1f img/s",
				pr.Epoch, pr.Epochs, pr.Step, pr.Steps, pr.Loss, pr.ImagesPerSec))
		},
		Epoch: func(ck *train.Checkpoint) error {
			ctx.Log.Info().Int("epoch", ck.Epoch).Float64("loss", ck.LossEpoch[ck.Epoch-1]).Msg("epoch done")
			if keep(p, ck.Epoch) {
				if err := writeEpoch(filepath.Join(out, modelfile.EpochDir(ck.Epoch)), ctx.Kind.Name, j, ck); err != nil {
					return err
				}
			}
			return save(ck)
		},
		// A checkpoint inside an epoch is a convenience: failing to write one
		// (a full disk, say) does not stop training.
		Midway: func(ck *train.Checkpoint) error {
			if err := save(ck); err != nil {
				ctx.Log.Warn().Err(err).Msg("cannot save a checkpoint; training goes on")
				return nil
			}
			ctx.Log.Info().Int("epoch", ck.Epoch+1).Int("step", ck.Step).Msg("checkpoint saved")
			return nil
		},
		MidwayEvery: midwayEvery,
	}
	ck, err := train.Train(ctx, opt, ds, j.task, from, hooks)
	if err != nil {
		return err
	}
	var epochs []int
	for e := 1; e <= opt.Epochs; e++ {
		if keep(p, e) {
			epochs = append(epochs, e)
		}
	}
	if err := modelfile.WriteIndex(out, epochs); err != nil {
		return err
	}
	if err := ctx.Output("model", &artifact.Model{Dir: out}); err != nil {
		return err
	}
	if err := ctx.Output("loss_iter", series("iteration", ck.LossIter)); err != nil {
		return err
	}
	return ctx.Output("loss_epoch", series("epoch", ck.LossEpoch))
}

// resume loads the newest intact checkpoint of ctx.State and moves the
// epoch directories saved with it to out, which must not exist. It returns
// nil to start over: when there is no checkpoint, or none left intact (each
// damaged one is discarded with a warning), or the one left does not load.
func resume(ctx *stages.Context, net unet.Config, out string) (*train.Checkpoint, error) {
	if ctx.State == nil {
		return nil, nil
	}
	dir := filepath.Join(ctx.Workdir, "state")
	defer os.RemoveAll(dir)
	ok, damaged, err := ctx.State.Load(stateName, dir)
	for _, d := range damaged {
		ctx.Log.Warn().Err(d).Msg("discarded a damaged checkpoint")
	}
	if err != nil {
		return nil, fmt.Errorf("resuming from the saved checkpoint: %w", err)
	}
	if !ok {
		if len(damaged) > 0 {
			ctx.Log.Warn().Msg("no intact checkpoint is left; training starts over")
		}
		return nil, nil
	}
	from, err := train.LoadCheckpoint(filepath.Join(dir, stateTrainDir), net)
	if err == nil {
		err = os.Rename(filepath.Join(dir, stateModelDir), out)
	}
	if err != nil {
		ctx.Log.Warn().Err(err).Msg("cannot resume from the saved checkpoint; training starts over")
		return nil, nil
	}
	if from.Step > 0 {
		ctx.Log.Info().Int("epoch", from.Epoch+1).Int("step", from.Step).Msg("resuming training after this step")
	} else {
		ctx.Log.Info().Int("epoch", from.Epoch).Msg("resuming training after this epoch")
	}
	return from, nil
}

// keep reports whether the model of epoch e goes into the output.
func keep(p stages.Params, e int) bool {
	k := p.Ints("keep")
	return len(k) == 0 || e == p.Int("epochs") || slices.Contains(k, e)
}

// series is a loss curve over x. Its line has no name: a name is how a
// plot presents it (plot.curve's labels), not what training computed, and
// stays out of the training stage's cache key.
func series(x string, y []float64) *artifact.Series {
	l := artifact.Line{Y: append([]float64(nil), y...)}
	for i := range y {
		l.X = append(l.X, float64(i+1))
	}
	return &artifact.Series{XLabel: x, YLabel: "loss", Lines: []artifact.Line{l}}
}

// writeEpoch writes the model directory of one epoch: weights, ONNX graph
// and description.
func writeEpoch(dir, kind string, j job, ck *train.Checkpoint) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := ck.Weights.Save(filepath.Join(dir, unet.FileName)); err != nil {
		return err
	}
	spec := modelfile.UNet{Cond: string(j.net.Cond), Hidden: j.net.Hidden, Channels: j.net.Channels,
		Classes: j.net.Classes, Size: j.net.Size}
	onnx, err := onnxexport.UNet(spec, ck.Weights, nil)
	if err != nil {
		return err
	}
	const onnxName = "model.onnx"
	if err := os.WriteFile(filepath.Join(dir, onnxName), onnx, 0o644); err != nil {
		return err
	}
	d := j.desc
	d.Format = modelfile.Format
	d.ONNX = onnxName
	d.Inputs = modelfile.Inputs{Sample: "x"}
	if j.net.Cond != unet.Unconditional {
		d.Inputs.Timestep = "t"
	}
	d.Condition = modelfile.Condition{Kind: modelfile.ConditionNone}
	if j.net.Cond == unet.TimeClass {
		d.Inputs.Condition = "c"
		d.Condition = modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: j.net.Classes}
	}
	d.Output = modelfile.Output{Name: "u", Channels: j.net.Channels, Variance: modelfile.VarianceNone}
	d.Image = modelfile.Image{Channels: j.net.Channels, Height: j.net.Size, Width: j.net.Size,
		Range: [2]float64{float64(j.lo), float64(j.hi)}}
	d.UNet = &spec
	d.Trained = &modelfile.Trained{Kind: kind, Epoch: ck.Epoch, Loss: ck.LossEpoch[ck.Epoch-1]}
	return modelfile.Write(dir, &d)
}
