package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestResultsIndependentOfWorkers computes every operation's float32 output
// gradients with 1 to 8 workers and wants the same bits each time, on the
// native kernels and on the pure-Go ones. The batches of 13 and 40 samples
// split unevenly over any of these worker counts.
func TestResultsIndependentOfWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(41, 42))
	st := NewBNStats(6)
	cases := []struct {
		name   string
		build  builder
		inputs []*tensor.Dense
	}{
		{"Conv2d", convBuilder(1, 1), []*tensor.Dense{randTensor(rng, 13, 6, 9, 9), randTensor(rng, 5, 6, 3, 3), randTensor(rng, 5)}},
		{"Conv2d/batch40", convBuilder(2, 1), []*tensor.Dense{randTensor(rng, 40, 3, 8, 8), randTensor(rng, 4, 3, 3, 3), randTensor(rng, 4)}},
		{"ConvTranspose2d", convTBuilder(2, 1), []*tensor.Dense{randTensor(rng, 13, 6, 5, 5), randTensor(rng, 6, 4, 4, 4), randTensor(rng, 4)}},
		{"ConvTranspose2d/unflatten", convTBuilder(7, 0), []*tensor.Dense{randTensor(rng, 13, 6, 1, 1), randTensor(rng, 6, 6, 7, 7), randTensor(rng, 6)}},
		{"BatchNormGELU", bnBuilder(st, true, true), []*tensor.Dense{randTensor(rng, 13, 6, 5, 5), randTensor(rng, 6), randTensor(rng, 6)}},
		{"Linear", func(n []*G.Node) (*G.Node, error) { return Linear(n[0], n[1], n[2]) },
			[]*tensor.Dense{randTensor(rng, 13, 7), randTensor(rng, 5, 7), randTensor(rng, 5)}},
		// Products of at least 2x2 blocks of 64 are where gonum's sgemm goes parallel.
		{"Linear/large", func(n []*G.Node) (*G.Node, error) { return Linear(n[0], n[1], n[2]) },
			[]*tensor.Dense{randTensor(rng, 150, 140), randTensor(rng, 130, 140), randTensor(rng, 130)}},
		{"ScaleShift", func(n []*G.Node) (*G.Node, error) { return ScaleShift(n[0], n[1], n[2]) },
			[]*tensor.Dense{randTensor(rng, 13, 6, 4, 4), randTensor(rng, 13, 6), randTensor(rng, 13, 6)}},
		{"ConcatChannels", func(n []*G.Node) (*G.Node, error) { return ConcatChannels(n[0], n[1]) },
			[]*tensor.Dense{randTensor(rng, 13, 2, 4, 4), randTensor(rng, 13, 3, 4, 4)}},
		{"GlobalAvgPool+GELU", func(n []*G.Node) (*G.Node, error) {
			p, err := GlobalAvgPool(n[0])
			if err != nil {
				return nil, err
			}
			return GELU(p)
		}, []*tensor.Dense{randTensor(rng, 13, 6, 7, 7)}},
	}
	engines := []bool{false}
	if nativeKernels {
		engines = append(engines, true)
	}
	for _, pure := range engines {
		pureGo = pure
		for _, c := range cases {
			in := make([]*tensor.Dense, len(c.inputs))
			for i, x := range c.inputs {
				in[i] = to32(x)
			}
			var seed *tensor.Dense
			var want [][]float64
			for _, w := range []int{1, 2, 3, 4, 8} {
				runtime.GOMAXPROCS(w)
				if seed == nil {
					seed = to32(randTensor(rng, outShape(t, c.build, in)...))
				}
				got := gradients(t, c.build, in, seed)
				if want == nil {
					want = got
					continue
				}
				for i := range want {
					if j := firstDiff(got[i], want[i]); j >= 0 {
						t.Errorf("%s (%s): gradient %d element %d is %v with %d workers, %v with 1",
							c.name, kernels(), i, j, got[i][j], w, want[i][j])
					}
				}
			}
		}
	}
	pureGo = false
}

// kernels names the kernels in use: the native ones or the pure-Go ones.
func kernels() string {
	if useNative() {
		return "native kernels"
	}
	return "pure-Go kernels"
}

// outShape returns the shape of the node build makes from inputs.
func outShape(t *testing.T, build builder, inputs []*tensor.Dense) []int {
	t.Helper()
	g := G.NewGraph()
	nodes := make([]*G.Node, len(inputs))
	for i, in := range inputs {
		nodes[i] = G.NodeFromAny(g, in, G.WithName(fmt.Sprint("in", i)))
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return out.Shape().Clone()
}

// firstDiff returns the first index where a and b differ in their bits, or
// -1.
func firstDiff(a, b []float64) int {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestSumChunks checks sumChunks against the sum of the chunks taken in
// order, with any number of workers, and the bound on the chunks computed
// ahead of the first while it is slow.
func TestSumChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(5, 6))
	const n, size, dim = 37, 4, 3
	vals := make([]float32, n*dim)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(6))))
	}
	sum := func(lo, hi int, acc []float32) {
		clear(acc)
		for i := lo; i < hi; i++ {
			addTo(acc, vals[i*dim:(i+1)*dim])
		}
	}
	want := make([]float32, dim)
	part := make([]float32, dim)
	for lo := 0; lo < n; lo += size {
		sum(lo, min(n, lo+size), part)
		addTo(want, part)
	}
	for _, w := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(w)
		got := make([]float32, dim)
		sumChunks(n, size, got, sum)
		for j := range want {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Errorf("%d workers: element %d is %v, want %v", w, j, got[j], want[j])
			}
		}

		// While the first chunk waits, the others may run at most 2w chunks ahead.
		release := make(chan struct{})
		var mu sync.Mutex
		started := 0
		go func() {
			time.Sleep(20 * time.Millisecond)
			close(release)
		}()
		var early int
		sumChunks(n, size, got, func(lo, hi int, acc []float32) {
			if lo == 0 {
				<-release
				mu.Lock()
				early = started
				mu.Unlock()
			} else {
				mu.Lock()
				started++
				mu.Unlock()
			}
			sum(lo, hi, acc)
		})
		ahead := 2 * min(w, 10) // of the 10 chunks
		if w > 1 && early > ahead-1 {
			t.Errorf("%d workers: %d chunks started before the first finished, want at most %d", w, early, ahead-1)
		}
	}
	dst := []float32{1, 2}
	sumChunks(0, size, dst, sum)
	if dst[0] != 0 || dst[1] != 0 {
		t.Errorf("no chunks: dst = %v, want zeros", dst)
	}
}
