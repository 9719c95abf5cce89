package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock is a held lock on one key.
type Lock struct {
	f     *os.File
	lease *lease
}

// Lost reports whether the lock's lease was broken by another process
// that took this holder for dead (see UseLeases); always false with flock.
func (l *Lock) Lost() bool {
	if l == nil || l.lease == nil {
		return false
	}
	l.lease.mu.Lock()
	defer l.lease.mu.Unlock()
	return l.lease.lost
}

// Lock waits until it holds the lock of key or ctx is done. The lock is an
// flock on <dir>/locks/<key>.lock, so it is released when the process dies;
// with UseLeases, a lease (see LeaseEnv), which lapses when its holder
// stops renewing it.
func (c *Cache) Lock(ctx context.Context, key string) (*Lock, error) {
	return c.LockReporting(ctx, key, 0, nil)
}

// LockReporting is Lock that, while another process holds the lock, calls
// waiting with the holder's description (Holder) when it starts to wait and
// then every interval.
func (c *Cache) LockReporting(ctx context.Context, key string, interval time.Duration, waiting func(holder string)) (*Lock, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("cache: malformed key %q", key)
	}
	delay := 5 * time.Millisecond
	var next time.Time
	for {
		l, err := c.tryLock(key)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		if now := time.Now(); waiting != nil && !now.Before(next) {
			waiting(c.Holder(key))
			next = now.Add(interval)
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

// Holder describes the holder of key's lock, as its lock file records it
// ("process 123 on host since 2026-11-27T18:00:00Z"), or says it is unknown.
func (c *Cache) Holder(key string) string {
	if c.lease > 0 {
		if h := leaseHolder(filepath.Join(c.dir, "locks", key+".lease")); h != "" {
			return h
		}
		return "an unknown process"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "locks", key+".lock"))
	if err != nil || len(b) == 0 {
		return "an unknown process"
	}
	return strings.TrimSpace(string(b))
}

// tryLock returns the lock of key, or nil if another holder has it.
func (c *Cache) tryLock(key string) (*Lock, error) {
	if c.lease > 0 {
		l, err := c.tryLease(key)
		if l == nil || err != nil {
			return nil, err
		}
		return &Lock{lease: l}, nil
	}
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
			// Say who holds it, for those who wait (best effort).
			if f.Truncate(0) == nil {
				f.WriteAt([]byte(holderLine()+"\n"), 0)
			}
			return &Lock{f: f}, nil
		}
		f.Close()
	}
}

// holderLine describes this process as a lock holder.
func holderLine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("process %d on %s since %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.lease != nil {
		l.lease.release()
		l.lease = nil
		return
	}
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
