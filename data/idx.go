package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/fileio"
)

// IDX element type codes (the third byte of the magic number).
const (
	idxUbyte = 0x08
)

// maxIDXBytes bounds the body of one IDX file (4 GiB), so that a corrupt
// header cannot ask for an absurd allocation.
const maxIDXBytes = 1 << 32

// ReadIDX reads an IDX file of unsigned bytes (type code 0x08, as used by
// MNIST and Fashion-MNIST) from r and returns its dimensions and its body.
// name identifies the file in errors. The stream must end right after the
// body; r is read as is (decompress gzipped files first, or use
// [ReadIDXFile]).
//
// Errors about the content are [*FormatError] values naming name and the
// byte offset.
func ReadIDX(r io.Reader, name string) (dims []int, body []byte, err error) {
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, readErr(name, int64(n), "magic number", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, nil, &FormatError{name, 0, fmt.Sprintf("bad magic number % x: not an IDX file (want 00 00 <type> <ndims>)", hdr[:])}
	}
	if hdr[2] != idxUbyte {
		return nil, nil, &FormatError{name, 2, fmt.Sprintf("unsupported IDX element type 0x%02x (only 0x08, unsigned byte)", hdr[2])}
	}
	nd := int(hdr[3])
	if nd == 0 {
		return nil, nil, &FormatError{name, 3, "IDX file with 0 dimensions"}
	}
	raw := make([]byte, 4*nd)
	if n, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, readErr(name, 4+int64(n), fmt.Sprintf("%d dimension sizes", nd), err)
	}
	dims = make([]int, nd)
	size := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		dims[i] = int(d)
		size *= uint64(d)
		if size > maxIDXBytes {
			return nil, nil, &FormatError{name, int64(4 + 4*i), fmt.Sprintf("dimensions %v exceed %d bytes", dims[:i+1], int64(maxIDXBytes))}
		}
	}
	off := int64(4 + 4*nd)
	body, err = readBody(r, int(size))
	if err != nil {
		return nil, nil, readErr(name, off+int64(len(body)), fmt.Sprintf("body of %v = %d bytes (file size %d)", dims, size, off+int64(size)), err)
	}
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n != 0 {
		return nil, nil, &FormatError{name, off + int64(size), fmt.Sprintf("trailing data after the %v body (file should be %d bytes)", dims, off+int64(size))}
	}
	if err != io.EOF {
		return nil, nil, fmt.Errorf("data: %s: after the IDX body: %w", name, err)
	}
	return dims, body, nil
}

// readErr turns a short read into a FormatError and keeps other I/O errors.
func readErr(name string, off int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FormatError{name, off, "truncated: file ends while reading the " + what}
	}
	return fmt.Errorf("data: %s: reading the %s at byte offset %d: %w", name, what, off, err)
}

// readBody reads exactly n bytes, growing its buffer as data arrives so that
// a lying header costs no more memory than the data actually present.
func readBody(r io.Reader, n int) ([]byte, error) {
	const first = 4 << 20
	buf := make([]byte, 0, min(n, first))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf))) // at most doubles
		}
		m, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// WriteIDX writes body as an IDX file of unsigned bytes with the given
// dimensions. It returns an error if the dimensions do not describe
// len(body) bytes or do not fit the format.
func WriteIDX(w io.Writer, dims []int, body []byte) error {
	if len(dims) == 0 || len(dims) > 255 {
		return fmt.Errorf("data: IDX needs 1 to 255 dimensions, got %d", len(dims))
	}
	hdr := make([]byte, 4+4*len(dims))
	hdr[2], hdr[3] = idxUbyte, byte(len(dims))
	size := 1
	for i, d := range dims {
		if d < 0 || d > math.MaxUint32 {
			return fmt.Errorf("data: IDX dimension %d = %d out of range", i, d)
		}
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
		size *= d
	}
	if size != len(body) {
		return fmt.Errorf("data: IDX dimensions %v hold %d bytes, body has %d", dims, size, len(body))
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("data: writing IDX header: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("data: writing IDX body: %w", err)
	}
	return nil
}

// ReadIDXFile reads the IDX file at path, decompressing it if it is gzipped
// (recognised by its content, whatever its name).
func ReadIDXFile(path string) (dims []int, body []byte, err error) {
	f, _, err := fileio.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	r, closeFn, err := maybeGunzip(f, path)
	if err != nil {
		return nil, nil, err
	}
	dims, body, err = ReadIDX(r, path)
	if err != nil {
		return nil, nil, err
	}
	if err := closeFn(); err != nil {
		return nil, nil, err
	}
	return dims, body, nil
}

// ReadIDXBytes parses an IDX file held in memory, gzipped or raw.
func ReadIDXBytes(b []byte, name string) (dims []int, body []byte, err error) {
	r, closeFn, err := maybeGunzip(bytes.NewReader(b), name)
	if err != nil {
		return nil, nil, err
	}
	dims, body, err = ReadIDX(r, name)
	if err != nil {
		return nil, nil, err
	}
	if err := closeFn(); err != nil {
		return nil, nil, err
	}
	return dims, body, nil
}

// maybeGunzip wraps r in a gzip reader if the stream starts with the gzip
// magic. The returned function reports a corrupt gzip trailer (checksum),
// which the gzip reader only checks at the end of the stream.
func maybeGunzip(r io.Reader, name string) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, func() error { return nil }, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %s: bad gzip header: %w", name, err)
	}
	zr.Multistream(false)
	return &gzErrReader{zr, name}, zr.Close, nil
}

// gzErrReader names the file in gzip decoding errors.
type gzErrReader struct {
	zr   *gzip.Reader
	name string
}

func (g *gzErrReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, err // a truncated gzip stream reads as a truncated file
		}
		err = fmt.Errorf("corrupt gzip stream: %w", err)
	}
	return n, err
}
