package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"difflab/stages"
)

const stateTempPrefix = "state-"

// previousSuffix names the state that a Save is replacing while the new one
// is put in place: <name>.previous.
const previousSuffix = ".previous"

// ownerFile, in a key's state directory, names the stage the state belongs
// to; state names that start with a dot are reserved for such files.
const ownerFile = ".owner"

// State returns the resumable-state store of key (see stages.State), whose
// saves record owner (a description of the stage, such as
// "part_b/02_denoiser.yaml denoiser") for Status. Each named state is a
// directory <dir>/state/<key>/<name>/, published by an atomic rename; the
// state it replaces stays as <name>.previous until then, so a run killed at
// any moment leaves one whole state to resume from. Save should be called
// while holding the key's lock.
func (c *Cache) State(key, owner string) stages.State {
	return &stateStore{c: c, key: key, owner: owner}
}

// StateInfo describes the resumable state saved under one key.
type StateInfo struct {
	Key string `json:"key"`
	// Owner describes the stage that saved it.
	Owner string `json:"owner,omitempty"`
	Bytes int64  `json:"bytes"`
	// Saved is when it was last saved.
	Saved time.Time `json:"saved"`
}

// States lists the resumable states, most recently saved first.
func (c *Cache) States() ([]StateInfo, error) {
	keys, err := os.ReadDir(filepath.Join(c.dir, "state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []StateInfo
	for _, k := range keys {
		if !c.HasState(k.Name()) {
			continue
		}
		dir := filepath.Join(c.dir, "state", k.Name())
		in := StateInfo{Key: k.Name(), Bytes: treeSize(dir)}
		if b, err := os.ReadFile(filepath.Join(dir, ownerFile)); err == nil {
			in.Owner = strings.TrimSpace(string(b))
		}
		names, _ := os.ReadDir(dir)
		for _, n := range names {
			if info, err := n.Info(); err == nil && n.IsDir() && info.ModTime().After(in.Saved) {
				in.Saved = info.ModTime()
			}
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Saved.After(out[j].Saved) })
	return out, nil
}

// DropState removes all state saved under key, for example once the key's
// entry is published or when a forced run must start from scratch.
func (c *Cache) DropState(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("cache: malformed key %q", key)
	}
	return c.trash(filepath.Join(c.dir, "state", key), "old-")
}

// HasState reports whether key has resumable state saved, which its next
// run continues from (unless forced).
func (c *Cache) HasState(key string) bool {
	names, _ := os.ReadDir(filepath.Join(c.dir, "state", key))
	for _, n := range names {
		if n.IsDir() {
			return true
		}
	}
	return false
}

type stateStore struct {
	c     *Cache
	key   string
	owner string
}

var _ stages.State = (*stateStore)(nil)

func (s *stateStore) path(name string) string {
	return filepath.Join(s.c.dir, "state", s.key, url.PathEscape(name))
}

// Load implements stages.State. It falls back to the previous state when a
// Save was killed between moving it aside and publishing the new one.
func (s *stateStore) Load(name string) (string, bool) {
	for _, p := range []string{s.path(name), s.path(name) + previousSuffix} {
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			return p, true
		}
	}
	return "", false
}

// Save implements stages.State.
func (s *stateStore) Save(name string, fill func(dir string) error) error {
	if name == "" || strings.HasPrefix(name, ".") {
		return fmt.Errorf("cache: state name %q is empty or starts with a dot (reserved)", name)
	}
	tmp, err := MkdirTemp(filepath.Join(s.c.dir, "tmp"), stateTempPrefix+s.key+"-")
	if err != nil {
		return fmt.Errorf("cache: state: %w", err)
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return fmt.Errorf("cache: saving state %q: %w", name, err)
	}
	if err := fill(tmp); err != nil {
		return fail(err)
	}
	if err := syncTree(tmp); err != nil {
		return fail(err)
	}
	dst := s.path(name)
	prev := dst + previousSuffix
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return fail(err)
	}
	if s.owner != "" {
		if err := writeFileAtomic(filepath.Join(filepath.Dir(dst), ownerFile), []byte(s.owner+"\n")); err != nil {
			return fail(err)
		}
	}
	// With dst in place, a previous state is a leftover of a killed Save;
	// without it, the previous state is the only one and stays until the new
	// one is published.
	if _, err := os.Stat(dst); err == nil {
		if err := s.c.trash(prev, "old-"); err != nil {
			return fail(err)
		}
		if err := os.Rename(dst, prev); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fail(err)
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("cache: saving state %q: %w", name, err)
	}
	// The new state is in place; a previous one left behind here is
	// removed by the next Save.
	s.c.trash(prev, "old-")
	return nil
}

// syncTree syncs every file and directory below root, root included.
func syncTree(root string) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return syncFile(p)
	})
}
