//go:build openblas

package ops

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// Engine names the engine the kernels were built for: "pure-go" (gonum's
// BLAS and Go loops) by default, "openblas" with the build tag openblas.
const Engine = "openblas"

// engineDetails are the lines EngineLines adds for this build: OpenBLAS's
// configuration, the core whose kernels it picked for this CPU (or that
// OPENBLAS_CORETYPE forced) and the block factor OPENBLAS_BLOCK_FACTOR
// scales its blocking by, all of which change how a product is summed;
// then the native kernels.
func engineDetails() []string {
	blas := fmt.Sprintf("blas %s, core %s", C.GoString(C.openblas_get_config()), C.GoString(C.openblas_get_corename()))
	if f := os.Getenv("OPENBLAS_BLOCK_FACTOR"); f != "" {
		blas += ", OPENBLAS_BLOCK_FACTOR=" + f
	}
	return []string{blas, nativeLine()}
}

func init() {
	// The kernels split work over goroutines themselves; OpenBLAS threads
	// on top of that would oversubscribe the cores.
	C.openblas_set_num_threads(1)
}

// gemm computes c = alpha*op(a)*op(b) + beta*c for row-major matrices, where
// op(a) is m×k and op(b) is k×n.
func gemm[T float](ta, tb bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if pureGo {
		gonumGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	tA, tB := trans(ta), trans(tb)
	switch a := any(a).(type) {
	case []float32:
		b, c := any(b).([]float32), any(c).([]float32)
		C.cblas_sgemm(C.CblasRowMajor, tA, tB, C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
			(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda), (*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
			C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
	case []float64:
		b, c := any(b).([]float64), any(c).([]float64)
		C.cblas_dgemm(C.CblasRowMajor, tA, tB, C.blasint(m), C.blasint(n), C.blasint(k), C.double(alpha),
			(*C.double)(unsafe.Pointer(&a[0])), C.blasint(lda), (*C.double)(unsafe.Pointer(&b[0])), C.blasint(ldb),
			C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.blasint(ldc))
	}
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
