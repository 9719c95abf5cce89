package ort

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// CPUClass names the kernels ONNX Runtime's math library (MLAS) picks for
// float32 work on this CPU, which decide how its products and reductions
// are summed. On amd64 it is "amd64" and the widest of avx512f, avx2+fma3,
// avx and sse2 that the CPU and the operating system support, tested as MLAS
// tests them; elsewhere it is GOARCH.
func CPUClass() string {
	if runtime.GOARCH != "amd64" {
		return runtime.GOARCH
	}
	x := cpu.X86
	switch {
	case x.HasAVX && x.HasAVX2 && x.HasFMA && x.HasAVX512F:
		return "amd64 avx512f"
	case x.HasAVX && x.HasAVX2 && x.HasFMA:
		return "amd64 avx2+fma3"
	case x.HasAVX:
		return "amd64 avx"
	}
	return "amd64 sse2"
}
