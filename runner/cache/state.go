package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// previousSuffix names the state saved before the newest one:
// <name>.previous, which Load falls back to when the newest is damaged or a
// Save was killed before publishing it.
const previousSuffix = ".previous"

// recordFile, in each saved state directory, records every other file of
// the state with its size, modification time and SHA-256; Save writes it
// with the state and Load checks the files against it.
const recordFile = ".digests.json"

// stateFormat is the format of a record; a state whose record has another
// is discarded.
const stateFormat = "difflab-state v1"

// stateRecord is the content of a recordFile.
type stateRecord struct {
	Format string `json:"format"`
	// Files lists the state's files, paths relative to its directory.
	Files []File `json:"files"`
}

// ownerFile, in a key's state directory, names the stage the state belongs
// to; state names that start with a dot are reserved for such files.
const ownerFile = ".owner"

// State returns the resumable-state store of key (see stages.State), whose
// saves record owner (a description of the stage, such as
// "part_b/02_denoiser.yaml denoiser") for Status. Each named state is a
// directory <dir>/state/<key>/<name>/ holding the files of the state and
// their record (recordFile), published by an atomic rename. The state it
// replaces is kept as <name>.previous, so a run killed at any moment leaves
// a whole state to resume from, and a newest state found damaged leaves the
// one before it. Load and Save should be called while holding the key's
// lock.
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

// Load implements stages.State. It tries the newest state, then the
// previous one.
func (s *stateStore) Load(name, dir string) (bool, []error, error) {
	var damaged []error
	for _, p := range []string{s.path(name), s.path(name) + previousSuffix} {
		if info, err := os.Stat(p); err != nil || !info.IsDir() {
			continue
		}
		err := copyState(p, dir)
		if err == nil {
			return true, damaged, nil
		}
		os.RemoveAll(dir)
		var d *damage
		if !errors.As(err, &d) {
			return false, damaged, fmt.Errorf("cache: loading state %q: %w", name, err)
		}
		damaged = append(damaged, describe(s.key, p, d))
		if err := s.c.trash(p, "bad-"); err != nil {
			return false, damaged, fmt.Errorf("cache: removing damaged state %q: %w", name, err)
		}
	}
	return false, damaged, nil
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
	if err := recordState(tmp); err != nil {
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
	// With dst in place, it becomes the previous state and the one before
	// it goes; without it (a Save was killed, or Load discarded it as
	// damaged), the previous state stays.
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

// CheckState says what the next run of key's stage will find in its saved
// state: whether an intact state is left to resume from (resumable), and
// why each saved state it would discard on the way is damaged. Unlike Load,
// it hashes only the files whose modification time differs from their
// record.
func (c *Cache) CheckState(key string) (resumable bool, damaged []error) {
	dir := filepath.Join(c.dir, "state", key)
	names, _ := os.ReadDir(dir)
	seen := map[string]bool{}
	for _, n := range names {
		name := strings.TrimSuffix(n.Name(), previousSuffix)
		if !n.IsDir() || seen[name] {
			continue
		}
		seen[name] = true
		for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+previousSuffix)} {
			if info, err := os.Stat(p); err != nil || !info.IsDir() {
				continue
			}
			rec, err := readRecord(p)
			if err == nil {
				err = checkState(p, rec)
			}
			var d *damage
			if errors.As(err, &d) {
				damaged = append(damaged, describe(key, p, d))
				continue
			}
			resumable = true
			break
		}
	}
	return resumable, damaged
}

// damage is what makes a saved state unusable: a file that differs from
// its record, is missing or unexpected, or a record that cannot be read.
type damage struct{ err error }

func (d *damage) Error() string { return d.err.Error() }

func (d *damage) Unwrap() error { return d.err }

func damagef(format string, args ...any) *damage {
	return &damage{fmt.Errorf(format, args...)}
}

// describe says which saved state of key, the directory p, has damage d.
func describe(key, p string, d *damage) error {
	name, _ := url.PathUnescape(filepath.Base(p))
	return fmt.Errorf("saved state %s/%s: %w", Short(key), name, d)
}

// recordState writes the record of the state being saved in dir.
func recordState(dir string) error {
	rec := stateRecord{Format: stateFormat}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == recordFile {
			return fmt.Errorf("%s is reserved for the state's record", recordFile)
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		sum, err := HashFile(p)
		if err != nil {
			return err
		}
		rec.Files = append(rec.Files, File{Path: rel, Size: info.Size(), SHA256: sum, MtimeNS: info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, recordFile), b, 0o644)
}

// readRecord reads the record of the saved state in dir, by path.
func readRecord(dir string) (map[string]File, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, damagef("no record of its files (%s)", recordFile)
	} else if err != nil {
		return nil, damagef("record %s: %v", recordFile, err)
	}
	var rec stateRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, damagef("unreadable record %s: %v", recordFile, err)
	}
	if rec.Format != stateFormat {
		return nil, damagef("record %s has format %q, want %q", recordFile, rec.Format, stateFormat)
	}
	files := map[string]File{}
	for _, f := range rec.Files {
		if !localPath(f.Path) || f.Path == recordFile || files[f.Path].Path != "" {
			return nil, damagef("record %s lists file %q twice, or one outside the state", recordFile, f.Path)
		}
		files[f.Path] = f
	}
	return files, nil
}

// checkState compares the saved state in dir with its record rec without
// reading files whose modification time is as recorded: every recorded
// file must be there with its size and SHA-256, and no other file. The
// error is a *damage when the state differs.
func checkState(dir string, rec map[string]File) error {
	paths := make([]string, 0, len(rec))
	for p := range rec {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) {
			return damagef("file %s is missing", p)
		}
		if err := checkFile(dir, rec[p], false, "its record"); err != nil {
			return &damage{err}
		}
	}
	return walkState(dir, rec, nil)
}

// walkState calls file, if not nil, for every file and directory of the
// saved state in dir other than its record and dir itself; a file the
// record rec does not list, or that is not a regular file, is damage.
func walkState(dir string, rec map[string]File, file func(p, rel string, e fs.DirEntry) error) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch _, ok := rec[rel]; {
		case rel == "." || rel == recordFile:
			return nil
		case e.IsDir():
		case !e.Type().IsRegular():
			return damagef("%s is not a regular file", rel)
		case !ok:
			return damagef("file %s is not in its record", rel)
		}
		if file == nil {
			return nil
		}
		return file(p, rel, e)
	})
}

// copyState copies the saved state in src into dst, which it creates,
// hashing each file as it copies it: dst receives exactly the bytes whose
// sizes and digests match the record. The error is a *damage when the
// state differs from its record.
func copyState(src, dst string) error {
	rec, err := readRecord(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	seen := map[string]bool{}
	err = walkState(src, rec, func(p, rel string, e fs.DirEntry) error {
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if e.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		seen[rel] = true
		return copyChecked(p, to, rec[rel])
	})
	if err != nil {
		return err
	}
	var missing []string
	for p := range rec {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return damagef("file %s is missing", strings.Join(missing, ", "))
	}
	return nil
}

// copyChecked copies the file src to dst, checking the bytes it reads
// against the size and SHA-256 of f.
func copyChecked(src, dst string, f File) error {
	in, err := os.Open(src)
	if err != nil {
		return damagef("file %s: %v", f.Path, errors.Unwrap(err))
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	r := &errReader{r: in}
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case r.err != nil:
		return damagef("file %s: %v", f.Path, r.err)
	case err != nil:
		return err
	case n != f.Size:
		return damagef("file %s is %d bytes, its record says %d", f.Path, n, f.Size)
	case sum != f.SHA256:
		return damagef("file %s has SHA-256 %s, its record says %s", f.Path, Short(sum), Short(f.SHA256))
	}
	return nil
}

// errReader remembers the error of its reader, other than io.EOF, to tell
// a file that cannot be read from one that cannot be written.
type errReader struct {
	r   io.Reader
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
