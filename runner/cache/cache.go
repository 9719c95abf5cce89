// Package cache is difflab's content-addressed store of stage results.
//
// # Overview
//
// Every stage node has a key, computed before anything runs from a readable
// list of everything that influences its outputs (see KeyBuilder). The
// result of running the stage is an entry, a directory named by the key:
//
//	<dir>/entries/<first two hex digits>/<key>/manifest.json
//	<dir>/entries/<first two hex digits>/<key>/out/<artifact files>
//	<dir>/index/<experiment>/<node id>   the node's most recent key (for plan)
//	<dir>/locks/<key>.lock               one lock file per key (flock)
//	<dir>/locks/<key>.lease              or a lease, on NFS (see UseLeases)
//	<dir>/state/<key>/<name>/            resumable state, such as checkpoints
//	<dir>/tmp/                           entries being written; trash
//	<dir>/statcache.json                 file digests by path, size and mtime
//
// # Invariants
//
//   - An entry becomes visible only complete: it is written in a temporary
//     directory under <dir>/tmp, every file and directory is synced, and the
//     directory is renamed into place. A process killed at any moment leaves
//     at most a stale temporary directory, which Begin and GC remove.
//   - Reading an entry checks that the manifest parses and names the key, and
//     that every artifact file exists with its recorded size. A file whose
//     modification time differs from the one recorded at publication is
//     hashed and compared with its recorded SHA-256; with verify set, every
//     file is. Any mismatch makes the entry a miss whose error says why.
//   - Writers of a key hold its lock (Lock), so concurrent processes compute a
//     key once. Readers of a published entry take no lock.
//
// Why reads trust modification times: checking a 50 MB entry by size and
// modification time takes about 0.1 ms, hashing it about 0.2 s (SHA-256 at
// 250-450 MB/s on a 2-core EPYC; see BenchmarkGet), and a rerun of a whole
// write-up must take well under a second. A file changed in place after
// publication gets a new modification time and is hashed; the one change
// that escapes (a write that restores the old time) is caught by verify.
//
// The cache is safe for concurrent use by several processes on one machine,
// and by processes on several machines sharing it over NFS. It relies on
// rename of a directory within one file system being atomic, on O_EXCL
// creation, on fsync making data durable before the rename, and on
// modification times changing with the contents; for locks, on flock,
// except on NFS (or with LeaseEnv set), where lease files replace it so that
// a dead node's lock lapses (see UseLeases).
package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"difflab/stages/artifact"
)

// DefaultDir is the cache directory used when neither the DIFFLAB_CACHE
// environment variable nor a flag names one, relative to the working
// directory.
const DefaultDir = ".difflab/cache"

// Dir returns the cache directory to use: flag when not empty, else
// $DIFFLAB_CACHE when set, else DefaultDir.
func Dir(flag string) string {
	if flag != "" {
		return flag
	}
	if d := os.Getenv("DIFFLAB_CACHE"); d != "" {
		return d
	}
	return DefaultDir
}

// Cache is an open cache directory.
type Cache struct {
	dir string
	// Digests digests the files stages read; its stat cache lives in the
	// cache directory.
	Digests *Digester
	now     func() time.Time
	// lease is the lease time of lease locks; zero means flock.
	lease    time.Duration
	watchMu  sync.Mutex
	watching map[string]watched // lease files of other holders, by path
}

// Open opens the cache in dir, creating its directories.
func Open(dir string) (*Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"entries", "index", "locks", "state", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o777); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	c := &Cache{dir: abs, Digests: NewDigester(filepath.Join(abs, "statcache.json")), now: time.Now, watching: map[string]watched{}}
	if v := os.Getenv(LeaseEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return nil, fmt.Errorf("cache: %s=%s: not a duration of 100ms or more, such as 2m", LeaseEnv, v)
		}
		c.lease = d
	} else if onNFS(abs) {
		c.lease = DefaultLease
	}
	return c, nil
}

// onNFS reports whether dir is on NFS.
func onNFS(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == nfsSuperMagic
}

// Root returns the cache's absolute directory.
func (c *Cache) Root() string { return c.dir }

// EntryDir returns the directory of the entry for key (which may not exist).
func (c *Cache) EntryDir(key string) string {
	return filepath.Join(c.dir, "entries", key[:2], key)
}

// Manifest describes an entry: what made it, from what, and the digests of
// its files.
type Manifest struct {
	// Format is FormatVersion.
	Format string `json:"format"`
	Key    string `json:"key"`
	// Kind and KindVersion name the stage kind and its implementation version.
	Kind        string `json:"kind"`
	KindVersion int    `json:"kind_version"`
	// Stage is the node id ("edited[i_start=10]"); Experiment is the path of
	// the experiment file, relative to the experiments root.
	Stage      string         `json:"stage"`
	Experiment string         `json:"experiment"`
	Params     map[string]any `json:"params"`
	Inputs     []InputRef     `json:"inputs,omitempty"`
	// KeyLines are the lines the key was computed from.
	KeyLines []string  `json:"key_lines"`
	Outputs  []Output  `json:"outputs"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Seconds  float64   `json:"seconds"`
	// Engines maps each engine the kind uses to a short description of it
	// (versions, BLAS, instruction set); KeyLines hold the details.
	Engines map[string]string `json:"engines,omitempty"`
	// Devices maps engines to where they ran, such as "cpu" or
	// "webgpu: NVIDIA H100 80GB HBM3, Vulkan 1.4.312".
	Devices map[string]string `json:"devices,omitempty"`
	// Difflab is the version of the program that wrote the entry.
	Difflab string `json:"difflab"`
	// Fetched names the remote cache the entry was downloaded from and
	// when ("https://cache.example/ at 2026-11-27T19:00:00Z"); empty for
	// an entry computed on this machine.
	Fetched string `json:"fetched,omitempty"`
}

// InputRef records one artifact fed to an input port.
type InputRef struct {
	Port   string `json:"port"`
	Index  int    `json:"index"`
	Stage  string `json:"stage"`
	Output string `json:"output"`
	Key    string `json:"key"`
}

// Output records one output artifact and its files.
type Output struct {
	Name  string        `json:"name"`
	Type  artifact.Type `json:"type"`
	Files []File        `json:"files"`
}

// File records one artifact file, relative to the entry's out directory.
type File struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	MtimeNS int64  `json:"mtime_ns"`
}

// Entry is a published, verified entry.
type Entry struct {
	Key string
	// Dir is the entry directory; OutDir holds the artifact files.
	Dir, OutDir string
	Manifest    *Manifest
}

// Output returns the manifest's record of output name, or nil.
func (e *Entry) Output(name string) *Output {
	for i := range e.Manifest.Outputs {
		if e.Manifest.Outputs[i].Name == name {
			return &e.Manifest.Outputs[i]
		}
	}
	return nil
}

// Load reads output name of the entry. The artifact may point into the
// cache (a model directory) and must be treated as read-only.
func (e *Entry) Load(name string) (artifact.Artifact, error) {
	o := e.Output(name)
	if o == nil {
		var names []string
		for _, o := range e.Manifest.Outputs {
			names = append(names, o.Name)
		}
		return nil, fmt.Errorf("cache: entry %s has no output %q (outputs: %s)", Short(e.Key), name, strings.Join(names, ", "))
	}
	return artifact.Load(o.Type, e.OutDir, name)
}

// ErrNotFound is the cause of a miss for a key that has no entry.
var ErrNotFound = errors.New("no entry")

// MissError is returned by Get when there is no usable entry. Reason says
// why; Err is ErrNotFound or what made the entry invalid.
type MissError struct {
	Key string
	Err error
}

// Error says which entry and why.
func (e *MissError) Error() string {
	return fmt.Sprintf("cache entry %s: %v", Short(e.Key), e.Err)
}

// Unwrap returns the cause.
func (e *MissError) Unwrap() error { return e.Err }

// Bad reports whether an entry exists but is invalid (as opposed to absent).
func (e *MissError) Bad() bool { return !errors.Is(e.Err, ErrNotFound) }

// Get returns the entry for key after checking it (see the package
// invariants; verify hashes every file). A missing or invalid entry is a
// *MissError. Get does not remove invalid entries: the writer that
// recomputes the key replaces them under its lock.
func (c *Cache) Get(key string, verify bool) (*Entry, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("cache: malformed key %q", key)
	}
	dir := c.EntryDir(key)
	m, err := readManifest(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &MissError{key, ErrNotFound}
		}
		return nil, &MissError{key, err}
	}
	if m.Format != FormatVersion {
		return nil, &MissError{key, fmt.Errorf("manifest format %q, want %q", m.Format, FormatVersion)}
	}
	if m.Key != key {
		return nil, &MissError{key, fmt.Errorf("manifest names key %s", Short(m.Key))}
	}
	out := filepath.Join(dir, "out")
	for _, o := range m.Outputs {
		if len(o.Files) == 0 {
			// Every artifact is saved as at least one file.
			return nil, &MissError{key, fmt.Errorf("manifest lists no files for output %q", o.Name)}
		}
		for _, f := range o.Files {
			if err := checkFile(out, f, verify, "manifest"); err != nil {
				return nil, &MissError{key, err}
			}
		}
	}
	c.touch(dir)
	return &Entry{Key: key, Dir: dir, OutDir: out, Manifest: m}, nil
}

func readManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("unreadable manifest: %v", err)
	}
	return &m, nil
}

// ReadManifest returns the manifest of the entry for key without checking
// the entry's files.
func (c *Cache) ReadManifest(key string) (*Manifest, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("cache: malformed key %q", key)
	}
	return readManifest(c.EntryDir(key))
}

// checkFile checks the file f records below out: its size and, when its
// modification time differs from f's or verify is set, its SHA-256. record
// names f's source in errors ("manifest").
func checkFile(out string, f File, verify bool, record string) error {
	if !localPath(f.Path) {
		return fmt.Errorf("manifest lists file outside the entry: %q", f.Path)
	}
	p := filepath.Join(out, filepath.FromSlash(f.Path))
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("file %s: %v", f.Path, errors.Unwrap(err))
	}
	if info.Size() != f.Size {
		return fmt.Errorf("file %s is %d bytes, %s says %d", f.Path, info.Size(), record, f.Size)
	}
	if !verify && info.ModTime().UnixNano() == f.MtimeNS {
		return nil
	}
	sum, err := HashFile(p)
	if err != nil {
		return err
	}
	if sum != f.SHA256 {
		return fmt.Errorf("file %s has SHA-256 %s, %s says %s", f.Path, Short(sum), record, Short(f.SHA256))
	}
	return nil
}

// localPath reports whether a slash-separated path stays below its base.
func localPath(p string) bool {
	return p != "" && filepath.IsLocal(filepath.FromSlash(p))
}

// touchEvery is how stale an entry's use time may get before a hit refreshes
// it; GC's age test reads the use time.
const touchEvery = time.Hour

func (c *Cache) touch(dir string) {
	info, err := os.Stat(dir)
	if err != nil {
		return
	}
	if now := c.now(); now.Sub(info.ModTime()) > touchEvery {
		os.Chtimes(dir, now, now)
	}
}

// Short abbreviates a key to 12 digits for messages and logs.
func Short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// trash moves path into the tmp directory under a name starting with prefix
// and removes it. Moving first makes the removal invisible to readers.
func (c *Cache) trash(path, prefix string) error {
	tmp, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), prefix)
	if err != nil {
		return err
	}
	dst := filepath.Join(tmp, "x")
	if err := os.Rename(path, dst); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(tmp)
}

// isTempOf reports whether a tmp name belongs to key ("<prefix><key>-...").
func isTempOf(name, prefix, key string) bool {
	return strings.HasPrefix(name, prefix+key+"-")
}
