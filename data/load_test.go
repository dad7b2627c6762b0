package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/data/internal/subset"
)

// writeIDXDir writes a tiny IDX data set into dir: n train and m test
// images of h×w with pixel value (i*7+k)%256 and label i%classes.
func writeIDXDir(t *testing.T, dir string, n, m, h, w, classes int, gz bool) {
	t.Helper()
	for _, part := range []struct {
		prefix string
		count  int
	}{{"train", n}, {"t10k", m}} {
		img := make([]byte, part.count*h*w)
		for i := range img {
			img[i] = byte(i*7 + 3)
		}
		lab := make([]byte, part.count)
		for i := range lab {
			lab[i] = byte(i % classes)
		}
		for _, f := range []struct {
			name string
			dims []int
			body []byte
		}{
			{part.prefix + "-images-idx3-ubyte", []int{part.count, h, w}, img},
			{part.prefix + "-labels-idx1-ubyte", []int{part.count}, lab},
		} {
			b := idxBytes(t, f.dims, f.body)
			name := f.name
			if gz {
				b, name = gzipBytes(t, b), name+".gz"
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestLoadIDX(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeIDXDir(t, dir, 12, 5, 4, 3, 4, gz)
		train, test, err := LoadIDX(dir)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if train.N != 12 || test.N != 5 || train.C != 1 || train.H != 4 || train.W != 3 || train.Classes != 4 || test.Classes != 4 {
			t.Fatalf("gz=%v: train %d×%d×%d×%d classes %d, test N=%d", gz, train.N, train.C, train.H, train.W, train.Classes, test.N)
		}
		if err := train.Validate(); err != nil {
			t.Error(err)
		}
		if err := test.Validate(); err != nil {
			t.Error(err)
		}
		// Pixel j of the file is byte(j*7+3); check a few through Example.
		for _, i := range []int{0, 5, 11} {
			ex := train.Example(i)
			for k, v := range ex {
				if want := float32(byte((i*12+k)*7+3)) / 255; v != want {
					t.Fatalf("gz=%v: train example %d value %d = %v, want %v", gz, i, k, v, want)
				}
			}
			if train.Labels[i] != i%4 {
				t.Errorf("gz=%v: label %d = %d, want %d", gz, i, train.Labels[i], i%4)
			}
		}
	}
}

func TestLoadIDXErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		file   string // file the error must name
		want   string
	}{
		{"missing labels", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte"))
		}, "t10k-labels", "no t10k-labels"},
		{"count mismatch", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(t, []int{3}, []byte{0, 1, 2}), 0o644)
		}, "train-labels-idx1-ubyte", "3 labels"},
		{"images as labels", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "t10k-images-idx3-ubyte"))
			os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), b, 0o644)
		}, "t10k-labels-idx1-ubyte", "want 1"},
		{"truncated images", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "train-images-idx3-ubyte")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:100], 0o644)
		}, "train-images-idx3-ubyte", "offset 100"},
		{"size mismatch", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte"), idxBytes(t, []int{5, 2, 6}, make([]byte, 60)), 0o644)
		}, "t10k-images-idx3-ubyte", "2×6"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		writeIDXDir(t, dir, 12, 5, 4, 3, 4, false)
		tt.mutate(t, dir)
		_, _, err := LoadIDX(dir)
		if err == nil || !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s and mentioning %q", tt.name, err, tt.file, tt.want)
		}
	}
}

// checkFashion checks the shape, label range and pixel range of a
// Fashion-MNIST split, and returns the number of examples per class.
func checkFashion(t *testing.T, s *Set, n int) []int {
	t.Helper()
	if s.N != n || s.C != 1 || s.H != 28 || s.W != 28 || s.Classes != 10 || len(s.X) != n*784 || len(s.Labels) != n {
		t.Fatalf("%s: N=%d C=%d H=%d W=%d classes=%d, want N=%d 1×28×28, 10 classes", s.Name, s.N, s.C, s.H, s.W, s.Classes, n)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	count := make([]int, 10)
	for _, l := range s.Labels {
		count[l]++
	}
	var lo, hi float32 = 1, 0
	for _, v := range s.X {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("%s: pixels span [%v, %v], want [0, 1]", s.Name, lo, hi)
	}
	return count
}

func TestDefault(t *testing.T) {
	train, test, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checkFashion(t, train, 12000) {
		if c != 1200 {
			t.Errorf("train class counts %v, want 1200 each", c)
			break
		}
	}
	for _, c := range checkFashion(t, test, 2000) {
		if c != 200 {
			t.Errorf("test class counts %v, want 200 each", c)
			break
		}
	}
	// Fashion-MNIST images have a dark background: the border is mostly 0.
	var sum float64
	for i := range train.N {
		sum += float64(train.Example(i)[0])
	}
	if mean := sum / float64(train.N); mean > 0.05 {
		t.Errorf("mean top-left pixel %v, want a dark background", mean)
	}
	// Each call returns fresh storage.
	again, _, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	again.X[0] = 0.5
	if train.X[0] == 0.5 {
		t.Error("Default returned shared storage")
	}
}

// TestFashionMNISTDebian loads the full Fashion-MNIST from Debian's
// package and checks that the embedded subset is what the generator cuts
// from it.
func TestFashionMNISTDebian(t *testing.T) {
	if _, err := os.Stat(DebianFashionMNIST); err != nil {
		t.Skipf("full Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	train, test, err := Open("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	checkFashion(t, train, 60000)
	checkFashion(t, test, 10000)
	if train.Name != "fashion-mnist" {
		t.Errorf("name %q, want fashion-mnist", train.Name)
	}

	// The embedded subset must be the first 1,200 / 200 images per class.
	etrain, etest, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		full, emb *Set
		per       int
	}{{train, etrain, 1200}, {test, etest, 200}} {
		lab := make([]byte, p.full.N)
		for i, l := range p.full.Labels {
			lab[i] = byte(l)
		}
		idx, err := subset.Balanced(lab, 10, p.per)
		if err != nil {
			t.Fatal(err)
		}
		want := p.full.Subset(idx)
		if !slices.Equal(want.X, p.emb.X) || !slices.Equal(want.Labels, p.emb.Labels) {
			t.Errorf("embedded subset differs from the Debian files: regenerate with go generate")
		}
	}
}

func TestLoadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// Two training batches of 3 and 2 records, a test batch of 4.
	record := func(label, seed int) []byte {
		r := make([]byte, cifarRecord)
		r[0] = byte(label)
		for i := 1; i < len(r); i++ {
			r[i] = byte(i*seed + label)
		}
		return r
	}
	files := map[string][]int{"data_batch_1.bin": {0, 1, 2}, "data_batch_2.bin": {9, 3}, "test_batch.bin": {4, 5, 6, 7}}
	for name, labels := range files {
		var b []byte
		for k, l := range labels {
			b = append(b, record(l, k+1)...)
		}
		if err := os.WriteFile(filepath.Join(sub, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	train, test, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 5 || test.N != 4 || train.C != 3 || train.H != 32 || train.W != 32 || train.Classes != 10 {
		t.Fatalf("train N=%d %d×%d×%d classes %d, test N=%d", train.N, train.C, train.H, train.W, train.Classes, test.N)
	}
	if got := train.Labels; !slices.Equal(got, []int{0, 1, 2, 9, 3}) {
		t.Errorf("train labels %v", got)
	}
	// Example 3 is record 0 of batch 2 (label 9, seed 1): channel c, row y,
	// column x is byte 1 + c*1024 + y*32 + x of the record.
	ex := train.Example(3)
	for _, cyx := range [][3]int{{0, 0, 0}, {1, 5, 7}, {2, 31, 31}} {
		i := cyx[0]*1024 + cyx[1]*32 + cyx[2]
		if want := float32(byte((i+1)*1+9)) / 255; ex[i] != want {
			t.Errorf("pixel %v = %v, want %v", cyx, ex[i], want)
		}
	}
	if err := train.Validate(); err != nil {
		t.Error(err)
	}

	// The same batches in a gzipped tar archive load the same.
	tgz := filepath.Join(dir, "cifar-10-binary.tar.gz")
	writeTarGz(t, tgz, sub, "cifar-10-batches-bin")
	atrain, atest, err := Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(atrain.X, train.X) || !slices.Equal(atest.Labels, test.Labels) || !slices.Equal(atest.X, test.X) {
		t.Error("archive and directory give different sets")
	}

	// Corruptions name the file and the offset.
	bad := filepath.Join(sub, "test_batch.bin")
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, b[:len(b)-10], 0o644)
	if _, _, err := LoadCIFAR10(dir); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated batch: error %v", err)
	}
	b[cifarRecord] = 12 // label of record 1
	os.WriteFile(bad, b, 0o644)
	var fe *FormatError
	if _, _, err := LoadCIFAR10(dir); !errors.As(err, &fe) || fe.Offset != cifarRecord || !strings.Contains(err.Error(), "label 12") {
		t.Errorf("bad label: error %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, spec := range []string{filepath.Join(dir, "nope"), file, dir, "mnist-typo"} {
		_, _, err := Open(spec)
		if err == nil || !strings.Contains(err.Error(), spec) {
			t.Errorf("Open(%q): error %v, want one naming it", spec, err)
		}
	}
	train, _, err := Open("")
	if err != nil || train.Name != DefaultName {
		t.Errorf(`Open(""): %v, %v`, train, err)
	}
}

// writeTarGz archives the regular files of dir under prefix/ into path.
func writeTarGz(t *testing.T, path, dir, prefix string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tw.WriteHeader(&tar.Header{Name: prefix + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: prefix + "/" + e.Name(), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
