package ort

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"
	onnxrt "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// Device is where ONNX Runtime evaluates models: the execution provider
// that runs the graph.
type Device string

// The devices.
const (
	// CPU is ONNX Runtime's CPU execution provider.
	CPU Device = "cpu"
	// GPU is ONNX Runtime's WebGPU execution provider: Dawn on Vulkan, on
	// any GPU with a Vulkan driver (or on the CPU through Mesa's lavapipe).
	GPU Device = "gpu"
)

// ParseDevice returns the device called s. The error lists the known ones.
func ParseDevice(s string) (Device, error) {
	switch d := Device(s); d {
	case CPU, GPU:
		return d, nil
	}
	return "", fmt.Errorf("unknown device %q (known: cpu, gpu)", s)
}

// Provider returns the name of the device's execution provider: "cpu" or
// "webgpu".
func (d Device) Provider() string {
	if d == GPU {
		return "webgpu"
	}
	return "cpu"
}

var (
	deviceMu sync.Mutex
	device   = CPU
)

// UseDevice makes d the device of the sessions loaded afterwards whose
// Options name none. Sessions already loaded keep theirs.
func UseDevice(d Device) {
	deviceMu.Lock()
	defer deviceMu.Unlock()
	device = d
}

// CurrentDevice returns the device UseDevice set last (CPU by default).
func CurrentDevice() Device {
	deviceMu.Lock()
	defer deviceMu.Unlock()
	return device
}

const (
	fixNoVulkan = "fix: install the GPU vendor's Vulkan driver and the Vulkan loader (Debian: apt-get install libvulkan1)"
	fixNoDriver = "fix: install the GPU vendor's Vulkan driver (NVIDIA's driver ships nvidia_icd.json; Mesa's drivers are Debian's mesa-vulkan-drivers), " +
		"and point VK_DRIVER_FILES at its ICD manifest (.json) when that is not in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d " +
		"(on an NVIDIA machine without a display, a manifest naming libEGL_nvidia.so.0 instead of libGLX_nvidia.so.0; see the README)"
)

// CheckDevice checks that models can run on d here, before any model is
// loaded: ONNX Runtime initialises (Init) and, for the GPU, the Vulkan loader
// loads and finds a device, and a one-node model run on the WebGPU execution
// provider gives the right answer. It returns what runs the models: "cpu",
// or "webgpu: " and the Vulkan device that a high-performance request picks
// first, with its Vulkan version. Errors wrap ErrNoLibrary, ErrNoVulkan or
// ErrNoAdapter and say what to install.
func CheckDevice(d Device) (string, error) {
	if err := Init(); err != nil {
		return "", err
	}
	if d != GPU {
		return "cpu", nil
	}
	devs, err := vulkanDevices(vulkanLoader)
	switch {
	case errors.Is(err, ErrNoVulkan):
		return "", fmt.Errorf("%w (%s)", err, fixNoVulkan)
	case err != nil:
		return "", fmt.Errorf("%w; %s%s", err, fixNoDriver, driverEnv())
	}
	if err := probe(); err != nil {
		return "", err
	}
	best := preferred(devs)
	return fmt.Sprintf("webgpu: %s, Vulkan %s", best.Name, best.API), nil
}

// driverEnv describes the variables that tell the Vulkan loader where the
// drivers are, when set.
func driverEnv() string {
	var set []string
	for _, v := range []string{"VK_DRIVER_FILES", "VK_ICD_FILENAMES"} {
		if s, ok := os.LookupEnv(v); ok {
			set = append(set, fmt.Sprintf("%s=%q", v, s))
		}
	}
	if len(set) == 0 {
		return ""
	}
	return " (now " + strings.Join(set, ", ") + ")"
}

// adapterError explains a failure of ONNX Runtime to create a session on
// the WebGPU execution provider.
func adapterError(err error) error {
	if strings.Contains(err.Error(), "adapter") {
		return fmt.Errorf("%w: %v; %s%s", ErrNoAdapter, err, fixNoDriver, driverEnv())
	}
	return err
}

// appendProvider adds d's execution provider to opts.
func appendProvider(opts *onnxrt.SessionOptions, d Device) error {
	if d != GPU {
		return nil
	}
	if err := opts.AppendExecutionProvider("WebGPU", map[string]string{}); err != nil {
		if strings.Contains(err.Error(), "adapter") {
			return adapterError(fmt.Errorf("ort: enabling the WebGPU execution provider: %w", err))
		}
		return fmt.Errorf("ort: enabling the WebGPU execution provider: %w (is it ONNX Runtime 1.30's %s from onnxruntime-node?)", err, LibName)
	}
	return nil
}

// probe runs y = 2 x on the WebGPU execution provider and checks the
// answer.
func probe() error {
	model, err := probeModel()
	if err != nil {
		return err
	}
	opts, err := onnxrt.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("ort: session options: %w", err)
	}
	defer opts.Destroy()
	if err := appendProvider(opts, GPU); err != nil {
		return err
	}
	s, err := onnxrt.NewDynamicAdvancedSessionWithONNXData(model, []string{"x"}, []string{"y"}, opts)
	if err != nil {
		return adapterError(fmt.Errorf("ort: creating a session on the WebGPU execution provider: %w", err))
	}
	defer s.Destroy()
	x, err := onnxrt.NewTensor(onnxrt.NewShape(4), []float32{1, 2, 3, 4})
	if err != nil {
		return fmt.Errorf("ort: %w", err)
	}
	defer x.Destroy()
	y := []onnxrt.Value{nil}
	if err := s.Run([]onnxrt.Value{x}, y); err != nil {
		return adapterError(fmt.Errorf("ort: running a model on the WebGPU execution provider: %w", err))
	}
	defer y[0].Destroy()
	got := y[0].(*onnxrt.Tensor[float32]).GetData()
	if !slices.Equal(got, []float32{2, 4, 6, 8}) {
		return fmt.Errorf("%w: the WebGPU execution provider computed 2 x [1 2 3 4] = %v", ErrNoAdapter, got)
	}
	return nil
}

// probeModel returns an ONNX model computing y = x + x for x of shape (4).
func probeModel() ([]byte, error) {
	vec := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: int32(onnx.TensorProto_FLOAT),
			Shape:    &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 4}}}},
		}}}}
	}
	b, err := proto.Marshal(&onnx.ModelProto{
		IrVersion:   9,
		OpsetImport: []*onnx.OperatorSetIdProto{{Version: 20}},
		Graph: &onnx.GraphProto{
			Name:   "probe",
			Node:   []*onnx.NodeProto{{Name: "add", OpType: "Add", Input: []string{"x", "x"}, Output: []string{"y"}}},
			Input:  []*onnx.ValueInfoProto{vec("x")},
			Output: []*onnx.ValueInfoProto{vec("y")},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ort: encoding the probe model: %w", err)
	}
	return b, nil
}
