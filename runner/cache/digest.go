package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"difflab/stages"
)

// racyWindow is how recent a file's modification time may be for its digest
// to be remembered. A file written within this window of being hashed could
// change again without changing its size or modification time (timestamps
// are coarse), so its digest is recomputed next time instead.
const racyWindow = 2 * time.Second

// Digester computes SHA-256 digests of files and directories, remembering
// them by (path, size, modification time, inode) in a small stat cache so
// that unchanged large files, such as datasets, are hashed once. It is safe
// for concurrent use.
type Digester struct {
	path  string // file holding the stat cache; empty keeps it in memory only
	now   func() time.Time
	mu    sync.Mutex
	known map[string]statEntry
	dirty bool
}

type statEntry struct {
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
	SHA256  string `json:"sha256"`
}

// NewDigester returns a Digester whose stat cache lives in the JSON file at
// path (created on Save; empty path: memory only). An unreadable stat cache
// is ignored: it only saves time.
func NewDigester(path string) *Digester {
	d := &Digester{path: path, now: time.Now, known: map[string]statEntry{}}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			var known map[string]statEntry
			if json.Unmarshal(b, &known) == nil && known != nil {
				d.known = known
			}
		}
	}
	return d
}

// Digest returns the hex SHA-256 of the file at path. For a directory it
// returns the SHA-256 of one line "<relative path> <digest>" per file below
// it, in sorted order.
func (d *Digester) Digest(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return d.file(path, info)
	}
	var lines []string
	err = filepath.Walk(path, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if fi, err = os.Stat(p); err != nil {
				return err
			}
		}
		sum, err := d.file(p, fi)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		lines = append(lines, filepath.ToSlash(rel)+" "+sum)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(lines)
	return SumLines(lines), nil
}

// file returns the digest of the file at path, whose (followed) FileInfo
// is info. Anything but a regular file is an error: reading a device or a
// FIFO may never end.
func (d *Digester) file(path string, info os.FileInfo) (string, error) {
	if err := stages.RegularFile(info); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st := statEntry{Size: info.Size(), MtimeNS: info.ModTime().UnixNano()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.Inode = sys.Ino
	}
	d.mu.Lock()
	old, ok := d.known[abs]
	d.mu.Unlock()
	if ok && old.Size == st.Size && old.MtimeNS == st.MtimeNS && old.Inode == st.Inode {
		return old.SHA256, nil
	}
	sum, err := HashFile(path)
	if err != nil {
		return "", err
	}
	if d.now().Sub(info.ModTime()) > racyWindow {
		st.SHA256 = sum
		d.mu.Lock()
		d.known[abs] = st
		d.dirty = true
		d.mu.Unlock()
	}
	return sum, nil
}

// Prune forgets the digests of files that no longer exist and returns how
// many it forgot.
func (d *Digester) Prune() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for p := range d.known {
		if _, err := os.Stat(p); err != nil {
			delete(d.known, p)
			n++
		}
	}
	if n > 0 {
		d.dirty = true
	}
	return n
}

// Save writes the stat cache to its file if it changed, atomically.
func (d *Digester) Save() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.path == "" || !d.dirty {
		return nil
	}
	b, err := json.Marshal(d.known)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(d.path, b); err != nil {
		return fmt.Errorf("cache: saving stat cache: %w", err)
	}
	d.dirty = false
	return nil
}

// HashFile returns the hex SHA-256 of the file's bytes.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path. It does not sync: the files it writes (stat cache, index)
// only save time, and a crash may lose them but never tears them.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
