package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file with WriteIDX, failing the test on error.
func idxBytes(t testing.TB, dims []int, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteIDX(&buf, dims, body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIDXRoundTrip(t *testing.T) {
	tests := []struct {
		dims []int
	}{
		{[]int{5}},
		{[]int{3, 2, 4}},
		{[]int{2, 1, 1, 3}},
		{[]int{0, 28, 28}},
	}
	for _, tt := range tests {
		n := 1
		for _, d := range tt.dims {
			n *= d
		}
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*37 + 11)
		}
		raw := idxBytes(t, tt.dims, body)
		if want := 4 + 4*len(tt.dims) + n; len(raw) != want {
			t.Errorf("dims %v: encoded %d bytes, want %d", tt.dims, len(raw), want)
		}
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"raw", raw}, {"gzip", gzipBytes(t, raw)}} {
			dims, got, err := ReadIDXBytes(enc.b, "x")
			if err != nil {
				t.Errorf("dims %v %s: %v", tt.dims, enc.name, err)
				continue
			}
			if !slices.Equal(dims, tt.dims) || !bytes.Equal(got, body) {
				t.Errorf("dims %v %s: read back dims %v and %d bytes, want %v and %d bytes", tt.dims, enc.name, dims, len(got), tt.dims, len(body))
			}
		}
	}
}

func TestWriteIDXErrors(t *testing.T) {
	tests := []struct {
		dims []int
		body []byte
	}{
		{nil, nil},
		{[]int{2, 2}, make([]byte, 3)},
		{[]int{-1}, nil},
	}
	for _, tt := range tests {
		if err := WriteIDX(&bytes.Buffer{}, tt.dims, tt.body); err == nil {
			t.Errorf("WriteIDX(%v, %d bytes) succeeded, want error", tt.dims, len(tt.body))
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes(t, []int{2, 3, 3}, make([]byte, 18))
	tests := []struct {
		name   string
		b      []byte
		offset int64  // expected FormatError offset, -1 if not a FormatError
		substr string // expected in the message
	}{
		{"empty", nil, 0, "truncated"},
		{"short magic", good[:3], 3, "truncated"},
		{"bad magic", append([]byte{1, 2}, good[2:]...), 0, "magic"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), 2, "element type 0x0d"},
		{"zero dims", []byte{0, 0, 8, 0}, 3, "0 dimensions"},
		{"short dims", good[:9], 9, "dimension sizes"},
		{"short body", good[:len(good)-5], int64(len(good) - 5), "truncated"},
		{"trailing", append(slices.Clone(good), 7), int64(len(good)), "trailing"},
		{"huge", []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, 8, "exceed"},
	}
	for _, tt := range tests {
		_, _, err := ReadIDX(bytes.NewReader(tt.b), "file.idx")
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v is not a *FormatError", tt.name, err)
			continue
		}
		if fe.File != "file.idx" || fe.Offset != tt.offset || !strings.Contains(err.Error(), tt.substr) || !strings.Contains(err.Error(), "file.idx") {
			t.Errorf("%s: error %q (offset %d), want file.idx at offset %d mentioning %q", tt.name, err, fe.Offset, tt.offset, tt.substr)
		}
	}
}

func TestReadIDXFileErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes(t, []int{4, 5}, make([]byte, 20))
	gz := gzipBytes(t, good)
	corrupt := slices.Clone(gz)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32 in the trailer
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated.gz", gz[:len(gz)/2], "truncated"},
		{"garbage.gz", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0x55}, 40)...), "gzip"},
		{"crc.gz", corrupt, "checksum"},
		{"text", []byte("hello, world\n"), "magic"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, tt.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadIDXFile(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s and mentioning %q", tt.name, err, p, tt.want)
		}
	}
	if _, _, err := ReadIDXFile(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want ErrNotExist", err)
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(f, []int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(idxBytes(f, []int{3}, []byte{0, 9, 255}))
	f.Add(gzipBytes(f, idxBytes(f, []int{1, 3}, []byte{4, 5, 6})))
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 9, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		dims, body, err := ReadIDXBytes(b, "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if n != len(body) {
			t.Fatalf("dims %v but %d bytes", dims, len(body))
		}
		// Whatever parses must survive a round trip.
		var buf bytes.Buffer
		if err := WriteIDX(&buf, dims, body); err != nil {
			t.Fatalf("WriteIDX of parsed file: %v", err)
		}
		dims2, body2, err := ReadIDXBytes(buf.Bytes(), "again")
		if err != nil || !slices.Equal(dims, dims2) || !bytes.Equal(body, body2) {
			t.Fatalf("round trip: %v, dims %v → %v", err, dims, dims2)
		}
	})
}
