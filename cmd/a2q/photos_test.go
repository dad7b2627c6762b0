package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainPhotoFolder runs train on a folder of photographs: it is split
// into training and test photographs, and a corrupt image among good ones
// is a usage error (exit 2) naming the file.
func TestTrainPhotoFolder(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a.png", "b.png", "c.png", "d.png"} {
		m := image.NewGray(image.Rect(0, 0, 80, 72))
		for y := range 72 {
			for x := range 80 {
				m.SetGray(x, y, color.Gray{uint8(x*3 + y*y + 40*i)})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"train", "--model", "espcn", "--quant", "float", "--epochs", "0", "--data", dir, "--json"}
	code, stdout, stderr := runArgs(t, append(args, "--out", filepath.Join(t.TempDir(), "ok"))...)
	if code != 0 || !strings.Contains(stdout, `"test_psnr"`) {
		t.Fatalf("exit %d on a good folder: %s%s", code, stdout, stderr)
	}
	bad := filepath.Join(dir, "e.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff\xe0 truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runArgs(t, append(args, "--out", filepath.Join(t.TempDir(), "bad"))...)
	if code != 2 || !strings.Contains(stderr, "--data") || !strings.Contains(stderr, bad) {
		t.Errorf("corrupt JPEG: exit %d, stderr %q; want 2 naming --data and %s", code, stderr, bad)
	}
}
