package ops

import (
	"runtime"
	"sync"
)

// workers is the number of goroutines a kernel splits its work over.
func workers(n int) int {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w < 1 {
		w = 1
	}
	return w
}

// parallel runs f(worker, lo, hi) over [0, n) split into contiguous chunks,
// one per worker, and waits for all of them.
func parallel(n int, f func(worker, lo, hi int)) {
	w := workers(n)
	if w == 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			f(i, lo, hi)
		}(i, lo, hi)
	}
	wg.Wait()
}

// scratch is a free list of temporary buffers shared by all operations. The
// kernels take one buffer per worker and give it back when done, so the list
// holds about as many buffers as there are workers.
var scratch struct {
	sync.Mutex
	free []*buffer
}

func getScratch() *buffer {
	scratch.Lock()
	defer scratch.Unlock()
	if n := len(scratch.free); n > 0 {
		b := scratch.free[n-1]
		scratch.free = scratch.free[:n-1]
		return b
	}
	return new(buffer)
}

func putScratch(b *buffer) {
	scratch.Lock()
	scratch.free = append(scratch.free, b)
	scratch.Unlock()
}
