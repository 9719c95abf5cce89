package cache

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGet measures reading a 50 MB entry: the default check (sizes and
// modification times) against a full verification (SHA-256 of every file).
func BenchmarkGet(b *testing.B) {
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	k := key(0)
	p, _ := c.Begin(k)
	data := make([]byte, 50<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(p.OutDir(), "big.npy"), data, 0o644)
	if _, err := p.Commit(&Manifest{Outputs: []Output{{Name: "big", Type: "tensor", Files: []File{{Path: "big.npy"}}}}}); err != nil {
		b.Fatal(err)
	}
	for _, verify := range []bool{false, true} {
		name := "stat"
		if verify {
			name = "verify"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := c.Get(k, verify); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDigest measures digesting a 50 MB file the first time (hashing)
// and again (answered by the stat cache).
func BenchmarkDigest(b *testing.B) {
	dir := b.TempDir()
	f := filepath.Join(dir, "data.bin")
	os.WriteFile(f, make([]byte, 50<<20), 0o644)
	old := mustStat(b, f).ModTime().Add(-racyWindow * 2)
	os.Chtimes(f, old, old)
	b.Run("hash", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := NewDigester("").Digest(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	d := NewDigester("")
	d.Digest(f)
	b.Run("statcache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.Digest(f)
		}
	})
}

func mustStat(b *testing.B, p string) os.FileInfo {
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return st
}
