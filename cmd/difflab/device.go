package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"difflab/models/ort"
)

// deviceEnv is the environment variable that sets the default of --device.
const deviceEnv = "DIFFLAB_DEVICE"

// deviceFlag is --device: where ONNX Runtime runs models.
type deviceFlag struct{ value string }

// addDeviceFlag adds --device to fs.
func addDeviceFlag(fs *flag.FlagSet) *deviceFlag {
	f := &deviceFlag{}
	fs.Var(f, "device", "where ONNX Runtime runs models: cpu, or gpu (its WebGPU execution provider, on Vulkan) (default $"+deviceEnv+", else cpu)")
	return f
}

// String implements flag.Value.
func (f *deviceFlag) String() string { return f.value }

// Set implements flag.Value.
func (f *deviceFlag) Set(v string) error {
	if _, err := ort.ParseDevice(v); err != nil {
		return err
	}
	f.value = v
	return nil
}

// device returns the device asked for: the flag, else $DIFFLAB_DEVICE,
// else the CPU. A bad value of the variable is an error naming it.
func (f *deviceFlag) device() (ort.Device, error) {
	if f.value != "" {
		return ort.Device(f.value), nil
	}
	v := os.Getenv(deviceEnv)
	if v == "" {
		return ort.CPU, nil
	}
	d, err := ort.ParseDevice(v)
	if err != nil {
		return "", fmt.Errorf("%s=%s: %w", deviceEnv, v, err)
	}
	return d, nil
}

// devices returns runner.Options.Devices for d: the devices that enter
// the keys, none for the CPU (ONNX Runtime's default).
func devices(d ort.Device) map[string]string {
	if d == ort.CPU {
		return nil
	}
	return map[string]string{"onnxruntime": d.Provider()}
}

// engineSetup returns run's checks that the engines can run here, made
// before any stage starts (see runner.Options.EngineChecks), and the
// placement its manifests record, for ONNX Runtime on device d. The ONNX
// Runtime check logs where models run.
func engineSetup(d ort.Device, log zerolog.Logger) (map[string]func() error, func(string) string) {
	where := d.Provider()
	checks := map[string]func() error{"onnxruntime": func() error {
		w, err := ort.CheckDevice(d)
		if err != nil {
			return err
		}
		where = w
		if d != ort.CPU {
			log.Info().Str("device", w).Msg("ONNX Runtime runs models on the GPU")
		}
		return nil
	}}
	placement := func(engine string) string {
		switch engine {
		case "onnxruntime":
			return where
		case "gorgonia":
			return "cpu"
		}
		return ""
	}
	return checks, placement
}

// deviceHint returns a line to print after err when the GPU cannot be
// used, or "".
func deviceHint(err error) string {
	if errors.Is(err, ort.ErrNoVulkan) || errors.Is(err, ort.ErrNoAdapter) {
		return "difflab: or run on the CPU: --device cpu (" + deviceEnv + "=cpu)"
	}
	return ""
}
