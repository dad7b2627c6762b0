package data

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
)

// embedded holds the generated files described in embedded/README.md.
//
//go:embed embedded/fashion-mnist/*.gz embedded/photos
var embedded embed.FS

// DefaultName is the Name of the sets returned by [Default].
const DefaultName = "fashion-mnist-embedded"

// Default returns the embedded Fashion-MNIST subset: 12,000 training and
// 2,000 test images of 1×28×28, 10 classes, balanced (1,200 and 200 per
// class). Each call decodes fresh sets that the caller owns.
func Default() (train, test *Set, err error) {
	const dir = "embedded/fashion-mnist"
	var sets [2]*Set
	for i, prefix := range []string{"train", "t10k"} {
		ipath := path.Join(dir, prefix+"-images-idx3-ubyte.gz")
		lpath := path.Join(dir, prefix+"-labels-idx1-ubyte.gz")
		idims, images, err := readEmbeddedIDX(ipath)
		if err != nil {
			return nil, nil, err
		}
		ldims, labels, err := readEmbeddedIDX(lpath)
		if err != nil {
			return nil, nil, err
		}
		if sets[i], err = idxSet(DefaultName, ipath, lpath, idims, ldims, images, labels); err != nil {
			return nil, nil, err
		}
	}
	setClasses(sets[:]...)
	return sets[0], sets[1], nil
}

// readEmbeddedIDX parses one embedded IDX file.
func readEmbeddedIDX(name string) ([]int, []byte, error) {
	b, err := fs.ReadFile(embedded, name)
	if err != nil {
		return nil, nil, fmt.Errorf("data: embedded file: %w", err)
	}
	return ReadIDXBytes(b, name)
}
