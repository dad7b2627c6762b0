package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// DebianFashionMNIST is where Debian's dataset-fashion-mnist package
// installs the gzipped Fashion-MNIST IDX files.
const DebianFashionMNIST = "/usr/share/datasets/fashion-mnist"

// byteToUnit maps a pixel byte to [0, 1].
var byteToUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// bytesToUnit converts pixel bytes to float32 values in [0, 1], splitting
// large inputs across the available CPUs.
func bytesToUnit(dst []float32, src []byte) {
	const grain = 1 << 20
	dst = dst[:len(src)]
	procs := runtime.GOMAXPROCS(0)
	if len(src) < 2*grain || procs == 1 {
		for i, b := range src {
			dst[i] = byteToUnit[b]
		}
		return
	}
	chunk := (len(src) + procs - 1) / procs
	var wg sync.WaitGroup
	for lo := 0; lo < len(src); lo += chunk {
		hi := min(lo+chunk, len(src))
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := dst[lo:hi]
			for i, b := range src[lo:hi] {
				d[i] = byteToUnit[b]
			}
		}()
	}
	wg.Wait()
}

// idxPart names one of the four files of an IDX data set.
type idxPart struct {
	prefix string // "train-images"
	kind   string // "idx3-ubyte"
}

var idxParts = [4]idxPart{
	{"train-images", "idx3-ubyte"},
	{"train-labels", "idx1-ubyte"},
	{"t10k-images", "idx3-ubyte"},
	{"t10k-labels", "idx1-ubyte"},
}

// candidates lists the file names accepted for a part: the dashed names of
// the original distribution, the dotted variant some mirrors use, each raw
// or gzipped.
func (p idxPart) candidates() []string {
	var c []string
	for _, sep := range []string{"-", "."} {
		base := p.prefix + sep + p.kind
		c = append(c, base, base+".gz")
	}
	return c
}

// findIDX returns the path of part p in dir, or an error listing what was
// looked for.
func findIDX(dir string, p idxPart) (string, error) {
	c := p.candidates()
	for _, name := range c {
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			return path, nil
		}
	}
	return "", fmt.Errorf("data: %s: no %s file (looked for %s): %w", dir, p.prefix, strings.Join(c, ", "), fs.ErrNotExist)
}

// hasIDX reports whether dir holds an IDX training-image file.
func hasIDX(dir string) bool {
	_, err := findIDX(dir, idxParts[0])
	return err == nil
}

// LoadIDX loads an MNIST-style data set (MNIST, Fashion-MNIST, KMNIST, ...)
// from the four IDX files in dir: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each raw or gzipped (".gz"); dotted names such as
// train-images.idx3-ubyte are accepted too. The sets are named after dir
// and have C = 1; Classes is one more than the largest label.
//
// The files are checked: magic numbers, dimensions (images N×H×W, labels N),
// matching counts, train and test image sizes, and exact file lengths.
func LoadIDX(dir string) (train, test *Set, err error) {
	var paths [4]string
	for i, p := range idxParts {
		if paths[i], err = findIDX(dir, p); err != nil {
			return nil, nil, err
		}
	}
	var (
		dims  [4][]int
		bodys [4][]byte
		errs  [4]error
		wg    sync.WaitGroup
	)
	// The files decompress independently; the big training images dominate.
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dims[i], bodys[i], errs[i] = ReadIDXFile(paths[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, nil, err
	}
	name := filepath.Base(filepath.Clean(dir))
	train, err = idxSet(name, paths[0], paths[1], dims[0], dims[1], bodys[0], bodys[1])
	if err != nil {
		return nil, nil, err
	}
	test, err = idxSet(name, paths[2], paths[3], dims[2], dims[3], bodys[2], bodys[3])
	if err != nil {
		return nil, nil, err
	}
	if train.H != test.H || train.W != test.W {
		return nil, nil, fmt.Errorf("data: %s: images are %d×%d but %s has %d×%d", paths[2], test.H, test.W, paths[0], train.H, train.W)
	}
	setClasses(train, test)
	return train, test, nil
}

// idxSet builds a classification set from parsed image and label files.
func idxSet(name, ipath, lpath string, idims, ldims []int, images, labels []byte) (*Set, error) {
	if len(idims) != 3 {
		return nil, &FormatError{ipath, 3, fmt.Sprintf("image file has %d dimensions %v, want 3 (N×H×W)", len(idims), idims)}
	}
	if len(ldims) != 1 {
		return nil, &FormatError{lpath, 3, fmt.Sprintf("label file has %d dimensions %v, want 1 (N)", len(ldims), ldims)}
	}
	n, h, w := idims[0], idims[1], idims[2]
	if n == 0 || h == 0 || w == 0 {
		return nil, &FormatError{ipath, 4, fmt.Sprintf("empty image file: dimensions %v", idims)}
	}
	if ldims[0] != n {
		return nil, fmt.Errorf("data: %s holds %d labels but %s holds %d images", lpath, ldims[0], ipath, n)
	}
	s := &Set{Name: name, N: n, C: 1, H: h, W: w, X: make([]float32, len(images)), Labels: make([]int, n)}
	bytesToUnit(s.X, images)
	for i, l := range labels {
		s.Labels[i] = int(l)
	}
	return s, nil
}

// setClasses sets Classes of the sets to one more than their largest label.
func setClasses(sets ...*Set) {
	c := 0
	for _, s := range sets {
		for _, l := range s.Labels {
			c = max(c, l+1)
		}
	}
	for _, s := range sets {
		s.Classes = c
	}
}
