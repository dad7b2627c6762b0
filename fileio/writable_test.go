package fileio

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCheckWritableDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"existing directory", dir, false},
		{"new directory", filepath.Join(dir, "a", "b"), false},
		{"a regular file", file, true},
		{"under a regular file", filepath.Join(file, "out"), true},
	}
	for _, tt := range tests {
		err := CheckWritableDir(tt.path)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: CheckWritableDir(%s) = %v, want error %v", tt.name, tt.path, err, tt.wantErr)
		}
		if tt.wantErr && !os.IsExist(err) && err != nil {
			var pe *os.PathError
			if !errors.As(err, &pe) || pe.Err != syscall.ENOTDIR {
				t.Errorf("%s: %v, want a path error ENOTDIR", tt.name, err)
			}
		}
	}
	// Nothing was created: not the new directory, not a probe file.
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("CheckWritableDir created %s", filepath.Join(dir, "a"))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%s holds %d entries after the checks, want only the file", dir, len(ents))
	}
}
