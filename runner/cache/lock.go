package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Lock is a held lock on one key.
type Lock struct {
	f *os.File
}

// Lock waits until it holds the lock of key or ctx is done. The lock is an
// flock on <dir>/locks/<key>.lock, so it is released when the process dies.
func (c *Cache) Lock(ctx context.Context, key string) (*Lock, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("cache: malformed key %q", key)
	}
	delay := 5 * time.Millisecond
	for {
		l, err := c.tryLock(key)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// tryLock returns the lock of key, or nil if another holder has it.
func (c *Cache) tryLock(key string) (*Lock, error) {
	path := filepath.Join(c.dir, "locks", key+".lock")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cache: lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cache: lock %s: %w", path, err)
		}
		// GC removes lock files while holding them; a lock taken on a
		// removed file protects nothing, so check it is still the path's.
		var held, now syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &held) == nil && syscall.Stat(path, &now) == nil &&
			held.Ino == now.Ino && held.Dev == now.Dev {
			return &Lock{f: f}, nil
		}
		f.Close()
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
