package data

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/a2qtoolkit/a2q/fileio"
)

// CIFAR-10 binary format: records of one label byte followed by the 32×32
// red, green and blue planes, row-major.
const (
	cifarSide    = 32
	cifarPixels  = 3 * cifarSide * cifarSide
	cifarRecord  = 1 + cifarPixels
	cifarClasses = 10
)

// cifarTrainFiles and cifarTestFile are the names of the CIFAR-10 batches.
var cifarTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}

const cifarTestFile = "test_batch.bin"

// maxCIFARBatch bounds one batch file (4 GiB; CIFAR-10's hold 10,000
// records, 30,730,000 bytes), so that a corrupt archive cannot ask for an
// absurd allocation.
const maxCIFARBatch = 1 << 32

// cifarDir returns the directory holding the CIFAR-10 batches: dir itself
// or its cifar-10-batches-bin subdirectory (the layout of the official
// archive). ok is false if neither holds test_batch.bin.
func cifarDir(dir string) (string, bool) {
	for _, d := range []string{dir, filepath.Join(dir, "cifar-10-batches-bin")} {
		if st, err := os.Stat(filepath.Join(d, cifarTestFile)); err == nil && st.Mode().IsRegular() {
			return d, true
		}
	}
	return dir, false
}

// LoadCIFAR10 loads the CIFAR-10 binary version from dir (or from
// dir/cifar-10-batches-bin), or straight from the official archive when dir
// is a .tar.gz file (cifar-10-binary.tar.gz): the training batches
// data_batch_1.bin .. data_batch_5.bin and test_batch.bin. Each batch is a
// sequence of 3073-byte records, a label in 0..9 then 3×32×32 pixel bytes
// (red, green, blue planes). Training batches that are absent are skipped,
// but at least data_batch_1.bin and test_batch.bin must exist. The sets are
// named "cifar10" and have C = 3, H = W = 32, Classes = 10.
func LoadCIFAR10(dir string) (train, test *Set, err error) {
	if st, err := os.Stat(dir); err == nil && st.Mode().IsRegular() {
		return loadCIFARArchive(dir)
	}
	d, ok := cifarDir(dir)
	if !ok {
		return nil, nil, fmt.Errorf("data: %s: no CIFAR-10 %s (nor in cifar-10-batches-bin/): %w", dir, cifarTestFile, fs.ErrNotExist)
	}
	var trainPaths []string
	for _, name := range cifarTrainFiles {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			trainPaths = append(trainPaths, p)
		} else if name == cifarTrainFiles[0] {
			return nil, nil, fmt.Errorf("data: %s: no CIFAR-10 training batch: %w", d, err)
		}
	}
	testPath := filepath.Join(d, cifarTestFile)
	raw, err := readFiles(append(trainPaths, testPath))
	if err != nil {
		return nil, nil, err
	}
	if train, err = cifarSet(trainPaths, raw[:len(trainPaths)]); err != nil {
		return nil, nil, err
	}
	if test, err = cifarSet([]string{testPath}, raw[len(trainPaths):]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// loadCIFARArchive reads the batches from a gzipped tar archive.
func loadCIFARArchive(path string) (train, test *Set, err error) {
	f, _, err := fileio.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, nil, fmt.Errorf("data: %s: not a gzipped tar archive of CIFAR-10 batches: %w", path, err)
	}
	tr := tar.NewReader(zr)
	found := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("data: %s: reading the archive: %w", path, err)
		}
		base := filepath.Base(h.Name)
		if h.Typeflag != tar.TypeReg || !(base == cifarTestFile || slices.Contains(cifarTrainFiles, base)) {
			continue
		}
		if h.Size > maxCIFARBatch {
			return nil, nil, fmt.Errorf("data: %s: %s is %d bytes, more than the %d a batch may have", path, h.Name, h.Size, int64(maxCIFARBatch))
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, fmt.Errorf("data: %s: reading %s from the archive: %w", path, h.Name, err)
		}
		found[base] = b
	}
	var names []string
	var raw [][]byte
	for _, name := range cifarTrainFiles {
		if b, ok := found[name]; ok {
			names, raw = append(names, path+":"+name), append(raw, b)
		}
	}
	if len(names) == 0 || found[cifarTestFile] == nil {
		return nil, nil, fmt.Errorf("data: %s: archive lacks data_batch_*.bin or %s", path, cifarTestFile)
	}
	if train, err = cifarSet(names, raw); err != nil {
		return nil, nil, err
	}
	if test, err = cifarSet([]string{path + ":" + cifarTestFile}, [][]byte{found[cifarTestFile]}); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readFiles reads files concurrently.
func readFiles(paths []string) ([][]byte, error) {
	raw := make([][]byte, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw[i], errs[i] = fileio.ReadFile(p, maxCIFARBatch)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("data: %w", errs[i])
			}
		}()
	}
	wg.Wait()
	return raw, errors.Join(errs...)
}

// cifarSet decodes and concatenates CIFAR-10 batches; names label them in
// errors.
func cifarSet(names []string, raw [][]byte) (*Set, error) {
	n := 0
	for _, b := range raw {
		n += len(b) / cifarRecord
	}
	s := &Set{Name: "cifar10", N: n, C: 3, H: cifarSide, W: cifarSide, Classes: cifarClasses,
		X: make([]float32, n*cifarPixels), Labels: make([]int, n)}
	i := 0
	for k, b := range raw {
		m, err := parseCIFAR(b, names[k], s.X[i*cifarPixels:], s.Labels[i:])
		if err != nil {
			return nil, err
		}
		i += m
	}
	return s, nil
}

// parseCIFAR decodes the records of one batch file into x (NCHW) and labels
// and returns their number.
func parseCIFAR(b []byte, name string, x []float32, labels []int) (int, error) {
	if len(b) == 0 {
		return 0, &FormatError{name, 0, "empty CIFAR-10 batch"}
	}
	if r := len(b) % cifarRecord; r != 0 {
		return 0, &FormatError{name, int64(len(b) - r), fmt.Sprintf("truncated: %d bytes is not a whole number of %d-byte records (%d left over)", len(b), cifarRecord, r)}
	}
	n := len(b) / cifarRecord
	for i := range n {
		rec := b[i*cifarRecord : (i+1)*cifarRecord]
		if rec[0] >= cifarClasses {
			return 0, &FormatError{name, int64(i * cifarRecord), fmt.Sprintf("record %d has label %d, want 0..%d", i, rec[0], cifarClasses-1)}
		}
		labels[i] = int(rec[0])
		bytesToUnit(x[i*cifarPixels:(i+1)*cifarPixels], rec[1:])
	}
	return n, nil
}
