//go:build openblas

package ops

/*
#cgo CFLAGS: -O3 -fopenmp-simd
#include "native.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// nativeKernels reports whether the float32 batch-norm, GELU, im2col and
// col2im kernels run as C compiled for the machine's vector units (build tag
// openblas).
const nativeKernels = true

// nativeLine describes the native kernels for EngineLines: the compiler
// that built them, the flags the build added (CGO_CFLAGS) and the clone
// this CPU runs, which decides the order of their vectorised sums.
func nativeLine() string {
	cc := C.GoString(C.native_compiler())
	if f := buildSetting("CGO_CFLAGS"); f != "" {
		cc += " CGO_CFLAGS=" + f
	}
	return fmt.Sprintf("native kernels %s, %s clone", cc, C.GoString(C.native_clone()))
}

func nativeStats(x []float32, n, stride, plane int) (mean, variance float64) {
	var m, v C.double
	C.bn_stats((*C.float)(unsafe.Pointer(&x[0])), C.long(n), C.long(stride), C.long(plane), &m, &v)
	return float64(m), float64(v)
}

func nativeAffine(x, y []float32, n, stride, plane int, a, b float32, withGELU bool) {
	C.bn_affine((*C.float)(unsafe.Pointer(&x[0])), (*C.float)(unsafe.Pointer(&y[0])), C.long(n), C.long(stride),
		C.long(plane), C.float(a), C.float(b), cbool(withGELU))
}

func nativeBackward(x, dy, dx []float32, n, stride, plane int, mean, inv, gm, bt float32, withGELU, training bool, cnt float64) (sg, sgx float64) {
	var s, sx C.double
	C.bn_backward((*C.float)(unsafe.Pointer(&x[0])), (*C.float)(unsafe.Pointer(&dy[0])), (*C.float)(unsafe.Pointer(&dx[0])),
		C.long(n), C.long(stride), C.long(plane), C.float(mean), C.float(inv), C.float(gm), C.float(bt),
		cbool(withGELU), cbool(training), C.double(cnt), &s, &sx)
	return float64(s), float64(sx)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func nativeIm2col(g geom, x, col []float32) {
	C.im2col_f((*C.float)(unsafe.Pointer(&x[0])), (*C.float)(unsafe.Pointer(&col[0])), C.long(g.c), C.long(g.h),
		C.long(g.w), C.long(g.k), C.long(g.s), C.long(g.p), C.long(g.ho), C.long(g.wo))
}

func nativeCol2im(g geom, col, x []float32) {
	C.col2im_f((*C.float)(unsafe.Pointer(&col[0])), (*C.float)(unsafe.Pointer(&x[0])), C.long(g.c), C.long(g.h),
		C.long(g.w), C.long(g.k), C.long(g.s), C.long(g.p), C.long(g.ho), C.long(g.wo))
}
