package qonnx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/a2qtoolkit/a2q/internal/onnxpb"
)

const (
	subpixelQuant = "bsd300x3-espcn_subpixel_quant_model.onnx"
	resizeQuant   = "bsd300x3-espcn_nn_resize_quant_model.onnx"
	subpixelFloat = "bsd300x3-espcn_subpixel_float_model.onnx"
	mnistFloat    = "mnist-conv_model.onnx"
	residualFloat = "residual_block_clean.onnx"
)

var allFixtures = []string{subpixelQuant, resizeQuant, subpixelFloat, mnistFloat, residualFloat}

func loadFixture(t testing.TB, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadFixtures(t *testing.T) {
	cases := []struct {
		file         string
		nodes, quant int
		input        string
		inputShape   []int64
		opsetDefault int64
	}{
		{subpixelQuant, 20, 8, "x.7", []int64{1, 3, 128, 128}, 11},
		{resizeQuant, 22, 9, "onnx::Relu_0", []int64{1, 3, 128, 128}, 11},
		{subpixelFloat, 8, 0, "input", []int64{1, 3, 4, 4}, 11},
		{mnistFloat, 12, 0, "Input3", []int64{1, 1, 28, 28}, 8},
		{residualFloat, 7, 0, "global_in", []int64{1, 1, 200, 200}, 19},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			m := loadFixture(t, tc.file)
			g := m.Graph
			if len(g.Nodes) != tc.nodes {
				t.Errorf("%d nodes, want %d", len(g.Nodes), tc.nodes)
			}
			quant := 0
			for _, n := range g.Nodes {
				if IsQuant(n) {
					quant++
				}
			}
			if quant != tc.quant || m.HasQuant() != (tc.quant > 0) {
				t.Errorf("%d Quant nodes, want %d", quant, tc.quant)
			}
			// Initialisers listed as graph inputs (IR < 4 style) are not inputs.
			if len(g.Inputs) != 1 || g.Inputs[0].Name != tc.input {
				t.Fatalf("inputs %v, want only %q", g.Inputs, tc.input)
			}
			if got := g.Inputs[0].Shape; len(got) != len(tc.inputShape) || got[2] != tc.inputShape[2] {
				t.Errorf("input shape %v, want %v", got, tc.inputShape)
			}
			if m.opsetVersion() != tc.opsetDefault {
				t.Errorf("opset %d, want %d", m.opsetVersion(), tc.opsetDefault)
			}
			// Topological order: every node input is defined before use.
			defined := map[string]bool{"": true}
			for name := range g.Initializers {
				defined[name] = true
			}
			for _, in := range g.Inputs {
				defined[in.Name] = true
			}
			for _, n := range g.Nodes {
				for _, in := range n.Inputs {
					if !defined[in] {
						t.Fatalf("node %s reads %q before it is defined", n.Name, in)
					}
				}
				for _, o := range n.Outputs {
					defined[o] = true
				}
			}
		})
	}
}

// mutate decodes a fixture's protobuf, applies f and re-encodes it.
func mutate(t *testing.T, file string, f func(*onnxpb.ModelProto)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	f(&mp)
	out, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func findNode(mp *onnxpb.ModelProto, name string) *onnxpb.NodeProto {
	for _, n := range mp.Graph.Node {
		if n.GetName() == name {
			return n
		}
	}
	panic("no node " + name)
}

func findInit(mp *onnxpb.ModelProto, name string) *onnxpb.TensorProto {
	for _, t := range mp.Graph.Initializer {
		if t.GetName() == name {
			return t
		}
	}
	panic("no initialiser " + name)
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name  string
		data  func(t *testing.T) []byte
		inErr string
	}{
		{"garbage", func(*testing.T) []byte { return []byte("\xff\xff\xff not protobuf") }, "not an ONNX model"},
		{"empty", func(*testing.T) []byte { return nil }, "no graph"},
		{"cycle", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				// Conv_17 reads the output of Conv_29, which depends on Conv_17.
				findNode(mp, "Conv_17").Input[0] = "input.19"
			})
		}, "cycle"},
		{"missing-initialiser", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				var keep []*onnxpb.TensorProto
				for _, tp := range mp.Graph.Initializer {
					if tp.GetName() != "x.8" {
						keep = append(keep, tp)
					}
				}
				mp.Graph.Initializer = keep
				var inputs []*onnxpb.ValueInfoProto
				for _, vi := range mp.Graph.Input {
					if vi.GetName() != "x.8" {
						inputs = append(inputs, vi)
					}
				}
				mp.Graph.Input = inputs
			})
		}, `"x.8"`},
		{"duplicate-output", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findNode(mp, "Conv_29").Output[0] = "input.7"
			})
		}, "produced by both"},
		{"short-raw-data", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				tp := findInit(mp, "x.8")
				tp.RawData = tp.RawData[:len(tp.RawData)-4]
			})
		}, `initialiser "x.8"`},
		{"absurd-shape", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findInit(mp, "x.8").Dims = []int64{1 << 20, 1 << 20, 3, 3}
			})
		}, "too large"},
		{"huge-shape", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findInit(mp, "x.8").Dims = []int64{1 << 15, 1 << 15, 3, 3}
			})
		}, "too large"},
		{"negative-dim", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findInit(mp, "x.8").Dims = []int64{-64, 64, 3, 3}
			})
		}, "dimension"},
		{"external-data", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findInit(mp, "x.8").DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			})
		}, "external"},
		{"string-tensor", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				findInit(mp, "x.8").DataType = proto.Int32(int32(onnxpb.TensorProto_STRING))
			})
		}, "unsupported data type"},
		{"undefined-output", func(t *testing.T) []byte {
			return mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
				mp.Graph.Output[0].Name = proto.String("nowhere")
			})
		}, `"nowhere"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data(t))
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.inErr)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.onnx")
	if err := os.WriteFile(path, []byte("\x0a\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if _, err := Load(filepath.Join(dir, "absent.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestWrongAttributeType(t *testing.T) {
	b := mutate(t, subpixelQuant, func(mp *onnxpb.ModelProto) {
		for _, a := range findNode(mp, "Quant_16").Attribute {
			if a.GetName() == "narrow" {
				a.Type = onnxpb.AttributeProto_STRING.Enum()
				a.I = nil
				a.S = []byte("yes")
			}
		}
	})
	_, err := Decode(b)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Quant_16") || !strings.Contains(err.Error(), "narrow") {
		t.Fatalf("err = %v, want ErrInvalid naming Quant_16 and narrow", err)
	}
}

func TestHalfToFloat(t *testing.T) {
	cases := map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x0001: 5.960464477539063e-08, 0x7bff: 65504}
	for h, want := range cases {
		if got := halfToFloat(h); got != want {
			t.Errorf("halfToFloat(%#x) = %v, want %v", h, got, want)
		}
	}
}
