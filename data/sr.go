package data

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
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
	// MaxSide bounds the longer side of each photograph before crops are
	// cut: a photograph whose longer side exceeds it is first shrunk by the
	// smallest integer factor f that brings that side within MaxSide (but
	// never so far that the shorter side falls below Crop), each pixel the
	// mean of an f×f block rounded to 8 bits, so that the crops show the
	// scene rather than the camera's noise and the JPEG compression's
	// artefacts. Default [DefaultMaxSide]; negative keeps photographs at
	// full size. [DefaultSR] ignores it.
	MaxSide int
}

// DefaultMaxSide is the default [SROptions.MaxSide]: photographs are
// shrunk to at most 512 pixels on their longer side.
const DefaultMaxSide = 512

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
	if o.MaxSide == 0 {
		o.MaxSide = DefaultMaxSide
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

// imageFiles lists the PNG and JPEG files of dir (not recursive), sorted,
// and the names of its other files. Symbolic links count as files (a link
// that leads to no readable file is an error when it is read).
func imageFiles(fsys fs.FS, dir string) (images, others []string, err error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		switch {
		case !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0:
		case isImageFile(e.Name()):
			images = append(images, e.Name())
		default:
			others = append(others, e.Name())
		}
	}
	slices.Sort(images)
	return images, others, nil
}

// folderImages lists the images of the folder dir, or returns an error
// naming the folder when it cannot be read or holds no PNG or JPEG file
// (naming a few of the other files it holds, if any).
func folderImages(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data: %s: is a file, not a folder of PNG or JPEG images", dir)
	}
	names, others, err := imageFiles(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("data: image folder %s: %w", dir, err)
	}
	if len(names) == 0 {
		msg := "it holds no files (subfolders are not read)"
		if len(others) > 0 {
			slices.Sort(others)
			list := strings.Join(others[:min(3, len(others))], ", ")
			if len(others) > 3 {
				list += ", ..."
			}
			msg = fmt.Sprintf("its %d files (%s) are not .png, .jpg or .jpeg", len(others), list)
		}
		return nil, fmt.Errorf("data: %s: no PNG or JPEG images: %s", dir, msg)
	}
	return names, nil
}

// srFile is a photograph to cut pairs from: the file path in fsys, named
// label in errors.
type srFile struct {
	fsys        fs.FS
	path, label string
}

// dirFiles returns the photographs names of the folder dir.
func dirFiles(dir string, names []string) []srFile {
	fsys := os.DirFS(dir)
	files := make([]srFile, len(names))
	for i, n := range names {
		files[i] = srFile{fsys: fsys, path: n, label: filepath.Join(dir, n)}
	}
	return files
}

// LoadSR builds super-resolution pairs from the PNG and JPEG images in dir
// (not recursive, in name order; other files are ignored). Each image
// larger than o.MaxSide is first shrunk by an integer factor
// ([SROptions.MaxSide]). From each image it takes o.CropsPerImage random
// o.Crop×o.Crop crops (or every tile, with o.Tiles); each crop is a target
// in Y, and its bicubic downscale by o.Scale ([ResizeBicubic], clamped to
// [0, 1] and rounded to 8 bits as an image file would hold it) the
// matching input in X. A folder with no image, and every image that
// cannot be decoded or is smaller than a crop, are errors naming the
// folder or each such file. The set is named after dir.
func LoadSR(dir string, o SROptions) (*Set, error) {
	names, err := folderImages(dir)
	if err != nil {
		return nil, err
	}
	return srSet(filepath.Base(filepath.Clean(dir)), dirFiles(dir, names), o)
}

// DefaultSRName is the Name of the sets returned by [DefaultSR].
const DefaultSRName = "photos-embedded"

// DefaultSR builds super-resolution pairs (see [LoadSR]) from the embedded
// public-domain photographs: astronaut, camera, coffee and rocket for
// training, chelsea for testing, used at their size (o.MaxSide does not
// apply; the largest is 640 pixels wide). The training set takes random
// crops as o says; the test set always takes every non-overlapping tile of
// its photo (o.Tiles and o.CropsPerImage do not apply to it), so
// evaluation is deterministic.
func DefaultSR(o SROptions) (train, test *Set, err error) {
	const root = "embedded/photos"
	o.MaxSide = -1
	var sets [2]*Set
	for i, split := range []string{"train", "test"} {
		dir := path.Join(root, split)
		names, _, err := imageFiles(embedded, dir)
		if err != nil {
			return nil, nil, fmt.Errorf("data: embedded photos: %w", err)
		}
		files := make([]srFile, len(names))
		for k, n := range names {
			files[k] = srFile{fsys: embedded, path: path.Join(dir, n), label: path.Join(dir, n)}
		}
		so := o
		if split == "test" {
			so.Tiles = true
		}
		if sets[i], err = srSet(DefaultSRName, files, so); err != nil {
			return nil, nil, err
		}
	}
	return sets[0], sets[1], nil
}

// srSet decodes the files and cuts the pairs. Images are decoded and cut in
// parallel; crop positions come from a random stream per image, seeded by
// o.Seed and the image's index, so the result does not depend on
// scheduling. Every file that fails is reported, each error naming it.
func srSet(name string, files []srFile, o SROptions) (*Set, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	type result struct {
		x, y []float32
		n    int
		err  error
	}
	res := make([]result, len(files))
	c := 3
	if o.Luma {
		c = 1
	}
	lr := o.Crop / o.Scale
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, file := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &res[i]
			b, err := fs.ReadFile(file.fsys, file.path)
			if err != nil {
				r.err = fmt.Errorf("data: %s: %w", file.label, unwrapPath(err))
				return
			}
			p, err := decodeImage(b, file.label, o.Luma, o.MaxSide, o.Crop)
			if err != nil {
				r.err = err
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

// unwrapPath strips the *fs.PathError of a read, whose path the caller
// names itself.
func unwrapPath(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// holdOut splits names deterministically into disjoint training and test
// names: the ⌈n/4⌉ names with the smallest FNV-1a hashes are held out for
// testing, the others train. Both lists keep the order of names.
func holdOut(names []string) (train, test []string) {
	type hashed struct {
		h    uint64
		name string
	}
	hs := make([]hashed, len(names))
	for i, n := range names {
		f := fnv.New64a()
		f.Write([]byte(n))
		hs[i] = hashed{f.Sum64(), n}
	}
	slices.SortFunc(hs, func(a, b hashed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	held := map[string]bool{}
	for _, h := range hs[:(len(names)+3)/4] {
		held[h.name] = true
	}
	for _, n := range names {
		if held[n] {
			test = append(test, n)
		} else {
			train = append(train, n)
		}
	}
	return train, test
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
