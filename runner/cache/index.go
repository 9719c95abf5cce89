package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The index remembers, for each experiment and node id, the key of its most
// recent successful run, so that plan can compare a node's new key lines
// with the previous ones and say what changed.

func (c *Cache) indexPath(experiment, node string) string {
	return filepath.Join(c.dir, "index", url.PathEscape(experiment), url.PathEscape(node))
}

// SetLast records key as the most recent key of node in experiment.
func (c *Cache) SetLast(experiment, node, key string) error {
	if last, ok := c.Last(experiment, node); ok && last == key {
		return nil
	}
	return writeFileAtomic(c.indexPath(experiment, node), []byte(key+"\n"))
}

// Last returns the most recent key recorded for node in experiment.
func (c *Cache) Last(experiment, node string) (string, bool) {
	b, err := os.ReadFile(c.indexPath(experiment, node))
	if err != nil {
		return "", false
	}
	k := strings.TrimSpace(string(b))
	return k, ValidKey(k)
}

// indexed calls fn for every index record.
func (c *Cache) indexed(fn func(path, key string)) error {
	root := filepath.Join(c.dir, "index")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(p, strings.TrimSpace(string(b)))
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Resolve returns the key of the one entry whose key starts with prefix
// (at least 4 hex digits).
func (c *Cache) Resolve(prefix string) (string, error) {
	if ValidKey(prefix) {
		return prefix, nil
	}
	if len(prefix) < 4 || !ValidKey(prefix+strings.Repeat("0", 64-len(prefix))) {
		return "", fmt.Errorf("cache: %q is not a key or a key prefix of at least 4 hex digits", prefix)
	}
	names, _ := os.ReadDir(filepath.Join(c.dir, "entries", prefix[:2]))
	var found []string
	for _, n := range names {
		if strings.HasPrefix(n.Name(), prefix) && ValidKey(n.Name()) {
			found = append(found, n.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("cache: no entry has a key starting with %s", prefix)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("cache: %d entries have keys starting with %s (fix: give more digits)", len(found), prefix)
}
