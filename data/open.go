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
	case WallpapersName:
		return nil, nil, fmt.Errorf("data: --data %s: photographs without labels, for super-resolution models (--model espcn); classifiers train on default, fashion-mnist, IDX files or CIFAR-10", WallpapersName)
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
//   - "wallpapers": the photographs among the wallpapers of Debian's
//     desktop packages ([OpenWallpapers]);
//   - a directory with train/ and test/ subdirectories of images: random
//     crops of the first for training, tiles of the second for testing;
//   - a directory of images: split into disjoint training and test
//     photographs, the quarter (rounded up) whose file names have the
//     smallest FNV-1a hashes held out for testing; random crops of the
//     training photographs, tiles of the test ones. It needs two images
//     at least.
//
// Photographs larger than o.MaxSide are first shrunk ([SROptions]). A
// folder with no PNG or JPEG image, and each image that cannot be decoded
// or is smaller than a crop, are errors naming the folder or the file:
// no file is skipped. Other files in a folder are ignored.
func OpenSR(spec string, o SROptions) (train, test *Set, err error) {
	switch spec {
	case "", "default":
		return DefaultSR(o)
	case WallpapersName:
		return OpenWallpapers(o)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("data: --data %q: not a known photograph set (default, %s) nor a directory of images: %w", spec, WallpapersName, err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("data: --data %q: is a file; pass a directory of PNG or JPEG images", spec)
	}
	to := o
	to.Tiles = true
	trainDir, testDir := filepath.Join(spec, "train"), filepath.Join(spec, "test")
	switch hasTrain, hasTest := isDirPath(trainDir), isDirPath(testDir); {
	case hasTrain && hasTest:
		if train, err = LoadSR(trainDir, o); err != nil {
			return nil, nil, err
		}
		if test, err = LoadSR(testDir, to); err != nil {
			return nil, nil, err
		}
		return train, test, nil
	case hasTrain || hasTest:
		return nil, nil, fmt.Errorf("data: --data %q: has a train or test subdirectory but not both; give both, or put the images in %s itself to split them", spec, filepath.Clean(spec))
	}
	names, err := folderImages(spec)
	if err != nil {
		return nil, nil, err
	}
	if len(names) < 2 {
		return nil, nil, fmt.Errorf("data: --data %q: one image (%s); a folder needs two images at least to split into disjoint training and test photographs (or train/ and test/ subdirectories)", spec, names[0])
	}
	trainNames, testNames := holdOut(names)
	name := filepath.Base(filepath.Clean(spec))
	if train, err = srSet(name, dirFiles(spec, trainNames), o); err != nil {
		return nil, nil, err
	}
	if test, err = srSet(name, dirFiles(spec, testNames), to); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func isDirPath(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
