package intinfer

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Building the integer plan of a network with branches (an nn.DAG) from a
// trained model; the plan's types and their evaluation are in dag.go and
// dag_run.go.

// gstep is one step of a graph model in the form the integer plan is
// built from: what FromModel reads from an nn.DAG and what the integer
// model file stores. Inputs index values: 0 is the image, i + 1 the
// output of step i.
type gstep struct {
	Name   string
	Op     OpKind
	Inputs []int
	// Layer is an OpLayer step's layer; its input quantizer is the
	// layer's (InputScale, InputBits, InputSigned).
	Layer *Layer
	// Bits, Signed and Scale are the quantizer of a sum's or a global
	// average's inputs.
	Bits   int
	Signed bool
	Scale  float32
	Norm   *Norm   // OpBatchNorm
	Lo, Hi float32 // OpClip (a ReLU is [0, +∞])
	Alpha  float32 // opLeaky
	// K and Stride (OpMaxPool; stride 0 means K), R (OpPixelShuffle,
	// opDCR, opResize), Pads (top, left, bottom, right) and Value (opPad).
	K, Stride, R int
	Pads         [4]int
	Value        float32
}

// Graph step kinds beyond the chain's ops.
const (
	opSum    OpKind = "sum"         // the sum of its inputs' quantized values
	opMean   OpKind = "global_mean" // the quantized global average of its input
	opLeaky  OpKind = "leaky_relu"  // x > 0 ? x : Alpha·x
	opConcat OpKind = "concat"      // its inputs joined along channels
)

// maxGraphSteps bounds the steps of a graph model.
const maxGraphSteps = 1 << 16

// fromDAG converts a model whose network is an nn.DAG.
func fromDAG(m *models.Model, d *nn.DAG) (*Model, error) {
	name := m.Config.Model
	im := &Model{Name: name, Task: string(m.Task), InH: m.Config.InH, InW: m.Config.InW, InC: m.Config.InC}
	steps := make([]gstep, len(d.Steps))
	for i, st := range d.Steps {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("model %s: step %s (%T): %s", name, st.Name, st.Op, fmt.Sprintf(format, args...))
		}
		g := gstep{Name: st.Name, Inputs: slices.Clone(st.Inputs)}
		switch v := st.Op.(type) {
		case *quant.Layer:
			l, err := fromLayer(v)
			if err != nil {
				return nil, err
			}
			g.Op, g.Layer = OpLayer, l
		case quant.Sum:
			g.Op, g.Bits, g.Signed, g.Scale = opSum, v.Q.Bits, v.Q.Signed, v.Q.Scale()
		case quant.OnGrid:
			if _, ok := v.Op.(nn.GlobalAvgPool); !ok {
				return nil, fail("integer inference averages over the whole image only (global average pooling)")
			}
			g.Op, g.Bits, g.Signed, g.Scale = opMean, v.Q.Bits, v.Q.Signed, v.Q.Scale()
		case *nn.BatchNorm:
			nm, err := normOf(v)
			if err != nil {
				return nil, err
			}
			g.Op, g.Norm = OpBatchNorm, nm
		case nn.ReLU:
			g.Op, g.Lo, g.Hi = OpClip, 0, float32(math.Inf(1))
		case nn.Clip:
			g.Op, g.Lo, g.Hi = OpClip, v.Lo, v.Hi
		case nn.LeakyReLU:
			g.Op, g.Alpha = opLeaky, v.Alpha
		case nn.MaxPool:
			g.Op, g.K, g.Stride = OpMaxPool, v.K, v.Stride
		case nn.Flatten:
			g.Op = OpFlatten
		case nn.PixelShuffle:
			g.Op, g.R = OpPixelShuffle, v.R
		case nn.DepthToSpaceDCR:
			g.Op, g.R = opDCR, v.R
		case nn.Pad:
			g.Op, g.Pads, g.Value = opPad, [4]int{v.Top, v.Left, v.Bottom, v.Right}, v.Value
		case nn.ResizeNearest:
			g.Op, g.R = opResize, v.F
		case nn.Concat:
			g.Op = opConcat
		default:
			return nil, fail("no integer implementation")
		}
		steps[i] = g
	}
	if err := im.buildGraph(steps, d.Output); err != nil {
		return nil, err
	}
	return im, nil
}

// buildGraph sets m's layers and integer plan from its graph steps and
// output value, checking every step's operands and the shapes along the
// graph (the steps may come from a file).
func (m *Model) buildGraph(steps []gstep, output int) error {
	if len(steps) == 0 || len(steps) > maxGraphSteps {
		return fmt.Errorf("model %s: %d graph steps", m.Name, len(steps))
	}
	if m.InH < 1 || m.InW < 1 || m.InC < 1 || m.InH > maxDim || m.InW > maxDim || m.InC > maxDim || m.InH*m.InW*m.InC > maxValues {
		return fmt.Errorf("model %s: input shape %d×%d×%d is empty or too large", m.Name, m.InH, m.InW, m.InC)
	}
	if output < 1 || output > len(steps) {
		return fmt.Errorf("model %s: output value %d, want a step's (1 to %d)", m.Name, output, len(steps))
	}
	plan := &dagPlan{sources: map[int]*dagSource{}}
	syms := make([]*sym, len(steps)+1)
	syms[0] = &sym{src: 0, kind: srcImage, shape: []int{m.InH, m.InW, m.InC}, srcShape: []int{m.InH, m.InW, m.InC}, perChannel: true}
	var layers []*Layer
	m.Ops = nil
	for i, st := range steps {
		idx := i + 1
		fail := func(format string, args ...any) error {
			return fmt.Errorf("model %s: step %s (%s): %s", m.Name, st.Name, st.Op, fmt.Sprintf(format, args...))
		}
		if err := st.check(i); err != nil {
			return fail("%v", err)
		}
		in := make([]*sym, len(st.Inputs))
		for j, k := range st.Inputs {
			in[j] = syms[k]
		}
		switch st.Op {
		case OpLayer:
			l := st.Layer
			x := in[0]
			if l.Kind == "linear" && len(x.shape) != 1 {
				x = x.clone()
				x.moves = append(x.moves, move{kind: OpFlatten, at: len(x.chain)})
				x.shape = []int{prod(x.shape)}
				x.perChannel = false
			}
			shape, err := l.validateGraph(x.shape)
			if err != nil {
				return fail("%v", err)
			}
			lo, hi := levels(l.InputBits, l.InputSigned)
			e, err := plan.newEdge(x, &quantizer{s: l.InputScale, lo: lo, hi: hi}, layers)
			if err != nil {
				return fail("%v", err)
			}
			plan.layerIn = append(plan.layerIn, e)
			plan.sources[idx] = &dagSource{kind: srcAcc, layer: len(layers), shape: shape}
			plan.order = append(plan.order, idx)
			layers = append(layers, l)
			m.Ops = append(m.Ops, Op{Kind: OpLayer, Layer: l})
			syms[idx] = &sym{src: idx, kind: srcAcc, shape: shape, srcShape: shape, perChannel: true}
		case opSum:
			lo, hi := levels(st.Bits, st.Signed)
			q := &quantizer{s: st.Scale, lo: lo, hi: hi}
			src := &dagSource{kind: srcSum, s: st.Scale, shape: in[0].shape}
			for _, x := range in {
				if !slices.Equal(x.shape, in[0].shape) {
					return fail("adds shapes %v and %v", in[0].shape, x.shape)
				}
				e, err := plan.newEdge(x, q, layers)
				if err != nil {
					return fail("%v", err)
				}
				src.in = append(src.in, e)
			}
			plan.sources[idx] = src
			plan.order = append(plan.order, idx)
			syms[idx] = &sym{src: idx, kind: srcSum, shape: in[0].shape, srcShape: in[0].shape, perChannel: true}
		case opMean:
			x := in[0]
			if len(x.shape) != 3 {
				return fail("global average of shape %v", x.shape)
			}
			lo, hi := levels(st.Bits, st.Signed)
			e, err := plan.newEdge(x, &quantizer{s: st.Scale, lo: lo, hi: hi}, layers)
			if err != nil {
				return fail("%v", err)
			}
			hw := x.shape[0] * x.shape[1]
			if int64(hw)*int64(hi) >= 1<<24 || int64(hw)*int64(-lo) >= 1<<24 {
				return fail("a sum of %d values of %d bits is not exact in float32", hw, st.Bits)
			}
			shape := []int{x.shape[2]}
			plan.sources[idx] = &dagSource{kind: srcMean, s: st.Scale, hw: hw, in: []*edge{e}, shape: shape}
			plan.order = append(plan.order, idx)
			syms[idx] = &sym{src: idx, kind: srcMean, shape: shape, srcShape: shape, perChannel: true}
		case OpBatchNorm:
			x := in[0]
			if !x.perChannel || x.parts != nil || len(st.Norm.Mean) != x.shape[len(x.shape)-1] {
				return fail("a batch norm after a flatten, depth to space or concatenation has no per-source-channel form")
			}
			s := x.clone()
			s.chain = append(s.chain, elem{norm: st.Norm})
			syms[idx] = s
		case OpClip:
			syms[idx] = withElem(in[0], elem{lo: st.Lo, hi: st.Hi})
		case opLeaky:
			syms[idx] = withElem(in[0], elem{leaky: true, alpha: st.Alpha})
		case opConcat:
			c := &sym{shape: slices.Clone(in[0].shape), perChannel: true}
			c.shape[len(c.shape)-1] = 0
			for _, x := range in {
				if len(x.shape) != len(in[0].shape) || !slices.Equal(x.shape[:len(x.shape)-1], in[0].shape[:len(x.shape)-1]) {
					return fail("joins shapes %v and %v", in[0].shape, x.shape)
				}
				c.parts = append(c.parts, x)
				c.shape[len(c.shape)-1] += x.shape[len(x.shape)-1]
			}
			syms[idx] = c
		default: // the moves
			mv := move{kind: st.Op, k: st.K, stride: st.Stride, r: st.R, pads: st.Pads, value: st.Value}
			if st.Op == OpMaxPool {
				mv.stride = tensor.PoolStride(st.K, st.Stride)
			}
			s, err := withMove(in[0], mv)
			if err != nil {
				return fail("%v", err)
			}
			syms[idx] = s
		}
		if sh := syms[idx].shape; prod(sh) > maxValues {
			return fail("a value of shape %v is too large", sh)
		}
	}
	out, err := plan.newEdge(syms[output], nil, layers)
	if err != nil {
		return fmt.Errorf("model %s: output: %w", m.Name, err)
	}
	plan.out = out
	m.dag = plan
	m.graph, m.output = steps, output
	return nil
}

// check validates a step's inputs (step i reads values before its own)
// and operands.
func (st *gstep) check(i int) error {
	switch st.Op {
	case OpLayer, opSum, opMean, OpBatchNorm, OpClip, opLeaky, OpMaxPool, OpFlatten, OpPixelShuffle, opDCR, opPad, opResize, opConcat:
	default:
		return fmt.Errorf("unknown step kind %q", st.Op)
	}
	n := len(st.Inputs)
	switch st.Op {
	case opSum, opConcat:
		if n < 1 || n > maxGraphSteps {
			return fmt.Errorf("%d inputs", n)
		}
	default:
		if n != 1 {
			return fmt.Errorf("%d inputs, want 1", n)
		}
	}
	for _, k := range st.Inputs {
		if k < 0 || k > i {
			return fmt.Errorf("input value %d: want the image (0) or an earlier step's (1 to %d)", k, i)
		}
	}
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch st.Op {
	case OpLayer:
		if st.Layer == nil {
			return fmt.Errorf("no layer")
		}
	case opSum, opMean:
		if st.Bits < 1 || st.Bits > 16 || !(st.Scale > 0) || !finite(st.Scale) {
			return fmt.Errorf("quantizer of %d bits, scale %v: want 1 to 16 bits and a positive finite scale", st.Bits, st.Scale)
		}
	case OpBatchNorm:
		if st.Norm == nil {
			return fmt.Errorf("no operands")
		}
		return st.Norm.validate()
	case OpClip:
		return checkBounds(st.Lo, st.Hi)
	case opLeaky:
		if !(st.Alpha >= 0) || !finite(st.Alpha) {
			return fmt.Errorf("slope %v: a negative slope is not monotone", st.Alpha)
		}
	case OpMaxPool:
		if st.K < 1 || st.K > maxDim || st.Stride < 0 || st.Stride > maxDim {
			return fmt.Errorf("window %d, stride %d", st.K, st.Stride)
		}
	case OpPixelShuffle, opDCR, opResize:
		if st.R < 1 || st.R > 64 {
			return fmt.Errorf("factor %d outside [1, 64]", st.R)
		}
	case opPad:
		for _, p := range st.Pads {
			if p < 0 || p > maxDim {
				return fmt.Errorf("padding %v", st.Pads)
			}
		}
		if !finite(st.Value) {
			return fmt.Errorf("pad value %v", st.Value)
		}
	}
	return nil
}

// chainAsDAG returns a chain that holds operations only the graph form
// runs (global average pooling, padding, resizing, DCR depth to space,
// leaky ReLU) as a DAG of one branch, or nil.
func chainAsDAG(net nn.Sequential) *nn.DAG {
	need := false
	for _, mod := range net {
		switch v := mod.(type) {
		case quant.OnGrid, nn.Pad, nn.ResizeNearest, nn.DepthToSpaceDCR, nn.LeakyReLU:
			need = true
		case *quant.Layer:
			need = need || v.Kind == "conv_transpose"
		}
	}
	if !need {
		return nil
	}
	d := &nn.DAG{Output: len(net)}
	for i, mod := range net {
		d.Steps = append(d.Steps, nn.Step{Name: fmt.Sprintf("%d", i), Op: mod, Inputs: []int{i}})
	}
	return d
}
