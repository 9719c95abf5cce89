package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/stages/artifact"
)

// ResultMarker is the name of the file in each results folder that records
// which cache entry the folder holds and the types of its outputs.
const ResultMarker = ".difflab-result.json"

// ResultInfo is the content of a results folder's marker file.
type ResultInfo struct {
	Key        string         `json:"key"`
	Experiment string         `json:"experiment"`
	Stage      string         `json:"stage"`
	Kind       string         `json:"kind"`
	Outputs    []cache.Output `json:"outputs"`
}

// ResultDir returns the results folder of node id of the experiment at
// path (relative to the experiments root): <results>/<path without
// .yaml>/<id>, with "%", path separators and NUL in id written as "%25",
// "%2F" and "%00", so that distinct ids (such as sweep values "a/b" and
// "a_b") never share a folder.
func ResultDir(results, experimentPath, id string) string {
	exp := strings.TrimSuffix(strings.TrimSuffix(experimentPath, ".yaml"), ".yml")
	id = strings.NewReplacer("%", "%25", "/", "%2F", string(os.PathSeparator), "%2F", "\x00", "%00").Replace(id)
	if id == "." || id == ".." {
		id = "_" + id
	}
	return filepath.Join(results, filepath.FromSlash(exp), id)
}

// linkResultsFrom is the size from which a model file in the results folder
// is a hard link to its cache entry's file rather than a copy.
const linkResultsFrom = 1 << 20

// resultCheck says how publishResults decides that a results folder
// already holds an entry's files.
type resultCheck int

const (
	// checkStat trusts a folder whose marker names the entry, records the
	// entry's digests and matches every file's size and modification time.
	checkStat resultCheck = iota
	// checkHash also hashes every file of the folder (--verify).
	checkHash
	// replaceAlways replaces the folder whatever it holds: the entry was
	// just computed, so a folder of an earlier computation under the same
	// key (a repaired or forced entry) is not to be trusted.
	replaceAlways
)

// publishResults copies the files of entry e into n's results folder,
// replacing what was there, and returns their paths. A folder that already
// holds e's files unchanged, as check decides, is left alone.
func publishResults(results string, n *experiment.Node, e *cache.Entry, check resultCheck) ([]string, error) {
	if !filepath.IsLocal(filepath.FromSlash(n.Experiment.Path)) {
		return nil, fmt.Errorf("experiment path %q leaves the results folder", n.Experiment.Path)
	}
	dst := ResultDir(results, n.Experiment.Path, n.ID)
	var paths []string
	for _, o := range e.Manifest.Outputs {
		for _, f := range o.Files {
			paths = append(paths, filepath.Join(dst, filepath.FromSlash(f.Path)))
		}
	}
	if check != replaceAlways && upToDate(dst, e, check == checkHash) {
		return paths, nil
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o777); err != nil {
		return nil, err
	}
	tmp, err := cache.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	info := ResultInfo{Key: e.Key, Experiment: n.Experiment.Path, Stage: n.ID, Kind: n.Kind.Name}
	for _, o := range e.Manifest.Outputs {
		ro := cache.Output{Name: o.Name, Type: o.Type}
		for _, f := range o.Files {
			to := filepath.Join(tmp, filepath.FromSlash(f.Path))
			// Model weights can be gigabytes: they are linked to the cache
			// entry, not copied, where the file system allows. Small files
			// (such as model.json) are copied, so that editing one in the
			// results folder cannot change the entry.
			place := artifact.CopyFile
			if o.Type == artifact.TypeModel && f.Size >= linkResultsFrom {
				place = artifact.LinkOrCopy
			}
			if err := place(filepath.Join(e.OutDir, filepath.FromSlash(f.Path)), to); err != nil {
				return nil, err
			}
			st, err := os.Stat(to)
			if err != nil {
				return nil, err
			}
			rf := f
			rf.MtimeNS = st.ModTime().UnixNano()
			ro.Files = append(ro.Files, rf)
		}
		info.Outputs = append(info.Outputs, ro)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ResultMarker), b, 0o644); err != nil {
		return nil, err
	}
	old, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".old-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(old)
	if err := os.Rename(dst, filepath.Join(old, "x")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Another process sharing the results folder may have just put
		// the same files there.
		if upToDate(dst, e, false) {
			return paths, nil
		}
		return nil, err
	}
	return paths, nil
}

// upToDate reports whether dst's marker names e, records the size and
// digest of each of e's files, and every file is there with the size and
// modification time it had when copied; with hash, also whether every file
// still has its digest.
func upToDate(dst string, e *cache.Entry, hash bool) bool {
	info, err := ReadResult(dst)
	if err != nil || info.Key != e.Key || len(info.Outputs) != len(e.Manifest.Outputs) {
		return false
	}
	for i, o := range info.Outputs {
		want := e.Manifest.Outputs[i]
		if o.Name != want.Name || o.Type != want.Type || len(o.Files) != len(want.Files) {
			return false
		}
		for j, f := range o.Files {
			w := want.Files[j]
			if f.Path != w.Path || f.Size != w.Size || f.SHA256 != w.SHA256 {
				return false
			}
			p := filepath.Join(dst, filepath.FromSlash(f.Path))
			st, err := os.Stat(p)
			if err != nil || st.Size() != f.Size || st.ModTime().UnixNano() != f.MtimeNS {
				return false
			}
			if hash {
				if sum, err := cache.HashFile(p); err != nil || sum != f.SHA256 {
					return false
				}
			}
		}
	}
	return true
}

// CleanResults removes, below the results folder, the temporary folders
// that runs killed while copying results left (".<stage>.tmp-*" and
// ".<stage>.old-*") once they are older than olderThan, and returns how
// many it removed (would remove, with dryRun).
func CleanResults(results string, olderThan time.Duration, dryRun bool) (int, error) {
	n := 0
	now := time.Now()
	err := filepath.WalkDir(results, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == results {
				return filepath.SkipAll
			}
			return err
		}
		name := d.Name()
		if !d.IsDir() || !strings.HasPrefix(name, ".") || !strings.Contains(name, ".tmp-") && !strings.Contains(name, ".old-") {
			return nil
		}
		if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > olderThan {
			n++
			if !dryRun {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
			}
		}
		return filepath.SkipDir
	})
	return n, err
}

// ReadResult reads the marker of a results folder.
func ReadResult(dir string) (*ResultInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, ResultMarker))
	if err != nil {
		return nil, fmt.Errorf("%s is not a difflab results folder: %w", dir, err)
	}
	var info ResultInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ResultMarker), err)
	}
	return &info, nil
}

// LoadResult reads output name from a results folder.
func LoadResult(dir, name string) (artifact.Artifact, error) {
	info, err := ReadResult(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range info.Outputs {
		if o.Name == name {
			return artifact.Load(o.Type, dir, name)
		}
		names = append(names, o.Name)
	}
	return nil, fmt.Errorf("%s has no output %q (outputs: %s)", dir, name, strings.Join(names, ", "))
}
