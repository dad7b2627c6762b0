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

func quantizerOf(a *quant.ActQuant) *quantizer {
	lo, hi := levels(a.Bits, a.Signed)
	return &quantizer{s: a.Scale(), lo: lo, hi: hi}
}

// fromDAG converts a model whose network is an nn.DAG.
func fromDAG(m *models.Model, d *nn.DAG) (*Model, error) {
	name := m.Config.Model
	im := &Model{Name: name, Task: string(m.Task), InH: m.Config.InH, InW: m.Config.InW, InC: m.Config.InC}
	plan := &dagPlan{sources: map[int]*dagSource{}}
	syms := make([]*sym, len(d.Steps)+1)
	syms[0] = &sym{src: 0, kind: srcImage, shape: []int{im.InH, im.InW, im.InC}, srcShape: []int{im.InH, im.InW, im.InC}, perChannel: true}
	var layers []*Layer
	for i, st := range d.Steps {
		idx := i + 1
		in := make([]*sym, len(st.Inputs))
		for j, k := range st.Inputs {
			in[j] = syms[k]
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("model %s: step %s (%T): %s", name, st.Name, st.Op, fmt.Sprintf(format, args...))
		}
		switch v := st.Op.(type) {
		case *quant.Layer:
			l, err := fromLayer(v)
			if err != nil {
				return nil, err
			}
			x := in[0]
			if v.Kind == "linear" && len(x.shape) != 1 {
				x = x.clone()
				x.moves = append(x.moves, move{kind: OpFlatten, at: len(x.chain)})
				x.shape = []int{prod(x.shape)}
				x.perChannel = false
			}
			e, err := plan.newEdge(x, quantizerOf(v.In), layers)
			if err != nil {
				return nil, fail("%v", err)
			}
			plan.layerIn = append(plan.layerIn, e)
			shape := []int{l.OutC}
			if v.Kind != "linear" {
				if len(x.shape) != 3 || x.shape[2] != l.InC {
					return nil, fail("input of shape %v", x.shape)
				}
				g := layerGeom(l, 1, x.shape)
				if err := g.Validate(); err != nil {
					return nil, fail("%v", err)
				}
				shape = []int{g.OH, g.OW, l.OutC}
			}
			plan.sources[idx] = &dagSource{kind: srcAcc, layer: len(layers), shape: shape}
			plan.order = append(plan.order, idx)
			layers = append(layers, l)
			im.Ops = append(im.Ops, Op{Kind: OpLayer, Layer: l})
			syms[idx] = &sym{src: idx, kind: srcAcc, shape: shape, srcShape: shape, perChannel: true}
		case quant.Sum:
			q := quantizerOf(v.Q)
			src := &dagSource{kind: srcSum, s: v.Q.Scale(), shape: in[0].shape}
			for _, x := range in {
				if !slices.Equal(x.shape, in[0].shape) {
					return nil, fail("adds shapes %v and %v", in[0].shape, x.shape)
				}
				e, err := plan.newEdge(x, q, layers)
				if err != nil {
					return nil, fail("%v", err)
				}
				src.in = append(src.in, e)
			}
			plan.sources[idx] = src
			plan.order = append(plan.order, idx)
			syms[idx] = &sym{src: idx, kind: srcSum, shape: in[0].shape, srcShape: in[0].shape, perChannel: true}
		case quant.OnGrid:
			if _, ok := v.Op.(nn.GlobalAvgPool); !ok {
				return nil, fail("integer inference averages over the whole image only (global average pooling)")
			}
			x := in[0]
			if len(x.shape) != 3 {
				return nil, fail("global average of shape %v", x.shape)
			}
			e, err := plan.newEdge(x, quantizerOf(v.Q), layers)
			if err != nil {
				return nil, fail("%v", err)
			}
			hw := x.shape[0] * x.shape[1]
			_, hi := levels(v.Q.Bits, v.Q.Signed)
			if int64(hw)*int64(hi) >= 1<<24 {
				return nil, fail("a sum of %d values of %d bits is not exact in float32", hw, v.Q.Bits)
			}
			shape := []int{x.shape[2]}
			plan.sources[idx] = &dagSource{kind: srcMean, s: v.Q.Scale(), hw: hw, in: []*edge{e}, shape: shape}
			plan.order = append(plan.order, idx)
			syms[idx] = &sym{src: idx, kind: srcMean, shape: shape, srcShape: shape, perChannel: true}
		case *nn.BatchNorm:
			nm, err := normOf(v)
			if err != nil {
				return nil, err
			}
			x := in[0]
			if !x.perChannel || x.parts != nil || len(nm.Mean) != x.shape[len(x.shape)-1] {
				return nil, fail("a batch norm after a flatten, depth to space or concatenation has no per-source-channel form")
			}
			s := x.clone()
			s.chain = append(s.chain, elem{norm: nm})
			syms[idx] = s
		case nn.ReLU, nn.Clip, nn.LeakyReLU:
			el := elem{lo: 0, hi: float32(math.Inf(1))}
			switch o := v.(type) {
			case nn.Clip:
				el.lo, el.hi = o.Lo, o.Hi
			case nn.LeakyReLU:
				if o.Alpha < 0 {
					return nil, fail("a negative slope is not monotone")
				}
				el = elem{leaky: true, alpha: o.Alpha}
			}
			syms[idx] = withElem(in[0], el)
		case nn.MaxPool:
			stride := tensor.PoolStride(v.K, v.Stride)
			s, err := withMove(in[0], move{kind: OpMaxPool, k: v.K, stride: stride})
			if err != nil {
				return nil, fail("%v", err)
			}
			syms[idx] = s
		case nn.Flatten:
			s, _ := withMove(in[0], move{kind: OpFlatten})
			syms[idx] = s
		case nn.PixelShuffle:
			s, err := withMove(in[0], move{kind: OpPixelShuffle, r: v.R})
			if err != nil {
				return nil, fail("%v", err)
			}
			syms[idx] = s
		case nn.DepthToSpaceDCR:
			s, err := withMove(in[0], move{kind: opDCR, r: v.R})
			if err != nil {
				return nil, fail("%v", err)
			}
			syms[idx] = s
		case nn.Pad:
			s, err := withMove(in[0], move{kind: opPad, pads: [4]int{v.Top, v.Left, v.Bottom, v.Right}, value: v.Value})
			if err != nil {
				return nil, fail("%v", err)
			}
			syms[idx] = s
		case nn.ResizeNearest:
			s, err := withMove(in[0], move{kind: opResize, r: v.F})
			if err != nil {
				return nil, fail("%v", err)
			}
			syms[idx] = s
		case nn.Concat:
			c := &sym{shape: slices.Clone(in[0].shape), perChannel: true}
			c.shape[len(c.shape)-1] = 0
			for _, x := range in {
				if len(x.shape) != len(in[0].shape) || !slices.Equal(x.shape[:len(x.shape)-1], in[0].shape[:len(x.shape)-1]) {
					return nil, fail("joins shapes %v and %v", in[0].shape, x.shape)
				}
				c.parts = append(c.parts, x)
				c.shape[len(c.shape)-1] += x.shape[len(x.shape)-1]
			}
			syms[idx] = c
		default:
			return nil, fail("no integer implementation")
		}
	}
	out, err := plan.newEdge(syms[d.Output], nil, layers)
	if err != nil {
		return nil, fmt.Errorf("model %s: output: %w", name, err)
	}
	plan.out = out
	im.dag = plan
	return im, nil
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
