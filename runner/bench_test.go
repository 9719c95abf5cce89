package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"difflab/runner/cache"
	"difflab/stages"
)

// BenchmarkRerunCached measures a run of 200 nodes that are all cached
// (keys, entry checks and up-to-date results folders).
func BenchmarkRerunCached(b *testing.B) {
	dir := b.TempDir()
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		b.Fatal(err)
	}
	g := newGraph("bench.yaml")
	for i := 0; i < 100; i++ {
		g.add(fmt.Sprintf("src[i=%d]", i), "test.source", stages.Params{"value": float64(i), "n": 64 * 64 * 3, "sleep_ms": 0})
		g.add(fmt.Sprintf("scaled[i=%d]", i), "test.scale", stages.Params{"factor": 2.0}, fmt.Sprintf("in=src[i=%d]", i))
	}
	opts := Options{Cache: c, Results: filepath.Join(dir, "results")}
	if s, err := Run(context.Background(), g.g, opts); err != nil || s.Executed != 200 {
		b.Fatalf("first run: %v %v", s, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Run(context.Background(), g.g, opts)
		if err != nil || s.Cached != 200 {
			b.Fatalf("rerun: %+v %v", s, err)
		}
	}
}
