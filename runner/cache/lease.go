package cache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Lease locks replace flock where flock cannot be trusted: on NFS, flock
// is emulated with the server's byte-range locks, which a node that died
// may hold until it comes back, and on mounts with local locking it
// excludes only processes of one node. A lease is the file
// <dir>/locks/<key>.lease, created with O_EXCL (atomic on NFS v3 and
// later) and holding its holder's description and a random token; the
// holder touches it every quarter of the lease time. A waiter that sees the
// file unchanged (same content, same modification time) for the whole lease
// time, measured on its own clock so that clocks of other nodes do not
// matter, takes the holder for dead and breaks the lease: it removes the
// file under a second O_EXCL file, <key>.lease.break, after checking that
// it is still the file it watched. A holder that finds its lease broken or
// replaced stops touching it and reports it lost (Lock.Lost). A holder
// presumed dead that was only slow publishes an entry equal to the other's
// (stages are deterministic), or, when the new holder cleared the key's
// temporary folders under it, fails to publish or publishes an entry with
// files missing, which Get rejects by the sizes in its manifest.

// LeaseEnv, set to a duration such as 2m, makes Open use lease locks with
// that lease time on any file system.
const LeaseEnv = "DIFFLAB_CACHE_LEASE"

// DefaultLease is the lease time of a cache on NFS.
const DefaultLease = 2 * time.Minute

// nfsSuperMagic is the f_type statfs reports for NFS.
const nfsSuperMagic = 0x6969

// UseLeases makes c lock keys with leases of the given time instead of
// flock (see LeaseEnv); zero returns to flock.
func (c *Cache) UseLeases(lease time.Duration) {
	c.lease = lease
}

// Leases returns the lease time of c's locks, or zero when it uses flock.
func (c *Cache) Leases() time.Duration { return c.lease }

// lease is a held lease.
type lease struct {
	path  string
	line  string // the file's content: holder and token
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	lost  bool
	every time.Duration
}

// watched is what a waiter saw of another holder's lease file.
type watched struct {
	content string
	mtime   time.Time
	since   time.Time // when it last changed, on this process's clock
}

// tryLease returns the lease of key, or nil when a live holder has it.
func (c *Cache) tryLease(key string) (*lease, error) {
	path := filepath.Join(c.dir, "locks", key+".lease")
	token := make([]byte, 8)
	rand.Read(token)
	line := holderLine() + " (lease " + hex.EncodeToString(token) + ")\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("cache: lease %s: %w", path, err)
		}
		l := &lease{path: path, line: line, stop: make(chan struct{}), done: make(chan struct{}), every: c.lease / 4}
		go l.renew()
		return l, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cache: lease: %w", err)
	}
	c.breakIfStale(path)
	return nil, nil
}

// breakIfStale removes the lease file at path when it has not changed for
// the lease time, as far as this process has watched it.
func (c *Cache) breakIfStale(path string) {
	content, mtime, ok := readLease(path)
	now := time.Now()
	c.watchMu.Lock()
	w, seen := c.watching[path]
	if !ok || !seen || w.content != content || !w.mtime.Equal(mtime) {
		if ok {
			c.watching[path] = watched{content: content, mtime: mtime, since: now}
		}
		c.watchMu.Unlock()
		return
	}
	stale := now.Sub(w.since) >= c.lease
	c.watchMu.Unlock()
	if !stale {
		return
	}
	brk := path + ".break"
	f, err := os.OpenFile(brk, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		// Another waiter is breaking it; a breaker that died leaves the
		// break file, which goes once unchanged for the lease time too.
		c.breakIfStale(brk)
		return
	}
	f.Close()
	defer os.Remove(brk)
	removeLease(path, func(now string, mnow time.Time) bool { return now == content && mnow.Equal(mtime) })
	c.watchMu.Lock()
	delete(c.watching, path)
	c.watchMu.Unlock()
}

// readLease returns a lease file's content and modification time.
func readLease(path string) (string, time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", time.Time{}, false
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", time.Time{}, false
	}
	return string(b), info.ModTime(), true
}

// renew touches the lease file until stop is closed, and marks the lease
// lost when the file is no longer this holder's.
func (l *lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		b, err := os.ReadFile(l.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // a transient error of the file system (EIO, ESTALE): try again at the next tick
		}
		if err != nil || string(b) != l.line {
			l.mu.Lock()
			l.lost = true
			l.mu.Unlock()
			return
		}
		now := time.Now()
		os.Chtimes(l.path, now, now)
	}
}

// release stops renewing and removes the lease file if it is still this
// holder's.
func (l *lease) release() {
	close(l.stop)
	<-l.done
	removeLease(l.path, func(now string, _ time.Time) bool { return now == l.line })
}

// removeLease removes the lease file at path if mine says it is the one
// expected. It renames the file aside before looking at it, so that a lease
// a new holder creates between the look and the removal is never the one
// removed; a file that turns out to be another's is linked back unless a
// newer lease took its place (its holder then finds its lease lost).
func removeLease(path string, mine func(content string, mtime time.Time) bool) {
	token := make([]byte, 8)
	rand.Read(token)
	aside := path + ".gone-" + hex.EncodeToString(token)
	if os.Rename(path, aside) != nil {
		return
	}
	defer os.Remove(aside)
	if content, mtime, ok := readLease(aside); ok && mine(content, mtime) {
		return
	}
	os.Link(aside, path)
}

// holder returns the description of the holder of a lease file.
func leaseHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	return strings.TrimSpace(string(b))
}
