package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Open resolves a --data argument to a training and a test set:
//
//   - "" or "default": the embedded Fashion-MNIST subset ([Default]);
//   - "fashion-mnist": the full Fashion-MNIST installed by Debian's
//     dataset-fashion-mnist package in [DebianFashionMNIST];
//   - a directory holding IDX files ([LoadIDX]) or CIFAR-10 binary batches,
//     directly or in a cifar-10-batches-bin subdirectory ([LoadCIFAR10]);
//   - CIFAR-10's binary archive, a .tar.gz or .tgz file ([LoadCIFAR10]).
//
// Anything else is an error saying what was expected.
func Open(spec string) (train, test *Set, err error) {
	switch spec {
	case "", "default":
		return Default()
	case "fashion-mnist":
		if _, err := os.Stat(DebianFashionMNIST); err != nil {
			return nil, nil, fmt.Errorf("data: --data fashion-mnist: %s not found; install it with \"apt-get install dataset-fashion-mnist\" or pass the directory holding the IDX files", DebianFashionMNIST)
		}
		return LoadIDX(DebianFashionMNIST)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("data: --data %q: not a known data set name (default, fashion-mnist) nor a directory: %w", spec, err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(spec, ".tar.gz") || strings.HasSuffix(spec, ".tgz") {
			return LoadCIFAR10(spec)
		}
		return nil, nil, fmt.Errorf("data: --data %q: is a file; pass the directory holding the IDX files or CIFAR-10 batches (or CIFAR-10's .tar.gz)", spec)
	}
	if hasIDX(spec) {
		return LoadIDX(spec)
	}
	if _, ok := cifarDir(spec); ok {
		return LoadCIFAR10(spec)
	}
	return nil, nil, fmt.Errorf("data: --data %q: found neither IDX files (train-images-idx3-ubyte[.gz], ...) nor CIFAR-10 batches (data_batch_1.bin, ..., test_batch.bin) in %s", spec, filepath.Clean(spec))
}

// OpenSR resolves a --data argument for super-resolution:
//
//   - "" or "default": the embedded photographs ([DefaultSR]);
//   - a directory with train/ and test/ subdirectories of images: random
//     crops of the first for training, tiles of the second for testing;
//   - a directory of images: random crops of all of them for training and
//     tiles of all of them for testing (the same photographs; fine for a
//     demo, not for honest evaluation).
func OpenSR(spec string, o SROptions) (train, test *Set, err error) {
	if spec == "" || spec == "default" {
		return DefaultSR(o)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("data: --data %q: not a directory of images: %w", spec, err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("data: --data %q: is a file; pass a directory of PNG or JPEG images", spec)
	}
	trainDir, testDir := spec, spec
	if isDirPath(filepath.Join(spec, "train")) && isDirPath(filepath.Join(spec, "test")) {
		trainDir, testDir = filepath.Join(spec, "train"), filepath.Join(spec, "test")
	}
	if train, err = LoadSR(trainDir, o); err != nil {
		return nil, nil, err
	}
	to := o
	to.Tiles = true
	if test, err = LoadSR(testDir, to); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func isDirPath(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
