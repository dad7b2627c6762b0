package data

import (
	"image"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestWallpaperPhotos(t *testing.T) {
	photos := WallpaperPhotos()
	pkgs := WallpaperPackages()
	if !slices.Equal(pkgs, []string{"plasma-workspace-wallpapers", "mate-backgrounds", "lomiri-wallpapers-16.04"}) {
		t.Errorf("packages %v", pkgs)
	}
	seen := map[string]bool{}
	for _, pkg := range pkgs {
		var n, test int
		for _, p := range photos {
			if p.Package != pkg {
				continue
			}
			n++
			if p.Test {
				test++
			}
		}
		if n < 10 || test != (n+3)/4 {
			t.Errorf("%s: %d photographs, %d held out; want ⌈n/4⌉ of 10 or more", pkg, n, test)
		}
	}
	for _, p := range photos {
		if seen[p.Path] || !strings.HasPrefix(p.Path, "/usr/share/") || !isImageFile(p.Path) || p.Author == "" || p.Licence == "" {
			t.Errorf("bad entry %+v", p)
		}
		seen[p.Path] = true
	}
	// The caller owns the slice.
	photos[0].Path = "changed"
	if WallpaperPhotos()[0].Path == "changed" {
		t.Error("WallpaperPhotos returned the package's own slice")
	}
}

// TestOpenWallpapersMissing checks the error of a machine without the
// packages: it names them and how to install them.
func TestOpenWallpapersMissing(t *testing.T) {
	saved := wallpapers
	defer func() { wallpapers = saved }()
	wallpapers = []Photo{
		{Package: "pkg-a", Path: "/nonexistent/a.jpg", Author: "A", Licence: "CC0-1.0"},
		{Package: "pkg-b", Path: "/nonexistent/b.jpg", Author: "B", Licence: "CC0-1.0"},
	}
	for _, open := range []func() error{
		func() error { _, _, err := OpenWallpapers(SROptions{}); return err },
		func() error { _, _, err := OpenSR(WallpapersName, SROptions{}); return err },
	} {
		err := open()
		for _, want := range []string{"pkg-a, pkg-b", "/nonexistent/a.jpg", "apt-get install --no-install-recommends pkg-a pkg-b"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not mention %q", err, want)
			}
		}
	}
	if _, _, err := Open(WallpapersName); err == nil || !strings.Contains(err.Error(), "super-resolution") {
		t.Errorf("Open(%q): error %v, want one saying it is for super-resolution", WallpapersName, err)
	}
}

// TestOpenWallpapers loads the installed corpus (.ci/run installs its
// packages) and checks the test tiles against the photographs' sizes.
func TestOpenWallpapers(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 35 large photographs")
	}
	var missing []string
	for _, p := range WallpaperPhotos() {
		if _, err := os.Stat(p.Path); err != nil && !slices.Contains(missing, p.Package) {
			missing = append(missing, p.Package)
		}
	}
	if len(missing) > 0 {
		t.Skipf("Debian packages %s not installed (apt-get install %s)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	const crop = 64
	train, test, err := OpenWallpapers(SROptions{Scale: 2, Crop: crop, CropsPerImage: 2, Luma: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var nTrain, tiles int
	for _, p := range WallpaperPhotos() {
		if !p.Test {
			nTrain++
			continue
		}
		f, err := os.Open(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p.Path, err)
		}
		k := reduceFactor(cfg.Height, cfg.Width, DefaultMaxSide)
		tiles += (cfg.Width / k / crop) * (cfg.Height / k / crop)
	}
	if train.N != 2*nTrain || test.N != tiles || train.Name != WallpapersName {
		t.Errorf("train N=%d, test N=%d (%s): want %d crops and %d tiles", train.N, test.N, train.Name, 2*nTrain, tiles)
	}
	for _, s := range []*Set{train, test} {
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
		if s.C != 1 || s.H != crop/2 || s.TH != crop {
			t.Errorf("%d×%d×%d → %d×%d", s.C, s.H, s.W, s.TH, s.TW)
		}
	}
	// Photographs, not flat colours: the test targets span most of [0, 1].
	if lo, hi := slices.Min(test.Y), slices.Max(test.Y); hi-lo < 0.7 {
		t.Errorf("test targets span only [%v, %v]", lo, hi)
	}
}
