package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
)

// filesDir is the folder, next to index.html, that holds the page's images.
const filesDir = "index_files"

// fileStore copies images next to the page under names made from their
// SHA-256, so identical images are stored once and names need no escaping.
type fileStore struct {
	dir  string // absolute folder for the files
	used map[string]bool
}

func newFileStore(outDir string) *fileStore {
	return &fileStore{dir: filepath.Join(outDir, filesDir), used: map[string]bool{}}
}

// addPNG copies the PNG file at src and returns its path relative to the
// page and its size in pixels. The file must decode as a PNG header.
func (s *fileStore) addPNG(src string) (rel string, w, h int, err error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", 0, 0, err
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "", 0, 0, fmt.Errorf("%s: not a PNG image: %v", src, err)
	}
	sum := sha256.Sum256(b)
	name := hex.EncodeToString(sum[:])[:24] + ".png"
	dst := filepath.Join(s.dir, name)
	if !s.used[name] {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return "", 0, 0, err
		}
		if old, err := os.ReadFile(dst); err != nil || !bytes.Equal(old, b) {
			if err := writeAtomic(dst, b); err != nil {
				return "", 0, 0, err
			}
		}
		s.used[name] = true
	}
	return filesDir + "/" + name, cfg.Width, cfg.Height, nil
}

// storedName matches the names addPNG gives files.
var storedName = regexp.MustCompile(`^[0-9a-f]{24}\.png$`)

// prune removes images of earlier reports that this one no longer uses. It
// touches only files named the way addPNG names them.
func (s *fileStore) prune() error {
	ents, err := os.ReadDir(s.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if storedName.MatchString(e.Name()) && !s.used[e.Name()] {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAtomic writes data to path through a temporary file and a rename,
// so that a reader never sees a half-written file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
