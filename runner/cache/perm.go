package cache

import (
	"os"
	"syscall"
)

// umask is the process's file mode creation mask, read once while the
// program starts (reading it means setting it, so it is not read again
// while other goroutines may be creating files).
var umask = func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}()

// MkdirTemp is os.MkdirTemp with the permissions os.Mkdir(path, 0o777)
// would give under the process's umask. os.MkdirTemp gives 0700 whatever
// the umask, so a folder written that way and then renamed into place (a
// cache entry, a results folder) would shut out a CI uploader or the
// second user of a shared cache.
func MkdirTemp(dir, pattern string) (string, error) {
	tmp, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o777&^umask); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// CreateTemp is os.CreateTemp with the permissions os.Create would give
// under the process's umask (os.CreateTemp gives 0600), for files renamed
// into place for other readers.
func CreateTemp(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o666 &^ umask); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}
