package cache

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Info summarises one entry for listings.
type Info struct {
	Key        string    `json:"key"`
	Kind       string    `json:"kind"`
	Experiment string    `json:"experiment"`
	Stage      string    `json:"stage"`
	Bytes      int64     `json:"bytes"`
	End        time.Time `json:"end"`
	// Used is when the entry was last written or read (to within an hour).
	Used time.Time `json:"used"`
	// Published is when the entry's manifest was written.
	Published time.Time `json:"published"`
	// Problem is set when the manifest cannot be read.
	Problem string `json:"problem,omitempty"`
}

// List returns every entry directory's summary, most recently finished
// first. Files are not verified.
func (c *Cache) List() ([]Info, error) {
	var out []Info
	root := filepath.Join(c.dir, "entries")
	shards, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, s := range shards {
		if !s.IsDir() {
			continue
		}
		keys, err := os.ReadDir(filepath.Join(root, s.Name()))
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			dir := filepath.Join(root, s.Name(), k.Name())
			in := Info{Key: k.Name(), Bytes: treeSize(dir)}
			if st, err := os.Stat(dir); err == nil {
				in.Used = st.ModTime()
			}
			if st, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
				in.Published = st.ModTime()
			}
			if m, err := readManifest(dir); err != nil {
				in.Problem = err.Error()
			} else {
				in.Kind, in.Experiment, in.Stage, in.End = m.Kind, m.Experiment, m.Stage, m.End
			}
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].End.Equal(out[j].End) {
			return out[i].End.After(out[j].End)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// Stats describes the cache as a whole.
type Stats struct {
	Dir     string `json:"dir"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
	// States and StateBytes count resumable-state directories, which
	// StateList describes.
	States     int         `json:"states"`
	StateBytes int64       `json:"state_bytes"`
	StateList  []StateInfo `json:"state_list,omitempty"`
	// Temps counts temporary directories (entries being written, or left by
	// killed runs).
	Temps int `json:"temps"`
}

// Status returns the cache's statistics.
func (c *Cache) Status() (*Stats, error) {
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	st := &Stats{Dir: c.dir, Entries: len(list)}
	for _, in := range list {
		st.Bytes += in.Bytes
	}
	if st.StateList, err = c.States(); err != nil {
		return nil, err
	}
	for _, s := range st.StateList {
		st.States++
		st.StateBytes += s.Bytes
	}
	if temps, err := os.ReadDir(filepath.Join(c.dir, "tmp")); err == nil {
		st.Temps = len(temps)
	}
	return st, nil
}

// GCOptions selects what GC removes.
type GCOptions struct {
	// Keep, when not nil, lists the keys still reachable (from the
	// experiments the caller loaded); every other entry and state is
	// removed.
	Keep map[string]bool
	// OlderThan, when positive, limits removal to entries not used for that
	// long. With neither Keep nor OlderThan, GC only removes leftovers
	// (temporary directories of dead runs, state of published keys, unused
	// lock files, index records of removed entries, remembered digests of
	// deleted files).
	OlderThan time.Duration
	// DryRun reports what would be removed without removing it.
	DryRun bool
}

// GCReport counts what GC removed (or would remove).
type GCReport struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	States  int   `json:"states"`
	Temps   int   `json:"temps"`
	Locks   int   `json:"locks"`
	Index   int   `json:"index"`
}

// GC removes entries, state and leftovers as opts says. Entries and state
// whose key is locked (being computed) or held by a live run (Hold) are
// left alone, and so are entries published since GC started. A run that
// starts while GC works may still find an entry it was about to read gone,
// and recompute it.
func (c *Cache) GC(opts GCOptions) (*GCReport, error) {
	rep := &GCReport{}
	now := c.now()
	held, err := c.heldKeys(opts.DryRun)
	if err != nil {
		return nil, err
	}
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, in := range list {
		present[in.Key] = true
		if opts.Keep == nil && opts.OlderThan <= 0 {
			continue
		}
		if (opts.Keep != nil && opts.Keep[in.Key]) || held[in.Key] || in.Published.After(now) {
			continue
		}
		if opts.OlderThan > 0 && now.Sub(in.Used) < opts.OlderThan {
			continue
		}
		if c.removeLocked(in.Key, c.EntryDir(in.Key), opts.DryRun) {
			rep.Entries++
			rep.Bytes += in.Bytes
			delete(present, in.Key)
		}
	}
	// State is only useful until its key's entry is published.
	if states, err := os.ReadDir(filepath.Join(c.dir, "state")); err == nil {
		for _, s := range states {
			k := s.Name()
			stale := !ValidKey(k) || present[k] || (opts.Keep != nil && !opts.Keep[k] && !held[k])
			if stale && c.removeLocked(k, filepath.Join(c.dir, "state", k), opts.DryRun) {
				rep.States++
			}
		}
	}
	if temps, err := os.ReadDir(filepath.Join(c.dir, "tmp")); err == nil {
		for _, t := range temps {
			name := t.Name()
			key := tempKey(name)
			if c.removeLocked(key, filepath.Join(c.dir, "tmp", name), opts.DryRun) {
				rep.Temps++
			}
		}
	}
	if locks, err := os.ReadDir(filepath.Join(c.dir, "locks")); err == nil {
		for _, l := range locks {
			k := strings.TrimSuffix(l.Name(), ".lock")
			if !ValidKey(k) {
				continue
			}
			lk, err := c.tryLock(k)
			if err != nil || lk == nil {
				continue
			}
			if !opts.DryRun {
				os.Remove(filepath.Join(c.dir, "locks", l.Name()))
			}
			lk.Unlock()
			rep.Locks++
		}
	}
	// Temporary files of atomic writes (the stat cache, index records)
	// that killed processes left.
	rep.Temps += removeStaleTemps(c.dir, false, now, opts.DryRun)
	rep.Temps += removeStaleTemps(filepath.Join(c.dir, "index"), true, now, opts.DryRun)
	if !opts.DryRun {
		c.Digests.Prune()
		if err := c.Digests.Save(); err != nil {
			return nil, err
		}
	}
	err = c.indexed(func(p, key string) {
		if !present[key] {
			rep.Index++
			if !opts.DryRun {
				os.Remove(p)
			}
		}
	})
	return rep, err
}

// staleAfter is how old a temporary file must be for GC to take it for a
// killed writer's leftover.
const staleAfter = time.Minute

// removeStaleTemps removes the files named ".tmp-*" in dir (and below it
// when recursive) older than staleAfter, and returns how many it removed
// (would remove, with dryRun).
func removeStaleTemps(dir string, recursive bool, now time.Time, dryRun bool) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && p != dir && !recursive:
			return filepath.SkipDir
		case d.IsDir() || !strings.HasPrefix(d.Name(), ".tmp-"):
			return nil
		}
		if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
			n++
			if !dryRun {
				os.Remove(p)
			}
		}
		return nil
	})
	return n
}

// removeLocked removes path unless key (when valid) is locked by someone.
func (c *Cache) removeLocked(key, path string, dryRun bool) bool {
	if ValidKey(key) {
		lk, err := c.tryLock(key)
		if err != nil || lk == nil {
			return false
		}
		defer lk.Unlock()
	}
	if dryRun {
		return true
	}
	return c.trash(path, "gc-") == nil
}

// tempKey extracts the key from a temporary directory's name, or "" when
// the name holds none (trash, which is always removable).
func tempKey(name string) string {
	for _, prefix := range []string{entryTempPrefix, stateTempPrefix, workTempPrefix} {
		if strings.HasPrefix(name, prefix) && len(name) > len(prefix)+64 {
			if k := name[len(prefix) : len(prefix)+64]; ValidKey(k) {
				return k
			}
		}
	}
	return ""
}

// treeSize is the total size of the files below root.
func treeSize(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
