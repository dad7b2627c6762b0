package qonnx

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// pythonWithONNX returns a python3 that can import onnx and numpy, or "".
func pythonWithONNX() string {
	for _, cand := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import onnx, numpy").Run() == nil {
			return p
		}
	}
	return ""
}

// TestMatchesNumPyReference runs the ESPCN fixtures through this package's
// interpreter and through an independent NumPy implementation of the same
// ops (testdata/ref/numpy_ref.py) and compares the outputs.
func TestMatchesNumPyReference(t *testing.T) {
	py := pythonWithONNX()
	if py == "" {
		t.Skip("qonnx: python3 with onnx and numpy not found (Debian package python3-onnx); NumPy reference not run")
	}
	for _, tc := range []struct {
		file string
		size int
	}{{subpixelFloat, 4}, {subpixelQuant, 12}, {resizeQuant, 12}} {
		t.Run(tc.file, func(t *testing.T) {
			m := loadFixture(t, tc.file)
			r := rand.New(rand.NewPCG(11, 11))
			x := make([]float32, 3*tc.size*tc.size)
			for i := range x {
				x[i] = r.Float32()
			}
			dir := t.TempDir()
			inPath, outPath := filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
			raw := make([]byte, 4*len(x))
			for i, v := range x {
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
			}
			if err := os.WriteFile(inPath, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			s := strconv.Itoa(tc.size)
			cmd := exec.Command(py, filepath.Join("testdata", "ref", "numpy_ref.py"), filepath.Join("testdata", tc.file), inPath, "1", "3", s, s, outPath)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("numpy_ref.py: %v\n%s", err, out)
			}
			ref, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Run(context.Background(), map[string]*Tensor{m.Graph.Inputs[0].Name: NewFloat(x, 1, 3, tc.size, tc.size)}, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Outputs[m.Graph.Outputs[0].Name]
			if 4*got.Len() != len(ref) {
				t.Fatalf("output has %d values, reference %d", got.Len(), len(ref)/4)
			}
			// The quantized models end in an 8-bit Quant of scale 1/255:
			// values on a rounding tie may differ by one step.
			differ := 0
			for i, v := range got.Float {
				w := math.Float32frombits(binary.LittleEndian.Uint32(ref[4*i:]))
				d := math.Abs(float64(v - w))
				if d > 1e-4 {
					differ++
					if d > 1.01/255 {
						t.Fatalf("output %d: %v, reference %v", i, v, w)
					}
				}
			}
			if differ > got.Len()/1000 {
				t.Fatalf("%d of %d outputs differ from the reference", differ, got.Len())
			}
			t.Logf("%d values, %d one step apart", got.Len(), differ)
		})
	}
}
