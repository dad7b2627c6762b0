package fileio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "model.ckpt")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("model.ckpt", filepath.Join(dir, "link.ckpt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.ckpt")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.ckpt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.ckpt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		max     int64
		want    string
		wantErr string // with the path, unless empty
		notReg  bool   // the error wraps ErrNotRegular
	}{
		{name: "regular", path: regular, max: 100, want: "0123456789"},
		{name: "regular at max", path: regular, max: 10, want: "0123456789"},
		{name: "link to regular", path: filepath.Join(dir, "link.ckpt"), max: 100, want: "0123456789"},
		{name: "empty", path: empty, max: 100, want: ""},
		{name: "over max", path: regular, max: 9, wantErr: "is 10 bytes, more than the 9"},
		{name: "device", path: "/dev/zero", max: 100, wantErr: "is a device", notReg: true},
		{name: "link to device", path: filepath.Join(dir, "zero.ckpt"), max: 100, wantErr: "is a device", notReg: true},
		{name: "named pipe", path: fifo, max: 100, wantErr: "is a named pipe", notReg: true},
		{name: "directory", path: dir, max: 100, wantErr: "is a directory", notReg: true},
		{name: "missing", path: filepath.Join(dir, "missing.ckpt"), max: 100, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var got []byte
			var err error
			go func() {
				defer close(done)
				got, err = ReadFile(tt.path, tt.max)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("ReadFile(%s) did not return", tt.path)
			}
			if tt.wantErr == "" {
				if err != nil || string(got) != tt.want {
					t.Fatalf("ReadFile(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("ReadFile(%s) = %v, want an error naming the path and containing %q", tt.path, err, tt.wantErr)
			}
			if errors.Is(err, ErrNotRegular) != tt.notReg {
				t.Errorf("errors.Is(%v, ErrNotRegular) = %v, want %v", err, !tt.notReg, tt.notReg)
			}
		})
	}
}
