package fileio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckWritableDir reports whether dir is, or could be created as, a
// directory in which files can be written, without creating anything: it
// finds dir or its nearest existing ancestor, checks that it is a directory
// and writes and removes a probe file there. A run calls it before its long
// work so that an output it cannot write is found at once, and a run
// refused for another reason leaves no empty directory behind. The errors
// are *fs.PathError values (operations "mkdir" and "createtemp"), as
// os.MkdirAll and os.CreateTemp would return.
func CheckWritableDir(dir string) error {
	probe := filepath.Clean(dir)
	for {
		fi, err := os.Stat(probe)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			return err
		}
		probe = parent
	}
	f, err := os.CreateTemp(probe, ".a2q-write-test*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
