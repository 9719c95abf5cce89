package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"difflab/models/tensor"
	"difflab/runner/experiment"
	"difflab/stages"
	"difflab/stages/artifact"
)

// Fake stage kinds for the runner's tests. Each execution appends the stage
// id to the file named by $DIFFLAB_TEST_COUNTER, so tests (and helper
// processes) can count what ran.

func count(ctx *stages.Context) {
	if p := os.Getenv("DIFFLAB_TEST_COUNTER"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintln(f, ctx.Stage)
			f.Close()
		}
	}
}

// signalReady creates the file named by $DIFFLAB_TEST_READY.
func signalReady() {
	if p := os.Getenv("DIFFLAB_TEST_READY"); p != "" {
		os.WriteFile(p, nil, 0o644)
	}
}

// stallingTensor writes half of its NPY file, announces it, and blocks,
// to be killed in the middle of publication.
type stallingTensor struct{ artifact.Tensor }

func (s *stallingTensor) Save(dir, name string) ([]string, error) {
	b, err := tensor.EncodeNPY(s.Shape, s.Data)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".npy"))
	if err != nil {
		return nil, err
	}
	f.Write(b[:len(b)/2])
	f.Sync()
	signalReady()
	time.Sleep(time.Hour)
	return nil, errors.New("not reached")
}

var tensorOut = []stages.Port{{Name: "out", Type: artifact.TypeTensor}}

func init() {
	stages.Register(&stages.Kind{
		Name: "test.source", Doc: "out[i] = value + i (+ 0.5 at 0 with $DIFFLAB_TEST_SALT)", Version: 1, Outputs: tensorOut,
		Params: []stages.Param{{Name: "value", Type: stages.Float}, {Name: "n", Type: stages.Int}, {Name: "sleep_ms", Type: stages.Int}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			time.Sleep(time.Duration(ctx.Params.Int("sleep_ms")) * time.Millisecond)
			t := artifact.NewTensor(ctx.Params.Int("n"))
			for i := range t.Data {
				t.Data[i] = float32(ctx.Params.Float("value")) + float32(i)
			}
			if os.Getenv("DIFFLAB_TEST_SALT") != "" { // an influence missing from the key
				t.Data[0] += 0.5
			}
			return ctx.Output("out", t)
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.scale", Doc: "out = factor * sum of inputs", Version: 1, Outputs: tensorOut,
		Inputs: []stages.Port{{Name: "in", Type: artifact.TypeTensor, Many: true}},
		Params: []stages.Param{{Name: "factor", Type: stages.Float}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			var out *artifact.Tensor
			for _, in := range ctx.In["in"] {
				t := in.Artifact.(*artifact.Tensor)
				if out == nil {
					out = artifact.NewTensor(t.Shape...)
				}
				for i, v := range t.Data {
					out.Data[i] += float32(ctx.Params.Float("factor")) * v
				}
			}
			return ctx.Output("out", out)
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.file", Doc: "copies a file into a text", Version: 1,
		Outputs: []stages.Port{{Name: "text", Type: artifact.TypeText}},
		Params:  []stages.Param{{Name: "file", Type: stages.Path}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			b, err := os.ReadFile(ctx.Params.String("file"))
			if err != nil {
				return err
			}
			return ctx.Output("text", artifact.Text(b))
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.fail", Doc: "always fails", Version: 1, Outputs: tensorOut,
		Run: func(ctx *stages.Context) error {
			count(ctx)
			return errors.New("deliberate failure")
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.panic", Doc: "panics", Version: 1, Outputs: tensorOut,
		Run: func(ctx *stages.Context) error {
			count(ctx)
			var m map[string]int
			m["boom"]++
			return nil
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.engine", Doc: "names the onnxruntime engine", Version: 1, Outputs: tensorOut, Engine: []string{"onnxruntime"},
		Params: []stages.Param{{Name: "value", Type: stages.Float}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			return ctx.Output("out", &artifact.Tensor{Shape: []int{1}, Data: []float32{float32(ctx.Params.Float("value"))}})
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.engines", Doc: "runs on the engine its parameter picks", Version: 1, Outputs: tensorOut,
		Engine: []string{"gorgonia", "onnxruntime"}, EngineParam: "engine",
		Params: []stages.Param{{Name: "value", Type: stages.Float},
			{Name: "engine", Type: stages.String, Default: stages.AutoEngine, Enum: []string{stages.AutoEngine, "gorgonia", "onnxruntime"}}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			return ctx.Output("out", &artifact.Tensor{Shape: []int{1}, Data: []float32{float32(ctx.Params.Float("value"))}})
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.noout", Doc: "forgets its output", Version: 1, Outputs: tensorOut,
		Run: func(ctx *stages.Context) error { count(ctx); return nil },
	})
	stages.Register(&stages.Kind{
		Name: "test.block", Doc: "blocks as $DIFFLAB_TEST_MODE says", Version: 1, Outputs: tensorOut,
		Run: func(ctx *stages.Context) error {
			count(ctx)
			t := artifact.NewTensor(1 << 16)
			switch os.Getenv("DIFFLAB_TEST_MODE") {
			case "run": // block inside Run until cancelled
				os.WriteFile(filepath.Join(ctx.Workdir, "scratch"), []byte("x"), 0o644)
				signalReady()
				<-ctx.Done()
				return ctx.Err()
			case "save": // block while the entry is being written
				return ctx.Output("out", &stallingTensor{*t})
			case "state": // save resumable state, then block inside Run until cancelled
				if err := ctx.State.Save("epoch", func(string) error { return nil }); err != nil {
					return err
				}
				signalReady()
				<-ctx.Done()
				return ctx.Err()
			}
			return ctx.Output("out", t)
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.model", Doc: "writes a model directory and a text", Version: 1,
		Outputs: []stages.Port{{Name: "model", Type: artifact.TypeModel}, {Name: "text", Type: artifact.TypeText}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			dir := filepath.Join(ctx.Workdir, "model")
			if err := os.MkdirAll(filepath.Join(dir, "epoch_001"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "epoch_001", "weights.bin"), make([]byte, 1<<20), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "model.json"), []byte("{}"), 0o644); err != nil {
				return err
			}
			if err := ctx.Output("model", &artifact.Model{Dir: dir}); err != nil {
				return err
			}
			return ctx.Output("text", artifact.Text("notes"))
		},
	})
	stages.Register(&stages.Kind{
		Name: "test.resume", Doc: "fails after saving state the first time, resumes the second", Version: 1,
		Outputs: []stages.Port{{Name: "text", Type: artifact.TypeText}},
		Run: func(ctx *stages.Context) error {
			count(ctx)
			dir := filepath.Join(ctx.Workdir, "state")
			ok, damaged, err := ctx.State.Load("epoch", dir)
			for _, d := range damaged {
				ctx.Log.Warn().Err(d).Msg("discarded a damaged state")
			}
			if err != nil {
				return err
			}
			if ok {
				b, err := os.ReadFile(filepath.Join(dir, "n"))
				if err != nil {
					return err
				}
				return ctx.Output("text", artifact.Text("resumed after epoch "+string(b)))
			}
			err = ctx.State.Save("epoch", func(dir string) error {
				return os.WriteFile(filepath.Join(dir, "n"), []byte(strconv.Itoa(1)), 0o644)
			})
			if err != nil {
				return err
			}
			return errors.New("stopped after epoch 1")
		},
	})
}

// graph builds experiment graphs by hand.
type graph struct {
	g   *experiment.Graph
	exp *experiment.Experiment
	ids map[string]*experiment.Node
}

func newGraph(path string) *graph {
	exp := &experiment.Experiment{Path: path, File: path, Name: path, Profile: "quick"}
	return &graph{g: &experiment.Graph{Experiments: []*experiment.Experiment{exp}}, exp: exp, ids: map[string]*experiment.Node{}}
}

// add appends a node; inputs are "port=id" or "port=id.output".
func (b *graph) add(id, kind string, params stages.Params, inputs ...string) *experiment.Node {
	k, err := stages.Lookup(kind)
	if err != nil {
		panic(err)
	}
	if params == nil {
		params = stages.Params{}
	}
	stage := id
	if i := strings.IndexByte(id, '['); i >= 0 {
		stage = id[:i]
	}
	n := &experiment.Node{ID: id, Stage: stage, Experiment: b.exp, Kind: k, Params: params,
		Inputs: map[string][]experiment.Source{}, Pos: experiment.Pos{File: b.exp.File, Line: len(b.g.Nodes) + 1, Col: 3}}
	for _, in := range inputs {
		port, src, _ := strings.Cut(in, "=")
		srcID, out, _ := strings.Cut(src, ".")
		p := b.ids[srcID]
		if out == "" {
			out = p.Kind.Outputs[0].Name
		}
		n.Inputs[port] = append(n.Inputs[port], experiment.Source{Node: p, Output: out})
	}
	if k.Param("file") != nil {
		n.Files = []string{params.String("file")}
	}
	b.ids[id] = n
	b.g.Nodes = append(b.g.Nodes, n)
	b.exp.Nodes = append(b.exp.Nodes, n)
	return n
}

func src(value float64) stages.Params {
	return stages.Params{"value": value, "n": 4, "sleep_ms": 0}
}

// chain is source a -> scale b -> scale c, and an independent source d.
func chain(factor float64) *graph {
	b := newGraph("part/chain.yaml")
	b.add("a", "test.source", src(1))
	b.add("b", "test.scale", stages.Params{"factor": factor}, "in=a")
	b.add("c", "test.scale", stages.Params{"factor": 10.0}, "in=b")
	b.add("d", "test.source", src(7))
	return b
}

var experimentSkipped = experiment.Experiment{Path: "part_b/needs_mnist.yaml", Skipped: "missing data file .difflab/data/mnist (fix: run `just setup`)"}
