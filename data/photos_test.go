package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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

// pngBytes encodes an RGB image of w×h pixels whose pixel (x, y) is pix(x, y).
func pngBytes(t testing.TB, w, h int, pix func(x, y int) color.RGBA) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, pix(x, y))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegBytes encodes a textured w×h JPEG.
func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x * y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// level is a flat grey image of the given level.
func level(v uint8) func(x, y int) color.RGBA {
	return func(x, y int) color.RGBA { return color.RGBA{v, v, v, 255} }
}

func TestReduceFactor(t *testing.T) {
	tests := []struct{ h, w, maxSide, want int }{
		{100, 200, 512, 1},
		{512, 300, 512, 1},
		{513, 300, 512, 2},
		{1600, 2560, 512, 5},
		{2988, 5312, 512, 11},
		{1024, 1280, 512, 3},
		{3000, 3000, 0, 1},
		{3000, 3000, -1, 1},
	}
	for _, tt := range tests {
		f := reduceFactor(tt.h, tt.w, tt.maxSide)
		if f != tt.want {
			t.Errorf("reduceFactor(%d, %d, %d) = %d, want %d", tt.h, tt.w, tt.maxSide, f, tt.want)
		}
		if tt.maxSide > 0 && max(tt.h, tt.w)/f > tt.maxSide {
			t.Errorf("reduceFactor(%d, %d, %d) = %d leaves a side of %d", tt.h, tt.w, tt.maxSide, f, max(tt.h, tt.w)/f)
		}
	}
}

func TestReduceRGB(t *testing.T) {
	const h, w = 11, 14
	m := &rgbImage{h: h, w: w, pix: make([]uint8, 3*h*w)}
	for i := range m.pix {
		m.pix[i] = uint8((i * 37) % 256)
	}
	for _, f := range []int{1, 2, 3, 5} {
		r := reduceRGB(m, f)
		if r.h != h/f || r.w != w/f || len(r.pix) != 3*r.h*r.w {
			t.Fatalf("f=%d: %d×%d (%d values), want %d×%d", f, r.w, r.h, len(r.pix), w/f, h/f)
		}
		for y := range r.h {
			for x := range r.w {
				for c := range 3 {
					sum := 0
					for dy := range f {
						for dx := range f {
							sum += int(m.pix[3*((y*f+dy)*w+x*f+dx)+c])
						}
					}
					want := math.Round(float64(sum) / float64(f*f))
					if got := r.pix[3*(y*r.w+x)+c]; math.Abs(float64(got)-want) > 0.5 {
						t.Fatalf("f=%d (%d,%d) channel %d = %d, want the block mean %v", f, x, y, c, got, want)
					}
				}
			}
		}
	}
}

// TestLoadSRShrinks checks that a large photograph is shrunk by block
// averaging before its tiles are cut, and kept whole with a negative MaxSide.
func TestLoadSRShrinks(t *testing.T) {
	dir := t.TempDir()
	// 200×100, a vertical stripe pattern of period 4: shrunk by 4 it is flat.
	stripes := func(x, y int) color.RGBA {
		v := uint8(0)
		if x%4 >= 2 {
			v = 200
		}
		return color.RGBA{v, v, v, 255}
	}
	writeFile(t, filepath.Join(dir, "a.png"), pngBytes(t, 200, 100, stripes))
	tests := []struct {
		maxSide, n int
		flat       bool
	}{
		{64, (50 / 16) * (25 / 16), true}, // f = 4: 50×25
		{100, (100 / 16) * (50 / 16), false},
		{-1, (200 / 16) * (100 / 16), false},
	}
	for _, tt := range tests {
		s, err := LoadSR(dir, SROptions{Scale: 2, Crop: 16, Tiles: true, Luma: true, MaxSide: tt.maxSide})
		if err != nil {
			t.Fatal(err)
		}
		if s.N != tt.n {
			t.Errorf("MaxSide %d: %d tiles, want %d", tt.maxSide, s.N, tt.n)
		}
		lo, hi := slices.Min(s.Y), slices.Max(s.Y)
		if flat := hi-lo < 1e-6; flat != tt.flat {
			t.Errorf("MaxSide %d: targets span [%v, %v], flat = %v, want %v", tt.maxSide, lo, hi, flat, tt.flat)
		}
		if tt.flat && math.Abs(float64(lo)-100.0/255) > 1e-6 {
			t.Errorf("MaxSide %d: flat level %v, want the stripes' mean 100/255", tt.maxSide, lo*255)
		}
	}
	// A MaxSide below the crop shrinks no further than the crop.
	s, err := LoadSR(dir, SROptions{Scale: 2, Crop: 40, Tiles: true, MaxSide: 8})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 {
		t.Errorf("MaxSide below the crop: %d tiles, want 2 of the image shrunk by 2", s.N)
	}
}

func TestHoldOut(t *testing.T) {
	for n := range 21 {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("img%02d.jpg", i)
		}
		train, test := holdOut(names)
		if len(test) != (n+3)/4 || len(train)+len(test) != n {
			t.Errorf("n=%d: %d training and %d test names, want %d test", n, len(train), len(test), (n+3)/4)
		}
		all := append(slices.Clone(train), test...)
		slices.Sort(all)
		if !slices.Equal(all, names) {
			t.Errorf("n=%d: training %v and test %v do not partition the names", n, train, test)
		}
		for _, s := range [][]string{train, test} {
			if !slices.IsSorted(s) {
				t.Errorf("n=%d: %v lost the names' order", n, s)
			}
		}
		// The split depends on the names only, not their order.
		rev := slices.Clone(names)
		slices.Reverse(rev)
		_, test2 := holdOut(rev)
		slices.Sort(test2)
		if !slices.Equal(test, test2) {
			t.Errorf("n=%d: reversed names hold out %v, not %v", n, test2, test)
		}
	}
}

// TestOpenSRFolderSplit checks that a folder without train/ and test/ is
// split into disjoint photographs: each image is a flat grey of its own
// level, so a target's level tells its photograph.
func TestOpenSRFolderSplit(t *testing.T) {
	dir := t.TempDir()
	const n = 8 // and a link
	var names []string
	for i := range n {
		name := fmt.Sprintf("p%d.png", i)
		names = append(names, name)
		writeFile(t, filepath.Join(dir, name), pngBytes(t, 40, 32, level(uint8(20*i+10))))
	}
	writeFile(t, filepath.Join(dir, "README.txt"), []byte("ignored"))
	// A link to a photograph counts as one.
	elsewhere := filepath.Join(t.TempDir(), "linked.png")
	writeFile(t, elsewhere, pngBytes(t, 40, 32, level(250)))
	if err := os.Symlink(elsewhere, filepath.Join(dir, "p8.png")); err != nil {
		t.Fatal(err)
	}
	names = append(names, "p8.png")
	train, test, err := OpenSR(dir, SROptions{Crop: 16, CropsPerImage: 3})
	if err != nil {
		t.Fatal(err)
	}
	levels := func(s *Set) map[int]bool {
		m := map[int]bool{}
		for _, v := range s.Y {
			m[int(math.Round(float64(v)*255))] = true
		}
		return m
	}
	trL, teL := levels(train), levels(test)
	wantTrain, wantTest := holdOut(names)
	if len(trL) != len(wantTrain) || len(teL) != len(wantTest) || len(teL) != 3 {
		t.Fatalf("training photographs %v, test photographs %v: want %d and %d", trL, teL, len(wantTrain), len(wantTest))
	}
	for l := range teL {
		if trL[l] {
			t.Errorf("photograph of level %d in both the training and the test set", l)
		}
	}
	if train.N != 3*len(wantTrain) || test.N != len(wantTest)*(2*2) {
		t.Errorf("train N=%d, test N=%d: want %d random crops and %d tiles", train.N, test.N, 3*len(wantTrain), 4*len(wantTest))
	}
}

// TestSRBadInput checks that bad photographs and folders are errors that
// name the file or folder at fault (every bad file at once), never panics.
func TestSRBadInput(t *testing.T) {
	good := pngBytes(t, 40, 40, level(100))
	jpg := jpegBytes(t, 48, 40)
	// A PNG whose header claims 20000×20000 pixels.
	huge := append([]byte(nil), pngBytes(t, 1, 1, level(1))...)
	copy(huge[16:24], []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20})
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29])) // IHDR's CRC
	tests := []struct {
		name  string
		files map[string][]byte
		dirs  []string
		want  []string
	}{
		{"empty folder", nil, nil, []string{"no PNG or JPEG", "no files"}},
		{"subfolder only", nil, []string{"photos"}, []string{"no PNG or JPEG", "subfolders are not read"}},
		{"no image files", map[string][]byte{"notes.txt": []byte("x"), "b.webp": []byte("y")}, nil,
			[]string{"no PNG or JPEG", "2 files (b.webp, notes.txt)"}},
		{"many non-image files", map[string][]byte{"1.gif": nil, "2.gif": nil, "3.gif": nil, "4.gif": nil}, nil,
			[]string{"4 files (1.gif, 2.gif, 3.gif, ...)"}},
		{"one image", map[string][]byte{"a.png": good}, nil, []string{"a.png", "two images"}},
		{"corrupt JPEG among good ones", map[string][]byte{"a.png": good, "b.jpg": jpg, "c.png": good, "d.jpg": jpg[:len(jpg)/2], "e.png": good}, nil,
			[]string{"d.jpg"}},
		{"truncated PNG", map[string][]byte{"a.png": good, "b.jpg": jpg, "c.png": good[:len(good)-20]}, nil, []string{"c.png"}},
		{"text named .jpg", map[string][]byte{"a.png": good, "b.jpg": []byte("hello, world")}, nil, []string{"b.jpg", "not a readable"}},
		{"empty .png", map[string][]byte{"a.png": good, "b.png": nil}, nil, []string{"b.png"}},
		{"tiny image", map[string][]byte{"a.png": good, "b.jpg": jpg, "tiny.png": pngBytes(t, 10, 50, level(3))}, nil,
			[]string{"tiny.png", "10×50", "smaller"}},
		{"huge header", map[string][]byte{"a.png": good, "b.jpg": jpg, "big.png": huge}, nil, []string{"big.png", "20000×20000", "limit"}},
		{"two bad files", map[string][]byte{"a.png": good, "b.jpg": jpg[:100], "c.png": good, "d.png": []byte("\x89PNG\r\n\x1a\n")}, nil,
			[]string{"b.jpg", "d.png"}},
		{"train without test", map[string][]byte{"a.png": good, "b.png": good}, []string{"train"}, []string{"not both"}},
		{"dangling link", map[string][]byte{"a.png": good, "b.png": good}, []string{"->gone.png"}, []string{"gone.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				writeFile(t, filepath.Join(dir, name), b)
			}
			for _, d := range tt.dirs {
				var err error
				if link, ok := strings.CutPrefix(d, "->"); ok {
					err = os.Symlink(filepath.Join(dir, "missing.png"), filepath.Join(dir, link))
				} else {
					err = os.Mkdir(filepath.Join(dir, d), 0o755)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := OpenSR(dir, SROptions{Crop: 32, CropsPerImage: 2})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A file, and a missing path, given as the folder.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.png"), good)
	for _, spec := range []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "missing")} {
		if _, _, err := OpenSR(spec, SROptions{}); err == nil || !strings.Contains(err.Error(), spec) {
			t.Errorf("OpenSR(%s): error %v, want one naming it", spec, err)
		}
	}
}

// TestDecodeTruncated decodes every prefix of a PNG and a JPEG: each is an
// image or an error naming the file, never a panic.
func TestDecodeTruncated(t *testing.T) {
	for name, b := range map[string][]byte{
		"t.png": pngBytes(t, 24, 17, func(x, y int) color.RGBA { return color.RGBA{uint8(x * 9), uint8(y * 13), 7, 255} }),
		"t.jpg": jpegBytes(t, 24, 17),
	} {
		for n := range len(b) {
			p, err := decodeImage(b[:n], name, n%2 == 0, 16, 1)
			if err != nil {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("%s truncated to %d bytes: error %q does not name the file", name, n, err)
				}
				continue
			}
			if p.w != 12 || p.h != 8 {
				t.Fatalf("%s truncated to %d bytes decodes to %d×%d", name, n, p.w, p.h)
			}
		}
	}
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(pngBytes(f, 5, 3, level(9)))
	f.Add(jpegBytes(f, 9, 17))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeImage(b, "fuzz.img", len(b)%2 == 0, 8, 1)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.img") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if p.h <= 0 || p.w <= 0 || max(p.h, p.w) > 8 || len(p.pix) != p.c*p.h*p.w {
			t.Fatalf("decoded %d×%d×%d with %d values", p.c, p.h, p.w, len(p.pix))
		}
	})
}

// TestShrinkKeepsCrop checks that shrinking stops before the shorter side
// falls below a crop, and that an image too thin even unshrunk is an error
// giving its size.
func TestShrinkKeepsCrop(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pano.png"), pngBytes(t, 1200, 140, level(50)))
	// 1200/3 fits 512 but 140/3 < 64: shrunk by 2 to 600×70.
	s, err := LoadSR(dir, SROptions{Crop: 64, Tiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 600/64 {
		t.Errorf("%d tiles, want %d", s.N, 600/64)
	}
	writeFile(t, filepath.Join(dir, "pano.png"), pngBytes(t, 1200, 50, level(50)))
	_, err = LoadSR(dir, SROptions{Crop: 64})
	if err == nil || !strings.Contains(err.Error(), "pano.png: image is 1200×50, smaller than the 64×64 crop") {
		t.Errorf("error %v", err)
	}
}
