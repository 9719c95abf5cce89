package data

import (
	"context"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/dataset"
	"difflab/models/dataset/datasettest"
	"difflab/stages"
	"difflab/stages/artifact"
)

func runKind(t *testing.T, name string, p stages.Params) (map[string]artifact.Artifact, error) {
	t.Helper()
	k, err := stages.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	full := stages.Params{}
	for _, d := range k.Params {
		if d.Default != nil {
			full[d.Name] = d.Default
		}
	}
	for n, v := range p {
		full[n] = v
	}
	if k.Check != nil {
		if err := k.Check(full); err != nil {
			return nil, err
		}
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "test", Params: full}
	if err := k.Run(ctx); err != nil {
		return nil, err
	}
	return ctx.Outputs(), nil
}

func TestDatasetKind(t *testing.T) {
	root := t.TempDir()
	t.Setenv(dataset.EnvDataDir, root)
	datasettest.WriteDataset(t, root, dataset.FashionMNIST, "t10k", 20, 28, 28, true)
	k, _ := stages.Lookup("dataset.fashion_mnist")
	files, err := k.Files(stages.Params{"split": dataset.Test})
	if err != nil || len(files) != 2 || files[0] != filepath.Join(root, "fashion-mnist", "t10k-images-idx3-ubyte.gz") {
		t.Fatalf("Files = %v, %v", files, err)
	}
	out, err := runKind(t, "dataset.fashion_mnist", stages.Params{"count": 3, "range": []float64{-1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	imgs, lbls := out["images"].(*artifact.Images), out["labels"].(artifact.Labels)
	if imgs.N() != 3 || len(lbls) != 3 || lbls[2] != 2 || imgs.Lo != -1 || imgs.Hi != 1 {
		t.Fatalf("got %d images in [%g, %g] and labels %v", imgs.N(), imgs.Lo, imgs.Hi, lbls)
	}
	// Pixel 5 of image 1 is (7 + 5) / 255 in [0, 1], so 2*12/255 - 1 in [-1, 1].
	if got, want := imgs.Image(1)[5], float32(2*12.0/255-1); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("pixel = %g, want %g", got, want)
	}
	for _, c := range []struct {
		p    stages.Params
		want string
	}{
		{stages.Params{"count": 2, "indices": []int{1}}, "not both"},
		{stages.Params{"indices": []int{10000}}, "parameter indices: 10000"},
		{stages.Params{"split": dataset.Train, "count": 60001}, "parameter count"},
		{stages.Params{"range": []float64{1, 0}}, "parameter range"},
	} {
		if _, err := runKind(t, "dataset.fashion_mnist", c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.p, err, c.want)
		}
	}
}

func TestImageLoadKind(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	path := datasettest.WritePNG(t, img)
	out, err := runKind(t, "image.load", stages.Params{"path": path, "mode": "gray", "size": []int{8, 2}})
	if err != nil {
		t.Fatal(err)
	}
	m := out["images"].(*artifact.Images)
	if m.C() != 1 || m.H() != 8 || m.W() != 2 || m.Lo != -1 || m.Hi != 1 {
		t.Fatalf("shape %v range [%g, %g], want [1 1 8 2] in [-1, 1]", m.Shape, m.Lo, m.Hi)
	}
	for i, v := range m.Data {
		if math.Abs(float64(v)-1) > 1e-6 {
			t.Fatalf("white pixel %d = %g, want 1 (top of [-1, 1])", i, v)
		}
	}
	if _, err := runKind(t, "image.load", stages.Params{"path": path, "size": []int{8}}); err == nil || !strings.Contains(err.Error(), "parameter size") {
		t.Errorf("one-value size gave %v", err)
	}
}
