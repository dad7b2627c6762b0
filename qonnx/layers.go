package qonnx

import (
	"fmt"
	"math"
)

// Layer is a Conv, MatMul or Gemm node seen as an integer dot-product layer:
// its weights recovered as integers from the Quant node that produces them,
// and the bit width and signedness of its input from the Quant node its input
// comes from (through Relu, MaxPool, Reshape, Flatten, Transpose, Pad,
// Identity, DepthToSpace, Resize nearest and similar ops that map integers to
// integers).
type Layer struct {
	// Name is the Conv/MatMul/Gemm node's name; Kind is "conv",
	// "depthwise" (a grouped conv with one input channel per group) or
	// "linear".
	Name string
	Kind string
	Node *Node
	// WeightQuant and InputQuant are the Quant nodes of the weight and of
	// the input (nil when not quantized).
	WeightQuant *Node
	InputQuant  *Node
	// Reason says why the layer cannot be certified or run as integers;
	// it is "" when it can.
	Reason string

	// OutChannels, K (dot-product length, Cin/groups·kh·kw for a conv) and
	// Groups (1 for MatMul/Gemm).
	OutChannels int
	K           int
	Groups      int
	// Spatial is kh·kw of a Conv's kernel, 1 for MatMul and Gemm.
	Spatial int
	// Weights holds the integer weights q − zero_point, row-major
	// [OutChannels][K] (for a conv in the order Cin/groups, kh, kw; see
	// TileOrder).
	Weights []int32
	// WeightScale is the dequantisation scale of each output channel.
	WeightScale []float64
	// WeightBits is M; WeightNarrow the Quant's narrow attribute.
	WeightBits   int
	WeightNarrow bool
	// InputBits is N, InputSigned the input Quant's signed attribute and
	// InputScale its (per-tensor) scale.
	InputBits   int
	InputSigned bool
	InputScale  float64
}

// Certifiable reports whether the layer has quantized weights and inputs
// that the integer model and the certificate can use.
func (l *Layer) Certifiable() bool { return l.Reason == "" }

// TileOrder returns the layer's weights with each row in the order the
// tiles of a multi-stage accumulation run along: (kh, kw, Cin/groups) for
// a Conv, the order of a2q's weights, its integer engine and FINN's MVAU
// (ONNX lists Cin/groups, kh, kw); a MatMul's or Gemm's row as it is. It
// returns Weights itself when the two orders agree (a 1×1 kernel, one
// input channel per group).
func (l *Layer) TileOrder() []int32 {
	s, k := l.Spatial, l.K
	if s <= 1 || s == k || k%s != 0 {
		return l.Weights
	}
	cg := k / s
	w := make([]int32, len(l.Weights))
	for c := range l.OutChannels {
		src, dst := l.Weights[c*k:(c+1)*k], w[c*k:(c+1)*k]
		for ci := range cg {
			for j := range s {
				dst[j*cg+ci] = src[ci*s+j]
			}
		}
	}
	return w
}

// passThrough lists ops that map an integer-valued tensor to an
// integer-valued tensor with the same scale (so a Quant before them still
// defines the integer input of a later layer).
var passThrough = map[string]bool{
	"Relu": true, "MaxPool": true, "Reshape": true, "Flatten": true, "Transpose": true,
	"Pad": true, "Identity": true, "DepthToSpace": true, "SpaceToDepth": true,
	"Resize": true, "Upsample": true, "Squeeze": true, "Unsqueeze": true,
}

// foldLimit caps the size of a folded constant: constant folding runs on
// untrusted models during inspection, before any caller chose a limit.
const foldLimit = 1 << 24

// folder evaluates constant sub-expressions (initialisers, Constant nodes
// and any node whose inputs are all constant), memoised.
type folder struct {
	m    *Model
	memo map[string]*Tensor
	busy map[string]bool
}

func newFolder(m *Model) *folder {
	return &folder{m: m, memo: make(map[string]*Tensor), busy: make(map[string]bool)}
}

// value returns the constant value of name, or nil when it is not constant
// (or cannot be evaluated).
func (f *folder) value(name string) *Tensor {
	if name == "" {
		return nil
	}
	if t, ok := f.m.Graph.Initializers[name]; ok {
		return t
	}
	if t, ok := f.memo[name]; ok {
		return t
	}
	n := f.m.Graph.Producer(name)
	if n == nil || f.busy[name] {
		return nil
	}
	f.busy[name] = true
	defer delete(f.busy, name)
	in := make([]*Tensor, len(n.Inputs))
	for i, x := range n.Inputs {
		if x == "" {
			continue
		}
		if in[i] = f.value(x); in[i] == nil {
			f.memo[name] = nil
			return nil
		}
	}
	outs, err := evalNode(f.m, n, in, foldLimit)
	if err != nil {
		f.memo[name] = nil
		return nil
	}
	for i, o := range n.Outputs {
		if i < len(outs) {
			f.memo[o] = outs[i]
		}
	}
	return f.memo[name]
}

// Layers finds every Conv, MatMul and Gemm node and describes it as an
// integer layer. Layers whose weight or input is not quantized are returned
// with a Reason. An error is returned for malformed Quant nodes and for
// weights that are not on their Quant node's integer grid.
func (m *Model) Layers() ([]Layer, error) {
	f := newFolder(m)
	var out []Layer
	for _, n := range m.Graph.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		switch n.OpType {
		case "Conv", "MatMul", "Gemm":
		default:
			continue
		}
		l, err := m.layer(f, n)
		if err != nil {
			return nil, fmt.Errorf("qonnx: %s: %w", m.name(), err)
		}
		out = append(out, l)
	}
	return out, nil
}

func (m *Model) layer(f *folder, n *Node) (Layer, error) {
	l := Layer{Name: n.Name, Node: n, Kind: "linear", Groups: 1, Spatial: 1}
	if n.OpType == "Conv" {
		l.Kind = "conv"
	}
	if len(n.Inputs) < 2 {
		return l, fmt.Errorf("node %s (%s) has %d inputs, needs 2", n.Name, n.OpType, len(n.Inputs))
	}
	if err := m.layerWeights(f, n, &l); err != nil {
		return l, err
	}
	if l.Reason != "" {
		return l, nil
	}
	if err := m.layerInput(f, n, &l); err != nil {
		return l, err
	}
	return l, nil
}

// layerWeights recovers the integer weights of a layer from its weight Quant.
func (m *Model) layerWeights(f *folder, n *Node, l *Layer) error {
	g := m.Graph
	// Walk back through Identity and Transpose nodes to the Quant node.
	var perms [][]int
	name := n.Inputs[1]
	p := g.Producer(name)
	for p != nil && (p.OpType == "Identity" || p.OpType == "Transpose") {
		if p.OpType == "Transpose" {
			pa, err := p.AttrInts("perm", nil)
			if err != nil {
				return err
			}
			perm := make([]int, len(pa))
			for i, v := range pa {
				perm[i] = int(v)
			}
			perms = append(perms, perm)
		}
		name = p.Input(0)
		p = g.Producer(name)
	}
	if p == nil || !IsQuant(p) {
		l.Reason = fmt.Sprintf("weight %q is not quantized (no Quant node)", n.Inputs[1])
		return nil
	}
	q := p
	l.WeightQuant = q
	if len(q.Inputs) < 4 {
		return fmt.Errorf("node %s (Quant) has %d inputs, needs 4 (x, scale, zero_point, bitwidth)", q.Name, len(q.Inputs))
	}
	x, scale, zp := f.value(q.Inputs[0]), f.value(q.Inputs[1]), f.value(q.Inputs[2])
	params, err := quantParams(q, f.value(q.Inputs[3]))
	if err != nil {
		return err
	}
	for i, t := range []*Tensor{x, scale, zp} {
		if t == nil {
			l.Reason = fmt.Sprintf("weight Quant %s input %q is not a constant", q.Name, q.Inputs[i])
			return nil
		}
	}
	if !params.Signed {
		l.Reason = fmt.Sprintf("weight Quant %s is unsigned; certificates assume signed weights", q.Name)
		return nil
	}
	if params.Bits == 1 {
		l.Reason = fmt.Sprintf("weight Quant %s is 1-bit (bipolar); certificates need at least 2-bit narrow-range weights", q.Name)
		return nil
	}
	sc, err := broadcastTo(scale, x.Shape)
	if err != nil {
		return fmt.Errorf("node %s (Quant) scale %q: %w", q.Name, q.Inputs[1], err)
	}
	zf, err := broadcastTo(zp, x.Shape)
	if err != nil {
		return fmt.Errorf("node %s (Quant) zero point %q: %w", q.Name, q.Inputs[2], err)
	}
	for _, z := range zf {
		if z != 0 {
			l.Reason = fmt.Sprintf("weight Quant %s has a non-zero zero point", q.Name)
			return nil
		}
	}
	lo, hi := params.Range()
	xs := x.Floats()
	qi := make([]int64, len(xs))
	for i, v := range xs {
		s := float64(sc[i])
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("node %s (Quant) scale %q: value %v is not a positive number", q.Name, q.Inputs[1], s)
		}
		r := float64(v) / s
		rr := math.RoundToEven(r)
		if math.Abs(r-rr) > 1e-3+1e-6*math.Abs(r) || math.IsNaN(r) {
			return fmt.Errorf("node %s (Quant): weight %q element %d is %v = %.6f·scale, not on the integer grid", q.Name, q.Inputs[0], i, v, r)
		}
		if rr < lo || rr > hi {
			return fmt.Errorf("node %s (Quant): weight %q element %d is %v·scale, outside the %d-bit range [%v, %v]", q.Name, q.Inputs[0], i, rr, params.Bits, lo, hi)
		}
		qi[i] = int64(rr)
	}
	wt := NewInt(qi, x.Shape...)
	st := NewFloat(sc, x.Shape...)
	for _, perm := range perms {
		if wt, err = permute(wt, perm); err != nil {
			return fmt.Errorf("transpose of weight %q: %w", q.Outputs[0], err)
		}
		if st, err = permute(st, perm); err != nil {
			return fmt.Errorf("transpose of weight %q: %w", q.Outputs[0], err)
		}
	}
	l.WeightBits, l.WeightNarrow = params.Bits, params.Narrow
	// Lay the weights out as [OutChannels][K].
	ws := wt.Shape
	var transpose bool
	switch n.OpType {
	case "Conv":
		if len(ws) != 4 {
			l.Reason = fmt.Sprintf("weight shape %v is not 4-D (only 2-D convolutions are supported)", ws)
			return nil
		}
		group, err := n.AttrInt("group", 1)
		if err != nil {
			return err
		}
		if group < 1 || int64(ws[0])%group != 0 {
			return fmt.Errorf("node %s (Conv): group %d does not divide %d output channels", n.Name, group, ws[0])
		}
		l.Groups = int(group)
		l.OutChannels, l.K, l.Spatial = ws[0], ws[1]*ws[2]*ws[3], ws[2]*ws[3]
		if l.Groups > 1 && ws[1] == 1 {
			l.Kind = "depthwise"
		}
	case "MatMul":
		if len(ws) != 2 {
			l.Reason = fmt.Sprintf("weight shape %v is not 2-D", ws)
			return nil
		}
		l.K, l.OutChannels, transpose = ws[0], ws[1], true
	case "Gemm":
		if len(ws) != 2 {
			l.Reason = fmt.Sprintf("weight shape %v is not 2-D", ws)
			return nil
		}
		tb, err := n.AttrInt("transB", 0)
		if err != nil {
			return err
		}
		if ta, err := n.AttrInt("transA", 0); err != nil {
			return err
		} else if ta != 0 {
			l.Reason = "Gemm with transA=1 is not supported"
			return nil
		}
		if tb != 0 {
			l.OutChannels, l.K = ws[0], ws[1]
		} else {
			l.K, l.OutChannels, transpose = ws[0], ws[1], true
		}
	}
	if l.OutChannels < 1 || l.K < 1 {
		l.Reason = fmt.Sprintf("weight shape %v is empty", ws)
		return nil
	}
	if transpose {
		if wt, err = permute(wt, []int{1, 0}); err != nil {
			return err
		}
		if st, err = permute(st, []int{1, 0}); err != nil {
			return err
		}
	}
	l.Weights = make([]int32, len(wt.Int))
	for i, v := range wt.Int {
		l.Weights[i] = int32(v)
	}
	l.WeightScale = make([]float64, l.OutChannels)
	for c := 0; c < l.OutChannels; c++ {
		row := st.Float[c*l.K : (c+1)*l.K]
		for _, s := range row {
			if math.Abs(float64(s-row[0])) > 1e-6*float64(row[0]) {
				l.Reason = fmt.Sprintf("weight scale of Quant %s varies within output channel %d", q.Name, c)
				return nil
			}
		}
		l.WeightScale[c] = float64(row[0])
	}
	if !params.Narrow {
		for _, v := range l.Weights {
			if int64(v) == int64(lo) {
				l.Reason = fmt.Sprintf("weight Quant %s is not narrow-range and uses the value %d", q.Name, v)
				return nil
			}
		}
	}
	return nil
}

// layerInput finds the Quant node that defines the layer's integer input.
func (m *Model) layerInput(f *folder, n *Node, l *Layer) error {
	g := m.Graph
	name := n.Inputs[0]
	p := g.Producer(name)
	for p != nil && passThrough[p.OpType] && (p.Domain == "" || p.Domain == "ai.onnx") {
		if p.OpType == "Pad" {
			if v := padValue(f, p); v != 0 {
				l.Reason = fmt.Sprintf("input passes through Pad %s with non-zero value %v", p.Name, v)
				return nil
			}
		}
		if p.OpType == "Resize" || p.OpType == "Upsample" {
			if mode, _ := p.AttrString("mode", "nearest"); mode != "nearest" {
				l.Reason = fmt.Sprintf("input passes through %s %s in mode %q", p.OpType, p.Name, mode)
				return nil
			}
		}
		name = p.Input(0)
		p = g.Producer(name)
	}
	switch {
	case p == nil:
		l.Reason = fmt.Sprintf("input %q comes from graph input %q, not from a Quant node", n.Inputs[0], name)
		return nil
	case !IsQuant(p):
		l.Reason = fmt.Sprintf("input %q comes from %s node %s, not from a Quant node", n.Inputs[0], p.OpType, p.Name)
		return nil
	}
	l.InputQuant = p
	if len(p.Inputs) < 4 {
		return fmt.Errorf("node %s (Quant) has %d inputs, needs 4 (x, scale, zero_point, bitwidth)", p.Name, len(p.Inputs))
	}
	params, err := quantParams(p, f.value(p.Inputs[3]))
	if err != nil {
		return err
	}
	scale, zp := f.value(p.Inputs[1]), f.value(p.Inputs[2])
	if scale == nil || zp == nil {
		l.Reason = fmt.Sprintf("input Quant %s has a non-constant scale or zero point", p.Name)
		return nil
	}
	if scale.Len() != 1 {
		l.Reason = fmt.Sprintf("input Quant %s has a per-channel scale %v; integer inference needs one scale", p.Name, scale.Shape)
		return nil
	}
	for _, z := range zp.Floats() {
		if z != 0 {
			l.Reason = fmt.Sprintf("input Quant %s has a non-zero zero point", p.Name)
			return nil
		}
	}
	s, _ := scale.Scalar()
	if !(s > 0) || math.IsInf(s, 0) {
		return fmt.Errorf("node %s (Quant) scale %q is %v, not a positive number", p.Name, p.Inputs[1], s)
	}
	l.InputBits, l.InputSigned, l.InputScale = params.Bits, params.Signed, s
	return nil
}

// padValue returns the constant a Pad node pads with (0 for edge/reflect
// modes, which copy input values).
func padValue(f *folder, p *Node) float64 {
	mode, _ := p.AttrString("mode", "constant")
	if mode != "constant" {
		return 0
	}
	if v, err := p.AttrFloat("value", 0); err == nil && v != 0 {
		return float64(v)
	}
	if t := f.value(p.Input(2)); t != nil {
		if v, err := t.Scalar(); err == nil {
			return v
		}
	}
	return 0
}
