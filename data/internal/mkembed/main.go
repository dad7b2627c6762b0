// Command mkembed generates the data files that package data embeds:
// a class-balanced subset of Fashion-MNIST as gzipped IDX files, and a few
// public-domain (CC0) photographs from scikit-image for the super-resolution
// demo. Its output is committed, so the build needs neither source.
//
// Usage (from the data directory, as "go generate" runs it):
//
//	apt-get install -y dataset-fashion-mnist
//	(cd /tmp && apt-get download python3-skimage && dpkg-deb -x python3-skimage_*.deb /tmp/skimage-data)
//	go run ./internal/mkembed -fashion /usr/share/datasets/fashion-mnist -skimage /tmp/skimage-data -out embedded
//
// The -skimage directory may be the extraction root of the .deb or the
// skimage/data directory itself. The output is deterministic for a given
// Go release: images are kept in file order and the gzip headers carry no
// name or time.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/data/internal/subset"
	"github.com/a2qtoolkit/a2q/fileio"
)

// Photos chosen for the super-resolution demo, with their licences as
// stated by scikit-image (skimage/data/_fetchers.py).
var photos = []struct {
	file, split, licence string
}{
	{"astronaut.png", "train", "public domain (NASA)"},
	{"camera.png", "train", "CC0 (Lav Varshney)"},
	{"coffee.png", "train", "CC0 (Rachel Michetti)"},
	{"rocket.jpg", "train", "public domain (SpaceX)"},
	{"chelsea.png", "test", "CC0 (Stefan van der Walt)"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkembed: ")
	fashion := flag.String("fashion", data.DebianFashionMNIST, "directory of the full Fashion-MNIST IDX files")
	skimage := flag.String("skimage", "/tmp/skimage-data", "extracted python3-skimage .deb (or its skimage/data directory)")
	out := flag.String("out", "embedded", "output directory")
	trainPer := flag.Int("train-per-class", 1200, "training images kept per class")
	testPer := flag.Int("test-per-class", 200, "test images kept per class")
	flag.Parse()

	if err := fashionSubset(*fashion, filepath.Join(*out, "fashion-mnist"), *trainPer, *testPer); err != nil {
		log.Fatal(err)
	}
	if err := copyPhotos(*skimage, filepath.Join(*out, "photos")); err != nil {
		log.Fatal(err)
	}
}

// fashionSubset writes the balanced subsets of the training and test files.
func fashionSubset(src, dst string, trainPer, testPer int) error {
	for _, part := range []struct {
		prefix   string
		perClass int
	}{{"train", trainPer}, {"t10k", testPer}} {
		ipath := filepath.Join(src, part.prefix+"-images-idx3-ubyte.gz")
		lpath := filepath.Join(src, part.prefix+"-labels-idx1-ubyte.gz")
		idims, images, err := data.ReadIDXFile(ipath)
		if err != nil {
			return err
		}
		_, labels, err := data.ReadIDXFile(lpath)
		if err != nil {
			return err
		}
		if len(idims) != 3 || idims[0] != len(labels) {
			return fmt.Errorf("%s: dimensions %v do not match %d labels", ipath, idims, len(labels))
		}
		idx, err := subset.Balanced(labels, 10, part.perClass)
		if err != nil {
			return fmt.Errorf("%s: %w", lpath, err)
		}
		size := idims[1] * idims[2]
		if err := writeIDXGz(filepath.Join(dst, part.prefix+"-images-idx3-ubyte.gz"),
			[]int{len(idx), idims[1], idims[2]}, subset.Gather(images, size, idx)); err != nil {
			return err
		}
		if err := writeIDXGz(filepath.Join(dst, part.prefix+"-labels-idx1-ubyte.gz"),
			[]int{len(idx)}, subset.Gather(labels, 1, idx)); err != nil {
			return err
		}
		log.Printf("%s: kept %d of %d examples (%d per class)", part.prefix, len(idx), len(labels), part.perClass)
	}
	return nil
}

// writeIDXGz writes a gzipped IDX file with an empty, timeless header.
func writeIDXGz(path string, dims []int, body []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := data.WriteIDX(zw, dims, body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// copyPhotos copies the chosen photographs verbatim after checking that
// they decode.
func copyPhotos(src, dst string) error {
	dir := src
	if deb := filepath.Join(src, "usr/lib/python3/dist-packages/skimage/data"); isDir(deb) {
		dir = deb
	}
	for _, p := range photos {
		b, err := os.ReadFile(filepath.Join(dir, p.file))
		if err != nil {
			return err
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, p.file), err)
		}
		if err := writeFile(filepath.Join(dst, p.split, p.file), b); err != nil {
			return err
		}
		log.Printf("photo %s: %d×%d, %d bytes, %s", p.file, cfg.Width, cfg.Height, len(b), p.licence)
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// writeFile writes b to path, creating its directory.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fileio.WriteAtomic(path, b)
}
