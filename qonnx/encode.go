package qonnx

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/a2qtoolkit/a2q/internal/onnxpb"
)

// QONNXDomain is the domain the builder gives Quant nodes.
const QONNXDomain = "qonnx.custom_op.general"

// Encode serialises the model as an ONNX protobuf. Initialisers are written
// as FLOAT or INT64 tensors with raw data, sorted by name (and, for IR
// versions below 4, also declared as graph inputs); nodes in the graph's
// (topological) order; Metadata as metadata_props sorted by key.
func (m *Model) Encode() ([]byte, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("qonnx: encode: model has no graph")
	}
	g := m.Graph
	mp := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(m.IRVersion),
		ProducerName:    proto.String(m.ProducerName),
		ProducerVersion: proto.String(m.ProducerVersion),
	}
	for _, o := range m.Opsets {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(o.Domain), Version: proto.Int64(o.Version)})
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(m.Metadata[k])})
	}
	gp := &onnxpb.GraphProto{Name: proto.String(g.Name)}
	names := make([]string, 0, len(g.Initializers))
	for name := range g.Initializers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		gp.Initializer = append(gp.Initializer, encodeTensor(name, g.Initializers[name]))
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, encodeValueInfo(v))
	}
	if m.IRVersion < 4 {
		// Before IR version 4 every initialiser must also be a graph input.
		for _, name := range names {
			t := g.Initializers[name]
			et := onnxpb.TensorProto_FLOAT
			if t.DType == Int {
				et = onnxpb.TensorProto_INT64
			}
			gp.Input = append(gp.Input, encodeValueInfo(ValueInfo{Name: name, ElemType: int32(et), Shape: dims64(t.Shape)}))
		}
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, encodeValueInfo(v))
	}
	vnames := make([]string, 0, len(g.ValueInfo))
	for name := range g.ValueInfo {
		vnames = append(vnames, name)
	}
	sort.Strings(vnames)
	for _, name := range vnames {
		gp.ValueInfo = append(gp.ValueInfo, encodeValueInfo(g.ValueInfo[name]))
	}
	for _, n := range g.Nodes {
		np := &onnxpb.NodeProto{
			Name:   proto.String(n.Name),
			OpType: proto.String(n.OpType),
			Input:  n.Inputs,
			Output: n.Outputs,
		}
		if n.Domain != "" {
			np.Domain = proto.String(n.Domain)
		}
		anames := make([]string, 0, len(n.Attrs))
		for name := range n.Attrs {
			anames = append(anames, name)
		}
		sort.Strings(anames)
		for _, name := range anames {
			ap, err := encodeAttr(n.Attrs[name])
			if err != nil {
				return nil, fmt.Errorf("qonnx: encode: node %s attribute %q: %w", n.Name, name, err)
			}
			np.Attribute = append(np.Attribute, ap)
		}
		gp.Node = append(gp.Node, np)
	}
	mp.Graph = gp
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("qonnx: encode: %w", err)
	}
	return b, nil
}

func encodeValueInfo(v ValueInfo) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(v.ElemType)}
	if v.Shape != nil {
		tt.Shape = &onnxpb.TensorShapeProto{}
		for i, d := range v.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			} else if i < len(v.DimParams) && v.DimParams[i] != "" {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v.DimParams[i]}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(v.Name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}},
	}
}

func encodeAttr(a *Attr) (*onnxpb.AttributeProto, error) {
	ap := &onnxpb.AttributeProto{Name: proto.String(a.Name)}
	var t onnxpb.AttributeProto_AttributeType
	switch a.Type {
	case AttrFloat:
		t, ap.F = onnxpb.AttributeProto_FLOAT, proto.Float32(a.Float)
	case AttrInt:
		t, ap.I = onnxpb.AttributeProto_INT, proto.Int64(a.Int)
	case AttrString:
		t, ap.S = onnxpb.AttributeProto_STRING, []byte(a.String)
	case AttrTensor:
		if a.Tensor == nil {
			return nil, fmt.Errorf("tensor attribute without a tensor")
		}
		t, ap.T = onnxpb.AttributeProto_TENSOR, encodeTensor("", a.Tensor)
	case AttrFloats:
		t, ap.Floats = onnxpb.AttributeProto_FLOATS, a.Floats
	case AttrInts:
		t, ap.Ints = onnxpb.AttributeProto_INTS, a.Ints
	case AttrStrings:
		t = onnxpb.AttributeProto_STRINGS
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	default:
		return nil, fmt.Errorf("attribute of type %v cannot be encoded", a.Type)
	}
	ap.Type = t.Enum()
	return ap, nil
}

// Builder assembles a QONNX graph: opset 11 plus the QONNX custom-op
// domain, Quant nodes of op type Quant in domain qonnx.custom_op.general,
// weights stored as float initialisers on their integer grid. Methods
// record the first error; Model returns it.
type Builder struct {
	name  string
	g     *Graph
	nodes []*Node
	err   error
	seq   int
}

// NewGraph starts a graph of the given name.
func NewGraph(name string) *Builder {
	return &Builder{name: name, g: &Graph{
		Name:         name,
		Initializers: make(map[string]*Tensor),
		ValueInfo:    make(map[string]ValueInfo),
	}}
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("qonnx: builder: "+format, args...)
	}
}

func dims64(shape []int) []int64 {
	d := make([]int64, len(shape))
	for i, v := range shape {
		d[i] = int64(v)
	}
	return d
}

// AddInput declares a float graph input of the given shape.
func (b *Builder) AddInput(name string, shape ...int) {
	b.g.Inputs = append(b.g.Inputs, ValueInfo{Name: name, ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: dims64(shape)})
}

// AddOutput declares a float graph output (shape may be omitted).
func (b *Builder) AddOutput(name string, shape ...int) {
	v := ValueInfo{Name: name, ElemType: int32(onnxpb.TensorProto_FLOAT)}
	if shape != nil {
		v.Shape = dims64(shape)
	}
	b.g.Outputs = append(b.g.Outputs, v)
}

// AddInitializer adds a constant tensor.
func (b *Builder) AddInitializer(name string, t *Tensor) {
	if _, dup := b.g.Initializers[name]; dup {
		b.fail("initialiser %q added twice", name)
		return
	}
	if n, err := numElements(t.Shape); err != nil || n != t.Len() {
		b.fail("initialiser %q: data length %d does not match shape %v", name, t.Len(), t.Shape)
		return
	}
	b.g.Initializers[name] = t
}

// AddNode appends a node and returns its first output, named name+"_out"
// (outputs name+"_out1", ... for the others if outputs > 1).
func (b *Builder) AddNode(opType, domain, name string, inputs []string, outputs int, attrs ...*Attr) string {
	if name == "" {
		b.seq++
		name = fmt.Sprintf("%s_%d", opType, b.seq)
	}
	n := &Node{Name: name, OpType: opType, Domain: domain, Inputs: inputs, Attrs: make(map[string]*Attr)}
	for i := 0; i < max(outputs, 1); i++ {
		if i == 0 {
			n.Outputs = append(n.Outputs, name+"_out")
		} else {
			n.Outputs = append(n.Outputs, fmt.Sprintf("%s_out%d", name, i))
		}
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	b.nodes = append(b.nodes, n)
	return n.Outputs[0]
}

// IntAttr, IntsAttr, FloatAttr and StringAttr build attributes for AddNode.
func IntAttr(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, Int: v} }

// IntsAttr builds an integer-list attribute.
func IntsAttr(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }

// FloatAttr builds a float attribute.
func FloatAttr(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, Float: v} }

// StringAttr builds a string attribute.
func StringAttr(name, v string) *Attr { return &Attr{Name: name, Type: AttrString, String: v} }

// AddQuant adds a Quant node quantizing x with the given scale (a tensor
// broadcastable to x, e.g. a scalar or [C,1,1,1]), zero point 0, bits,
// signedness, narrow range and round-half-to-even. Its scale, zero point
// and bit width become initialisers name+"_scale", name+"_zeropt",
// name+"_bitwidth". It returns the output name.
func (b *Builder) AddQuant(name, x string, scale *Tensor, bits int, signed, narrow bool) string {
	if bits < 1 || bits > maxQuantBits || (signed && narrow && bits < 2) {
		b.fail("Quant %s: impossible bit width %d", name, bits)
	}
	b.AddInitializer(name+"_scale", scale)
	b.AddInitializer(name+"_zeropt", NewFloat([]float32{0}))
	b.AddInitializer(name+"_bitwidth", NewFloat([]float32{float32(bits)}))
	bool01 := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	return b.AddNode("Quant", QONNXDomain, name, []string{x, name + "_scale", name + "_zeropt", name + "_bitwidth"}, 1,
		IntAttr("signed", bool01(signed)), IntAttr("narrow", bool01(narrow)), StringAttr("rounding_mode", "ROUND"))
}

// AddQuantWeights adds integer weights q of the given shape (first axis the
// output channels) as a float initialiser q·scale_c on its integer grid,
// and a narrow-range signed Quant node with per-channel scale (shape
// [C,1,...]) and zero point 0. It returns the Quant's output name.
func (b *Builder) AddQuantWeights(name string, q []int32, shape []int, scale []float32, bits int) string {
	n, err := numElements(shape)
	if err != nil || n != len(q) || len(shape) < 1 || shape[0] != len(scale) || shape[0] == 0 {
		b.fail("weights %s: %d values, shape %v, %d scales", name, len(q), shape, len(scale))
		return name + "_out"
	}
	wmax := int32(1)<<(bits-1) - 1
	per := n / shape[0]
	w := make([]float32, n)
	for i, v := range q {
		if v > wmax || v < -wmax {
			b.fail("weights %s: value %d outside the %d-bit narrow range", name, v, bits)
		}
		w[i] = float32(v) * scale[i/per]
	}
	b.AddInitializer(name+"_w", NewFloat(w, shape...))
	sshape := make([]int, len(shape))
	for i := range sshape {
		sshape[i] = 1
	}
	sshape[0] = shape[0]
	return b.AddQuant(name, name+"_w", NewFloat(append([]float32(nil), scale...), sshape...), bits, true, true)
}

// ConvParams are a Conv node's geometry (zero values mean stride 1,
// dilation 1, no padding, one group).
type ConvParams struct {
	Strides   [2]int64
	Pads      [4]int64 // top, left, bottom, right
	Dilations [2]int64
	Group     int64
}

// AddConv adds a Conv node on input x with weights w (OIHW, kernel size
// kh×kw) and optional bias ("" for none).
func (b *Builder) AddConv(name, x, w, bias string, kh, kw int64, p ConvParams) string {
	orOne := func(v int64) int64 {
		if v == 0 {
			return 1
		}
		return v
	}
	in := []string{x, w}
	if bias != "" {
		in = append(in, bias)
	}
	return b.AddNode("Conv", "", name, in, 1,
		IntsAttr("kernel_shape", kh, kw),
		IntsAttr("strides", orOne(p.Strides[0]), orOne(p.Strides[1])),
		IntsAttr("dilations", orOne(p.Dilations[0]), orOne(p.Dilations[1])),
		IntsAttr("pads", p.Pads[:]...),
		IntAttr("group", orOne(p.Group)))
}

// AddMatMul adds a MatMul node x·w.
func (b *Builder) AddMatMul(name, x, w string) string {
	return b.AddNode("MatMul", "", name, []string{x, w}, 1)
}

// Model checks the graph (every input defined, no cycle) and returns it as
// a model with IR version 7, opset 11 and the QONNX domain.
func (b *Builder) Model() (*Model, error) {
	if b.err != nil {
		return nil, b.err
	}
	if err := b.g.setNodes(b.nodes); err != nil {
		return nil, fmt.Errorf("qonnx: builder: %w", err)
	}
	return &Model{
		IRVersion:    7,
		ProducerName: "a2q",
		Opsets:       []Opset{{Domain: "", Version: 11}, {Domain: QONNXDomain, Version: 1}},
		Graph:        b.g,
	}, nil
}
