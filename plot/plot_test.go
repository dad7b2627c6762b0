package plot

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePNGSize(t *testing.T) {
	cases := []struct {
		name string
		c    Chart
		w, h int
	}{
		{"default size", Chart{Title: "acc", Series: []Series{{Label: "a", X: []float64{12, 13, 14}, Y: []float64{0.5, 0.8, 0.9}}}}, 800, 560},
		{"custom size, markers, ref", Chart{Width: 400, Height: 300, IntegerX: true,
			Series: []Series{{Label: "pts", X: []float64{1, 2}, Y: []float64{3, 4}, Markers: true}},
			Refs:   []Ref{{Label: "float", Y: 5}}}, 400, 300},
		{"NaN points skipped", Chart{Width: 320, Height: 240,
			Series: []Series{{Label: "n", X: []float64{1, math.NaN(), 3}, Y: []float64{1, 2, math.Inf(1)}}}}, 320, 240},
		{"one point", Chart{Width: 200, Height: 200, IntegerX: true, Series: []Series{{Label: "b", X: []float64{25}, Y: []float64{0.9}}}}, 200, 200},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := c.c.WritePNG(&buf); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Errorf("%s: decoding: %v", c.name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%s: image %dx%d, want %dx%d", c.name, b.Dx(), b.Dy(), c.w, c.h)
		}
		if colours(img) < 3 {
			t.Errorf("%s: image has fewer than 3 colours: nothing drawn", c.name)
		}
	}
}

// colours counts the distinct colours of img (up to 16).
func colours(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
			if len(seen) >= 16 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// A series' colour shows up in the image: drawing it adds pixels of that colour.
func TestSeriesDrawn(t *testing.T) {
	base := Chart{Width: 300, Height: 200, Refs: []Ref{{Label: "r", Y: 1}}}
	with := base
	with.Series = []Series{{Label: "s", X: []float64{0, 1, 2}, Y: []float64{0, 2, 1}, Style: 1}}
	count := func(c Chart) int {
		var buf bytes.Buffer
		if err := c.WritePNG(&buf); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				// Style 1 is plotutil's soft green (122, 195, 106).
				if r>>8 == 122 && g>>8 == 195 && bl>>8 == 106 {
					n++
				}
			}
		}
		return n
	}
	if n := count(base); n != 0 {
		t.Errorf("chart without the series has %d green pixels", n)
	}
	if n := count(with); n < 20 {
		t.Errorf("chart with the series has %d green pixels, want a drawn line", n)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, want string
		c          Chart
	}{
		{"empty", "nothing to draw", Chart{Title: "e"}},
		{"length mismatch", `series "bad"`, Chart{Title: "m", Series: []Series{{Label: "bad", X: []float64{1}, Y: []float64{1, 2}}}}},
		{"negative size", "size", Chart{Title: "s", Width: -1, Series: []Series{{X: []float64{1}, Y: []float64{1}}}}},
	}
	for _, c := range cases {
		err := c.c.WritePNG(&bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.png")
	c := Chart{Width: 240, Height: 180, Series: []Series{{Label: "a", X: []float64{1, 2}, Y: []float64{1, 2}}}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 240 || cfg.Height != 180 {
		t.Errorf("saved PNG: %+v, %v", cfg, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d files, want only the PNG (no temporary left)", len(ents))
	}
	if err := c.Save(filepath.Join(dir, "missing", "c.png")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("saving into a missing directory: %v", err)
	}
}
