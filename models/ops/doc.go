// Package ops holds the differentiable Gorgonia operations the UNets are
// built from: convolution, transposed convolution, batch normalisation (alone
// or fused with GELU), exact GELU, global average pooling, linear layers and
// per-sample channel scale-and-shift, plus global-norm gradient clipping.
//
// # Invariants
//
//   - Tensors are NCHW and float32 (float64 works too and is what the
//     finite-difference tests use). Weights use PyTorch layouts, so a
//     state_dict maps one to one onto the graph's parameters.
//   - Every operation is differentiable through Gorgonia's symbolic
//     differentiation (G.Grad) and runs on Gorgonia's tape machine.
//   - BatchNorm follows PyTorch: eps 1e-5, momentum 0.1, the biased batch
//     variance for normalising and the unbiased one for the running variance.
//   - An operation owns its output and scratch buffers and reuses them on every
//     run of the graph, so a value read from a node is valid until the graph
//     runs again (read it with G.Read, or copy it). A graph must not run
//     concurrently with itself; distinct graphs share nothing but a locked
//     pool of scratch buffers.
//   - Results do not depend on the number of workers (GOMAXPROCS): to the
//     bit, the same inputs give the same outputs and gradients with one
//     goroutine or sixteen. Kernels split work over goroutines only where
//     each output value is computed by one of them (samples, channels,
//     elements). The one sum across samples, a convolution's weight
//     gradient, is taken over chunks of samples fixed by the shapes, whose
//     sums are added in chunk order (sumChunks). gonum's sgemm splits only
//     its output over goroutines, and OpenBLAS runs single-threaded.
//
// # Engines
//
// Matrix products go through a single sgemm/dgemm entry point. The default
// build is pure Go: gonum's BLAS and Go loops. Building with the tag
// "openblas" calls OpenBLAS through cgo (Debian libopenblas-dev) and runs the
// float32 batch-norm, GELU, im2col and col2im loops as C (native.h) compiled
// for AVX-512, AVX2 or SSE2, whichever the CPU has. Engine reports which
// build this is. Both builds compute the same numbers up to float32 rounding;
// the tests compare them. The bits themselves differ between the builds, and
// with OpenBLAS between the cores it picks for a CPU (or that
// OPENBLAS_CORETYPE forces) and between the clones of the native kernels
// the CPU runs: EngineLines names all of these, for cache keys.
package ops
