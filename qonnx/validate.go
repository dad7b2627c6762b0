package qonnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Opsets of the default ONNX domain this package reads. Versions below 7
// have other operator semantics; above 21 are not known to it.
const (
	MinOpset = 7
	MaxOpset = 21
)

// MaxWindow is the largest kernel size, stride, dilation or pad a
// convolution or pooling node may have.
const MaxWindow = 1 << 20

// ErrInvalid is wrapped by the errors of Validate: the model's structure
// is impossible (an attribute out of range, a shape no tensor can have, an
// operator set no version of ONNX defines).
var ErrInvalid = errors.New("invalid model")

// Validate checks the structure of m without running it: the default-domain
// opset is in [MinOpset, MaxOpset]; every declared dimension of the graph
// inputs, outputs and value_info is positive (or symbolic) and no declared
// shape has more than MaxElements elements; and the attributes of every
// Conv, ConvTranspose, MaxPool, AveragePool, Gemm, DepthToSpace,
// SpaceToDepth, Transpose, BatchNormalization and Quant node are in range:
// kernel sizes, strides and dilations at least 1, pads at least 0 (all at
// most MaxWindow), auto_pad a value ONNX defines, group at least 1 and
// dividing the channels, kernel_shape equal to the weight's, the kernel
// (dilated) fitting the declared input with its pads, Quant bit widths in
// range and scales positive and finite. Initialiser sizes are checked
// against their declared dimensions while decoding. Decode and Load call
// Validate, and Inspect and Run call it again for models changed in
// memory; errors wrap ErrInvalid and name the file, the node, its op type
// and the attribute.
func (m *Model) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("qonnx: %s: %w: %w", m.name(), ErrInvalid, err)
	}
	return nil
}

func (m *Model) validate() error {
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			if o.Version < MinOpset || o.Version > MaxOpset {
				return fmt.Errorf("opset %d of the default ONNX domain is not supported (supported: %d to %d)", o.Version, MinOpset, MaxOpset)
			}
		} else if o.Version < 1 {
			return fmt.Errorf("opset %d of domain %q: versions start at 1", o.Version, o.Domain)
		}
	}
	g := m.Graph
	if g == nil {
		return errors.New("no graph")
	}
	for _, vs := range []struct {
		what string
		vis  []ValueInfo
	}{{"graph input", g.Inputs}, {"graph output", g.Outputs}} {
		for _, v := range vs.vis {
			if err := checkDeclared(v); err != nil {
				return fmt.Errorf("%s %q: %w", vs.what, v.Name, err)
			}
		}
	}
	for _, name := range sortedKeys(g.ValueInfo) {
		if err := checkDeclared(g.ValueInfo[name]); err != nil {
			return fmt.Errorf("value_info %q: %w", name, err)
		}
	}
	for _, n := range g.Nodes {
		if err := m.validateNode(n); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkDeclared checks a declared shape: each dimension positive or
// unknown (-1, symbolic), and at most MaxElements elements in all.
func checkDeclared(v ValueInfo) error {
	n := int64(1)
	for i, d := range v.Shape {
		switch {
		case d == -1:
			continue
		case d < 1:
			return fmt.Errorf("shape %v: dimension %d is %d, want a positive size", v.Shape, i, d)
		case d > MaxElements || n > MaxElements/d:
			return fmt.Errorf("shape %v has more than %d elements", v.Shape, MaxElements)
		}
		n *= d
	}
	return nil
}

// validateNode checks the attributes of one node.
func (m *Model) validateNode(n *Node) error {
	if IsQuant(n) {
		return m.validateQuant(n)
	}
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil
	}
	switch n.OpType {
	case "Conv", "ConvTranspose":
		return m.validateConv(n)
	case "MaxPool", "AveragePool", "LpPool":
		return m.validatePool(n)
	case "Gemm":
		for _, a := range []string{"transA", "transB"} {
			if err := boolAttr(n, a); err != nil {
				return err
			}
		}
		for _, a := range []string{"alpha", "beta"} {
			v, err := n.AttrFloat(a, 1)
			if err != nil {
				return err
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return n.errAttr(a, "is %v, want a finite number", v)
			}
		}
	case "BatchNormalization":
		eps, err := n.AttrFloat("epsilon", 1e-5)
		if err != nil {
			return err
		}
		if !(eps >= 0) || math.IsInf(float64(eps), 0) {
			return n.errAttr("epsilon", "is %v, want a finite number at least 0", eps)
		}
	case "DepthToSpace", "SpaceToDepth":
		bs, err := n.AttrInt("blocksize", 0)
		if err != nil {
			return err
		}
		if bs < 1 || bs > MaxWindow {
			return n.errAttr("blocksize", "is %d, want an integer in [1, %d]", bs, MaxWindow)
		}
	case "Transpose":
		perm, err := n.AttrInts("perm", nil)
		if err != nil {
			return err
		}
		seen := make([]bool, len(perm))
		for _, p := range perm {
			if p < 0 || p >= int64(len(perm)) || seen[p] {
				return n.errAttr("perm", "%v is not a permutation of 0 to %d", perm, len(perm)-1)
			}
			seen[p] = true
		}
	}
	return nil
}

// boolAttr checks that the integer attribute name, if present, is 0 or 1.
func boolAttr(n *Node, name string) error {
	v, err := n.AttrInt(name, 0)
	if err != nil {
		return err
	}
	if v != 0 && v != 1 {
		return n.errAttr(name, "is %d, want 0 or 1", v)
	}
	return nil
}

// windowInts reads an integer-list attribute of a convolution or pool:
// want values (0: any number) each in [lo, MaxWindow]. It returns nil when
// the attribute is absent.
func windowInts(n *Node, name string, want int, lo int64) ([]int64, error) {
	v, err := n.AttrInts(name, nil)
	if err != nil || v == nil {
		return nil, err
	}
	if want > 0 && len(v) != want {
		return nil, n.errAttr(name, "is %v: %d values, want %d", v, len(v), want)
	}
	for _, e := range v {
		if e < lo || e > MaxWindow {
			return nil, n.errAttr(name, "is %v: every value must be in [%d, %d]", v, lo, MaxWindow)
		}
	}
	return v, nil
}

var autoPadValues = []string{"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}

// window checks the attributes a convolution and a pool share, for a
// kernel of rank r (0: unknown, taken from kernel_shape): kernel_shape,
// strides, dilations, pads and auto_pad. It returns the kernel (nil when
// neither kernel_shape nor the caller gives it), the dilations and the
// explicit pads (nil with an auto_pad other than NOTSET).
func window(n *Node, kernel []int64, r int) (ks, dl, pads []int64, err error) {
	ks, err = windowInts(n, "kernel_shape", r, 1)
	if err != nil {
		return nil, nil, nil, err
	}
	if r == 0 {
		r = len(ks)
	}
	if len(ks) == 0 {
		ks = kernel
	}
	if ks != nil && kernel != nil && !slices.Equal(ks, kernel) {
		return nil, nil, nil, n.errAttr("kernel_shape", "is %v, the weight's kernel is %v", ks, kernel)
	}
	if _, err = windowInts(n, "strides", r, 1); err != nil {
		return nil, nil, nil, err
	}
	if dl, err = windowInts(n, "dilations", r, 1); err != nil {
		return nil, nil, nil, err
	}
	if pads, err = windowInts(n, "pads", 2*r, 0); err != nil {
		return nil, nil, nil, err
	}
	ap, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return nil, nil, nil, err
	}
	if ap != "" && !slices.Contains(autoPadValues, ap) {
		return nil, nil, nil, n.errAttr("auto_pad", "is %q, want one of %v", ap, autoPadValues)
	}
	if ap != "" && ap != "NOTSET" {
		pads = nil
	} else if pads == nil && r > 0 {
		pads = make([]int64, 2*r)
	}
	return ks, dl, pads, nil
}

// fits checks that the dilated kernel fits the declared spatial size of
// n's input (its last len(ks) dimensions) with the explicit pads.
func (m *Model) fits(n *Node, ks, dl, pads []int64) error {
	shape := m.declaredShape(n.Input(0))
	if ks == nil || pads == nil || len(shape) < len(ks) || len(pads) != 2*len(ks) {
		return nil
	}
	spatial := shape[len(shape)-len(ks):]
	for i, k := range ks {
		d := int64(1)
		if dl != nil {
			d = dl[i]
		}
		if spatial[i] < 1 {
			continue
		}
		if span := d*(k-1) + 1; spatial[i]+pads[i]+pads[i+len(ks)] < span {
			return n.errAttr("kernel_shape", "is %v (dilations %v): the kernel spans %d, more than input %q's size %d in dimension %d with pads %d and %d",
				ks, dl, span, n.Input(0), spatial[i], len(shape)-len(ks)+i, pads[i], pads[i+len(ks)])
		}
	}
	return nil
}

// declaredShape returns the declared shape of a value (graph input or
// value_info), nil when none is declared.
func (m *Model) declaredShape(name string) []int64 {
	for _, v := range m.Graph.Inputs {
		if v.Name == name {
			return v.Shape
		}
	}
	if v, ok := m.Graph.ValueInfo[name]; ok {
		return v.Shape
	}
	return nil
}

// constShape returns the shape of a constant value: an initialiser, a
// Constant node's tensor, or the output of a Quant or Identity node of a
// constant (which keeps its input's shape); nil when it is not one of
// these.
func (m *Model) constShape(name string) []int {
	for range 8 {
		if t, ok := m.Graph.Initializers[name]; ok {
			return t.Shape
		}
		p := m.Graph.Producer(name)
		switch {
		case p == nil:
			return nil
		case p.OpType == "Constant" && (p.Domain == "" || p.Domain == "ai.onnx"):
			if t, err := p.AttrTensor("value"); err == nil && t != nil {
				return t.Shape
			}
			return nil
		case IsQuant(p), p.OpType == "Identity" && (p.Domain == "" || p.Domain == "ai.onnx"):
			name = p.Input(0)
		default:
			return nil
		}
	}
	return nil
}

// constValue returns the tensor of an initialiser or a Constant node's
// value, nil otherwise.
func (m *Model) constValue(name string) *Tensor {
	if t, ok := m.Graph.Initializers[name]; ok {
		return t
	}
	if p := m.Graph.Producer(name); p != nil && p.OpType == "Constant" && (p.Domain == "" || p.Domain == "ai.onnx") {
		if t, err := p.AttrTensor("value"); err == nil {
			return t
		}
	}
	return nil
}

func (m *Model) validateConv(n *Node) error {
	group, err := n.AttrInt("group", 1)
	if err != nil {
		return err
	}
	if group < 1 || group > MaxElements {
		return n.errAttr("group", "is %d, want at least 1", group)
	}
	w := m.constShape(n.Input(1))
	var kernel []int64
	r := 0
	if w != nil {
		if len(w) < 3 {
			return fmt.Errorf("node %s (%s): weight %q has shape %v, want [out channels, in channels/group, kernel...]", n.Name, n.OpType, n.Input(1), w)
		}
		kernel = dims64(w[2:])
		r = len(kernel)
		// Conv weights are [M, C/group, k...], ConvTranspose's [C, M/group, k...].
		if n.OpType == "Conv" && int64(w[0])%group != 0 {
			return n.errAttr("group", "is %d, which does not divide weight %q's %d output channels", group, n.Input(1), w[0])
		}
		if n.OpType == "ConvTranspose" && int64(w[0])%group != 0 {
			return n.errAttr("group", "is %d, which does not divide weight %q's %d input channels", group, n.Input(1), w[0])
		}
	}
	ks, dl, pads, err := window(n, kernel, r)
	if err != nil {
		return err
	}
	if n.OpType == "ConvTranspose" {
		if _, err := windowInts(n, "output_padding", len(ks), 0); err != nil {
			return err
		}
		return nil
	}
	if x := m.declaredShape(n.Input(0)); w != nil && len(x) == len(w) && x[1] > 0 && x[1] != group*int64(w[1]) {
		return n.errAttr("group", "is %d: input %q has %d channels, weight %q expects %d·%d", group, n.Input(0), x[1], n.Input(1), group, w[1])
	}
	return m.fits(n, ks, dl, pads)
}

func (m *Model) validatePool(n *Node) error {
	if _, ok := n.Attrs["kernel_shape"]; !ok {
		return n.errAttr("kernel_shape", "is missing")
	}
	ks, dl, pads, err := window(n, nil, 0)
	if err != nil {
		return err
	}
	for _, a := range []string{"ceil_mode", "count_include_pad", "storage_order"} {
		if err := boolAttr(n, a); err != nil {
			return err
		}
	}
	return m.fits(n, ks, dl, pads)
}

// validateQuant checks a Quant node: its inputs, attributes, a constant
// bit width in range, and constant scales positive and finite and zero
// points finite.
func (m *Model) validateQuant(n *Node) error {
	if len(n.Inputs) < 4 {
		return fmt.Errorf("node %s (%s) has %d inputs, needs 4 (x, scale, zero_point, bitwidth)", n.Name, n.OpType, len(n.Inputs))
	}
	if _, err := quantAttrs(n); err != nil {
		return err
	}
	if bw := m.constValue(n.Inputs[3]); bw != nil {
		if _, err := quantParams(n, bw); err != nil {
			return err
		}
	}
	if s := m.constValue(n.Inputs[1]); s != nil {
		for i, v := range s.Floats() {
			if !(v > 0) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("node %s (%s): scale %q element %d is %v, want a positive finite number", n.Name, n.OpType, n.Inputs[1], i, v)
			}
		}
	}
	if z := m.constValue(n.Inputs[2]); z != nil {
		for i, v := range z.Floats() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("node %s (%s): zero point %q element %d is %v, want a finite number", n.Name, n.OpType, n.Inputs[2], i, v)
			}
		}
	}
	return nil
}
