package artifact

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"difflab/models/tensor"
)

// Tensor is a dense float32 array in row-major (C) order, as an artifact: a
// tensor.Tensor that stages can save and load. Convert a *tensor.Tensor from
// model code with (*Tensor)(t) and back with (*tensor.Tensor)(t); the data is
// shared, not copied.
type Tensor tensor.Tensor

// NewTensor returns a zeroed tensor of the given shape.
func NewTensor(shape ...int) *Tensor { return (*Tensor)(tensor.New(shape...)) }

// Type implements Artifact.
func (t *Tensor) Type() Type { return TypeTensor }

// Save implements Artifact: it writes <name>.npy.
func (t *Tensor) Save(dir, name string) ([]string, error) {
	b, err := tensor.EncodeNPY(t.Shape, t.Data)
	if err != nil {
		return nil, err
	}
	return []string{name + ".npy"}, writeFile(dir, name+".npy", b)
}

func loadTensor(dir, name string) (*Tensor, error) {
	shape, data, err := readNPY(filepath.Join(dir, name+".npy"))
	if err != nil {
		return nil, err
	}
	f, ok := data.([]float32)
	if !ok {
		return nil, fmt.Errorf("%s.npy: want float32 data, got %T", name, data)
	}
	return &Tensor{Shape: shape, Data: f}, nil
}

// Images is a batch of images: a float32 tensor of shape N x C x H x W whose
// values are meant to lie in [Lo, Hi] (for example [0, 1] for MNIST or
// [-1, 1] for a diffusion model's pixels).
type Images struct {
	Tensor
	Lo, Hi float32
}

// NewImages returns a zeroed batch of n images of c channels, h x w pixels,
// with the value range [lo, hi].
func NewImages(n, c, h, w int, lo, hi float32) *Images {
	return &Images{Tensor: *NewTensor(n, c, h, w), Lo: lo, Hi: hi}
}

// N reports the number of images.
func (m *Images) N() int { return m.Shape[0] }

// C reports the number of channels.
func (m *Images) C() int { return m.Shape[1] }

// H reports the image height in pixels.
func (m *Images) H() int { return m.Shape[2] }

// W reports the image width in pixels.
func (m *Images) W() int { return m.Shape[3] }

// Image returns the pixels of image i (C x H x W values), sharing storage.
func (m *Images) Image(i int) []float32 {
	n := m.C() * m.H() * m.W()
	return m.Data[i*n : (i+1)*n]
}

// Type implements Artifact.
func (m *Images) Type() Type { return TypeImages }

type imagesMeta struct {
	Lo float32 `json:"lo"`
	Hi float32 `json:"hi"`
}

// Save implements Artifact: it writes <name>.npy and <name>.json.
func (m *Images) Save(dir, name string) ([]string, error) {
	if len(m.Shape) != 4 {
		return nil, fmt.Errorf("artifact: images %q: shape %v is not N x C x H x W", name, m.Shape)
	}
	files, err := m.Tensor.Save(dir, name)
	if err != nil {
		return nil, err
	}
	meta, _ := json.Marshal(imagesMeta{m.Lo, m.Hi})
	return append(files, name+".json"), writeFile(dir, name+".json", meta)
}

func loadImages(dir, name string) (*Images, error) {
	t, err := loadTensor(dir, name)
	if err != nil {
		return nil, err
	}
	if len(t.Shape) != 4 {
		return nil, fmt.Errorf("%s.npy: shape %v is not N x C x H x W", name, t.Shape)
	}
	var meta imagesMeta
	if err := readJSON(filepath.Join(dir, name+".json"), &meta); err != nil {
		return nil, err
	}
	return &Images{Tensor: *t, Lo: meta.Lo, Hi: meta.Hi}, nil
}

// Labels is a vector of class indices, one per image of a batch.
type Labels []int64

// Type implements Artifact.
func (l Labels) Type() Type { return TypeLabels }

// Save implements Artifact: it writes <name>.npy (int64).
func (l Labels) Save(dir, name string) ([]string, error) {
	b, err := tensor.EncodeNPY([]int{len(l)}, []int64(l))
	if err != nil {
		return nil, err
	}
	return []string{name + ".npy"}, writeFile(dir, name+".npy", b)
}

func loadLabels(dir, name string) (Labels, error) {
	shape, data, err := readNPY(filepath.Join(dir, name+".npy"))
	if err != nil {
		return nil, err
	}
	l, ok := data.([]int64)
	if !ok || len(shape) != 1 {
		return nil, fmt.Errorf("%s.npy: want a vector of int64, got %T of shape %v", name, data, shape)
	}
	return Labels(l), nil
}

// Line is one named scalar series: Y[i] measured at X[i].
type Line struct {
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
}

// Series is a set of named scalar series sharing axes, such as the loss per
// iteration of a training run. XLabel and YLabel name the axes.
type Series struct {
	XLabel string `json:"xlabel"`
	YLabel string `json:"ylabel"`
	Lines  []Line `json:"lines"`
}

// Type implements Artifact.
func (s *Series) Type() Type { return TypeSeries }

// Save implements Artifact: it writes <name>.json.
func (s *Series) Save(dir, name string) ([]string, error) {
	for _, l := range s.Lines {
		if len(l.X) != len(l.Y) {
			return nil, fmt.Errorf("artifact: series %q line %q: %d x values, %d y values", name, l.Name, len(l.X), len(l.Y))
		}
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return []string{name + ".json"}, writeFile(dir, name+".json", b)
}

func loadSeries(dir, name string) (*Series, error) {
	var s Series
	if err := readJSON(filepath.Join(dir, name+".json"), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Figure is an encoded PNG image, such as a labelled grid or a plot.
type Figure struct {
	PNG []byte
}

// Type implements Artifact.
func (f *Figure) Type() Type { return TypeFigure }

// Save implements Artifact: it writes <name>.png.
func (f *Figure) Save(dir, name string) ([]string, error) {
	return []string{name + ".png"}, writeFile(dir, name+".png", f.PNG)
}

func loadFigure(dir, name string) (*Figure, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".png"))
	if err != nil {
		return nil, err
	}
	return &Figure{PNG: b}, nil
}

// Model is a directory of model files (ONNX graphs, weights, a description
// file); what it holds is defined by the stage kinds that make and read it.
// Dir is an absolute path; a loaded Model points into the cache and must be
// treated as read-only.
type Model struct {
	Dir string
}

// Type implements Artifact.
func (m *Model) Type() Type { return TypeModel }

// Save implements Artifact: it puts the directory tree at <name>/, each
// file hard-linked where the file system allows (model files are large and
// never modified in place) and copied otherwise. A symbolic link to a file
// is saved as that file.
func (m *Model) Save(dir, name string) ([]string, error) {
	var files []string
	err := filepath.Walk(m.Dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, err := filepath.Rel(m.Dir, p)
		if err != nil {
			return err
		}
		src := p
		if info.Mode()&os.ModeSymlink != 0 {
			if src, err = filepath.EvalSymlinks(p); err != nil {
				return err
			}
			if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("%s: a model directory may link only to files", p)
			}
		}
		out := filepath.Join(name, rel)
		files = append(files, out)
		return LinkOrCopy(src, filepath.Join(dir, out))
	})
	sort.Strings(files)
	return files, err
}

func loadModel(dir, name string) (*Model, error) {
	p := filepath.Join(dir, name)
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s: model is not a directory", p)
	}
	return &Model{Dir: p}, nil
}

// Text is a short UTF-8 document, such as a table of measurements.
type Text string

// Type implements Artifact.
func (t Text) Type() Type { return TypeText }

// Save implements Artifact: it writes <name>.txt.
func (t Text) Save(dir, name string) ([]string, error) {
	return []string{name + ".txt"}, writeFile(dir, name+".txt", []byte(t))
}

func loadText(dir, name string) (Text, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".txt"))
	return Text(b), err
}

// readJSON decodes the JSON file at path into v, naming the file in errors.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
