package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/qonnx"
)

// TestQONNXImpossibleStructure edits the real ESPCN QONNX export into
// files of impossible structure (the audit's Conv stride 0, kernel_shape
// [0 -5], pads -100, an input of 2^40×2^40 and opset 999, and a Quant
// scale of 0 and bit width of 99): inspect, verify, eval and hw must
// refuse each as bad input (exit 2) naming the file, the node and the
// attribute, instead of certifying it from its weights.
func TestQONNXImpossibleStructure(t *testing.T) {
	node := func(m *qonnx.Model, name string) *qonnx.Node {
		for _, n := range m.Graph.Nodes {
			if n.Name == name {
				return n
			}
		}
		t.Fatalf("no node %s", name)
		return nil
	}
	cases := []struct {
		name string
		edit func(m *qonnx.Model)
		want []string
	}{
		{"stride0", func(m *qonnx.Model) { node(m, "Conv_17").Attrs["strides"].Ints = []int64{0, 0} },
			[]string{`node Conv_17 (Conv) attribute "strides"`}},
		{"kernel0m5", func(m *qonnx.Model) { node(m, "Conv_17").Attrs["kernel_shape"].Ints = []int64{0, -5} },
			[]string{`node Conv_17 (Conv) attribute "kernel_shape"`, "[0 -5]"}},
		{"padsm100", func(m *qonnx.Model) { node(m, "Conv_17").Attrs["pads"].Ints = []int64{-100, -100, -100, -100} },
			[]string{`node Conv_17 (Conv) attribute "pads"`}},
		{"dims2p40", func(m *qonnx.Model) { m.Graph.Inputs[0].Shape = []int64{1, 3, 1 << 40, 1 << 40} },
			[]string{`graph input "x.7"`, "elements"}},
		{"opset999", func(m *qonnx.Model) { m.Opsets[0].Version = 999 },
			[]string{"opset 999", "supported: 7 to 21"}},
		{"scale0", func(m *qonnx.Model) {
			s := m.Graph.Initializers[node(m, "Quant_23").Inputs[1]]
			s.Float = make([]float32, len(s.Float))
		}, []string{"node Quant_23 (Quant)", "scale"}},
		{"bits99", func(m *qonnx.Model) { m.Graph.Initializers[node(m, "Quant_16").Inputs[3]].Float[0] = 99 },
			[]string{"node Quant_16 (Quant)", "bit width", "99"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := qonnx.Load(espcnSubpixel)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.name+".onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"inspect", path, "--acc-bits", "20"},
				{"verify", path, "--acc-bits", "20"},
				{"verify", path, "--shape", "1,3,16,16"}, // a QONNX-only flag
				{"eval", path},
				{"hw", path},
			} {
				code, stdout, stderr := runArgs(t, args...)
				if code != exitUsage {
					t.Errorf("a2q %s: exit %d, want %d (stdout %q, stderr %q)", strings.Join(args, " "), code, exitUsage, stdout, stderr)
					continue
				}
				for _, w := range append(c.want, path, "invalid model") {
					if !strings.Contains(stderr, w) {
						t.Errorf("a2q %s: stderr %q does not mention %q", strings.Join(args, " "), stderr, w)
					}
				}
			}
		})
	}
}

// TestQONNXShapeOverflow checks that a --shape whose element count
// overflows is bad usage, not a panic.
func TestQONNXShapeOverflow(t *testing.T) {
	for _, cmd := range []string{"verify", "eval"} {
		code, _, stderr := runArgs(t, cmd, espcnSubpixel, "--shape", "1,3,1099511627776,1099511627776")
		if code != exitUsage || !strings.Contains(stderr, "--shape") {
			t.Errorf("a2q %s --shape 1,3,2^40,2^40: exit %d, stderr %q; want %d naming --shape", cmd, code, stderr, exitUsage)
		}
	}
}
