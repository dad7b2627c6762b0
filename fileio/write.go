// Package fileio holds the rules for the files a2q reads and writes, so that
// every command follows the same ones.
//
// Outputs (checkpoints, reports, exported models, plots, sweep results) are
// written with WriteAtomic: the data go to a temporary file beside the
// target, are synced, and the temporary file is renamed over the target, so
// that a reader, or a crash, never sees half of one. A symbolic link is
// followed and its target written (the link survives), and a target that
// exists but is not a regular file (a device, a directory, a named pipe) is
// refused rather than replaced.
//
// Inputs given by the user (checkpoints, ONNX and integer model files,
// data sets) are opened with Open or read with ReadFile: only a regular file
// is read, never more than its size, and never more than the reader's own
// maximum, so that a device, a named pipe or a directory given by mistake is
// an error naming it rather than a hang.
//
// A run that writes into a directory for a long time (training, a sweep)
// holds the directory's Lock for its life, so that two runs cannot mix
// their files, and then removes with RemoveOrphans the temporary files of
// writes that a killed run left behind.
//
// The standard library has no atomic write; this package is the project's
// one implementation of it.
package fileio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxLinks bounds how many symbolic links WriteFile follows, as the kernel
// does, so that a cycle of links is an error rather than a loop.
const maxLinks = 40

// WriteAtomic writes data to path atomically. A new file gets mode 0644 (results
// are meant to be shared); an existing regular file keeps its mode. If path is
// a symbolic link, the file it names is written. Errors name path.
func WriteAtomic(path string, data []byte) error {
	target, mode, err := resolve(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := write(target, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// resolve follows symbolic links from path to the file that should be
// written and returns it with the mode the written file should have.
func resolve(path string) (string, fs.FileMode, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return path, 0o644, nil
		case err != nil:
			return "", 0, err
		case fi.Mode()&fs.ModeSymlink != 0:
			dest, err := os.Readlink(path)
			if err != nil {
				return "", 0, err
			}
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(filepath.Dir(path), dest)
			}
			path = dest
		case !fi.Mode().IsRegular():
			return "", 0, fmt.Errorf("%s exists and is not a regular file (%s); refusing to replace it", path, kind(fi.Mode()))
		default:
			return path, fi.Mode().Perm(), nil
		}
	}
	return "", 0, errors.New("too many levels of symbolic links")
}

// kind names a non-regular file type for an error message.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "mode " + m.String()
	}
}

// createTemp creates the temporary file for target name in dir and holds a
// shared lock on it while it exists, so that RemoveOrphans, run by another
// process, leaves it alone.
func createTemp(dir, name string) (*os.File, error) {
	for {
		f, err := os.CreateTemp(dir, "."+name+".tmp*")
		if err != nil {
			return nil, err
		}
		// A file system without flock leaves the file unprotected.
		if flock(int(f.Fd()), syscall.LOCK_SH) != nil {
			return f, nil
		}
		// RemoveOrphans may have removed the file between its creation and
		// the lock: then make another.
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Nlink > 0 {
			return f, nil
		}
		f.Close()
	}
}

// write does the temporary-file-and-rename dance for a resolved target.
func write(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := createTemp(dir, filepath.Base(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		// CreateTemp makes the file private.
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable; a directory that cannot be synced (some
	// file systems refuse) still holds the complete file.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
