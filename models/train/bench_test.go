package train

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"difflab/models/unet"
)

// cpuSeconds is the CPU time (user and system) this process has used.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}

// BenchmarkStep measures one training step (forward, backward, Adam) of
// the class-conditioned 28 x 28 UNet at several widths, batch 64; the
// images/s metric sizes the quick profile's training stages.
func BenchmarkStep(b *testing.B) {
	for _, D := range []int{16, 32, 64} {
		b.Run(fmt.Sprintf("D=%d", D), func(b *testing.B) {
			const B = 64
			opt := Options{Net: unet.Config{Cond: unet.TimeClass, Hidden: D, Channels: 1, Classes: 10, Size: 28},
				Epochs: 1, Batch: B, LR: 1e-3}
			w, _ := unet.Init(opt.Net, 1)
			tr, err := newTrainer(opt, &Checkpoint{Weights: w})
			if err != nil {
				b.Fatal(err)
			}
			data := &Dataset{N: B, Per: 784, Images: make([]float32, B*784), Labels: make([]int64, B)}
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range data.Images {
				data.Images[i] = rng.Float32()
			}
			task := Flow{Classes: 10, PUncond: 0.1}
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.fill(rng, data, task, rng.Perm(B))
				if _, err := tr.step(1e-3); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "img/s")
			// On a shared machine the CPU time is the steadier measure.
			b.ReportMetric(float64(B*b.N)/(cpuSeconds()-cpu0), "img/cpu-s")
		})
	}
}
