package orttest

import (
	"errors"
	"os"
	"testing"

	"difflab/models/ort"
)

// RequireEnv is the environment variable that makes RequireGPU fail, not
// skip, when no Vulkan device can run models; CI sets it to 1.
const RequireEnv = "DIFFLAB_REQUIRE_LAVAPIPE"

// Require skips the test when the ONNX Runtime library is not installed,
// and fails it when the library is there but does not initialise.
func Require(t testing.TB) {
	t.Helper()
	if err := ort.Init(); errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// RequireGPU skips the test when ONNX Runtime is not installed, and when
// models cannot run on ort.GPU here (no Vulkan loader or device): then it
// says how to install lavapipe, Mesa's Vulkan driver on the CPU. With
// DIFFLAB_REQUIRE_LAVAPIPE=1 the missing device fails the test instead. It
// returns what runs the models, as ort.CheckDevice describes it.
func RequireGPU(t testing.TB) string {
	t.Helper()
	Require(t)
	where, err := ort.CheckDevice(ort.GPU)
	if err == nil {
		return where
	}
	const how = "install lavapipe, Mesa's Vulkan driver on the CPU, with scripts/install-lavapipe.sh " +
		"(as root on Debian 12; it adds bookworm-backports to apt's sources)"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s=1 and models cannot run on the GPU device: %v\n%s", RequireEnv, err, how)
	}
	t.Skipf("models cannot run on the GPU device: %v\nto run this test, %s", err, how)
	return ""
}
