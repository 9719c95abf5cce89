package ops

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// benchGraph builds a float32 graph through build, with gradients of
// Σ out·R for every input, and times one forward+backward run per
// iteration. The shapes are those of the UNet's full-resolution layers at
// batch 32, D = 64.
func benchGraph(b *testing.B, shapes [][]int, build func(in []*G.Node) (*G.Node, error)) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	var in []*G.Node
	for i, s := range shapes {
		in = append(in, G.NodeFromAny(g, to32(randTensor(rng, s...)), G.WithName(string(rune('a'+i)))))
	}
	out, err := build(in)
	if err != nil {
		b.Fatal(err)
	}
	seed := G.NodeFromAny(g, to32(randTensor(rng, out.Shape()...)), G.WithName("seed"))
	if _, err := G.Backpropagate(G.Nodes{out}, G.Nodes{seed}, in); err != nil {
		b.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConv2d3x3(b *testing.B) {
	benchGraph(b, [][]int{{32, 64, 28, 28}, {64, 64, 3, 3}, {64}}, func(in []*G.Node) (*G.Node, error) {
		return Conv2d(in[0], in[1], in[2], 1, 1)
	})
}

func BenchmarkConvTranspose2d4x4(b *testing.B) {
	benchGraph(b, [][]int{{32, 128, 14, 14}, {128, 64, 4, 4}, {64}}, func(in []*G.Node) (*G.Node, error) {
		return ConvTranspose2d(in[0], in[1], in[2], 2, 1)
	})
}

func BenchmarkBatchNormGELU(b *testing.B) {
	st := NewBNStats(64)
	benchGraph(b, [][]int{{32, 64, 28, 28}, {64}, {64}}, func(in []*G.Node) (*G.Node, error) {
		return BatchNormGELU(in[0], in[1], in[2], st, true)
	})
}

func BenchmarkGELU(b *testing.B) {
	benchGraph(b, [][]int{{32, 64, 28, 28}}, func(in []*G.Node) (*G.Node, error) { return GELU(in[0]) })
}

func BenchmarkConcatChannels(b *testing.B) {
	benchGraph(b, [][]int{{32, 64, 28, 28}, {32, 64, 28, 28}}, func(in []*G.Node) (*G.Node, error) {
		return ConcatChannels(in[0], in[1])
	})
}

func BenchmarkScaleShift(b *testing.B) {
	benchGraph(b, [][]int{{32, 128, 7, 7}, {32, 128}, {32, 128}}, func(in []*G.Node) (*G.Node, error) {
		return ScaleShift(in[0], in[1], in[2])
	})
}
