package onnxexport_test

import (
	"math"

	"difflab/models/modelfile"
	"difflab/models/tensor"
)

// Naive float64 reference implementations of the UNet's layers, written from
// the PyTorch definitions, used to check the exported graphs.

type tensor4 struct {
	n, c, h, w int
	d          []float64
}

func newT4(n, c, h, w int) *tensor4 { return &tensor4{n, c, h, w, make([]float64, n*c*h*w)} }

func (t *tensor4) at(n, c, y, x int) *float64 { return &t.d[((n*t.c+c)*t.h+y)*t.w+x] }

func fromF32(n, c, h, w int, d []float32) *tensor4 {
	t := newT4(n, c, h, w)
	for i, v := range d {
		t.d[i] = float64(v)
	}
	return t
}

// conv2d: w is (O, C, k, k).
func conv2d(x *tensor4, w, b []float32, out, k, stride, pad int) *tensor4 {
	oh := (x.h+2*pad-k)/stride + 1
	ow := (x.w+2*pad-k)/stride + 1
	y := newT4(x.n, out, oh, ow)
	for n := 0; n < x.n; n++ {
		for o := 0; o < out; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					s := float64(b[o])
					for c := 0; c < x.c; c++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								yy, xx := i*stride-pad+ky, j*stride-pad+kx
								if yy < 0 || yy >= x.h || xx < 0 || xx >= x.w {
									continue
								}
								s += *x.at(n, c, yy, xx) * float64(w[((o*x.c+c)*k+ky)*k+kx])
							}
						}
					}
					*y.at(n, o, i, j) = s
				}
			}
		}
	}
	return y
}

// convT2d: w is (C, O, k, k); every input pixel scatters a k x k patch.
func convT2d(x *tensor4, w, b []float32, out, k, stride, pad int) *tensor4 {
	oh := (x.h-1)*stride - 2*pad + k
	ow := (x.w-1)*stride - 2*pad + k
	y := newT4(x.n, out, oh, ow)
	for n := 0; n < x.n; n++ {
		for o := 0; o < out; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					*y.at(n, o, i, j) = float64(b[o])
				}
			}
		}
		for c := 0; c < x.c; c++ {
			for i := 0; i < x.h; i++ {
				for j := 0; j < x.w; j++ {
					v := *x.at(n, c, i, j)
					for o := 0; o < out; o++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								yy, xx := i*stride-pad+ky, j*stride-pad+kx
								if yy < 0 || yy >= oh || xx < 0 || xx >= ow {
									continue
								}
								*y.at(n, o, yy, xx) += v * float64(w[((c*out+o)*k+ky)*k+kx])
							}
						}
					}
				}
			}
		}
	}
	return y
}

func batchNorm(x *tensor4, gamma, beta, mean, variance []float32) *tensor4 {
	y := newT4(x.n, x.c, x.h, x.w)
	for n := 0; n < x.n; n++ {
		for c := 0; c < x.c; c++ {
			s := float64(gamma[c]) / math.Sqrt(float64(variance[c])+1e-5)
			for i := 0; i < x.h; i++ {
				for j := 0; j < x.w; j++ {
					*y.at(n, c, i, j) = (*x.at(n, c, i, j)-float64(mean[c]))*s + float64(beta[c])
				}
			}
		}
	}
	return y
}

func gelu(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }

func geluT(x *tensor4) *tensor4 {
	y := newT4(x.n, x.c, x.h, x.w)
	for i, v := range x.d {
		y.d[i] = gelu(v)
	}
	return y
}

func concat(a, b *tensor4) *tensor4 {
	y := newT4(a.n, a.c+b.c, a.h, a.w)
	for n := 0; n < a.n; n++ {
		copy(y.d[n*y.c*y.h*y.w:], a.d[n*a.c*a.h*a.w:(n+1)*a.c*a.h*a.w])
		copy(y.d[n*y.c*y.h*y.w+a.c*a.h*a.w:], b.d[n*b.c*b.h*b.w:(n+1)*b.c*b.h*b.w])
	}
	return y
}

// linear: x (B, in), w (out, in).
func linear(x [][]float64, w, b []float32, out int) [][]float64 {
	y := make([][]float64, len(x))
	for n, row := range x {
		y[n] = make([]float64, out)
		for o := 0; o < out; o++ {
			s := float64(b[o])
			for i, v := range row {
				s += v * float64(w[o*len(row)+i])
			}
			y[n][o] = s
		}
	}
	return y
}

// refUNet runs the UNet of spec on x (and t, c) with the layers above.
func refUNet(spec modelfile.UNet, w map[string]*tensor.Tensor, B int, x, t, c []float32) []float64 {
	D, C, S := spec.Hidden, spec.Channels, spec.Size
	p := func(n string) []float32 { return w[n].Data }
	conv := func(prefix string, x *tensor4, out, stride int) *tensor4 {
		y := conv2d(x, p(prefix+".0.weight"), p(prefix+".0.bias"), out, 3, stride, 1)
		return geluT(batchNorm(y, p(prefix+".1.weight"), p(prefix+".1.bias"), p(prefix+".1.running_mean"), p(prefix+".1.running_var")))
	}
	block := func(prefix string, x *tensor4, out int) *tensor4 {
		return conv(prefix+".1", conv(prefix+".0", x, out, 1), out, 1)
	}
	up := func(prefix string, x *tensor4, out int) *tensor4 {
		y := convT2d(x, p(prefix+".0.0.weight"), p(prefix+".0.0.bias"), out, 4, 2, 1)
		y = geluT(batchNorm(y, p(prefix+".0.1.weight"), p(prefix+".0.1.bias"), p(prefix+".0.1.running_mean"), p(prefix+".0.1.running_var")))
		return block(prefix+".1", y, out)
	}
	fc := func(prefix string, in []float32, nin, out int) [][]float64 {
		rows := make([][]float64, B)
		for n := range rows {
			rows[n] = make([]float64, nin)
			for i := range rows[n] {
				rows[n][i] = float64(in[n*nin+i])
			}
		}
		h := linear(rows, p(prefix+".0.weight"), p(prefix+".0.bias"), out)
		for _, r := range h {
			for i := range r {
				r[i] = gelu(r[i])
			}
		}
		return linear(h, p(prefix+".2.weight"), p(prefix+".2.bias"), out)
	}
	modulate := func(u *tensor4, scale, shift [][]float64) {
		for n := 0; n < u.n; n++ {
			for ch := 0; ch < u.c; ch++ {
				for i := 0; i < u.h*u.w; i++ {
					v := &u.d[(n*u.c+ch)*u.h*u.w+i]
					if scale != nil {
						*v *= scale[n][ch]
					}
					if shift != nil {
						*v += shift[n][ch]
					}
				}
			}
		}
	}
	e1 := block("c0", fromF32(B, C, S, S, x), D)
	e2 := block("d1.1", conv("d1.0", e1, D, 2), D)
	e3 := block("d2.1", conv("d2.0", e2, 2*D, 2), 2*D)
	f := newT4(B, 2*D, 1, 1)
	for n := 0; n < B; n++ {
		for ch := 0; ch < 2*D; ch++ {
			s := 0.0
			for i := 0; i < e3.h*e3.w; i++ {
				s += e3.d[(n*e3.c+ch)*e3.h*e3.w+i]
			}
			f.d[n*2*D+ch] = gelu(s / float64(e3.h*e3.w))
		}
	}
	u := convT2d(f, p("un.0.weight"), p("un.0.bias"), 2*D, S/4, S/4, 0)
	u = geluT(batchNorm(u, p("un.1.weight"), p("un.1.bias"), p("un.1.running_mean"), p("un.1.running_var")))
	switch spec.Cond {
	case "time":
		modulate(u, fc("fc1_t", t, 1, 2*D), nil)
	case "time_class":
		modulate(u, fc("fc1_c", c, spec.Classes, 2*D), fc("fc1_t", t, 1, 2*D))
	}
	u = up("u1", concat(e3, u), D)
	switch spec.Cond {
	case "time":
		modulate(u, fc("fc2_t", t, 1, D), nil)
	case "time_class":
		modulate(u, fc("fc2_c", c, spec.Classes, D), fc("fc2_t", t, 1, D))
	}
	u = up("u2", concat(e2, u), D)
	u = block("c1", concat(e1, u), D)
	return conv2d(u, p("out.weight"), p("out.bias"), C, 3, 1, 1).d
}
