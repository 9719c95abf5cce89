package cache

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Hold is a live run's claim on the keys it needs: GC leaves their entries
// and state alone until the run releases the hold or its process dies.
type Hold struct {
	f    *os.File
	path string
}

// Hold records that this process needs keys: a file under runs/ listing
// them, held with an flock for as long as the process keeps it (so that a
// killed run's claim lapses by itself).
func (c *Cache) Hold(keys []string) (*Hold, error) {
	dir := filepath.Join(c.dir, "runs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	// The claim gets its final name only once it is locked and written,
	// so that GC never takes a claim being made for a dead run's.
	f, err := CreateTemp(dir, fmt.Sprintf(".run-%d-*", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	fail := func(err error) (*Hold, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("cache: hold: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(strings.Join(keys, "\n") + "\n"); err != nil {
		return fail(err)
	}
	if err := os.Rename(f.Name(), f.Name()+claimSuffix); err != nil {
		return fail(err)
	}
	return &Hold{f: f, path: f.Name() + claimSuffix}, nil
}

// claimSuffix ends the names of the files under runs/ that hold keys.
const claimSuffix = ".keys"

// Release ends the hold.
func (h *Hold) Release() {
	if h == nil || h.f == nil {
		return
	}
	os.Remove(h.path)
	h.f.Close()
	h.f = nil
}

// heldKeys returns the keys that live runs hold, and removes the claims of
// runs that died (unless dryRun).
func (c *Cache) heldKeys(dryRun bool) (map[string]bool, error) {
	held := map[string]bool{}
	dir := filepath.Join(c.dir, "runs")
	claims, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return held, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	for _, cl := range claims {
		p := filepath.Join(dir, cl.Name())
		f, err := os.Open(p)
		if err != nil {
			continue // released meanwhile
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil {
			// Nobody holds it: the claim of a run that died, or one being
			// made (not yet locked) unless it is old.
			info, err := f.Stat()
			made := strings.HasSuffix(cl.Name(), claimSuffix) || err == nil && c.now().Sub(info.ModTime()) > time.Minute
			if made && !dryRun {
				os.Remove(p)
			}
			f.Close()
			continue
		}
		if !strings.HasSuffix(cl.Name(), claimSuffix) {
			f.Close()
			continue // locked but not yet written
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k := sc.Text(); ValidKey(k) {
				held[k] = true
			}
		}
		f.Close()
	}
	return held, nil
}
