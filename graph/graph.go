// Package graph describes a network as a directed acyclic graph of named
// operations: what each node computes, from which values, with which
// attributes and parameter shapes. It holds no weights and runs nothing;
// the trainable model (package models), checkpoints (the graph travels in
// their metadata as JSON), reports and the back-ends walk it.
//
// # Conventions
//
// Values are named by the node that produces them; the network's input is
// the value named by Graph.Input. Shapes exclude the batch dimension and
// follow package tensor: an image is [H, W, C] (NHWC), a vector [F].
// Parameters are addressed as "<node>.<role>": "conv2.weight" (convolution
// and transposed convolution [Cout, K, K, Cin/groups]: each output
// channel's weights one row, as A2Q constrains them; linear [Out, In]), "conv2.bias" [Cout], and a batch norm's
// "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var" [C].
//
// Nodes are stored in topological order: every input of a node is the
// graph input or a node before it. [Graph.Validate] checks that, the
// attributes, and that every shape fits, naming the node at fault.
package graph

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Op is the operation a node computes.
type Op string

// Operations. Conv, ConvTranspose and Linear are the layers with integer
// weights once quantized; the others are float operations between them.
const (
	Conv          Op = "conv"            // 2-D convolution: In, Out, Kernel, Stride, Pad, Groups, Bias
	ConvTranspose Op = "conv_transpose"  // transposed convolution: In, Out, Kernel, Stride, Pad, OutputPad, Groups, Bias
	Linear        Op = "linear"          // fully connected on a vector: In, Out, Bias
	BatchNorm     Op = "batch_norm"      // per-channel normalisation over the last dimension: Out (channels), Eps
	ReLU          Op = "relu"            // max(x, 0)
	Clip          Op = "clip"            // min(max(x, Min), Max); ReLU6 is Clip(0, 6)
	LeakyReLU     Op = "leaky_relu"      // x if x ≥ 0, Alpha·x otherwise
	Sigmoid       Op = "sigmoid"         // 1/(1 + e^−x)
	MaxPool       Op = "max_pool"        // Kernel×Kernel windows, Stride, Pad (padding never wins)
	AvgPool       Op = "avg_pool"        // Kernel×Kernel windows, Stride, Pad, CountPad
	GlobalAvgPool Op = "global_avg_pool" // [H, W, C] → [C]
	Pad           Op = "pad"             // constant spatial padding: Pads (top, left, bottom, right), Value
	Add           Op = "add"             // elementwise sum of two values of one shape (residual)
	Concat        Op = "concat"          // join along channels (the last dimension)
	Flatten       Op = "flatten"         // [H, W, C] → [H·W·C] in NHWC order
	DepthToSpace  Op = "depth_to_space"  // [H, W, C·r²] → [H·r, W·r, C]: Factor, DCR
	Resize        Op = "resize"          // nearest-neighbour upscaling by the integer Factor
)

// Node is one operation. Only the fields its Op documents are meaningful;
// the rest stay zero.
type Node struct {
	Name   string   `json:"name"`
	Op     Op       `json:"op"`
	Inputs []string `json:"inputs"`

	In        int  `json:"in,omitempty"`  // input channels or features
	Out       int  `json:"out,omitempty"` // output channels or features
	Kernel    int  `json:"kernel,omitempty"`
	Stride    int  `json:"stride,omitempty"` // 0 means 1 (pools: 0 means Kernel)
	Pad       int  `json:"pad,omitempty"`
	OutputPad int  `json:"output_pad,omitempty"`
	Groups    int  `json:"groups,omitempty"` // 0 means 1
	Bias      bool `json:"bias,omitempty"`

	Eps      float32  `json:"eps,omitempty"`
	Min      *float32 `json:"min,omitempty"` // clip; nil: unbounded
	Max      *float32 `json:"max,omitempty"`
	Alpha    float32  `json:"alpha,omitempty"`
	CountPad bool     `json:"count_pad,omitempty"` // avg_pool: padded zeros count in the average
	Pads     []int    `json:"pads,omitempty"`      // pad: top, left, bottom, right
	Value    float32  `json:"value,omitempty"`     // pad: the constant
	Factor   int      `json:"factor,omitempty"`    // depth_to_space, resize
	DCR      bool     `json:"dcr,omitempty"`       // depth_to_space: depth-column-row channel order (ONNX mode DCR); false is CRD, PyTorch's PixelShuffle
}

// Graph is a network: its input, its nodes in topological order and the
// value it returns.
type Graph struct {
	// Input names the network's input value; InShape is its declared shape
	// ([H, W, C] for images), which a model may override with the shape of
	// its data.
	Input   string `json:"input"`
	InShape []int  `json:"in_shape"`
	Nodes   []Node `json:"nodes"`
	Output  string `json:"output"`
}

// Layered reports whether op has weights that quantize to integers (a
// convolution, transposed convolution or linear layer).
func (op Op) Layered() bool { return op == Conv || op == ConvTranspose || op == Linear }

// StrideOr returns the node's stride with its default filled in.
func (n *Node) StrideOr() int {
	switch {
	case n.Stride > 0:
		return n.Stride
	case n.Op == MaxPool || n.Op == AvgPool:
		return n.Kernel
	}
	return 1
}

// GroupsOr returns the node's group count with its default (1) filled in.
func (n *Node) GroupsOr() int { return max(n.Groups, 1) }

// ParamShapes returns the shapes of the node's parameters by role
// ("weight", "bias", "running_mean", "running_var"); nil for a node
// without parameters.
func (n *Node) ParamShapes() map[string][]int {
	g := n.GroupsOr()
	var ps map[string][]int
	switch n.Op {
	case Conv:
		ps = map[string][]int{"weight": {n.Out, n.Kernel, n.Kernel, n.In / g}}
	case ConvTranspose:
		ps = map[string][]int{"weight": {n.Out, n.Kernel, n.Kernel, n.In / g}}
	case Linear:
		ps = map[string][]int{"weight": {n.Out, n.In}}
	case BatchNorm:
		return map[string][]int{"weight": {n.Out}, "bias": {n.Out}, "running_mean": {n.Out}, "running_var": {n.Out}}
	default:
		return nil
	}
	if n.Bias {
		ps["bias"] = []int{n.Out}
	}
	return ps
}

// Node returns the node named name, or nil.
func (g *Graph) Node(name string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].Name == name {
			return &g.Nodes[i]
		}
	}
	return nil
}

// Consumers returns, for every value, the indices of the nodes that read
// it, in order.
func (g *Graph) Consumers() map[string][]int {
	c := map[string][]int{}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			c[in] = append(c[in], i)
		}
	}
	return c
}

// Clone returns a deep copy of g.
func (g *Graph) Clone() *Graph {
	b, err := json.Marshal(g)
	if err != nil {
		panic(fmt.Sprintf("graph: Clone: %v", err))
	}
	var c Graph
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("graph: Clone: %v", err))
	}
	return &c
}

// Limits on what Validate accepts, to keep a crafted graph from asking for
// absurd allocations.
const (
	MaxNodes    = 1 << 16
	MaxChannels = 1 << 16
	MaxKernel   = 64
	MaxSide     = 1 << 14
	MaxValue    = 1 << 28 // elements per example in one value
	MaxParams   = 1 << 28 // parameters of the whole network
)

// Validate checks the graph for an input of shape in (nil: g.InShape) and
// returns the shape of every value, by name. Errors name the node and the
// reason: a duplicate or empty name, an input that is not defined before
// the node (which also rules out cycles), a bad attribute, a shape that
// does not fit.
func (g *Graph) Validate(in []int) (map[string][]int, error) {
	if in == nil {
		in = g.InShape
	}
	if g.Input == "" {
		return nil, fmt.Errorf("graph: no input name")
	}
	if len(in) != 1 && len(in) != 3 {
		return nil, fmt.Errorf("graph: input %s has shape %v, want [H, W, C] or [F]", g.Input, in)
	}
	if err := checkShape(in); err != nil {
		return nil, fmt.Errorf("graph: input %s: %w", g.Input, err)
	}
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("graph: no nodes")
	}
	if len(g.Nodes) > MaxNodes {
		return nil, fmt.Errorf("graph: %d nodes, more than %d", len(g.Nodes), MaxNodes)
	}
	shapes := map[string][]int{g.Input: slices.Clone(in)}
	params := 0
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Name == "" || strings.ContainsAny(n.Name, "\x00") {
			return nil, fmt.Errorf("graph: node %d (%s) has no usable name", i, n.Op)
		}
		if _, dup := shapes[n.Name]; dup {
			return nil, fmt.Errorf("graph: node %s: name used twice", n.Name)
		}
		ins := make([][]int, len(n.Inputs))
		for j, name := range n.Inputs {
			s, ok := shapes[name]
			if !ok {
				return nil, fmt.Errorf("graph: node %s (%s): input %q is not the graph input nor an earlier node's output", n.Name, n.Op, name)
			}
			ins[j] = s
		}
		out, err := n.OutShape(ins)
		if err != nil {
			return nil, fmt.Errorf("graph: node %s (%s): %w", n.Name, n.Op, err)
		}
		for role, s := range n.ParamShapes() {
			size := 1
			for _, d := range s {
				size *= d
			}
			if params += size; params > MaxParams {
				return nil, fmt.Errorf("graph: node %s (%s): %s %v brings the network past %d parameters", n.Name, n.Op, role, s, MaxParams)
			}
		}
		if err := checkShape(out); err != nil {
			return nil, fmt.Errorf("graph: node %s (%s): output %w", n.Name, n.Op, err)
		}
		shapes[n.Name] = out
	}
	if _, ok := shapes[g.Output]; !ok || g.Output == g.Input {
		return nil, fmt.Errorf("graph: output %q is not a node's output", g.Output)
	}
	return shapes, nil
}

func checkShape(s []int) error {
	total := 1
	for _, d := range s {
		if d < 1 || d > MaxSide*MaxSide {
			return fmt.Errorf("shape %v has an empty or absurd dimension", s)
		}
		total *= d
		if total > MaxValue {
			return fmt.Errorf("shape %v holds more than %d values per example", s, MaxValue)
		}
	}
	return nil
}

// OutShape checks n's attributes against the shapes of its inputs and
// returns the shape of its output.
func (n *Node) OutShape(ins [][]int) ([]int, error) {
	arity := 1
	switch n.Op {
	case Add:
		arity = 2
	case Concat:
		arity = -1
	}
	if arity > 0 && len(ins) != arity {
		return nil, fmt.Errorf("takes %d input(s), has %d", arity, len(ins))
	}
	if arity < 0 && len(ins) < 1 {
		return nil, fmt.Errorf("has no inputs")
	}
	img := func() ([]int, error) {
		if len(ins[0]) != 3 {
			return nil, fmt.Errorf("input shape %v is not an image [H, W, C]", ins[0])
		}
		return ins[0], nil
	}
	switch n.Op {
	case Conv, ConvTranspose:
		x, err := img()
		if err != nil {
			return nil, err
		}
		if err := n.checkConv(x[2]); err != nil {
			return nil, err
		}
		s := n.StrideOr()
		if n.Op == Conv {
			oh, ow := (x[0]+2*n.Pad-n.Kernel)/s+1, (x[1]+2*n.Pad-n.Kernel)/s+1
			if x[0]+2*n.Pad < n.Kernel || x[1]+2*n.Pad < n.Kernel {
				return nil, fmt.Errorf("kernel %d larger than the padded input %v", n.Kernel, x)
			}
			return []int{oh, ow, n.Out}, nil
		}
		if n.OutputPad < 0 || (n.OutputPad > 0 && n.OutputPad >= s) {
			return nil, fmt.Errorf("output padding %d must be in [0, stride %d)", n.OutputPad, s)
		}
		oh := (x[0]-1)*s - 2*n.Pad + n.Kernel + n.OutputPad
		ow := (x[1]-1)*s - 2*n.Pad + n.Kernel + n.OutputPad
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("padding %d leaves no output for input %v", n.Pad, x)
		}
		return []int{oh, ow, n.Out}, nil
	case Linear:
		if len(ins[0]) != 1 {
			return nil, fmt.Errorf("input shape %v is not a vector (flatten it first)", ins[0])
		}
		if n.In != ins[0][0] || n.In < 1 || n.Out < 1 || n.Out > MaxChannels*16 {
			return nil, fmt.Errorf("in = %d, out = %d for an input of %d features", n.In, n.Out, ins[0][0])
		}
		return []int{n.Out}, nil
	case BatchNorm:
		c := ins[0][len(ins[0])-1]
		if n.Out != c {
			return nil, fmt.Errorf("%d channels for an input of shape %v", n.Out, ins[0])
		}
		if !(n.Eps >= 0) || math.IsInf(float64(n.Eps), 0) {
			return nil, fmt.Errorf("epsilon %v", n.Eps)
		}
		return ins[0], nil
	case Clip:
		if n.Min != nil && n.Max != nil && !(*n.Min <= *n.Max) {
			return nil, fmt.Errorf("min %v above max %v", *n.Min, *n.Max)
		}
		return ins[0], nil
	case ReLU, LeakyReLU, Sigmoid:
		return ins[0], nil
	case MaxPool, AvgPool:
		x, err := img()
		if err != nil {
			return nil, err
		}
		s := n.StrideOr()
		if n.Kernel < 1 || n.Kernel > MaxKernel || s < 1 || s > MaxKernel || n.Pad < 0 || n.Pad > n.Kernel/2 {
			return nil, fmt.Errorf("kernel %d, stride %d, pad %d (pad must be at most half the kernel)", n.Kernel, s, n.Pad)
		}
		if x[0]+2*n.Pad < n.Kernel || x[1]+2*n.Pad < n.Kernel {
			return nil, fmt.Errorf("window %d larger than the padded input %v", n.Kernel, x)
		}
		return []int{(x[0]+2*n.Pad-n.Kernel)/s + 1, (x[1]+2*n.Pad-n.Kernel)/s + 1, x[2]}, nil
	case GlobalAvgPool:
		x, err := img()
		if err != nil {
			return nil, err
		}
		return []int{x[2]}, nil
	case Pad:
		x, err := img()
		if err != nil {
			return nil, err
		}
		if len(n.Pads) != 4 {
			return nil, fmt.Errorf("pads %v: want top, left, bottom, right", n.Pads)
		}
		for _, p := range n.Pads {
			if p < 0 || p > MaxSide {
				return nil, fmt.Errorf("pads %v: negative or absurd", n.Pads)
			}
		}
		return []int{x[0] + n.Pads[0] + n.Pads[2], x[1] + n.Pads[1] + n.Pads[3], x[2]}, nil
	case Add:
		if !slices.Equal(ins[0], ins[1]) {
			return nil, fmt.Errorf("adds shapes %v and %v", ins[0], ins[1])
		}
		return ins[0], nil
	case Concat:
		out := slices.Clone(ins[0])
		for _, s := range ins[1:] {
			if len(s) != len(out) || !slices.Equal(s[:len(s)-1], out[:len(out)-1]) {
				return nil, fmt.Errorf("joins shapes %v and %v along channels", ins[0], s)
			}
			out[len(out)-1] += s[len(s)-1]
		}
		return out, nil
	case Flatten:
		total := 1
		for _, d := range ins[0] {
			total *= d
		}
		return []int{total}, nil
	case DepthToSpace:
		x, err := img()
		if err != nil {
			return nil, err
		}
		r := n.Factor
		if r < 1 || r > MaxKernel || x[2]%(r*r) != 0 {
			return nil, fmt.Errorf("factor %d for %d channels", r, x[2])
		}
		return []int{x[0] * r, x[1] * r, x[2] / (r * r)}, nil
	case Resize:
		x, err := img()
		if err != nil {
			return nil, err
		}
		if n.Factor < 1 || n.Factor > MaxKernel {
			return nil, fmt.Errorf("factor %d", n.Factor)
		}
		return []int{x[0] * n.Factor, x[1] * n.Factor, x[2]}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", n.Op)
}

// checkConv checks a convolution's attributes for an input of c channels.
func (n *Node) checkConv(c int) error {
	g := n.GroupsOr()
	switch {
	case n.In != c:
		return fmt.Errorf("in = %d for an input of %d channels", n.In, c)
	case n.In < 1 || n.Out < 1 || n.In > MaxChannels || n.Out > MaxChannels:
		return fmt.Errorf("channels %d → %d", n.In, n.Out)
	case n.Kernel < 1 || n.Kernel > MaxKernel:
		return fmt.Errorf("kernel %d outside [1, %d]", n.Kernel, MaxKernel)
	case n.Stride < 0 || n.Stride > MaxKernel || n.Pad < 0 || n.Pad > MaxKernel:
		return fmt.Errorf("stride %d, pad %d", n.Stride, n.Pad)
	case g < 1 || n.In%g != 0 || n.Out%g != 0:
		return fmt.Errorf("groups %d do not divide channels %d → %d", g, n.In, n.Out)
	}
	return nil
}

// Decode parses a graph from its JSON form and validates it for its
// declared input shape.
func Decode(b []byte) (*Graph, error) {
	var g Graph
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	if _, err := g.Validate(nil); err != nil {
		return nil, err
	}
	return &g, nil
}

// NonNegative reports, for every value, whether it can never be negative:
// the input if inputNonNeg (images in [0, 1]); the output of a ReLU, a
// Clip with a non-negative minimum or a Sigmoid; and pools, pads (with a
// non-negative constant), flattens, resizes, depth-to-space, sums and
// concatenations of non-negative values. Layers and batch norms may
// produce any sign. A layer whose input is non-negative quantizes it
// unsigned.
func (g *Graph) NonNegative(inputNonNeg bool) map[string]bool {
	nn := map[string]bool{g.Input: inputNonNeg}
	for _, n := range g.Nodes {
		all := len(n.Inputs) > 0
		for _, in := range n.Inputs {
			all = all && nn[in]
		}
		switch n.Op {
		case ReLU, Sigmoid:
			nn[n.Name] = true
		case Clip:
			nn[n.Name] = n.Min != nil && *n.Min >= 0 || all
		case MaxPool, AvgPool, GlobalAvgPool, Flatten, Resize, DepthToSpace, Add, Concat:
			nn[n.Name] = all
		case Pad:
			nn[n.Name] = all && n.Value >= 0
		default:
			nn[n.Name] = false
		}
	}
	return nn
}

// Edges returns the names of the first layers (those whose input comes
// from the graph's input through no other layer) and of the last layers
// (those whose output reaches the graph's output through no other layer).
// A2Q's recipe keeps these at their own precision and constrains the
// layers between them.
func (g *Graph) Edges() (first, last map[string]bool) {
	first, last = map[string]bool{}, map[string]bool{}
	// fromInput: the value derives from the input through non-layers only.
	fromInput := map[string]bool{g.Input: true}
	for _, n := range g.Nodes {
		reach := false
		for _, in := range n.Inputs {
			reach = reach || fromInput[in]
		}
		if n.Op.Layered() {
			first[n.Name] = reach
		} else {
			fromInput[n.Name] = reach
		}
	}
	// toOutput: the value reaches the output through non-layers only.
	toOutput := map[string]bool{g.Output: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !toOutput[n.Name] {
			continue
		}
		if n.Op.Layered() {
			last[n.Name] = true
			continue
		}
		for _, in := range n.Inputs {
			toOutput[in] = true
		}
	}
	for k, v := range first {
		if !v {
			delete(first, k)
		}
	}
	return first, last
}

// InsertAfter returns a copy of g with node n inserted right after the
// node named after: n reads after's output, and every reader of that
// output (and the graph's output, if it was) reads n instead.
func (g *Graph) InsertAfter(after string, n Node) (*Graph, error) {
	if g.Node(after) == nil {
		return nil, fmt.Errorf("graph: no node %q to insert after", after)
	}
	if g.Node(n.Name) != nil || n.Name == g.Input {
		return nil, fmt.Errorf("graph: node name %q is taken", n.Name)
	}
	c := g.Clone()
	var nodes []Node
	for _, m := range c.Nodes {
		for i, in := range m.Inputs {
			if in == after {
				m.Inputs[i] = n.Name
			}
		}
		nodes = append(nodes, m)
		if m.Name == after {
			n.Inputs = []string{after}
			nodes = append(nodes, n)
		}
	}
	c.Nodes = nodes
	if c.Output == after {
		c.Output = n.Name
	}
	return c, nil
}
