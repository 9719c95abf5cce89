package ops

import "math"

// ClipGlobalNorm computes the Euclidean norm of all gradients taken together
// and, when it exceeds maxNorm, scales every gradient in place by
// maxNorm/norm, as torch.nn.utils.clip_grad_norm_ does. It returns the norm
// before clipping. A maxNorm <= 0 only measures.
func ClipGlobalNorm(grads [][]float32, maxNorm float64) (norm float64) {
	var ss float64
	for _, g := range grads {
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
	}
	norm = math.Sqrt(ss)
	if maxNorm <= 0 || norm <= maxNorm {
		return norm
	}
	f := float32(maxNorm / (norm + 1e-6))
	for _, g := range grads {
		for i := range g {
			g[i] *= f
		}
	}
	return norm
}
