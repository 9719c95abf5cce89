package cache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Pending is an entry being written. Stages' artifacts are saved into
// OutDir; Commit publishes them, Abort throws them away.
type Pending struct {
	c   *Cache
	key string
	tmp string
}

const entryTempPrefix = "entry-"

// Begin starts writing the entry for key. The caller must hold the key's
// lock; temporary directories left for key by killed processes are removed.
func (c *Cache) Begin(key string) (*Pending, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("cache: malformed key %q", key)
	}
	tmpRoot := filepath.Join(c.dir, "tmp")
	c.removeTemps(key, entryTempPrefix)
	tmp, err := MkdirTemp(tmpRoot, entryTempPrefix+key+"-")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "out"), 0o777); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Pending{c: c, key: key, tmp: tmp}, nil
}

// OutDir is the directory artifacts are saved into.
func (p *Pending) OutDir() string { return filepath.Join(p.tmp, "out") }

// Abort removes the pending entry.
func (p *Pending) Abort() { os.RemoveAll(p.tmp) }

// Commit completes m (key, format, file sizes, digests and times of the
// files its Outputs list, which must exist under OutDir), writes it, syncs
// everything and publishes the entry by renaming it into place, replacing
// any entry of the same key. On error the pending entry is removed.
func (p *Pending) Commit(m *Manifest) (*Entry, error) {
	e, err := p.commit(m)
	if err != nil {
		p.Abort()
		return nil, fmt.Errorf("cache: publishing %s: %w", Short(p.key), err)
	}
	return e, nil
}

// Digest fills in the size, modification time and SHA-256 of every file
// m.Outputs lists, syncing each to disk. Commit calls it; call it alone to
// compare a pending entry with a published one before Abort.
func (p *Pending) Digest(m *Manifest) error {
	out := p.OutDir()
	for i := range m.Outputs {
		for j := range m.Outputs[i].Files {
			f := &m.Outputs[i].Files[j]
			if !localPath(f.Path) {
				return fmt.Errorf("artifact file %q is outside the entry", f.Path)
			}
			path := filepath.Join(out, filepath.FromSlash(f.Path))
			if err := syncFile(path); err != nil {
				return err
			}
			info, err := os.Stat(path)
			if err != nil {
				return err
			}
			sum, err := HashFile(path)
			if err != nil {
				return err
			}
			f.Size, f.MtimeNS, f.SHA256 = info.Size(), info.ModTime().UnixNano(), sum
		}
	}
	return nil
}

func (p *Pending) commit(m *Manifest) (*Entry, error) {
	m.Format = FormatVersion
	m.Key = p.key
	if err := p.Digest(m); err != nil {
		return nil, err
	}
	out := p.OutDir()
	dirs := map[string]bool{out: true}
	for _, o := range m.Outputs {
		for _, f := range o.Files {
			for d := filepath.Dir(filepath.Join(out, filepath.FromSlash(f.Path))); len(d) > len(out); d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.tmp, "manifest.json"), b, 0o644); err != nil {
		return nil, err
	}
	if err := syncFile(filepath.Join(p.tmp, "manifest.json")); err != nil {
		return nil, err
	}
	dirs[p.tmp] = true
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		if err := syncFile(d); err != nil {
			return nil, err
		}
	}
	dst := p.c.EntryDir(p.key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return nil, err
	}
	if _, err := os.Stat(dst); err == nil {
		if err := p.c.trash(dst, "old-"); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(p.tmp, dst); err != nil {
		return nil, err
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return nil, err
	}
	return &Entry{Key: p.key, Dir: dst, OutDir: filepath.Join(dst, "out"), Manifest: m}, nil
}

// syncFile flushes a file or directory to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

const workTempPrefix = "work-"

// Workdir creates an empty scratch directory for a run of key's stage, on
// the cache's file system. The caller must hold the key's lock; it removes
// the directory when the stage ends. Temporary directories that killed runs
// left for key are removed first.
func (c *Cache) Workdir(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("cache: malformed key %q", key)
	}
	c.removeTemps(key, entryTempPrefix, workTempPrefix, stateTempPrefix)
	return MkdirTemp(filepath.Join(c.dir, "tmp"), workTempPrefix+key+"-")
}

// Discard removes the entry of key, if any, such as one found invalid. The
// caller must hold the key's lock.
func (c *Cache) Discard(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("cache: malformed key %q", key)
	}
	return c.trash(c.EntryDir(key), "bad-")
}

// removeTemps removes the temporary directories of key with the given
// prefixes. The caller holds the key's lock, so none is in use.
func (c *Cache) removeTemps(key string, prefixes ...string) {
	tmpRoot := filepath.Join(c.dir, "tmp")
	names, err := os.ReadDir(tmpRoot)
	if err != nil {
		return
	}
	for _, n := range names {
		for _, p := range prefixes {
			if isTempOf(n.Name(), p, key) {
				os.RemoveAll(filepath.Join(tmpRoot, n.Name()))
			}
		}
	}
}
