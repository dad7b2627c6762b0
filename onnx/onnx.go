// Package onnx imports float ONNX networks, as torch.onnx.export writes
// them (opsets 7 to 21, any batch dimension), into a2q's network graph
// (package graph) and its weights, ready to evaluate, train with A2Q or
// A2Q+, certify and run as integers.
//
// The protobuf decoding, topological sorting and cycle checks are package
// qonnx's; this package maps each ONNX operator onto a graph node and
// converts the layout: ONNX images are NCHW with OIHW convolution weights,
// a2q's are NHWC with [Cout, KH, KW, Cin/groups] weights. A Flatten of an
// image therefore orders features differently, and the importer permutes
// the columns of the linear layer that reads it so that the imported
// network computes the same function.
//
// Supported: Conv (stride, symmetric or asymmetric pads, groups incl.
// depthwise), ConvTranspose, Gemm, MatMul (with a following Add of a
// constant as its bias), BatchNormalization, Relu, Clip, LeakyRelu,
// Sigmoid, MaxPool, AveragePool, GlobalAveragePool, Pad (constant), Add,
// Concat (channels), Flatten, Reshape (to [batch, features]), Identity,
// Dropout, Constant, DepthToSpace and Resize (nearest, integer scale).
// Anything else is an error naming the node, its op type and, where it is
// an attribute that is not supported, the attribute.
package onnx

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Opsets are the default-domain operator set versions Import accepts:
// those package qonnx reads.
const (
	MinOpset = qonnx.MinOpset
	MaxOpset = qonnx.MaxOpset
)

// Network is an imported float network: its graph and its weights, keyed
// by parameter name ("<node>.weight", ...), in a2q's layouts.
type Network struct {
	Graph   *graph.Graph
	Weights map[string]*tensor.Tensor
	// Source is the file the network was read from.
	Source string
}

// Import reads the float ONNX network in the file at path.
func Import(path string) (*Network, error) {
	m, err := qonnx.Load(path)
	if err != nil {
		return nil, err
	}
	n, err := FromModel(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n.Source = path
	return n, nil
}

// Decode imports a float ONNX network from its protobuf encoding.
func Decode(b []byte) (*Network, error) {
	m, err := qonnx.Decode(b)
	if err != nil {
		return nil, err
	}
	return FromModel(m)
}

// value is what the importer knows of an ONNX value.
type value struct {
	name  string        // graph value it maps to
	shape []int         // graph shape (no batch): [H, W, C] or [F]
	rank  int           // ONNX rank including the batch dimension
	perm  []int         // vectors from an image flatten: perm[onnxIndex] = graph index; nil when equal
	konst *qonnx.Tensor // a constant (initialiser or Constant node), not a graph value
	layer int           // index of the bias-less conv or linear node that produced it (a following Add of a constant is its bias), or -1
}

type importer struct {
	m     *qonnx.Model
	g     *graph.Graph
	w     map[string]*tensor.Tensor
	vals  map[string]*value
	names map[string]bool
	opset int64
	batch int64 // the input's batch dimension if the file fixes it, else -1
}

// FromModel imports a decoded ONNX model. A model whose structure is
// impossible (qonnx.Model.Validate) is an error wrapping qonnx.ErrInvalid.
func FromModel(m *qonnx.Model) (*Network, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	im := &importer{m: m, g: &graph.Graph{}, w: map[string]*tensor.Tensor{}, vals: map[string]*value{}, names: map[string]bool{}}
	if err := im.header(); err != nil {
		return nil, err
	}
	for _, n := range m.Graph.Nodes {
		if err := im.node(n); err != nil {
			return nil, err
		}
	}
	if err := im.output(); err != nil {
		return nil, err
	}
	if _, err := im.g.Validate(nil); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(im.g.Nodes, func(n graph.Node) bool { return n.Op.Layered() }) {
		return nil, fmt.Errorf("the network has no convolution or linear layer to quantize")
	}
	return &Network{Graph: im.g, Weights: im.w}, nil
}

func (im *importer) header() error {
	im.opset = -1
	for _, o := range im.m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			im.opset = o.Version
		}
	}
	if im.opset < MinOpset || im.opset > MaxOpset {
		return fmt.Errorf("default-domain opset %d: a2q imports opsets %d to %d (re-export with torch.onnx.export(..., opset_version=13))", im.opset, MinOpset, MaxOpset)
	}
	if im.m.HasQuant() {
		return fmt.Errorf("the file holds QONNX Quant nodes: it is an already quantized network; inspect, verify, eval and hw read it as QONNX")
	}
	g := im.m.Graph
	for name, t := range g.Initializers {
		im.vals[name] = &value{konst: t, layer: -1}
	}
	if len(g.Inputs) != 1 {
		return fmt.Errorf("the graph has %d inputs; a2q imports networks with one input", len(g.Inputs))
	}
	in := g.Inputs[0]
	var shape []int
	switch len(in.Shape) {
	case 4:
		shape = []int{int(in.Shape[2]), int(in.Shape[3]), int(in.Shape[1])}
	case 2:
		shape = []int{int(in.Shape[1])}
	default:
		return fmt.Errorf("input %q has shape %v; want [batch, C, H, W] or [batch, features]", in.Name, in.Shape)
	}
	for _, d := range shape {
		if d < 1 {
			return fmt.Errorf("input %q has shape %v: only the batch dimension may be dynamic", in.Name, in.Shape)
		}
	}
	im.batch = in.Shape[0]
	if im.batch < 1 {
		im.batch = -1
	}
	name := im.unique(sanitize(in.Name, "input"))
	im.g.Input, im.g.InShape = name, shape
	im.vals[in.Name] = &value{name: name, shape: shape, rank: len(in.Shape), layer: -1}
	return nil
}

func (im *importer) output() error {
	outs := im.m.Graph.Outputs
	if len(outs) != 1 {
		return fmt.Errorf("the graph has %d outputs; a2q imports networks with one output", len(outs))
	}
	v, ok := im.vals[outs[0].Name]
	if !ok || v.konst != nil || v.name == im.g.Input {
		return fmt.Errorf("output %q is not computed from the input", outs[0].Name)
	}
	if v.perm != nil {
		return fmt.Errorf("output %q is a flattened image: its feature order would differ from the file's", outs[0].Name)
	}
	im.g.Output = v.name
	return nil
}

// nodeName returns a free graph name for n: its module path, else the path
// and the op type, else with a numeric suffix.
func (im *importer) nodeName(n *qonnx.Node, fallback string) string {
	name := sanitize(n.Name, fallback)
	if im.names[name] {
		if alt := name + "." + strings.ToLower(n.OpType); !im.names[alt] {
			name = alt
		}
	}
	return im.unique(name)
}

// unique returns name, or name with a numeric suffix if taken.
func (im *importer) unique(name string) string {
	u := name
	for i := 2; im.names[u]; i++ {
		u = fmt.Sprintf("%s_%d", name, i)
	}
	im.names[u] = true
	return u
}

// sanitize turns an ONNX node or value name into a graph name. PyTorch
// names a node by its module scopes and op type: "/s/s.0/a/a.0/Conv" is
// the Conv of module s.0.a.0 (each scope names its attribute relative to
// the one before), which becomes the name; other names lose their slashes
// and colons.
func sanitize(name, fallback string) string {
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '/' })
	if len(parts) >= 2 {
		if first, _, _ := strings.Cut(parts[len(parts)-1], "_"); isOpName(first) {
			var path []string
			prev := ""
			for _, c := range parts[:len(parts)-1] {
				if prev != "" && strings.HasPrefix(c, prev+".") {
					path = append(path, strings.TrimPrefix(c, prev+"."))
				} else {
					path = append(path, c)
				}
				prev = c
			}
			name = strings.Join(path, ".")
		}
	}
	name = strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == ':' || r == ' ':
			return '.'
		case r < 0x20:
			return -1
		}
		return r
	}, name), ".")
	if name == "" {
		return fallback
	}
	return name
}

// isOpName reports whether s looks like an ONNX op type (PyTorch ends node
// names with it).
func isOpName(s string) bool {
	return s != "" && s[0] >= 'A' && s[0] <= 'Z' && !strings.ContainsAny(s, ".")
}

// errNode is an error naming the ONNX node.
func errNode(n *qonnx.Node, format string, args ...any) error {
	return fmt.Errorf("node %q (%s): %s", n.Name, n.OpType, fmt.Sprintf(format, args...))
}

// errAttr is an error naming the ONNX node and attribute.
func errAttr(n *qonnx.Node, attr, format string, args ...any) error {
	return fmt.Errorf("node %q (%s) attribute %q: %s", n.Name, n.OpType, attr, fmt.Sprintf(format, args...))
}

// in returns the graph value of n's i-th input, refusing constants.
func (im *importer) in(n *qonnx.Node, i int) (*value, error) {
	name := n.Input(i)
	v, ok := im.vals[name]
	if name == "" || !ok {
		return nil, errNode(n, "input %d (%q) is missing", i, name)
	}
	if v.konst != nil {
		return nil, errNode(n, "input %d (%q) is a constant; a2q imports networks whose ops apply to the input's data", i, name)
	}
	return v, nil
}

// konst returns n's i-th input as a constant, or nil if absent.
func (im *importer) konst(n *qonnx.Node, i int, what string) (*qonnx.Tensor, error) {
	name := n.Input(i)
	if name == "" {
		return nil, nil
	}
	v, ok := im.vals[name]
	if !ok || v.konst == nil {
		return nil, errNode(n, "%s (input %d, %q) must be a constant (an initialiser or a Constant node)", what, i, name)
	}
	return v.konst, nil
}

// add appends a graph node computing n's output from the given inputs.
func (im *importer) add(n *qonnx.Node, gn graph.Node, ins ...*value) (*value, error) {
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return nil, errNode(n, "has no output")
	}
	gn.Name = im.nodeName(n, sanitize(n.Outputs[0], string(gn.Op)))
	v, err := im.appendNode(n, gn, ins...)
	if err != nil {
		return nil, err
	}
	im.vals[n.Outputs[0]] = v
	return v, nil
}

// appendNode appends gn (named) reading ins, checks its shape, and returns
// its value; errors name n, the ONNX node it comes from.
func (im *importer) appendNode(n *qonnx.Node, gn graph.Node, ins ...*value) (*value, error) {
	shapes := make([][]int, len(ins))
	for i, v := range ins {
		gn.Inputs = append(gn.Inputs, v.name)
		shapes[i] = v.shape
	}
	shape, err := gn.OutShape(shapes)
	if err != nil {
		return nil, errNode(n, "%v", err)
	}
	im.g.Nodes = append(im.g.Nodes, gn)
	rank := 4
	if len(shape) == 1 {
		rank = 2
	}
	return &value{name: gn.Name, shape: shape, rank: rank, layer: -1}, nil
}

// alias makes n's output the same value as its input (Identity, Dropout).
func (im *importer) alias(n *qonnx.Node, v *value) { im.vals[n.Outputs[0]] = v }

func (im *importer) node(n *qonnx.Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return errNode(n, "operator domain %q is not supported", n.Domain)
	}
	if len(n.Outputs) == 0 {
		return errNode(n, "has no output")
	}
	// Extra outputs (a MaxPool's indices, a Dropout's mask, a training
	// BatchNormalization's statistics) must not be used.
	for _, o := range n.Outputs[1:] {
		if o != "" && len(im.m.Graph.Consumers(o)) > 0 {
			return errNode(n, "output %q is used; a2q supports only the first output of %s", o, n.OpType)
		}
	}
	switch n.OpType {
	case "Constant":
		t, err := constantValue(n)
		if err != nil {
			return err
		}
		im.vals[n.Outputs[0]] = &value{konst: t, layer: -1}
		return nil
	case "Identity", "Dropout":
		v, ok := im.vals[n.Input(0)]
		if !ok {
			return errNode(n, "input %q is missing", n.Input(0))
		}
		im.alias(n, v)
		return nil
	case "Conv":
		return im.conv(n)
	case "ConvTranspose":
		return im.convTranspose(n)
	case "Gemm":
		return im.gemm(n)
	case "MatMul":
		return im.matmul(n)
	case "BatchNormalization":
		return im.batchNorm(n)
	case "Relu", "Sigmoid":
		op := graph.ReLU
		if n.OpType == "Sigmoid" {
			op = graph.Sigmoid
		}
		return im.elementwise(n, graph.Node{Op: op})
	case "LeakyRelu":
		a, err := n.AttrFloat("alpha", 0.01)
		if err != nil {
			return err
		}
		return im.elementwise(n, graph.Node{Op: graph.LeakyReLU, Alpha: a})
	case "Clip":
		return im.clip(n)
	case "MaxPool", "AveragePool":
		return im.pool(n)
	case "GlobalAveragePool":
		x, err := im.image(n)
		if err != nil {
			return err
		}
		v, err := im.add(n, graph.Node{Op: graph.GlobalAvgPool}, x)
		if err != nil {
			return err
		}
		v.rank = 4 // [N, C, 1, 1] in the file; its flatten is a no-op
		return nil
	case "Pad":
		return im.pad(n)
	case "Add":
		return im.add2(n)
	case "Concat":
		return im.concat(n)
	case "Flatten":
		return im.flatten(n)
	case "Reshape":
		return im.reshape(n)
	case "DepthToSpace":
		return im.depthToSpace(n)
	case "Resize", "Upsample":
		return im.resize(n)
	}
	return errNode(n, "operator %s is not supported (a2q imports %s)", n.OpType, supportedOps)
}

const supportedOps = "Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, Relu, Clip, LeakyRelu, Sigmoid, MaxPool, AveragePool, GlobalAveragePool, Pad, Add, Concat, Flatten, Reshape, Identity, Dropout, Constant, DepthToSpace, Resize"

// Base returns a model name for the file at path: its base name without
// the extension.
func Base(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}
