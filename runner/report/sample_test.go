package report

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"difflab/stages/artifact"
)

// writePNG writes a w x h PNG with a checker pattern to dir/name.png.
func writePNG(t *testing.T, dir, name string, w, h int, shade uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (x/4+y/4)%2 == 0 {
				img.SetGray(x, y, color.Gray{Y: shade})
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// writeSeries saves a loss curve falling from 0.15 to about 0.008.
func writeSeries(t *testing.T, dir, name string) {
	t.Helper()
	s := &artifact.Series{XLabel: "iteration", YLabel: "loss", Lines: []artifact.Line{{Name: "train"}}}
	for i := 0; i < 200; i++ {
		s.Lines[0].X = append(s.Lines[0].X, float64(i))
		s.Lines[0].Y = append(s.Lines[0].Y, 0.008+0.142/float64(1+i))
	}
	if _, err := s.Save(dir, name); err != nil {
		t.Fatal(err)
	}
}

var sampleStart = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

func prov(key string, secs float64) *Provenance {
	return &Provenance{Key: key, Start: sampleStart, Duration: time.Duration(secs * float64(time.Second)), Engines: []string{"onnxruntime 1.22.0"}}
}

// fetched marks p as downloaded from a remote cache.
func fetched(p *Provenance) *Provenance {
	p.Fetched = "http://127.0.0.1:9092/ at 2026-11-26T08:00:00Z"
	return p
}

// sample builds three experiments with artifact files under root: a Part B
// loss curve, a Part A SDEdit sweep whose grid is computed and whose second
// figure is not, and a skipped extra. Experiments come unsorted. With two
// runs, the second run has different parameters (a "full" profile) and has
// not computed the SDEdit grid.
func sample(t *testing.T, root string, runs int) []*Experiment {
	t.Helper()
	key := func(i int) string {
		return string(rune('a'+i)) + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	}
	// run gives a node's runs: computed into dir (unless dir is empty), in
	// the second run only when alsoSecond.
	run := func(dir string, alsoSecond bool, params map[string]any, p *Provenance) []Run {
		rs := make([]Run, runs)
		for r := range rs {
			rs[r] = Run{Params: SortedValues(params)}
			if dir != "" && (r == 0 || alsoSecond) {
				rs[r].Dir = filepath.Join(root, "run"+string(rune('0'+r)), dir)
				rs[r].Provenance = p
			}
			if r == 1 {
				if _, ok := params["epochs"]; ok {
					rs[r].Params = SortedValues(map[string]any{"epochs": 10, "lr": 0.01})
				}
			}
		}
		return rs
	}
	for r := 0; r < runs; r++ {
		base := filepath.Join(root, "run"+string(rune('0'+r)))
		writeSeries(t, filepath.Join(base, "train"), "loss")
		writePNG(t, filepath.Join(base, "grid"), "figure", 64, 32, uint8(200-100*r))
	}
	partB := &Experiment{
		Path: "part_b/2_2_train_flow.yaml", Name: "2.2 Training the UNet", Profile: "quick",
		Doc: "Train the time-conditioned UNet.\n\nThe loss should level off.",
		Nodes: []*Node{{
			ID: "train", Stage: "train", Kind: "train.flow",
			Outputs: []Output{{"model", artifact.TypeModel}, {"loss", artifact.TypeSeries}},
			Runs:    run("train", true, map[string]any{"epochs": 1, "lr": 0.01}, fetched(prov(key(0), 95.5))),
		}},
	}
	var edited []*Node
	var editedIDs []string
	for _, v := range []string{"1", "10"} {
		n := &Node{
			ID: "edited[i_start=" + v + "]", Stage: "edited", Kind: "sdedit",
			Matrix:  []Value{{"i_start", v}},
			Outputs: []Output{{"images", artifact.TypeImages}},
			Runs:    run("edited", true, map[string]any{"i_start": v, "prompt": "a photo of a <sneaker> & co", "cfg": 7.0}, nil),
		}
		edited = append(edited, n)
		editedIDs = append(editedIDs, n.ID)
	}
	grid := &Node{
		ID: "grid", Stage: "grid", Kind: "plot.grid", Inputs: editedIDs, Doc: "One row per i_start & prompt.",
		Outputs: []Output{{"figure", artifact.TypeFigure}},
		Runs:    run("grid", false, map[string]any{"titles": "SDEdit with i_start={i_start}"}, prov(key(1), 0.25)),
	}
	pending := &Node{
		ID: "pending[i_start=10]", Stage: "pending", Kind: "plot.grid", Inputs: editedIDs[1:],
		Matrix:  []Value{{"i_start", "10"}},
		Outputs: []Output{{"figure", artifact.TypeFigure}},
		Runs:    run("", false, map[string]any{"titles": "x"}, nil),
	}
	partA := &Experiment{
		Path: "part_a/1_7_sdedit.yaml", Name: "1.7 SDEdit", Profile: "quick",
		Doc:   "Noise the test image, then denoise it.\n<script>alert(1)</script> & more",
		Nodes: append(edited, grid, pending),
	}
	extra := &Experiment{
		Path: "extras/deepfloyd.yaml", Name: "DeepFloyd extras",
		Skipped: "model file deepfloyd/stage1.onnx is missing; see docs/deepfloyd.md",
		Nodes: []*Node{{ID: "x", Stage: "x", Kind: "sample.ddpm", Outputs: []Output{{"figure", artifact.TypeFigure}},
			Runs: run("", false, nil, nil)}},
	}
	return []*Experiment{extra, partB, partA}
}
