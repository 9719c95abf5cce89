//go:build !openblas

package ops

// nativeKernels reports whether the float32 batch-norm, GELU, im2col and
// col2im kernels run as C compiled for the machine's vector units (build tag
// openblas).
const nativeKernels = false

// The native kernels exist only with the build tag openblas; these are
// never called.
func nativeStats([]float32, int, int, int) (float64, float64) { panic("ops: no native kernels") }

func nativeAffine([]float32, []float32, int, int, int, float32, float32, bool) {
	panic("ops: no native kernels")
}

func nativeBackward([]float32, []float32, []float32, int, int, int, float32, float32, float32, float32, bool, bool, float64) (float64, float64) {
	panic("ops: no native kernels")
}

func nativeIm2col(geom, []float32, []float32) { panic("ops: no native kernels") }

func nativeCol2im(geom, []float32, []float32) { panic("ops: no native kernels") }
