// Package data loads the data sets that a2q trains and evaluates on, and
// feeds them to the trainer in mini-batches.
//
// # Conventions
//
// A [Set] holds N examples in memory as float32 values in [0, 1], laid out
// NCHW: example i occupies X[i*C*H*W : (i+1)*C*H*W], channel-major, then rows,
// then columns. Classification sets carry integer Labels in [0, Classes);
// super-resolution sets carry a high-resolution target per example in Y
// (N × TC×TH×TW, same layout) and have nil Labels.
//
// Sources:
//
//   - [Default]: a class-balanced subset of Fashion-MNIST (12,000 training
//     and 2,000 test images) compiled into the binary, so that training works
//     on a fresh machine with no download. See "Embedded data" below.
//   - [LoadIDX]: the IDX files of MNIST or Fashion-MNIST in a directory,
//     gzipped or raw (Debian's dataset-fashion-mnist installs them under
//     /usr/share/datasets/fashion-mnist).
//   - [LoadCIFAR10]: the CIFAR-10 binary batches (data_batch_1..5.bin,
//     test_batch.bin; records of 1 label byte and 3×32×32 pixel bytes),
//     from a directory or straight from the official .tar.gz archive.
//   - [LoadSR] and [DefaultSR]: super-resolution pairs cut from photographs:
//     random high-resolution crops and their bicubic downscales. Large
//     photographs are first shrunk by block averaging ([SROptions.MaxSide]).
//   - [OpenWallpapers]: super-resolution pairs from the 35 photographs
//     among the wallpapers of Debian's plasma-workspace-wallpapers,
//     mate-backgrounds and lomiri-wallpapers-16.04 ([WallpaperPhotos]),
//     split into training and test photographs.
//   - [Open] resolves a command-line --data argument to a classification
//     set, [OpenSR] to super-resolution pairs (a folder of photographs
//     without train/ and test/ subdirectories is split into disjoint
//     training and test photographs).
//
// [NewBatcher] then serves a set in shuffled mini-batches, optionally with
// CIFAR-style [Augment]ation (random crop of the zero-padded image,
// horizontal flip).
//
// All randomness is explicit: shuffling, crops and augmentation take seeds
// or a *rand.Rand from math/rand/v2, so a run is reproducible.
//
// # Errors and panics
//
// Malformed input (a truncated or garbled file, a wrong magic number, counts
// that disagree) returns an error naming the file and what is wrong; errors
// about the bytes of a file are a [*FormatError] carrying the byte offset.
// No file is skipped: every image of a photograph folder that cannot be
// decoded or is smaller than a crop is named in one error.
// Misuse by the programmer (a buffer too small for a batch, an index out of
// range) panics.
//
// # Embedded data
//
// The embedded files are produced by the generator in internal/mkembed
// (run "go generate" in this directory with the Debian packages
// dataset-fashion-mnist installed and python3-skimage's .deb at hand; see
// embedded/README.md) and are committed, so builds need neither.
//
// Fashion-MNIST is Copyright 2017 Zalando SE and distributed under the MIT
// (Expat) licence; the embedded subset keeps the first 1,200 training and the
// first 200 test images of each class, in file order. The photographs are
// scikit-image sample images (from Debian's python3-skimage 0.19.3) released
// into the public domain or under CC0 by their authors: astronaut (NASA,
// public domain), rocket (SpaceX, public domain), camera (Lav Varshney, CC0),
// coffee (Rachel Michetti, CC0) for training, and chelsea (Stefan van der
// Walt, CC0) for testing.
package data

//go:generate go run ./internal/mkembed -fashion /usr/share/datasets/fashion-mnist -skimage /tmp/skimage-data -out embedded
