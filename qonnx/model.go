package qonnx

import (
	"errors"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/internal/onnxpb"
)

// Model is a decoded ONNX / QONNX model.
type Model struct {
	// Path is the file the model was loaded from ("" when decoded from
	// memory); error messages name it.
	Path            string
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	// Opsets lists the operator sets the model imports, in file order.
	Opsets []Opset
	Graph  *Graph
	// Metadata holds the model's metadata_props (key → value; nil when
	// the file has none). Export stores the layers' accumulator
	// certificates under CertificatesKey.
	Metadata map[string]string
}

// Opset is one imported operator set (domain "" is the default ONNX domain).
type Opset struct {
	Domain  string
	Version int64
}

// Graph is the typed view of an ONNX graph. Nodes are in topological order
// (Decode sorts them and rejects cycles).
type Graph struct {
	Name  string
	Nodes []*Node
	// Initializers maps a value name to its constant tensor.
	Initializers map[string]*Tensor
	// Inputs are the graph inputs that are not initialisers (the values a
	// caller must supply); Outputs the graph outputs.
	Inputs  []ValueInfo
	Outputs []ValueInfo
	// ValueInfo holds the declared types of intermediate values, by name.
	ValueInfo map[string]ValueInfo

	producer  map[string]*Node
	consumers map[string][]*Node
}

// ValueInfo is the declared type of a value: element type (ONNX
// TensorProto.DataType code) and shape; unknown or symbolic dimensions are -1
// with their name, if any, in DimParams.
type ValueInfo struct {
	Name      string
	ElemType  int32
	Shape     []int64
	DimParams []string
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   map[string]*Attr
}

// AttrType is the type of an attribute value.
type AttrType int

// Attribute types (the subset of ONNX attribute types this package reads;
// others decode as AttrOther and are kept only by name).
const (
	AttrOther AttrType = iota
	AttrFloat
	AttrInt
	AttrString
	AttrTensor
	AttrFloats
	AttrInts
	AttrStrings
)

var attrTypeNames = [...]string{"other", "float", "int", "string", "tensor", "floats", "ints", "strings"}

func (a AttrType) String() string {
	if a >= 0 && int(a) < len(attrTypeNames) {
		return attrTypeNames[a]
	}
	return fmt.Sprintf("AttrType(%d)", int(a))
}

// Attr is a node attribute; the field matching Type holds the value.
type Attr struct {
	Name    string
	Type    AttrType
	Float   float32
	Int     int64
	String  string
	Tensor  *Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
}

// MaxFileSize bounds the ONNX files Load reads: 2 GiB, the most a protobuf
// message may hold (larger models keep their weights in external files,
// which a2q does not read).
const MaxFileSize = 2 << 30

// Load reads and decodes the ONNX model in the file at path, a regular file
// of at most MaxFileSize bytes (a device, a named pipe or a directory is an
// error naming it), and checks its structure (Validate).
func Load(path string) (*Model, error) {
	b, err := fileio.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("qonnx: %w", err)
	}
	m, err := decode(b, path)
	if err != nil {
		return nil, err
	}
	m.Path = path
	return m, nil
}

// Decode decodes an ONNX model from its protobuf encoding and checks its
// structure (Validate).
func Decode(b []byte) (*Model, error) {
	return decode(b, "")
}

func decode(b []byte, path string) (*Model, error) {
	where := "qonnx"
	if path != "" {
		where = "qonnx: " + path
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX model: %w", where, err)
	}
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("%s: not an ONNX model: no graph", where)
	}
	m := &Model{
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
	}
	for _, o := range mp.GetOpsetImport() {
		m.Opsets = append(m.Opsets, Opset{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	for _, kv := range mp.GetMetadataProps() {
		if m.Metadata == nil {
			m.Metadata = make(map[string]string, len(mp.GetMetadataProps()))
		}
		if _, dup := m.Metadata[kv.GetKey()]; dup {
			return nil, fmt.Errorf("%s: metadata key %q appears twice", where, kv.GetKey())
		}
		m.Metadata[kv.GetKey()] = kv.GetValue()
	}
	g, err := decodeGraph(mp.GetGraph())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	m.Graph = g
	m.Path = path
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeGraph(gp *onnxpb.GraphProto) (*Graph, error) {
	g := &Graph{
		Name:         gp.GetName(),
		Initializers: make(map[string]*Tensor, len(gp.GetInitializer())),
		ValueInfo:    make(map[string]ValueInfo),
	}
	total := 0
	for _, tp := range gp.GetInitializer() {
		t, err := decodeTensor(tp)
		if err != nil {
			return nil, fmt.Errorf("initialiser %q: %w", tp.GetName(), err)
		}
		if total += t.Len(); total > MaxElements {
			return nil, fmt.Errorf("initialiser %q: initialisers hold more than %d elements", tp.GetName(), MaxElements)
		}
		if _, dup := g.Initializers[tp.GetName()]; dup {
			return nil, fmt.Errorf("initialiser %q defined twice", tp.GetName())
		}
		g.Initializers[tp.GetName()] = t
	}
	for _, vi := range gp.GetInput() {
		if _, ok := g.Initializers[vi.GetName()]; ok {
			continue
		}
		g.Inputs = append(g.Inputs, decodeValueInfo(vi))
	}
	for _, vi := range gp.GetOutput() {
		g.Outputs = append(g.Outputs, decodeValueInfo(vi))
	}
	for _, vi := range gp.GetValueInfo() {
		g.ValueInfo[vi.GetName()] = decodeValueInfo(vi)
	}
	nodes := make([]*Node, 0, len(gp.GetNode()))
	for i, np := range gp.GetNode() {
		n := &Node{
			Name:    np.GetName(),
			OpType:  np.GetOpType(),
			Domain:  np.GetDomain(),
			Inputs:  append([]string(nil), np.GetInput()...),
			Outputs: append([]string(nil), np.GetOutput()...),
			Attrs:   make(map[string]*Attr, len(np.GetAttribute())),
		}
		if n.Name == "" {
			n.Name = fmt.Sprintf("%s_%d", n.OpType, i)
		}
		for _, ap := range np.GetAttribute() {
			a, err := decodeAttr(ap)
			if err != nil {
				return nil, fmt.Errorf("node %s (%s) attribute %q: %w", n.Name, n.OpType, ap.GetName(), err)
			}
			n.Attrs[a.Name] = a
		}
		nodes = append(nodes, n)
	}
	if err := g.setNodes(nodes); err != nil {
		return nil, err
	}
	return g, nil
}

func decodeValueInfo(vi *onnxpb.ValueInfoProto) ValueInfo {
	v := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	v.ElemType = tt.GetElemType()
	if tt.GetShape() != nil {
		dims := tt.GetShape().GetDim()
		v.Shape = make([]int64, len(dims))
		v.DimParams = make([]string, len(dims))
		for i, d := range dims {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				v.Shape[i] = d.GetDimValue()
			} else {
				v.Shape[i] = -1
				v.DimParams[i] = d.GetDimParam()
			}
		}
	}
	return v
}

func decodeAttr(ap *onnxpb.AttributeProto) (*Attr, error) {
	a := &Attr{Name: ap.GetName()}
	typ := ap.GetType()
	if typ == onnxpb.AttributeProto_UNDEFINED {
		// Old exporters leave the type unset: infer it from the populated field.
		switch {
		case ap.F != nil:
			typ = onnxpb.AttributeProto_FLOAT
		case ap.I != nil:
			typ = onnxpb.AttributeProto_INT
		case ap.S != nil:
			typ = onnxpb.AttributeProto_STRING
		case ap.T != nil:
			typ = onnxpb.AttributeProto_TENSOR
		case len(ap.Floats) > 0:
			typ = onnxpb.AttributeProto_FLOATS
		case len(ap.Ints) > 0:
			typ = onnxpb.AttributeProto_INTS
		case len(ap.Strings) > 0:
			typ = onnxpb.AttributeProto_STRINGS
		}
	}
	switch typ {
	case onnxpb.AttributeProto_FLOAT:
		a.Type, a.Float = AttrFloat, ap.GetF()
	case onnxpb.AttributeProto_INT:
		a.Type, a.Int = AttrInt, ap.GetI()
	case onnxpb.AttributeProto_STRING:
		a.Type, a.String = AttrString, string(ap.GetS())
	case onnxpb.AttributeProto_TENSOR:
		t, err := decodeTensor(ap.GetT())
		if err != nil {
			return nil, err
		}
		a.Type, a.Tensor = AttrTensor, t
	case onnxpb.AttributeProto_FLOATS:
		a.Type, a.Floats = AttrFloats, append([]float32(nil), ap.GetFloats()...)
	case onnxpb.AttributeProto_INTS:
		a.Type, a.Ints = AttrInts, append([]int64(nil), ap.GetInts()...)
	case onnxpb.AttributeProto_STRINGS:
		a.Type = AttrStrings
		for _, s := range ap.GetStrings() {
			a.Strings = append(a.Strings, string(s))
		}
	default:
		a.Type = AttrOther
	}
	return a, nil
}

// setNodes sorts nodes topologically, checks that every input is defined
// and indexes producers and consumers.
func (g *Graph) setNodes(nodes []*Node) error {
	g.producer = make(map[string]*Node)
	g.consumers = make(map[string][]*Node)
	defined := make(map[string]bool, len(g.Initializers)+len(g.Inputs))
	for name := range g.Initializers {
		defined[name] = true
	}
	for _, in := range g.Inputs {
		defined[in.Name] = true
	}
	for _, n := range nodes {
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if p, dup := g.producer[out]; dup {
				return fmt.Errorf("value %q is produced by both node %s and node %s", out, p.Name, n.Name)
			}
			if defined[out] {
				return fmt.Errorf("node %s (%s) output %q redefines a graph input or initialiser", n.Name, n.OpType, out)
			}
			g.producer[out] = n
		}
	}
	// Kahn's algorithm, stable in file order.
	pending := make(map[*Node]int, len(nodes))
	for _, n := range nodes {
		deps := 0
		for _, in := range n.Inputs {
			if in == "" || defined[in] {
				continue
			}
			if _, ok := g.producer[in]; !ok {
				return fmt.Errorf("node %s (%s) input %q is neither a graph input, an initialiser nor the output of a node", n.Name, n.OpType, in)
			}
			deps++
			g.consumers[in] = append(g.consumers[in], n)
		}
		pending[n] = deps
	}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in != "" && defined[in] {
				g.consumers[in] = append(g.consumers[in], n)
			}
		}
	}
	order := make([]*Node, 0, len(nodes))
	var ready []*Node
	for _, n := range nodes {
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			for _, c := range g.consumers[out] {
				pending[c]--
				if pending[c] == 0 {
					ready = append(ready, c)
				}
			}
		}
	}
	if len(order) != len(nodes) {
		var stuck []string
		for _, n := range nodes {
			if pending[n] > 0 {
				stuck = append(stuck, n.Name)
			}
		}
		sort.Strings(stuck)
		if len(stuck) > 5 {
			stuck = append(stuck[:5], "...")
		}
		return fmt.Errorf("graph has a cycle through nodes %v", stuck)
	}
	for _, out := range g.Outputs {
		if !defined[out.Name] && g.producer[out.Name] == nil {
			return fmt.Errorf("graph output %q is not produced by any node", out.Name)
		}
	}
	g.Nodes = order
	return nil
}

// Producer returns the node whose output is the named value, or nil for
// graph inputs, initialisers and unknown names.
func (g *Graph) Producer(value string) *Node { return g.producer[value] }

// Consumers returns the nodes that read the named value.
func (g *Graph) Consumers(value string) []*Node { return g.consumers[value] }

// Input returns the named input of n at position i ("" when absent).
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// errAttr builds an attribute error naming the node.
func (n *Node) errAttr(name string, format string, args ...any) error {
	return fmt.Errorf("node %s (%s) attribute %q: %s", n.Name, n.OpType, name, fmt.Sprintf(format, args...))
}

func (n *Node) attr(name string, want AttrType) (*Attr, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return nil, nil
	}
	if a.Type != want {
		return nil, n.errAttr(name, "is of type %v, want %v", a.Type, want)
	}
	return a, nil
}

// AttrInt returns the integer attribute name, or def when absent. An
// attribute of another type is an error.
func (n *Node) AttrInt(name string, def int64) (int64, error) {
	a, err := n.attr(name, AttrInt)
	if a == nil || err != nil {
		return def, err
	}
	return a.Int, nil
}

// AttrFloat returns the float attribute name, or def when absent.
func (n *Node) AttrFloat(name string, def float32) (float32, error) {
	a, err := n.attr(name, AttrFloat)
	if a == nil || err != nil {
		return def, err
	}
	return a.Float, nil
}

// AttrString returns the string attribute name, or def when absent.
func (n *Node) AttrString(name string, def string) (string, error) {
	a, err := n.attr(name, AttrString)
	if a == nil || err != nil {
		return def, err
	}
	return a.String, nil
}

// AttrInts returns the integer-list attribute name, or def when absent.
func (n *Node) AttrInts(name string, def []int64) ([]int64, error) {
	a, err := n.attr(name, AttrInts)
	if a == nil || err != nil {
		return def, err
	}
	return a.Ints, nil
}

// AttrFloats returns the float-list attribute name, or def when absent.
func (n *Node) AttrFloats(name string, def []float32) ([]float32, error) {
	a, err := n.attr(name, AttrFloats)
	if a == nil || err != nil {
		return def, err
	}
	return a.Floats, nil
}

// AttrTensor returns the tensor attribute name, or nil when absent.
func (n *Node) AttrTensor(name string) (*Tensor, error) {
	a, err := n.attr(name, AttrTensor)
	if a == nil || err != nil {
		return nil, err
	}
	return a.Tensor, nil
}

// HasQuant reports whether the model has at least one Quant node of a
// recognised domain.
func (m *Model) HasQuant() bool {
	for _, n := range m.Graph.Nodes {
		if IsQuant(n) {
			return true
		}
	}
	return false
}

// name returns the model's file name for messages.
func (m *Model) name() string {
	if m.Path != "" {
		return m.Path
	}
	return "model"
}

// ErrNoQuant is returned (wrapped) by Inspect for a model without Quant nodes.
var ErrNoQuant = errors.New("no Quant nodes")
