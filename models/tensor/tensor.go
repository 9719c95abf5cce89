// Package tensor holds difflab's plain numeric array: a dense float32 tensor
// and its NPY encoding. It imports nothing from difflab, so that model code
// and stage code share one type without depending on each other.
package tensor

// Tensor is a dense float32 array in row-major (C) order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Count(shape))}
}
