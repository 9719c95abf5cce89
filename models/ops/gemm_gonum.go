//go:build !openblas

package ops

// Engine names the engine the kernels were built for: "pure-go" (gonum's
// BLAS and Go loops) by default, "openblas" with the build tag openblas.
const Engine = "pure-go"

// engineDetails are the lines EngineLines adds for this build: none, as
// gonum's version is the module's and the Go loops are the same on every
// CPU of an architecture.
func engineDetails() []string { return nil }

// gemm computes c = alpha*op(a)*op(b) + beta*c for row-major matrices, where
// op(a) is m×k and op(b) is k×n.
func gemm[T float](ta, tb bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gonumGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
