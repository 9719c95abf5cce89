package ort

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	onnx "github.com/yalue/onnxruntime_go"
)

// Options tunes a session. A nil *Options means the defaults.
type Options struct {
	// IntraOpThreads is the number of threads one model evaluation uses;
	// 0 means DefaultThreads().
	IntraOpThreads int
	// Device is where the model runs; empty means CurrentDevice().
	Device Device
	// Profile, when set, makes ONNX Runtime record the time of every
	// operator of every run (on the GPU, also each kernel's time on the
	// device) and write them, as Chrome trace JSON, to a file whose name
	// starts with Profile when the session is destroyed. Only loads that
	// name the same Profile share such a session.
	Profile string
}

func (o *Options) threads() int {
	if o == nil || o.IntraOpThreads <= 0 {
		return DefaultThreads()
	}
	return o.IntraOpThreads
}

func (o *Options) device() Device {
	if o == nil || o.Device == "" {
		return CurrentDevice()
	}
	return o.Device
}

// DType names the element type of a model input or output.
type DType string

// The element types difflab feeds and reads.
const (
	Float32 DType = "float32"
	Int64   DType = "int64"
)

// Info describes one input or output of a model. Dimensions of -1 are
// dynamic (such as the batch size).
type Info struct {
	Name  string
	DType DType
	Shape []int64
}

// Value is one named tensor passed to or returned by Run. Exactly one of
// Float32 and Int64 holds the data, in row-major order.
type Value struct {
	Name    string
	Shape   []int64
	Float32 []float32
	Int64   []int64
}

// Session is a loaded ONNX model, safe for concurrent use.
type Session struct {
	path    string
	digest  string
	inputs  []Info
	outputs []Info
	s       *onnx.DynamicAdvancedSession

	// key and refs are guarded by cacheMu.
	key       string
	refs      int
	destroyed atomic.Bool
	// profiled sessions are destroyed, not kept idle, once released, so
	// that their trace is written.
	profiled bool

	runNanos atomic.Int64
	runs     atomic.Int64
}

// IdleSessions is how many sessions that no caller holds stay loaded, most
// recently released first, so that the next stage using the same model
// finds its session ready. Older idle sessions are destroyed, which returns
// their memory (a UNet session holds a few hundred MB of buffers). Set it
// before the first Load.
var IdleSessions = 2

var (
	cacheMu  sync.Mutex
	sessions = map[string]*Session{} // by model digest, thread count, device and profile
	idle     []*Session              // released sessions, oldest first
)

// Load returns the session for the ONNX file at path, creating it on first
// use. Sessions are shared by the model's digest (and the thread count,
// device and Options.Profile): the SHA-256 of the ONNX file and of every external data file its tensors
// reference (see ModelFiles). So two paths holding the same model share one
// session, while two models with the same graph and different external
// weights, or a file rewritten in place, get their own. Every Load must be
// matched by one Release once the caller is done with the session.
func Load(path string, opts *Options) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", path, err)
	}
	digest, err := modelDigest(abs)
	if err != nil {
		return nil, err
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	dev := opts.device()
	profile := ""
	if opts != nil {
		profile = opts.Profile
	}
	key := fmt.Sprintf("%s/%d/%s", digest, opts.threads(), dev)
	if profile != "" {
		key += "/profile:" + profile
	}
	if s, ok := sessions[key]; ok {
		if s.refs == 0 {
			idle = slices.DeleteFunc(idle, func(o *Session) bool { return o == s })
		}
		s.refs++
		return s, nil
	}
	s, err := newSession(abs, digest, opts.threads(), dev, profile)
	if err != nil {
		return nil, err
	}
	s.key, s.refs, s.profiled = key, 1, profile != ""
	sessions[key] = s
	return s, nil
}

// Release gives back one Load of the session. When no caller holds it, the
// session joins the idle sessions; beyond IdleSessions of those, the least
// recently released is destroyed. A session with Options.Profile is
// destroyed at once, which writes its trace. The caller must not use s afterwards: Run
// on a destroyed session returns an error, but a Run still in flight when
// its session is destroyed is undefined behaviour.
func (s *Session) Release() {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s.refs <= 0 {
		panic("ort: Release of a session that is not held")
	}
	s.refs--
	if s.refs > 0 {
		return
	}
	if s.profiled {
		s.destroy()
		return
	}
	idle = append(idle, s)
	for len(idle) > max(IdleSessions, 0) {
		old := idle[0]
		idle = idle[1:]
		old.destroy()
	}
}

// Discard gives back one Load of the session like Release, but destroys the
// session at once when no caller holds it instead of keeping it idle: for a
// model that will not be loaded again and holds much memory, such as a
// training step graph. The caller must not use s afterwards.
func (s *Session) Discard() {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s.refs <= 0 {
		panic("ort: Discard of a session that is not held")
	}
	s.refs--
	if s.refs == 0 {
		s.destroy()
	}
}

// destroy removes the session from the cache and frees it; the caller holds
// cacheMu.
func (s *Session) destroy() {
	delete(sessions, s.key)
	s.destroyed.Store(true)
	s.s.Destroy()
}

func newSession(path, digest string, threads int, dev Device, profile string) (*Session, error) {
	// Read from the file: ONNX Runtime's own GetInputOutputInfo builds a
	// whole CPU session for that (half a second for a training step graph,
	// and every weight of a large model in memory once more).
	ins, outs, err := GraphInfo(path)
	if err != nil {
		return nil, fmt.Errorf("ort: %s is not a loadable ONNX model: %w", path, err)
	}
	s := &Session{path: path, digest: digest}
	var inNames, outNames []string
	for _, info := range ins {
		if err := checkInfo(path, info); err != nil {
			return nil, err
		}
		s.inputs = append(s.inputs, info)
		inNames = append(inNames, info.Name)
	}
	for _, info := range outs {
		if err := checkInfo(path, info); err != nil {
			return nil, err
		}
		s.outputs = append(s.outputs, info)
		outNames = append(outNames, info.Name)
	}
	opts, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("ort: setting %d threads: %w", threads, err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("ort: setting inter-op threads: %w", err)
	}
	if err := opts.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelEnableAll); err != nil {
		return nil, fmt.Errorf("ort: setting the optimisation level: %w", err)
	}
	if profile != "" {
		if err := opts.EnableProfiling(profile); err != nil {
			return nil, fmt.Errorf("ort: enabling profiling to %s: %w", profile, err)
		}
	}
	if err := appendProvider(opts, dev); err != nil {
		return nil, err
	}
	s.s, err = onnx.NewDynamicAdvancedSession(path, inNames, outNames, opts)
	if err != nil {
		return nil, adapterError(fmt.Errorf("ort: loading %s on device %s: %w", path, dev, err))
	}
	return s, nil
}

// checkInfo refuses a graph input or output that is not a float32 or int64
// tensor.
func checkInfo(path string, info Info) error {
	switch info.DType {
	case Float32, Int64:
		return nil
	case "":
		return fmt.Errorf("ort: %s: %q is not a tensor; only tensors are supported", path, info.Name)
	}
	return fmt.Errorf("ort: %s: %q has element type %s; only float32 and int64 are supported", path, info.Name, info.DType)
}

// Path returns the absolute path of the model file.
func (s *Session) Path() string { return s.path }

// Digest returns the hex SHA-256 that identifies the model: that of the ONNX
// file when it holds all its tensor data, else one over the digests of the
// file and of its external data files.
func (s *Session) Digest() string { return s.digest }

// Inputs describes the model's inputs, in the model's order.
func (s *Session) Inputs() []Info { return s.inputs }

// Outputs describes the model's outputs, in the model's order.
func (s *Session) Outputs() []Info { return s.outputs }

// RunTime returns the total wall time spent inside ONNX Runtime by Run, and
// the number of runs, since the session was created.
func (s *Session) RunTime() (time.Duration, int64) {
	return time.Duration(s.runNanos.Load()), s.runs.Load()
}

// Run evaluates the model. inputs must hold every model input, by name, with
// the declared element type and rank; fixed dimensions must match. It returns
// every output, in the order of Outputs, as newly allocated slices.
func (s *Session) Run(inputs []Value) ([]Value, error) {
	if s.destroyed.Load() {
		return nil, fmt.Errorf("ort: %s: the session was released and destroyed", s.path)
	}
	byName := map[string]Value{}
	for _, v := range inputs {
		byName[v.Name] = v
	}
	values := make([]onnx.Value, len(s.inputs))
	defer func() {
		for _, v := range values {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, info := range s.inputs {
		v, ok := byName[info.Name]
		if !ok {
			return nil, fmt.Errorf("ort: %s: input %q not given (the model needs %s)", s.path, info.Name, s.describeInputs())
		}
		if err := info.check(v); err != nil {
			return nil, fmt.Errorf("ort: %s: %w", s.path, err)
		}
		var err error
		if info.DType == Float32 {
			values[i], err = onnx.NewTensor(onnx.NewShape(v.Shape...), v.Float32)
		} else {
			values[i], err = onnx.NewTensor(onnx.NewShape(v.Shape...), v.Int64)
		}
		if err != nil {
			return nil, fmt.Errorf("ort: %s: input %q: %w", s.path, info.Name, err)
		}
	}
	for _, v := range inputs {
		if !s.hasInput(v.Name) {
			return nil, fmt.Errorf("ort: %s: the model has no input %q (it has %s)", s.path, v.Name, s.describeInputs())
		}
	}
	outs := make([]onnx.Value, len(s.outputs))
	start := time.Now()
	err := s.s.Run(values, outs)
	s.runNanos.Add(int64(time.Since(start)))
	s.runs.Add(1)
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w%s", s.path, err, bufferLimitHint(err))
	}
	res := make([]Value, len(outs))
	for i, o := range outs {
		res[i] = Value{Name: s.outputs[i].Name, Shape: append([]int64(nil), o.GetShape()...)}
		switch t := o.(type) {
		case *onnx.Tensor[float32]:
			res[i].Float32 = append([]float32(nil), t.GetData()...)
		case *onnx.Tensor[int64]:
			res[i].Int64 = append([]int64(nil), t.GetData()...)
		default:
			return nil, fmt.Errorf("ort: %s: output %q has unsupported type %T", s.path, s.outputs[i].Name, o)
		}
	}
	return res, nil
}

// bufferLimitHint explains the WebGPU provider's errors for tensors too
// large for the GPU, or "" for other errors. The provider binds a tensor
// larger than the adapter's maxStorageBufferBindingSize as several
// bindings, so an operator on large tensors can exceed the bindings one
// shader may have (maxStorageBuffersPerShaderStage) before any tensor
// exceeds the largest buffer (maxBufferSize).
func bufferLimitHint(err error) string {
	msg := err.Error()
	if !strings.Contains(msg, "Too many storage buffers in shader") && !strings.Contains(msg, "exceeds the max buffer size limit") {
		return ""
	}
	return "; the call's tensors are too large for this GPU's buffer limits: use a smaller batch or width, or --device cpu"
}

func (s *Session) hasInput(name string) bool {
	for _, in := range s.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (s *Session) describeInputs() string {
	d := ""
	for i, in := range s.inputs {
		if i > 0 {
			d += ", "
		}
		d += fmt.Sprintf("%s %s %v", in.Name, in.DType, in.Shape)
	}
	return d
}

// check reports a value that does not fit the declared input.
func (info Info) check(v Value) error {
	n := int64(1)
	for _, d := range v.Shape {
		if d < 0 {
			return fmt.Errorf("input %q: negative dimension in shape %v", info.Name, v.Shape)
		}
		n *= d
	}
	var got int64
	switch info.DType {
	case Float32:
		if v.Int64 != nil {
			return fmt.Errorf("input %q must be float32, got int64", info.Name)
		}
		got = int64(len(v.Float32))
	case Int64:
		if v.Float32 != nil {
			return fmt.Errorf("input %q must be int64, got float32", info.Name)
		}
		got = int64(len(v.Int64))
	}
	if got != n {
		return fmt.Errorf("input %q: shape %v needs %d values, got %d", info.Name, v.Shape, n, got)
	}
	if len(info.Shape) > 0 && len(v.Shape) != len(info.Shape) {
		return fmt.Errorf("input %q: shape %v has rank %d, the model wants %v", info.Name, v.Shape, len(v.Shape), info.Shape)
	}
	for i, d := range info.Shape {
		if d >= 0 && v.Shape[i] != d {
			return fmt.Errorf("input %q: shape %v, the model wants %v (dimension %d must be %d)", info.Name, v.Shape, info.Shape, i, d)
		}
	}
	return nil
}
