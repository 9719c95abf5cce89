package ops

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// naiveConv is the textbook definition of a 2-D convolution (cross-correlation).
func naiveConv(x, w, b *tensor.Dense, stride, pad int) []float64 {
	xs, ws := x.Shape(), w.Shape()
	n, c, h, wd, o, k := xs[0], xs[1], xs[2], xs[3], ws[0], ws[2]
	ho, wo := (h+2*pad-k)/stride+1, (wd+2*pad-k)/stride+1
	X, W := x.Data().([]float64), w.Data().([]float64)
	y := make([]float64, n*o*ho*wo)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					var s float64
					if b != nil {
						s = b.Data().([]float64)[oc]
					}
					for ci := 0; ci < c; ci++ {
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								ih, iw := oh*stride-pad+kh, ow*stride-pad+kw
								if ih >= 0 && ih < h && iw >= 0 && iw < wd {
									s += X[((i*c+ci)*h+ih)*wd+iw] * W[((oc*c+ci)*k+kh)*k+kw]
								}
							}
						}
					}
					y[((i*o+oc)*ho+oh)*wo+ow] = s
				}
			}
		}
	}
	return y
}

// naiveConvTranspose scatters every input pixel times the kernel onto the
// output, PyTorch's definition of ConvTranspose2d.
func naiveConvTranspose(x, w, b *tensor.Dense, stride, pad int) []float64 {
	xs, ws := x.Shape(), w.Shape()
	n, ci, h, wd, co, k := xs[0], xs[1], xs[2], xs[3], ws[1], ws[2]
	ho, wo := (h-1)*stride-2*pad+k, (wd-1)*stride-2*pad+k
	X, W := x.Data().([]float64), w.Data().([]float64)
	y := make([]float64, n*co*ho*wo)
	for i := 0; i < n; i++ {
		for oc := 0; oc < co; oc++ {
			for j := 0; j < ho*wo; j++ {
				if b != nil {
					y[(i*co+oc)*ho*wo+j] = b.Data().([]float64)[oc]
				}
			}
			for c := 0; c < ci; c++ {
				for ih := 0; ih < h; ih++ {
					for iw := 0; iw < wd; iw++ {
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								oh, ow := ih*stride-pad+kh, iw*stride-pad+kw
								if oh >= 0 && oh < ho && ow >= 0 && ow < wo {
									y[((i*co+oc)*ho+oh)*wo+ow] += X[((i*ci+c)*h+ih)*wd+iw] * W[((c*co+oc)*k+kh)*k+kw]
								}
							}
						}
					}
				}
			}
		}
	}
	return y
}

type convCase struct {
	name                     string
	n, c, h, o, k, stride, p int
	bias                     bool
}

var convCases = []convCase{
	{"3x3 same", 2, 3, 5, 4, 3, 1, 1, true},
	{"3x3 stride 2", 2, 3, 7, 2, 3, 2, 1, true},
	{"3x3 stride 2 even", 1, 2, 6, 3, 3, 2, 1, false},
	{"4x4 stride 2", 2, 2, 6, 3, 4, 2, 1, true},
	{"valid 2x2", 1, 2, 4, 2, 2, 1, 0, false},
}

func convBuilder(stride, pad int) builder {
	return func(in []*G.Node) (*G.Node, error) { return Conv2d(in[0], in[1], in[2], stride, pad) }
}

func TestConv2dMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			x, w := randTensor(rng, tc.n, tc.c, tc.h, tc.h), randTensor(rng, tc.o, tc.c, tc.k, tc.k)
			var b, b32 *tensor.Dense
			if tc.bias {
				b = randTensor(rng, tc.o)
				b32 = to32(b)
			}
			want := naiveConv(x, w, b, tc.stride, tc.p)
			closeTo(t, "float64", runGraph(t, convBuilder(tc.stride, tc.p), []*tensor.Dense{x, w, b}), want, 1e-12)
			closeTo(t, "float32", runGraph(t, convBuilder(tc.stride, tc.p), []*tensor.Dense{to32(x), to32(w), b32}), want, 1e-5)
		})
	}
}

func TestConv2dGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []*tensor.Dense{randTensor(rng, tc.n, tc.c, tc.h, tc.h), randTensor(rng, tc.o, tc.c, tc.k, tc.k), nil}
			if tc.bias {
				in[2] = randTensor(rng, tc.o)
			}
			checkGrad(t, convBuilder(tc.stride, tc.p), in, 1e-6)
		})
	}
}

var convTCases = []convCase{
	{"up 4x4 stride 2", 2, 3, 4, 2, 4, 2, 1, true},
	{"unflatten 7x7 stride 7", 2, 3, 1, 3, 7, 7, 0, true},
	{"3x3 stride 1", 1, 2, 3, 3, 3, 1, 1, false},
	{"3x3 stride 2 no pad", 2, 2, 3, 2, 3, 2, 0, true},
}

func convTBuilder(stride, pad int) builder {
	return func(in []*G.Node) (*G.Node, error) { return ConvTranspose2d(in[0], in[1], in[2], stride, pad) }
}

func TestConvTranspose2dMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range convTCases {
		t.Run(tc.name, func(t *testing.T) {
			x, w := randTensor(rng, tc.n, tc.c, tc.h, tc.h), randTensor(rng, tc.c, tc.o, tc.k, tc.k)
			var b, b32 *tensor.Dense
			if tc.bias {
				b = randTensor(rng, tc.o)
				b32 = to32(b)
			}
			want := naiveConvTranspose(x, w, b, tc.stride, tc.p)
			closeTo(t, "float64", runGraph(t, convTBuilder(tc.stride, tc.p), []*tensor.Dense{x, w, b}), want, 1e-12)
			closeTo(t, "float32", runGraph(t, convTBuilder(tc.stride, tc.p), []*tensor.Dense{to32(x), to32(w), b32}), want, 1e-5)
		})
	}
}

func TestConvTranspose2dGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range convTCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []*tensor.Dense{randTensor(rng, tc.n, tc.c, tc.h, tc.h), randTensor(rng, tc.c, tc.o, tc.k, tc.k), nil}
			if tc.bias {
				in[2] = randTensor(rng, tc.o)
			}
			checkGrad(t, convTBuilder(tc.stride, tc.p), in, 1e-6)
		})
	}
}

func TestConvRejectsBadShapes(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 3, 5, 5), G.WithName("x"))
	w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 2, 3, 3), G.WithName("w"))
	if _, err := Conv2d(x, w, nil, 1, 1); err == nil {
		t.Fatal("Conv2d accepted 3 input channels for a 2-channel kernel")
	}
	if _, err := ConvTranspose2d(x, w, nil, 2, 1); err == nil {
		t.Fatal("ConvTranspose2d accepted 3 input channels for a 4-channel kernel")
	}
	w3 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 3, 3, 3), G.WithName("w3"))
	if _, err := Conv2d(x, w3, nil, 0, 1); err == nil {
		t.Fatal("Conv2d accepted stride 0")
	}
}
