package modelfile

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"difflab/models/ort"
	"difflab/models/safetensors"
	"difflab/models/tensor"
)

// Model is an opened model directory: its description and a lazily created
// ONNX Runtime session. A Model is safe for concurrent use.
type Model struct {
	// Dir is the model directory.
	Dir string
	// Desc is its validated description.
	Desc *Description
	// MaxBatch caps the batch of one ONNX Runtime call; Predict splits larger
	// batches. 0 means DefaultMaxBatch for the model's image size.
	MaxBatch int
	// Options tunes the ONNX Runtime session; nil means the defaults. Set it
	// before the first Predict.
	Options *ort.Options

	sessOnce sync.Once
	sess     *ort.Session
	sessErr  error
	// bound is Desc with the names of the session's graph (see Bind).
	bound *Description

	embOnce sync.Once
	emb     map[string][]float32
	embErr  error
}

// Open reads the model directory dir (see Read). The ONNX Runtime session is
// created on the first Predict.
func Open(dir string) (*Model, error) {
	d, err := Read(dir)
	if err != nil {
		return nil, err
	}
	return &Model{Dir: dir, Desc: d}, nil
}

// DefaultMaxBatch returns the default cap on one call's batch for images of
// c x h x w: about half a million input values, at least 1.
func DefaultMaxBatch(c, h, w int) int {
	return max(1, (1<<19)/(c*h*w))
}

// Session returns the model's ONNX Runtime session, creating it (or taking
// it from the process-wide cache) on first use, and binds model.json to the
// graph's inputs and output (see Bind): a graph whose names differ from
// model.json's where the graph leaves no doubt still runs.
func (m *Model) Session() (*ort.Session, error) {
	m.sessOnce.Do(func() {
		s, err := ort.Load(filepath.Join(m.Dir, m.Desc.ONNX), m.Options)
		if err != nil {
			m.sessErr = err
			return
		}
		if m.bound, err = Bind(m.Dir, m.Desc, s.Inputs(), s.Outputs()); err != nil {
			s.Release()
			m.sessErr = err
			return
		}
		m.sess = s
	})
	return m.sess, m.sessErr
}

// Close releases the model's ONNX Runtime session, if one was created (see
// ort.Session.Release). It must not run concurrently with other methods;
// afterwards Predict and Session return an error.
func (m *Model) Close() {
	m.sessOnce.Do(func() {}) // a later Session must not create one
	if m.sess != nil {
		m.sess.Release()
		m.sess = nil
	}
	m.sessErr = fmt.Errorf("modelfile: %s: the model was closed", m.Dir)
}

// Prediction is a model's output for a batch.
type Prediction struct {
	// Out is the prediction, B x Output.Channels x H x W.
	Out *tensor.Tensor
	// Variance holds the learned variance channels v in [-1, 1] of a
	// learned_range model (same shape as Out); nil otherwise.
	Variance *tensor.Tensor
}

// Predict runs the model on the batch x (B x C x H x W as model.json's
// image says) at timesteps t (B values, fed as t*scale; ignored by models
// without a timestep input) with conditions cond (B vectors of the
// condition's size, or of the embedding shape's size; ignored by models
// without a condition). Batches larger than MaxBatch are split. A
// super-resolution model (low_res in model.json) runs with PredictUpscaled.
func (m *Model) Predict(x *tensor.Tensor, t []float64, cond [][]float32) (*Prediction, error) {
	if m.Desc.LowRes != nil {
		return nil, fmt.Errorf("modelfile: %s is a super-resolution model (model.json has low_res): it needs the upscaled low-resolution images and their noise level; run it with an upscale stage", m.Dir)
	}
	return m.predict(x, t, cond, nil, nil)
}

// PredictUpscaled runs a super-resolution model (low_res in model.json) as
// Predict does, with up, the low-resolution images already upscaled to the
// model's image size and noised (B x low_res.channels x H x W), and
// levels, the noise level of each (B values in 0..T-1). The graph's sample
// input gets x and up concatenated along the channels, image by image; its
// noise-level input gets levels.
func (m *Model) PredictUpscaled(x *tensor.Tensor, t []float64, cond [][]float32, up *tensor.Tensor, levels []int) (*Prediction, error) {
	lr := m.Desc.LowRes
	if lr == nil {
		return nil, fmt.Errorf("modelfile: %s is not a super-resolution model (model.json has no low_res)", m.Dir)
	}
	img := m.Desc.Image
	B := 0
	if len(x.Shape) > 0 {
		B = x.Shape[0]
	}
	if len(up.Shape) != 4 || up.Shape[0] != B || up.Shape[1] != lr.Channels || up.Shape[2] != img.Height || up.Shape[3] != img.Width || len(up.Data) != B*lr.Channels*img.Height*img.Width {
		return nil, fmt.Errorf("modelfile: %s: the upscaled low-resolution batch has shape %v, the model wants %d x %d x %d x %d", m.Dir, up.Shape, B, lr.Channels, img.Height, img.Width)
	}
	if len(levels) != B {
		return nil, fmt.Errorf("modelfile: %s: %d noise levels for a batch of %d", m.Dir, len(levels), B)
	}
	return m.predict(x, t, cond, up, levels)
}

// predict is Predict and PredictUpscaled: up and levels are nil for a
// model without low_res.
func (m *Model) predict(x *tensor.Tensor, t []float64, cond [][]float32, up *tensor.Tensor, levels []int) (*Prediction, error) {
	d := m.Desc
	img := d.Image
	if len(x.Shape) != 4 || x.Shape[1] != img.Channels || x.Shape[2] != img.Height || x.Shape[3] != img.Width {
		return nil, fmt.Errorf("modelfile: %s: the batch has shape %v, the model wants B x %d x %d x %d", m.Dir, x.Shape, img.Channels, img.Height, img.Width)
	}
	B := x.Shape[0]
	if B < 1 {
		return nil, fmt.Errorf("modelfile: %s: empty batch", m.Dir)
	}
	if len(x.Data) != B*img.Channels*img.Height*img.Width {
		return nil, fmt.Errorf("modelfile: %s: the batch of shape %v holds %d values", m.Dir, x.Shape, len(x.Data))
	}
	if d.Inputs.Timestep != "" && len(t) != B {
		return nil, fmt.Errorf("modelfile: %s: %d timesteps for a batch of %d", m.Dir, len(t), B)
	}
	csize := m.conditionSize()
	if d.Inputs.Condition != "" {
		if len(cond) != B {
			return nil, fmt.Errorf("modelfile: %s: %d conditions for a batch of %d", m.Dir, len(cond), B)
		}
		for i, c := range cond {
			if len(c) != csize {
				return nil, fmt.Errorf("modelfile: %s: condition %d has %d values, the model wants %d (%s)", m.Dir, i, len(c), csize, m.conditionShape())
			}
		}
	}
	s, err := m.Session()
	if err != nil {
		return nil, err
	}
	names := m.bound
	per := img.Channels * img.Height * img.Width
	outC := d.Output.Channels
	plane := img.Height * img.Width
	pred := &Prediction{Out: tensor.New(B, outC, img.Height, img.Width)}
	if d.Output.Variance == VarianceLearnedRange {
		pred.Variance = tensor.New(B, outC, img.Height, img.Width)
	}
	inC, upPer := img.Channels, 0
	if up != nil {
		inC += d.LowRes.Channels
		upPer = d.LowRes.Channels * plane
	}
	step := m.MaxBatch
	if step <= 0 {
		step = DefaultMaxBatch(inC, img.Height, img.Width)
	}
	for lo := 0; lo < B; lo += step {
		hi := min(B, lo+step)
		n := hi - lo
		sample := x.Data[lo*per : hi*per]
		if up != nil {
			// Per image: the sample's channels, then the upscaled image's.
			sample = make([]float32, 0, n*(per+upPer))
			for i := lo; i < hi; i++ {
				sample = append(sample, x.Data[i*per:(i+1)*per]...)
				sample = append(sample, up.Data[i*upPer:(i+1)*upPer]...)
			}
		}
		in := []ort.Value{{Name: names.Inputs.Sample, Shape: []int64{int64(n), int64(inC), int64(img.Height), int64(img.Width)}, Float32: sample}}
		if up != nil {
			v := ort.Value{Name: names.Inputs.NoiseLevel, Shape: []int64{int64(n)}, Int64: make([]int64, n)}
			for i, s := range levels[lo:hi] {
				v.Int64[i] = int64(s)
			}
			in = append(in, v)
		}
		if d.Inputs.Timestep != "" {
			in = append(in, m.timestepValue(names.Inputs.Timestep, t[lo:hi]))
		}
		if d.Inputs.Condition != "" {
			flat := make([]float32, 0, n*csize)
			for _, c := range cond[lo:hi] {
				flat = append(flat, c...)
			}
			shape := []int64{int64(n)}
			if d.Condition.Kind == ConditionEmbedding {
				for _, k := range d.Condition.EmbeddingShape {
					shape = append(shape, int64(k))
				}
			} else {
				shape = append(shape, int64(csize))
			}
			in = append(in, ort.Value{Name: names.Inputs.Condition, Shape: shape, Float32: flat})
		}
		outs, err := s.Run(in)
		if err != nil {
			return nil, err
		}
		o := outs[slices.IndexFunc(outs, func(o ort.Value) bool { return o.Name == names.Output.Name })]
		wantC := outC
		if pred.Variance != nil {
			wantC = 2 * outC
		}
		if len(o.Shape) != 4 || o.Shape[0] != int64(n) || o.Shape[1] != int64(wantC) || o.Shape[2] != int64(img.Height) || o.Shape[3] != int64(img.Width) {
			return nil, fmt.Errorf("modelfile: %s: output %q has shape %v, model.json promises %d x %d x %d x %d", m.Dir, o.Name, o.Shape, n, wantC, img.Height, img.Width)
		}
		if o.Float32 == nil {
			return nil, fmt.Errorf("modelfile: %s: output %q is not float32", m.Dir, o.Name)
		}
		for i := 0; i < n; i++ {
			src := o.Float32[i*wantC*plane:]
			copy(pred.Out.Data[(lo+i)*outC*plane:(lo+i+1)*outC*plane], src[:outC*plane])
			if pred.Variance != nil {
				copy(pred.Variance.Data[(lo+i)*outC*plane:(lo+i+1)*outC*plane], src[outC*plane:2*outC*plane])
			}
		}
	}
	return pred, nil
}

// PredictPrompts is Predict with one prompt per image, mapped to conditions
// by Conditions.
func (m *Model) PredictPrompts(x *tensor.Tensor, t []float64, prompts []string) (*Prediction, error) {
	cond, err := m.Conditions(prompts)
	if err != nil {
		return nil, err
	}
	return m.Predict(x, t, cond)
}

// timestepValue returns the timesteps t as the value of graph input name.
func (m *Model) timestepValue(name string, t []float64) ort.Value {
	d := m.Desc
	v := ort.Value{Name: name, Shape: []int64{int64(len(t))}}
	if d.Timestep.Shape == "b1" {
		v.Shape = append(v.Shape, 1)
	}
	if d.Timestep.DType == "int64" {
		v.Int64 = make([]int64, len(t))
		for i, x := range t {
			v.Int64[i] = int64(math.Round(x * d.Timestep.Scale))
		}
	} else {
		v.Float32 = make([]float32, len(t))
		for i, x := range t {
			v.Float32[i] = float32(x * d.Timestep.Scale)
		}
	}
	return v
}

func (m *Model) conditionSize() int {
	switch m.Desc.Condition.Kind {
	case ConditionOnehot:
		return m.Desc.Condition.Size
	case ConditionEmbedding:
		n := 1
		for _, k := range m.Desc.Condition.EmbeddingShape {
			n *= k
		}
		return n
	}
	return 0
}

func (m *Model) conditionShape() string {
	if m.Desc.Condition.Kind == ConditionEmbedding {
		return fmt.Sprintf("an embedding of shape %v", m.Desc.Condition.EmbeddingShape)
	}
	return fmt.Sprintf("a class vector of %d", m.Desc.Condition.Size)
}

// ClassCondition returns the one-hot vector of class (zeros for class -1,
// the unconditional condition) of a onehot model.
func (m *Model) ClassCondition(class int) ([]float32, error) {
	if m.Desc.Condition.Kind != ConditionOnehot {
		return nil, fmt.Errorf("modelfile: %s: condition kind is %q; classes need a onehot model", m.Dir, m.Desc.Condition.Kind)
	}
	n := m.Desc.Condition.Size
	if class < -1 || class >= n {
		return nil, fmt.Errorf("modelfile: %s: class %d out of range 0..%d (-1 = unconditional)", m.Dir, class, n-1)
	}
	v := make([]float32, n)
	if class >= 0 {
		v[class] = 1
	}
	return v, nil
}

// Conditions maps prompts to condition vectors: through the prompt table for
// onehot models, through the embeddings file for embedding models. The empty
// prompt "" is the unconditional one. Unknown prompts are an error listing
// the known ones.
func (m *Model) Conditions(prompts []string) ([][]float32, error) {
	d := m.Desc
	out := make([][]float32, len(prompts))
	switch d.Condition.Kind {
	case ConditionOnehot:
		table := map[string]int{"": -1}
		for _, p := range d.Prompts {
			table[p.Prompt] = p.Class
		}
		for i, p := range prompts {
			c, ok := table[p]
			if !ok {
				return nil, fmt.Errorf("modelfile: %s: unknown prompt %q (known: %q)", m.Dir, p, m.knownPrompts())
			}
			out[i], _ = m.ClassCondition(c)
		}
	case ConditionEmbedding:
		emb, err := m.embeddings()
		if err != nil {
			return nil, err
		}
		for i, p := range prompts {
			e, ok := emb[p]
			if !ok {
				return nil, fmt.Errorf("modelfile: %s: prompt %q has no embedding in %s (known: %q); compute it with the export script", m.Dir, p, d.Condition.Embeddings, m.knownPrompts())
			}
			out[i] = e
		}
	default:
		return nil, fmt.Errorf("modelfile: %s: the model takes no condition, so it takes no prompts", m.Dir)
	}
	return out, nil
}

// Prompts lists the prompts the model knows, "" (unconditional) included.
func (m *Model) Prompts() ([]string, error) { return prompts(m.Dir, m.Desc) }

// PromptTable lists the prompts the model in dir accepts, "" (unconditional)
// included when accepted, from its description and the header of its
// embeddings file, without loading weights or embeddings: cheap enough to
// check experiments before anything runs.
func PromptTable(dir string) ([]string, error) {
	d, err := Read(dir)
	if err != nil {
		return nil, err
	}
	return prompts(dir, d)
}

// prompts lists the prompts of the model in dir described by d.
func prompts(dir string, d *Description) ([]string, error) {
	switch d.Condition.Kind {
	case ConditionOnehot:
		ps := []string{""}
		for _, p := range d.Prompts {
			ps = append(ps, p.Prompt)
		}
		return ps, nil
	case ConditionEmbedding:
		names, err := safetensors.ReadNames(filepath.Join(dir, d.Condition.Embeddings))
		if err != nil {
			return nil, fmt.Errorf("modelfile: prompt embeddings: %w", err)
		}
		for i, n := range names {
			if n == UnconditionalKey {
				names[i] = ""
			}
		}
		sort.Strings(names)
		return names, nil
	}
	return []string{""}, nil
}

func (m *Model) knownPrompts() []string {
	ps, err := m.Prompts()
	if err != nil {
		return nil
	}
	return ps
}

// UnconditionalKey is the tensor name under which a prompt embeddings file
// stores the embedding of the empty prompt "" (safetensors names cannot be
// empty). Every other tensor is named by its prompt's text.
const UnconditionalKey = "<unconditional>"

// embeddings loads the prompt embeddings file once.
func (m *Model) embeddings() (map[string][]float32, error) {
	m.embOnce.Do(func() {
		path := filepath.Join(m.Dir, m.Desc.Condition.Embeddings)
		ts, _, err := safetensors.ReadFile(path)
		if err != nil {
			m.embErr = fmt.Errorf("modelfile: prompt embeddings: %w", err)
			return
		}
		if _, ok := ts[UnconditionalKey]; !ok {
			m.embErr = fmt.Errorf("modelfile: %s has no tensor %q (the embedding of the empty, unconditional prompt)", path, UnconditionalKey)
			return
		}
		want := m.conditionSize()
		m.emb = map[string][]float32{}
		for name, t := range ts {
			if len(t.Data) != want {
				m.embErr = fmt.Errorf("modelfile: %s: embedding of %q has shape %v, field \"condition.embedding_shape\" says %v", path, name, t.Shape, m.Desc.Condition.EmbeddingShape)
				return
			}
			if name == UnconditionalKey {
				name = ""
			}
			m.emb[name] = t.Data
		}
	})
	return m.emb, m.embErr
}
