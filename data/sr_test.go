package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCubicKernel(t *testing.T) {
	// Interpolating kernel: 1 at 0, 0 at the other integers, and its
	// integer translates sum to 1 (partition of unity).
	tests := []struct{ x, want float64 }{{0, 1}, {1, 0}, {-1, 0}, {2, 0}, {2.5, 0}, {0.5, 0.5625}, {1.5, -0.0625}}
	for _, tt := range tests {
		if got := cubic(tt.x); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("cubic(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	for _, f := range []float64{0, 0.1, 0.33, 0.5, 0.9} {
		sum := cubic(f+1) + cubic(f) + cubic(f-1) + cubic(f-2)
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("weights at fraction %v sum to %v", f, sum)
		}
	}
}

func TestResizeBicubic(t *testing.T) {
	sizes := []struct{ h, w, oh, ow int }{
		{24, 24, 12, 12}, // ×2 down
		{27, 18, 9, 6},   // ×3 down
		{10, 16, 20, 32}, // ×2 up
		{7, 11, 5, 4},    // non-integer
	}
	for _, sz := range sizes {
		src := make([]float32, sz.h*sz.w)
		dst := make([]float32, sz.oh*sz.ow)
		// Constant in, constant out.
		for i := range src {
			src[i] = 0.37
		}
		ResizeBicubic(dst, sz.oh, sz.ow, src, sz.h, sz.w)
		for i, v := range dst {
			if math.Abs(float64(v)-0.37) > 1e-6 {
				t.Fatalf("%v constant: dst[%d] = %v, want 0.37", sz, i, v)
			}
		}
		// A linear ramp f(y, x) = a + b·y + c·x stays linear in the
		// interior (cubic convolution reproduces linear functions), sampled
		// at the aligned centres (o+0.5)·scale − 0.5.
		f := func(y, x float64) float64 { return 0.1 + 0.02*y + 0.03*x }
		for y := range sz.h {
			for x := range sz.w {
				src[y*sz.w+x] = float32(f(float64(y), float64(x)))
			}
		}
		ResizeBicubic(dst, sz.oh, sz.ow, src, sz.h, sz.w)
		sy, sx := float64(sz.h)/float64(sz.oh), float64(sz.w)/float64(sz.ow)
		for oy := range sz.oh {
			for ox := range sz.ow {
				cy, cx := (float64(oy)+0.5)*sy-0.5, (float64(ox)+0.5)*sx-0.5
				if cy < 1 || cx < 1 || cy > float64(sz.h)-2 || cx > float64(sz.w)-2 {
					continue // the border is replicated, not extrapolated
				}
				if got, want := float64(dst[oy*sz.ow+ox]), f(cy, cx); math.Abs(got-want) > 1e-5 {
					t.Fatalf("%v ramp: dst(%d,%d) = %v, want %v", sz, oy, ox, got, want)
				}
			}
		}
	}
	// ×3 without antialiasing picks the centre of each 3×3 block.
	src := make([]float32, 9*9)
	for i := range src {
		src[i] = float32(i%7) / 7
	}
	dst := make([]float32, 9)
	ResizeBicubic(dst, 3, 3, src, 9, 9)
	for oy := range 3 {
		for ox := range 3 {
			if got, want := dst[oy*3+ox], src[(3*oy+1)*9+3*ox+1]; math.Abs(float64(got-want)) > 1e-6 {
				t.Errorf("×3 dst(%d,%d) = %v, want centre %v", oy, ox, got, want)
			}
		}
	}
}

// writeImages writes a PNG (RGB gradient), a grey PNG and a JPEG into dir.
func writeImages(t *testing.T, dir string, w, h int) {
	t.Helper()
	rgb := image.NewRGBA(image.Rect(0, 0, w, h))
	grey := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			rgb.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
			grey.SetGray(x, y, color.Gray{uint8((x + y) % 256)})
		}
	}
	save := func(name string, enc func(f *os.File) error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := enc(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	save("a.png", func(f *os.File) error { return png.Encode(f, rgb) })
	save("b.png", func(f *os.File) error { return png.Encode(f, grey) })
	save("c.JPG", func(f *os.File) error { return jpeg.Encode(f, rgb, &jpeg.Options{Quality: 95}) })
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
}

func TestLoadSR(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir, 50, 40)
	tests := []struct {
		o       SROptions
		n, c    int
		lr, hr  int
		isTiles bool
	}{
		{SROptions{Scale: 2, Crop: 16, CropsPerImage: 5, Luma: true, Seed: 1}, 15, 1, 8, 16, false},
		{SROptions{Scale: 3, Crop: 18, CropsPerImage: 2}, 6, 3, 6, 18, false},
		{SROptions{Scale: 2, Crop: 20, Tiles: true, Luma: true}, 3 * 4, 1, 10, 20, true}, // 2×2 tiles per image
		{SROptions{}, 3 * 16, 3, 32, 64, false},
	}
	for _, tt := range tests {
		if tt.o.Crop == 0 { // the default 64×64 crop needs bigger images
			dir = t.TempDir()
			writeImages(t, dir, 70, 66)
		}
		s, err := LoadSR(dir, tt.o)
		if err != nil {
			t.Fatalf("%+v: %v", tt.o, err)
		}
		if s.N != tt.n || s.C != tt.c || s.H != tt.lr || s.W != tt.lr || s.TC != tt.c || s.TH != tt.hr || s.TW != tt.hr || s.Labels != nil {
			t.Fatalf("%+v: got N=%d %d×%d×%d → %d×%d×%d, want N=%d %d×%d×%d → %d×%d×%d", tt.o,
				s.N, s.C, s.H, s.W, s.TC, s.TH, s.TW, tt.n, tt.c, tt.lr, tt.lr, tt.c, tt.hr, tt.hr)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		// Each input is the 8-bit bicubic downscale of its target.
		lr := make([]float32, tt.lr*tt.lr)
		for i := range s.N {
			for ch := range s.C {
				hr := s.Target(i)[ch*tt.hr*tt.hr : (ch+1)*tt.hr*tt.hr]
				ResizeBicubic(lr, tt.lr, tt.lr, hr, tt.hr, tt.hr)
				in := s.Example(i)[ch*tt.lr*tt.lr : (ch+1)*tt.lr*tt.lr]
				for k := range lr {
					if d := math.Abs(float64(in[k] - min(max(lr[k], 0), 1))); d > 0.5/255+1e-6 {
						t.Fatalf("%+v: example %d channel %d pixel %d: input %v, downscaled target %v", tt.o, i, ch, k, in[k], lr[k])
					}
					if q := float64(in[k]) * 255; math.Abs(q-math.Round(q)) > 1e-3 {
						t.Fatalf("%+v: input %v not on the 8-bit grid", tt.o, in[k])
					}
				}
			}
		}
		// Same seed, same crops.
		again, err := LoadSR(dir, tt.o)
		if err != nil || !slices.Equal(again.Y, s.Y) {
			t.Errorf("%+v: second load differs (%v)", tt.o, err)
		}
	}
	// The tiles of the gradient PNG a.png (first image) start at the
	// top-left corner: its red channel is x·255/w.
	s, err := LoadSR(dir, SROptions{Scale: 2, Crop: 20, Tiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Target(1)[5], float32(uint8((20+5)*255/70))/255; got != want {
		t.Errorf("tile 1 red (0,5) = %v, want %v", got, want)
	}
	// Different seeds give different crops.
	s1, _ := LoadSR(dir, SROptions{Seed: 1, Crop: 16})
	s2, _ := LoadSR(dir, SROptions{Seed: 2, Crop: 16})
	if slices.Equal(s1.Y, s2.Y) {
		t.Error("seeds 1 and 2 gave the same crops")
	}
}

func TestLoadSRErrors(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir, 30, 30)
	os.WriteFile(filepath.Join(dir, "d.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	tests := []struct {
		dir  string
		o    SROptions
		want string
	}{
		{dir, SROptions{Crop: 16}, "d.png"},              // corrupt image named
		{dir, SROptions{Scale: 2, Crop: 15}, "multiple"}, // crop not a multiple
		{dir, SROptions{Scale: 1}, "scale"},
		{dir, SROptions{Crop: 16, CropsPerImage: -1}, "negative"},
		{t.TempDir(), SROptions{}, "no PNG"},
		{filepath.Join(dir, "missing"), SROptions{}, "missing"},
	}
	for _, tt := range tests {
		if _, err := LoadSR(tt.dir, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadSR(%s, %+v): error %v, want one mentioning %q", tt.dir, tt.o, err, tt.want)
		}
	}
	os.Remove(filepath.Join(dir, "d.png"))
	if _, err := LoadSR(dir, SROptions{Crop: 32}); err == nil || !strings.Contains(err.Error(), "a.png") || !strings.Contains(err.Error(), "smaller") {
		t.Errorf("small image: error %v", err)
	}
}

func TestDefaultSR(t *testing.T) {
	train, test, err := DefaultSR(SROptions{Scale: 3, Crop: 48, CropsPerImage: 4, Luma: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 4*4 || train.C != 1 || train.H != 16 || train.TH != 48 {
		t.Errorf("train N=%d C=%d H=%d TH=%d, want 16 crops of 1×16×16 → 48×48", train.N, train.C, train.H, train.TH)
	}
	// chelsea.png is 451×300: 9×6 tiles of 48.
	if test.N != 9*6 || test.C != 1 || test.TW != 48 {
		t.Errorf("test N=%d C=%d TW=%d, want 54 tiles", test.N, test.C, test.TW)
	}
	for _, s := range []*Set{train, test} {
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
	}
	// Photos are not flat: targets vary.
	var lo, hi float32 = 1, 0
	for _, v := range test.Y {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo < 0.5 {
		t.Errorf("test targets span [%v, %v]; the photo looks flat", lo, hi)
	}
	if _, _, err := OpenSR("", SROptions{Crop: 7}); err == nil {
		t.Error("OpenSR with a bad crop succeeded")
	}
}

func TestOpenSR(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"train", "test"} {
		os.Mkdir(filepath.Join(dir, sub), 0o755)
	}
	writeImages(t, filepath.Join(dir, "train"), 40, 40)
	writeImages(t, filepath.Join(dir, "test"), 20, 40)
	train, test, err := OpenSR(dir, SROptions{Crop: 20, CropsPerImage: 3})
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 9 || test.N != 3*2 {
		t.Errorf("train N=%d test N=%d, want 9 random crops and 6 tiles", train.N, test.N)
	}
}
