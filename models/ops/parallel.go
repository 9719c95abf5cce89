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

// parallel runs f(lo, hi) over [0, n) split into contiguous chunks, one per
// worker, and waits for all of them. The split follows GOMAXPROCS, so f must
// compute each index on its own: no sum may run across indices.
func parallel(n int, f func(lo, hi int)) {
	w := workers(n)
	if w == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// sumChunks sets dst to the sum over [0, n) of what f adds up, computed in
// chunks of size indices (the last may be shorter): f(lo, hi, acc) sets acc
// to the sum over [lo, hi). The chunks depend on n and size only, and their
// sums are added to dst in chunk order (dst = ((s0 + s1) + s2) + ...), so
// the result has the same bits whatever the number of workers. The first
// chunk's sum goes straight into dst; the others use scratch buffers, at
// most twice as many at a time as there are workers. n == 0 clears dst.
func sumChunks[T float](n, size int, dst []T, f func(lo, hi int, acc []T)) {
	chunks := ceilDiv(n, size)
	span := func(c int) (lo, hi int) { return c * size, min(n, (c+1)*size) }
	if chunks == 0 {
		clear(dst)
		return
	}
	w := workers(chunks)
	if w == 1 {
		lo, hi := span(0)
		f(lo, hi, dst)
		b := getScratch()
		defer putScratch(b)
		p := take[T](b, len(dst))
		for c := 1; c < chunks; c++ {
			lo, hi := span(c)
			f(lo, hi, p)
			addTo(dst, p)
		}
		return
	}
	s := &chunkSums[T]{dst: dst, ahead: 2 * w, ready: make([]*buffer, chunks), done: make([]bool, chunks)}
	s.cond.L = &s.mu
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, ok := s.claim(chunks)
				if !ok {
					return
				}
				lo, hi := span(c)
				if c == 0 {
					f(lo, hi, dst)
					s.finish(0, nil)
					continue
				}
				b := getScratch()
				f(lo, hi, take[T](b, len(dst)))
				s.finish(c, b)
			}
		}()
	}
	wg.Wait()
}

// chunkSums is the shared state of a parallel sumChunks: which chunk comes
// next, which are computed, and how far dst has summed them.
type chunkSums[T float] struct {
	dst   []T
	ahead int // most chunks claimed but not yet added to dst

	mu     sync.Mutex
	cond   sync.Cond // signalled when added grows
	next   int       // the next chunk to claim
	added  int       // chunks [0, added) are summed in dst
	adding bool      // a worker is adding chunks to dst
	ready  []*buffer // computed sums of chunks not yet added
	done   []bool    // whether chunk c is computed
}

// claim returns the next chunk to compute, waiting while ahead chunks are
// claimed but not yet added to dst; ok is false when every chunk is
// claimed.
func (s *chunkSums[T]) claim(chunks int) (c int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.next < chunks && s.next-s.added >= s.ahead {
		s.cond.Wait()
	}
	if s.next >= chunks {
		return 0, false
	}
	s.next++
	return s.next - 1, true
}

// finish records chunk c's sum in b (nil for chunk 0, summed in dst) and,
// unless another worker is at it, adds every chunk that is next in order to
// dst, outside the lock.
func (s *chunkSums[T]) finish(c int, b *buffer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready[c], s.done[c] = b, true
	if s.adding {
		return
	}
	s.adding = true
	for s.added < len(s.done) && s.done[s.added] {
		b := s.ready[s.added]
		s.ready[s.added] = nil
		if b != nil {
			s.mu.Unlock()
			addTo(s.dst, take[T](b, len(s.dst)))
			putScratch(b)
			s.mu.Lock()
		}
		s.added++
		s.cond.Broadcast()
	}
	s.adding = false
}

// addTo adds src to dst elementwise.
func addTo[T float](dst, src []T) {
	for i, v := range src {
		dst[i] += v
	}
}

// scratch is a free list of temporary buffers shared by all operations. The
// kernels take a few buffers per worker and give them back when done, so the
// list holds a few times as many buffers as there are workers.
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
