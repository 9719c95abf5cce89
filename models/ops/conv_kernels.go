package ops

// geom is the geometry of a 2-D convolution: input (n, c, h, w), weights
// (o, c, k, k), output (n, o, ho, wo), stride s and zero padding p.
type geom struct{ n, c, h, w, o, k, s, p, ho, wo int }

// ckk is the length of one im2col column.
func (g geom) ckk() int { return g.c * g.k * g.k }

// ceilDiv is ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -((-a) / b)
	}
	return (a + b - 1) / b
}

// validCols returns the range [lo, hi) of output columns ow whose input column
// ow*s+off lies inside [0, w).
func validCols(wo, s, off, w int) (lo, hi int) {
	lo = max(0, ceilDiv(-off, s))
	hi = min(wo, ceilDiv(w-off, s))
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// im2col unfolds one image x (c, h, w) into col (c*k*k, ho*wo).
func im2col[T float](g geom, x, col []T) {
	if x32, ok := any(x).([]float32); ok && useNative() {
		nativeIm2col(g, x32, any(col).([]float32))
		return
	}
	hw := g.ho * g.wo
	for ci := 0; ci < g.c; ci++ {
		xc := x[ci*g.h*g.w : (ci+1)*g.h*g.w]
		for kh := 0; kh < g.k; kh++ {
			for kw := 0; kw < g.k; kw++ {
				row := col[((ci*g.k+kh)*g.k+kw)*hw:][:hw]
				off := kw - g.p
				lo, hi := validCols(g.wo, g.s, off, g.w)
				for oh := 0; oh < g.ho; oh++ {
					dst := row[oh*g.wo : (oh+1)*g.wo]
					ih := oh*g.s - g.p + kh
					if ih < 0 || ih >= g.h {
						clear(dst)
						continue
					}
					src := xc[ih*g.w : (ih+1)*g.w]
					clear(dst[:lo])
					clear(dst[hi:])
					if g.s == 1 {
						copy(dst[lo:hi], src[lo+off:])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow] = src[ow*g.s+off]
					}
				}
			}
		}
	}
}

// col2im folds col (c*k*k, ho*wo) back onto one image x (c, h, w), adding
// every column entry to the input pixel it was read from. x must be zeroed.
func col2im[T float](g geom, col, x []T) {
	if c32, ok := any(col).([]float32); ok && useNative() {
		nativeCol2im(g, c32, any(x).([]float32))
		return
	}
	hw := g.ho * g.wo
	for ci := 0; ci < g.c; ci++ {
		xc := x[ci*g.h*g.w : (ci+1)*g.h*g.w]
		for kh := 0; kh < g.k; kh++ {
			for kw := 0; kw < g.k; kw++ {
				row := col[((ci*g.k+kh)*g.k+kw)*hw:][:hw]
				off := kw - g.p
				lo, hi := validCols(g.wo, g.s, off, g.w)
				for oh := 0; oh < g.ho; oh++ {
					ih := oh*g.s - g.p + kh
					if ih < 0 || ih >= g.h {
						continue
					}
					src := row[oh*g.wo : (oh+1)*g.wo]
					dst := xc[ih*g.w : (ih+1)*g.w]
					if g.s == 1 {
						d := dst[lo+off : hi+off]
						for i, v := range src[lo:hi] {
							d[i] += v
						}
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow*g.s+off] += src[ow]
					}
				}
			}
		}
	}
}

// convForward computes y = conv(x, w) + b; b may be nil.
func convForward[T float](g geom, x, w, b, y []T) {
	in, out, hw := g.c*g.h*g.w, g.o*g.ho*g.wo, g.ho*g.wo
	parallel(g.n, func(lo, hi int) {
		sb := getScratch()
		defer putScratch(sb)
		col := take[T](sb, g.ckk()*hw)
		for i := lo; i < hi; i++ {
			yi := y[i*out : (i+1)*out]
			im2col(g, x[i*in:(i+1)*in], col)
			gemm(false, false, g.o, hw, g.ckk(), 1, w, g.ckk(), col, hw, 0, yi, hw)
			if b != nil {
				for o := 0; o < g.o; o++ {
					bo := b[o]
					for j := range yi[o*hw : (o+1)*hw] {
						yi[o*hw+j] += bo
					}
				}
			}
		}
	})
}

// convBackData computes dx = ∂conv(x, w)/∂x applied to dy, which is also the
// transposed convolution of dy with w, plus b (nil for none) per channel of dx.
func convBackData[T float](g geom, dy, w, b, dx []T) {
	in, out, hw := g.c*g.h*g.w, g.o*g.ho*g.wo, g.ho*g.wo
	parallel(g.n, func(lo, hi int) {
		sb := getScratch()
		defer putScratch(sb)
		col := take[T](sb, g.ckk()*hw)
		for i := lo; i < hi; i++ {
			dxi := dx[i*in : (i+1)*in]
			gemm(true, false, g.ckk(), hw, g.o, 1, w, g.ckk(), dy[i*out:(i+1)*out], hw, 0, col, hw)
			if b == nil {
				clear(dxi)
			} else {
				plane := g.h * g.w
				for c := 0; c < g.c; c++ {
					bc := b[c]
					p := dxi[c*plane : (c+1)*plane]
					for j := range p {
						p[j] = bc
					}
				}
			}
			col2im(g, col, dxi)
		}
	})
}

// convBackWeight computes dw = ∂conv(x, w)/∂w applied to dy: the sum over
// the samples of dy_i·col_iᵀ, taken over fixed chunks of samples
// (weightChunk) whose sums are added in order, so that dw does not depend
// on the number of workers.
func convBackWeight[T float](g geom, x, dy, dw []T) {
	in, out, hw := g.c*g.h*g.w, g.o*g.ho*g.wo, g.ho*g.wo
	sumChunks(g.n, g.weightChunk(), dw, func(lo, hi int, acc []T) {
		sb := getScratch()
		defer putScratch(sb)
		col := take[T](sb, g.ckk()*hw)
		for i := lo; i < hi; i++ {
			beta := T(1)
			if i == lo {
				beta = 0
			}
			im2col(g, x[i*in:(i+1)*in], col)
			gemm(false, true, g.o, g.ckk(), hw, 1, dy[i*out:(i+1)*out], hw, col, hw, beta, acc, g.ckk())
		}
	})
}

// weightChunk is the number of samples whose weight gradients convBackWeight
// sums in one chunk: enough that a chunk's products (ho·wo per weight and
// sample, 2048 or more per chunk) far outweigh adding its sum to the
// others, at most a sixteenth of the batch so that up to sixteen workers
// share the chunks. It depends on the geometry only.
func (g geom) weightChunk() int {
	return max(1, min(ceilDiv(2048, g.ho*g.wo), g.n/16))
}

// channelSums sets s[c] to the sum of x (n, c, plane) over n and plane.
func channelSums[T float](x []T, n, c, plane int, s []T) {
	parallel(c, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			var acc float64
			for i := 0; i < n; i++ {
				for _, v := range x[(i*c+ci)*plane : (i*c+ci+1)*plane] {
					acc += float64(v)
				}
			}
			s[ci] = T(acc)
		}
	})
}
