package fileio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is the error, wrapped with the path and what it is, of
// Open and ReadFile for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file (a symbolic link is
// followed), and returns the file with its size. A device, a named pipe, a
// socket or a directory is refused with an error naming path and what it
// is; opening never waits for the writer of a named pipe.
func Open(path string) (*os.File, int64, error) {
	// O_NONBLOCK makes opening a named pipe return at once instead of
	// waiting for a writer; it has no effect on a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is %s, %w", path, kind(fi.Mode()), ErrNotRegular)
	}
	return f, fi.Size(), nil
}

// ReadFile reads the regular file at path, as Open accepts it, and returns
// its contents. A file larger than max bytes is refused before anything is
// read, and no more than the size the file had when it was opened is read,
// so that neither a device that never ends nor a file that grows makes
// ReadFile run forever. Errors name path.
func ReadFile(path string, max int64) ([]byte, error) {
	f, size, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d this file may have", path, size, max)
	}
	b := make([]byte, size)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	// A file that shrank since it was opened yields what it holds now.
	return b[:n], nil
}
