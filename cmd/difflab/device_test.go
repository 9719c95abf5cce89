package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"difflab/models/modelfile"
	"difflab/models/onnxexport"
	"difflab/models/ort"
	"difflab/models/ort/orttest"
	"difflab/runner/cache"
	"difflab/stages/artifact"
)

const unetFlowYAML = `name: flow on a device
stages:
  unet:
    kind: model.load
    with: {path: ../models/unet/model.json}
  samples:
    kind: sample.flow
    in: {model: unet}
    with: {classes: [3, 7, -1], steps: 3, cfg: 5, clip: false}
`

// writeUNet writes a class-conditioned flow UNet of width 4 with random
// weights to dir.
func writeUNet(t *testing.T, dir string) {
	t.Helper()
	spec := modelfile.UNet{Cond: "time_class", Hidden: 4, Channels: 1, Classes: 10, Size: 28}
	d, err := onnxexport.UNetDescription(spec, modelfile.PredictsVelocity)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnxexport.WriteUNetDir(dir, d, onnxexport.RandomWeights(spec, 3)); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceGPUMatchesCPU samples a small UNet with --device cpu and
// --device gpu (lavapipe where there is no GPU) into one cache.
func TestDeviceGPUMatchesCPU(t *testing.T) {
	orttest.RequireGPU(t)
	w := newWS(t, map[string]string{"flow.yaml": unetFlowYAML})
	writeUNet(t, filepath.Join(w.dir, "models", "unet"))
	c, err := cache.Open(w.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		keys     map[string]string
		samples  []float32
		manifest *cache.Manifest
	}
	run := func(device string) result {
		s := w.summary(w.exp, "--device", device)
		r := result{keys: map[string]string{}}
		for _, st := range s.Stages {
			r.keys[st.ID] = st.Key
		}
		e, err := c.Get(r.keys["samples"], true)
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.Load("samples")
		if err != nil {
			t.Fatal(err)
		}
		r.samples, r.manifest = a.(*artifact.Images).Data, e.Manifest
		return r
	}
	cpu, gpu := run("cpu"), run("gpu")
	if cpu.keys["unet"] != gpu.keys["unet"] || cpu.keys["samples"] == gpu.keys["samples"] {
		t.Fatalf("keys: cpu %v, gpu %v; want the ONNX Runtime stage's keys (only) to differ", cpu.keys, gpu.keys)
	}
	if d := cpu.manifest.Devices["onnxruntime"]; d != "cpu" {
		t.Errorf("manifest on the CPU: device %q", d)
	}
	if d := gpu.manifest.Devices["onnxruntime"]; !strings.HasPrefix(d, "webgpu: ") {
		t.Errorf("manifest on the GPU: device %q, want webgpu: and the adapter", d)
	}
	var worst float64
	for i := range cpu.samples {
		worst = max(worst, math.Abs(float64(cpu.samples[i]-gpu.samples[i])))
	}
	// Three guided Euler steps; measured on lavapipe: about 1e-7.
	if worst > 1e-5 {
		t.Fatalf("samples on the GPU differ from the CPU's by up to %g", worst)
	}
	t.Logf("%s: samples differ from the CPU's by up to %.2g", gpu.manifest.Devices["onnxruntime"], worst)

	// Both are cached now, each under its device; plan says which it uses.
	t.Setenv(deviceEnv, "gpu")
	code, out, errs := w.do("plan", w.exp)
	if code != exitOK || !strings.Contains(out, "device gpu: ONNX Runtime stages run on its webgpu execution provider") ||
		!strings.Contains(out, "0 would run, 2 cached") {
		t.Fatalf("plan with %s=gpu: exit %d\n%s%s", deviceEnv, code, out, errs)
	}
}

// TestDeviceGPUWithoutAdapterStopsBeforeAnyStage runs --device gpu where
// the Vulkan loader finds no driver: the run must stop before any stage
// starts, with exit status 3 and the fix.
func TestDeviceGPUWithoutAdapterStopsBeforeAnyStage(t *testing.T) {
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	w := newWS(t, map[string]string{"flow.yaml": unetFlowYAML})
	writeUNet(t, filepath.Join(w.dir, "models", "unet"))
	nowhere := filepath.Join(w.dir, "no-driver.json")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := []string{"run", "--device", "gpu", "--cache", w.cacheDir, "--results", w.results, w.exp}
	cmd.Env = append(os.Environ(), "DIFFLAB_CLI_HELPER="+strings.Join(args, "\x1f"),
		"VK_DRIVER_FILES="+nowhere, "VK_ICD_FILENAMES="+nowhere)
	var errs bytes.Buffer
	cmd.Stderr = &errs
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitValidation {
		t.Fatalf("exit: %v, want %d\n%s", err, exitValidation, errs.String())
	}
	msg := errs.String()
	// With a Vulkan loader installed the driver is missing; without one,
	// the loader.
	noDriver := strings.Contains(msg, "no WebGPU adapter") && strings.Contains(msg, "VK_DRIVER_FILES=\""+nowhere)
	noLoader := strings.Contains(msg, "no Vulkan loader") && strings.Contains(msg, "libvulkan1")
	if !strings.Contains(msg, "engine onnxruntime, needed by flow.yaml:samples, cannot run") || !(noDriver || noLoader) ||
		!strings.Contains(msg, "Vulkan driver") || !strings.Contains(msg, "--device cpu") {
		t.Fatalf("the error should name the cause and the fixes:\n%s", msg)
	}
	code, out, _ := w.do("status", "--json")
	var st struct{ Entries int }
	if json.Unmarshal([]byte(out), &st); code != exitOK || st.Entries != 0 {
		t.Fatalf("stages ran before the check: %d entries\n%s", st.Entries, out)
	}
}

func TestDeviceFlagValues(t *testing.T) {
	w := newWS(t, map[string]string{"demo.yaml": demoYAML})
	if code, _, errs := w.do("plan", "--device", "tpu", w.exp); code != exitUsage || !strings.Contains(errs, `unknown device "tpu" (known: cpu, gpu)`) {
		t.Fatalf("--device tpu: exit %d\n%s", code, errs)
	}
	t.Setenv(deviceEnv, "tpu")
	if code, _, errs := w.do("run", w.exp); code != exitUsage || !strings.Contains(errs, deviceEnv+"=tpu") {
		t.Fatalf("%s=tpu: exit %d\n%s", deviceEnv, code, errs)
	}
	// Stages without ONNX Runtime keep their keys on every device.
	t.Setenv(deviceEnv, "")
	cpu := w.summary(w.exp)
	if s := w.summary(w.exp, "--device", "gpu"); s.Cached != len(cpu.Stages) {
		t.Fatalf("--device gpu recomputed stages that do not use ONNX Runtime: %+v", s)
	}
}
