package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGCKeepsHeldAndNewEntries(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, key(0), "data")
	publish(t, c, key(1), "data")
	// A gc that started before key 2 was published leaves it alone.
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	publish(t, c, key(2), "data")
	c.now = func() time.Time { return start }
	h, err := c.Hold([]string{key(0)})
	if err != nil {
		t.Fatal(err)
	}
	// A claim whose run died (nobody holds its lock) protects nothing.
	os.WriteFile(filepath.Join(c.Root(), "runs", "run-1-dead"+claimSuffix), []byte(key(1)+"\n"), 0o644)
	rep, err := c.GC(GCOptions{Keep: map[string]bool{}})
	if err != nil || rep.Entries != 1 {
		t.Fatalf("GC = %+v, %v; want only the entry of key 1 removed", rep, err)
	}
	for _, k := range []string{key(0), key(2)} {
		if _, err := c.Get(k, false); err != nil {
			t.Errorf("GC removed a held or newly published entry: %v", err)
		}
	}
	h.Release()
	c.now = time.Now
	if rep, err = c.GC(GCOptions{Keep: map[string]bool{}}); err != nil || rep.Entries != 2 {
		t.Fatalf("GC after the hold ended = %+v, %v", rep, err)
	}
	if claims, _ := os.ReadDir(filepath.Join(c.Root(), "runs")); len(claims) != 0 {
		t.Fatalf("claims left: %v", claims)
	}
}

func TestGCRemovesStaleTemporaryFiles(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.SetLast("e.yaml", "a", key(0))
	publish(t, c, key(0), "data")
	old := time.Now().Add(-time.Hour)
	var stale, fresh []string
	for _, dir := range []string{c.Root(), filepath.Join(c.Root(), "index", "e.yaml")} {
		s, f := filepath.Join(dir, ".tmp-x-1"), filepath.Join(dir, ".tmp-x-2")
		os.WriteFile(s, nil, 0o644)
		os.Chtimes(s, old, old)
		os.WriteFile(f, nil, 0o644) // a write in progress
		stale, fresh = append(stale, s), append(fresh, f)
	}
	rep, err := c.GC(GCOptions{})
	if err != nil || rep.Temps != 2 {
		t.Fatalf("GC = %+v, %v; want the 2 stale temporary files removed", rep, err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survives", p)
		}
	}
	for _, p := range fresh {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a fresh temporary file was removed: %v", err)
		}
	}
	if k, ok := c.Last("e.yaml", "a"); !ok || k != key(0) {
		t.Error("GC removed an index record")
	}
}
