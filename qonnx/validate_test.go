package qonnx

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badEdit turns a valid model into one of impossible structure; it
// reports false when the model has nothing to edit (no node of the op
// type). want are substrings the error must contain besides the node name.
type badEdit struct {
	name string
	edit func(m *Model) (node string, ok bool)
	want []string
}

// firstNode returns the first node m runs that satisfies keep.
func firstNode(m *Model, keep func(*Node) bool) *Node {
	for _, n := range m.Graph.Nodes {
		if keep(n) {
			return n
		}
	}
	return nil
}

// onOp applies f to the first node of op type op (a Quant node for
// "Quant") and returns its name.
func onOp(op string, f func(m *Model, n *Node)) func(m *Model) (string, bool) {
	return func(m *Model) (string, bool) {
		n := firstNode(m, func(n *Node) bool { return n.OpType == op && (op != "Quant" || IsQuant(n)) })
		if n == nil {
			return "", false
		}
		f(m, n)
		return n.Name, true
	}
}

func setInts(n *Node, name string, v ...int64) {
	n.Attrs[name] = &Attr{Name: name, Type: AttrInts, Ints: v}
}

func setInt(n *Node, name string, v int64) {
	n.Attrs[name] = &Attr{Name: name, Type: AttrInt, Int: v}
}

func setString(n *Node, name, v string) {
	n.Attrs[name] = &Attr{Name: name, Type: AttrString, String: v}
}

// setInit replaces the values of the initialiser n's i-th input reads.
func setInit(m *Model, n *Node, i int, v float32) {
	t := m.Graph.Initializers[n.Inputs[i]]
	f := make([]float32, t.Len())
	for j := range f {
		f[j] = v
	}
	m.Graph.Initializers[n.Inputs[i]] = NewFloat(f, t.Shape...)
}

// badEdits are the audit's impossible structures and their kin, each an
// edit of a real model (the first node of an op type, the graph input,
// the opset).
var badEdits = []badEdit{
	{"conv stride 0", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "strides", 0, 0) }), []string{`(Conv) attribute "strides"`}},
	{"conv kernel [0 -5]", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "kernel_shape", 0, -5) }), []string{`attribute "kernel_shape"`, "[0 -5]"}},
	{"conv pads -100", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "pads", -100, -100, -100, -100) }), []string{`attribute "pads"`}},
	{"conv three pads", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "pads", 1, 1, 1) }), []string{`attribute "pads"`, "want 4"}},
	{"conv dilation 0", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "dilations", 0, 1) }), []string{`attribute "dilations"`}},
	{"conv group 0", onOp("Conv", func(_ *Model, n *Node) { setInt(n, "group", 0) }), []string{`attribute "group"`}},
	{"conv group not dividing", onOp("Conv", func(_ *Model, n *Node) { setInt(n, "group", 7) }), []string{`attribute "group"`, "divide"}},
	{"conv auto_pad unknown", onOp("Conv", func(_ *Model, n *Node) { setString(n, "auto_pad", "SIDEWAYS") }), []string{`attribute "auto_pad"`, "SIDEWAYS"}},
	{"conv kernel_shape not the weight's", onOp("Conv", func(_ *Model, n *Node) { setInts(n, "kernel_shape", 2, 2) }), []string{`attribute "kernel_shape"`, "weight"}},
	{"conv kernel larger than the input", onOp("Conv", func(m *Model, n *Node) {
		delete(n.Attrs, "auto_pad")
		setInts(n, "pads", 0, 0, 0, 0)
		s := m.Graph.Inputs[0].Shape
		s[len(s)-1], s[len(s)-2] = 1, 1
		n.Inputs[0] = m.Graph.Inputs[0].Name
	}), []string{`attribute "kernel_shape"`, "spans"}},
	{"pool stride 0", onOp("MaxPool", func(_ *Model, n *Node) { setInts(n, "strides", 0, 0) }), []string{`(MaxPool) attribute "strides"`}},
	{"pool without kernel", onOp("MaxPool", func(_ *Model, n *Node) { delete(n.Attrs, "kernel_shape") }), []string{`attribute "kernel_shape"`, "missing"}},
	{"pool ceil_mode 2", onOp("MaxPool", func(_ *Model, n *Node) { setInt(n, "ceil_mode", 2) }), []string{`attribute "ceil_mode"`}},
	{"depth-to-space block 0", onOp("DepthToSpace", func(_ *Model, n *Node) { setInt(n, "blocksize", 0) }), []string{`attribute "blocksize"`}},
	{"quant scale negative", onOp("Quant", func(m *Model, n *Node) { setInit(m, n, 1, -0.5) }), []string{"scale", "positive finite"}},
	{"quant scale infinite", onOp("Quant", func(m *Model, n *Node) { setInit(m, n, 1, float32(math.Inf(1))) }), []string{"scale", "+Inf"}},
	{"quant zero point NaN", onOp("Quant", func(m *Model, n *Node) { setInit(m, n, 2, float32(math.NaN())) }), []string{"zero point", "NaN"}},
	{"quant 99 bits", onOp("Quant", func(m *Model, n *Node) { setInit(m, n, 3, 99) }), []string{"bit width", "99"}},
	{"quant 0 bits", onOp("Quant", func(m *Model, n *Node) { setInit(m, n, 3, 0) }), []string{"bit width"}},
	{"quant signed 5", onOp("Quant", func(_ *Model, n *Node) { setInt(n, "signed", 5) }), []string{`attribute "signed"`}},
	{"quant rounding unknown", onOp("Quant", func(_ *Model, n *Node) { setString(n, "rounding_mode", "SIDEWAYS") }), []string{`attribute "rounding_mode"`}},
	{"input dims 2^40", func(m *Model) (string, bool) {
		s := m.Graph.Inputs[0].Shape
		s[len(s)-1], s[len(s)-2] = 1<<40, 1<<40
		return "", true
	}, []string{"graph input", "more than 268435456 elements"}},
	{"output dim 0", func(m *Model) (string, bool) {
		m.Graph.Outputs[0].Shape = []int64{1, 0}
		return "", true
	}, []string{"graph output", "dimension 1 is 0"}},
	{"opset 999", func(m *Model) (string, bool) {
		m.Opsets[0].Version = 999
		return "", true
	}, []string{"opset 999", "supported: 7 to 21"}},
	{"opset 6", func(m *Model) (string, bool) {
		m.Opsets[0].Version = 6
		return "", true
	}, []string{"opset 6", "supported: 7 to 21"}},
}

// badSeedModels are the models badEdits edit: the real QONNX export and a
// float network with pooling.
var badSeedModels = []string{subpixelQuant, mnistFloat}

// TestValidateRejects edits real models into impossible ones: Load must
// refuse each with an error wrapping ErrInvalid that names the file, the
// node and the attribute, and Inspect and Run must refuse the edited model
// in memory.
func TestValidateRejects(t *testing.T) {
	dir := t.TempDir()
	for _, file := range badSeedModels {
		for _, c := range badEdits {
			t.Run(file+"/"+c.name, func(t *testing.T) {
				m := loadFixture(t, file)
				node, ok := c.edit(m)
				if !ok {
					t.Skipf("%s has nothing to edit", file)
				}
				want := c.want
				if node != "" {
					want = append([]string{"node " + node + " "}, want...)
				}
				check := func(what string, err error, path string) {
					t.Helper()
					if !errors.Is(err, ErrInvalid) {
						t.Fatalf("%s: err = %v, want ErrInvalid", what, err)
					}
					for _, w := range append(want, path) {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("%s: error %q does not mention %q", what, err, w)
						}
					}
				}
				_, err := Inspect(m, 16)
				check("Inspect", err, "")
				_, err = m.Run(context.Background(), nil, RunOptions{})
				check("Run", err, "")
				b, err := m.Encode()
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, strings.ReplaceAll(file+"_"+c.name, " ", "_")+".onnx")
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err = Load(path)
				check("Load", err, path)
			})
		}
	}
}

// TestValidateAccepts checks that the fixtures and a builder model pass
// Validate.
func TestValidateAccepts(t *testing.T) {
	for _, file := range allFixtures {
		if err := loadFixture(t, file).Validate(); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	m, err := seedModel()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("builder model: %v", err)
	}
}
