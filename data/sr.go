package data

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// SROptions configures the super-resolution pairs cut from photographs.
// The zero value of each field selects its default.
type SROptions struct {
	// Scale is the upscaling factor: inputs are Crop/Scale pixels on a side.
	// Default 2.
	Scale int
	// Crop is the side of the high-resolution crops (the targets); it must
	// be a multiple of Scale. Default 32·Scale.
	Crop int
	// CropsPerImage is the number of random crops taken from each image.
	// Default 16. Ignored when Tiles is set.
	CropsPerImage int
	// Luma selects the luminance channel only (C = 1): Y of YCbCr,
	// BT.601 full range as PIL's convert("YCbCr"), Y = 0.299 R + 0.587 G +
	// 0.114 B, rounded to 8 bits. Otherwise the crops are RGB (C = 3).
	Luma bool
	// Seed seeds the positions of the random crops.
	Seed int64
	// Tiles takes every non-overlapping Crop×Crop tile of each image, in
	// raster order from the top-left corner, instead of random crops: a
	// deterministic evaluation set.
	Tiles bool
}

// withDefaults fills in defaults and checks the options.
func (o SROptions) withDefaults() (SROptions, error) {
	if o.Scale == 0 {
		o.Scale = 2
	}
	if o.Scale < 2 || o.Scale > 8 {
		return o, fmt.Errorf("data: super-resolution scale %d out of range [2, 8]", o.Scale)
	}
	if o.Crop == 0 {
		o.Crop = 32 * o.Scale
	}
	if o.Crop < o.Scale || o.Crop%o.Scale != 0 {
		return o, fmt.Errorf("data: super-resolution crop %d is not a positive multiple of the scale %d", o.Crop, o.Scale)
	}
	if o.CropsPerImage == 0 {
		o.CropsPerImage = 16
	}
	if o.CropsPerImage < 0 {
		return o, fmt.Errorf("data: super-resolution crops per image %d is negative", o.CropsPerImage)
	}
	return o, nil
}

// isImageFile reports whether name has a PNG or JPEG extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// imageFiles lists the PNG and JPEG files of dir (not recursive), sorted.
func imageFiles(fsys fs.FS, dir string) ([]string, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && isImageFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// LoadSR builds super-resolution pairs from the PNG and JPEG images in dir
// (not recursive, in name order). From each image it takes
// o.CropsPerImage random o.Crop×o.Crop crops (or every tile, with
// o.Tiles); each crop is a target in Y, and its bicubic downscale by
// o.Scale ([ResizeBicubic], clamped to [0, 1] and rounded to 8 bits as an
// image file would hold it) the matching input in X. Images smaller than a
// crop are an error naming the file. The set is named after dir.
func LoadSR(dir string, o SROptions) (*Set, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	names, err := imageFiles(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("data: image folder %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: %s: no PNG or JPEG images", dir)
	}
	return srSet(filepath.Base(filepath.Clean(dir)), os.DirFS(dir), dir, ".", names, o)
}

// DefaultSRName is the Name of the sets returned by [DefaultSR].
const DefaultSRName = "photos-embedded"

// DefaultSR builds super-resolution pairs (see [LoadSR]) from the embedded
// public-domain photographs: astronaut, camera, coffee and rocket for
// training, chelsea for testing. The training set takes random crops as o
// says; the test set always takes every non-overlapping tile of its photo
// (o.Tiles and o.CropsPerImage do not apply to it), so evaluation is
// deterministic.
func DefaultSR(o SROptions) (train, test *Set, err error) {
	const root = "embedded/photos"
	var sets [2]*Set
	for i, split := range []string{"train", "test"} {
		dir := path.Join(root, split)
		names, err := imageFiles(embedded, dir)
		if err != nil {
			return nil, nil, fmt.Errorf("data: embedded photos: %w", err)
		}
		so := o
		if split == "test" {
			so.Tiles = true
		}
		if sets[i], err = srSet(DefaultSRName, embedded, dir, dir, names, so); err != nil {
			return nil, nil, err
		}
	}
	return sets[0], sets[1], nil
}

// srSet decodes the images names of fsys/dir (errors name them under
// label) and cuts the pairs. Images are decoded and cut in parallel; crop
// positions come from a random stream per image, seeded by o.Seed and the
// image's index, so the result does not depend on scheduling.
func srSet(name string, fsys fs.FS, label, dir string, names []string, o SROptions) (*Set, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	type result struct {
		x, y []float32
		n    int
		err  error
	}
	res := make([]result, len(names))
	c := 3
	if o.Luma {
		c = 1
	}
	lr := o.Crop / o.Scale
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, file := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &res[i]
			full := filepath.Join(label, file)
			b, err := fs.ReadFile(fsys, path.Join(dir, file))
			if err != nil {
				r.err = fmt.Errorf("data: %w", err)
				return
			}
			p, err := decodeImage(b, full, o.Luma)
			if err != nil {
				r.err = err
				return
			}
			if p.h < o.Crop || p.w < o.Crop {
				r.err = fmt.Errorf("data: %s: image is %d×%d, smaller than the %d×%d crop", full, p.w, p.h, o.Crop, o.Crop)
				return
			}
			pos := cropPositions(p.h, p.w, o, uint64(i))
			r.n = len(pos)
			r.y = make([]float32, r.n*c*o.Crop*o.Crop)
			r.x = make([]float32, r.n*c*lr*lr)
			for k, yx := range pos {
				hr := r.y[k*c*o.Crop*o.Crop : (k+1)*c*o.Crop*o.Crop]
				p.crop(hr, yx[0], yx[1], o.Crop)
				for ch := range c {
					dst := r.x[(k*c+ch)*lr*lr : (k*c+ch+1)*lr*lr]
					ResizeBicubic(dst, lr, lr, hr[ch*o.Crop*o.Crop:(ch+1)*o.Crop*o.Crop], o.Crop, o.Crop)
					quantize8(dst)
				}
			}
		}()
	}
	wg.Wait()
	var errs []error
	n := 0
	for _, r := range res {
		errs = append(errs, r.err)
		n += r.n
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Set{Name: name, N: n, C: c, H: lr, W: lr, TC: c, TH: o.Crop, TW: o.Crop,
		X: make([]float32, 0, n*c*lr*lr), Y: make([]float32, 0, n*c*o.Crop*o.Crop)}
	for _, r := range res {
		s.X = append(s.X, r.x...)
		s.Y = append(s.Y, r.y...)
	}
	return s, nil
}

// cropPositions returns the top-left corners of the crops of an h×w image:
// every tile, or o.CropsPerImage uniform random positions drawn from a
// stream seeded by (o.Seed, stream).
func cropPositions(h, w int, o SROptions, stream uint64) [][2]int {
	var pos [][2]int
	if o.Tiles {
		for y := 0; y+o.Crop <= h; y += o.Crop {
			for x := 0; x+o.Crop <= w; x += o.Crop {
				pos = append(pos, [2]int{y, x})
			}
		}
		return pos
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), stream))
	for range o.CropsPerImage {
		pos = append(pos, [2]int{rng.IntN(h - o.Crop + 1), rng.IntN(w - o.Crop + 1)})
	}
	return pos
}

// quantize8 clamps v to [0, 1] and rounds it to the nearest multiple of
// 1/255, as storing it in an 8-bit image would.
func quantize8(v []float32) {
	for i, x := range v {
		q := math.Round(float64(min(max(x, 0), 1)) * 255)
		v[i] = byteToUnit[uint8(q)]
	}
}
