package fileio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockName is the file in a locked directory that Lock locks and that
// names the run holding it. It stays when the run ends.
const LockName = ".a2q.lock"

// LockedError is Lock's error when another run holds the directory.
type LockedError struct {
	Dir string
	// Holder describes the run holding the lock: its process id, command
	// line and start time, as that run recorded them (empty if it had not
	// yet).
	Holder string
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another run"
	}
	return fmt.Sprintf("%s is in use by %s; wait for it to end or use another directory", e.Dir, h)
}

// Lock takes the exclusive lock of directory dir for a run that writes
// into it, creating dir if needed, and returns the function that releases
// it. While one run holds it, Lock of the same directory, from this process
// or another, fails at once with a *LockedError naming the holder. The
// lock is the kernel's (flock on DIR/.a2q.lock), so a run that is killed
// releases it when its process ends: a lock file left behind never blocks.
func Lock(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is %s, %w", path, kind(fi.Mode()), ErrNotRegular)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	fd := int(f.Fd())
	if err := flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 4096)
			n, _ := f.ReadAt(b, 0)
			return nil, &LockedError{Dir: dir, Holder: strings.TrimSpace(string(b[:n]))}
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	// Record the holder. Failing to is no reason to fail the run: the lock
	// is held either way.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(holder()+"\n"), 0)
	}
	unlock = func() error {
		f.Truncate(0)
		err := flock(fd, syscall.LOCK_UN)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return unlock, nil
}

// holder describes this process for the lock file.
func holder() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	return fmt.Sprintf("pid %d (%s), started %s", os.Getpid(), strings.Join(args, " "), time.Now().Format(time.RFC3339))
}

// flock is syscall.Flock, retried when a signal interrupts it.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// RemoveOrphans removes the temporary files that WriteAtomic left in dir
// (not its subdirectories) when its process was killed mid-write. A
// temporary file that a running WriteAtomic is still writing is kept: each
// holds a shared lock on its file while it exists. It returns the names
// removed.
func RemoveOrphans(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !isTemp(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue // gone already, or not ours to judge
		}
		if flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue // being written
		}
		err = os.Remove(path)
		f.Close()
		switch {
		case err == nil:
			removed = append(removed, e.Name())
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// isTemp reports whether name is the name of one of WriteAtomic's
// temporary files: "." + the target's name + ".tmp" + CreateTemp's digits.
func isTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp")
	if len(name) < 2 || name[0] != '.' || i < 2 || i+len(".tmp") == len(name) {
		return false
	}
	for _, c := range name[i+len(".tmp"):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
