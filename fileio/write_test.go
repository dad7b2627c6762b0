package fileio

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.json")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.json", filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("missing.json", filepath.Join(dir, "dangling.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop2", filepath.Join(dir, "loop1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1", filepath.Join(dir, "loop2")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr string
		// written is the file that must hold the data afterwards, and mode
		// its permission bits.
		written string
		mode    os.FileMode
	}{
		{name: "new file", path: filepath.Join(dir, "new.json"), written: "new.json", mode: 0o644},
		{name: "existing file keeps its mode", path: target, written: "target.json", mode: 0o600},
		{name: "link writes its target", path: filepath.Join(dir, "link.json"), written: "target.json", mode: 0o600},
		{name: "dangling link creates its target", path: filepath.Join(dir, "dangling.json"), written: "missing.json", mode: 0o644},
		{name: "named pipe", path: fifo, wantErr: "not a regular file (a named pipe)"},
		{name: "directory", path: filepath.Join(dir, "sub"), wantErr: "not a regular file (a directory)"},
		{name: "device", path: os.DevNull, wantErr: "not a regular file (a device)"},
		{name: "link cycle", path: filepath.Join(dir, "loop1"), wantErr: "too many levels"},
		{name: "missing directory", path: filepath.Join(dir, "no", "such.json"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.name)
			err := WriteAtomic(tt.path, data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
					t.Fatalf("WriteAtomic(%s) = %v, want an error naming the path and containing %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := filepath.Join(dir, tt.written)
			got, err := os.ReadFile(w)
			if err != nil || string(got) != tt.name {
				t.Fatalf("%s holds %q (%v), want %q", w, got, err, tt.name)
			}
			fi, err := os.Lstat(w)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tt.mode {
				t.Errorf("%s has mode %v, want %v", w, fi.Mode(), tt.mode)
			}
			if fi, err := os.Lstat(tt.path); err == nil && tt.path != w && fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link %s was replaced by a regular file", tt.path)
			}
		})
	}
	// Nothing is left behind by the failed writes.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Errorf("%s is no longer a device: %v %v", os.DevNull, fi, err)
	}
}
