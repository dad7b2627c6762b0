package intinfer

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/thresh"
)

// The tasks an integer model performs: what its output means. The values
// are those of the trained models' tasks (package models).
const (
	TaskClassify     = "classify"
	TaskSuperResolve = "super-resolution"
)

// OpKind names one step of an integer model.
type OpKind string

// The ops of an integer model.
const (
	OpLayer        OpKind = "layer"         // a quantized convolution or linear layer
	OpMaxPool      OpKind = "maxpool"       // max over K×K windows (Stride 0 means K)
	OpReLU         OpKind = "relu"          // max(x, 0)
	OpFlatten      OpKind = "flatten"       // N×H×W×C → N×(H·W·C)
	OpPixelShuffle OpKind = "pixel_shuffle" // depth to space by R (PyTorch channel order)
	// OpBatchNorm and OpClip run on float activations only: before the
	// first layer or after the last (between layers they are folded into
	// the thresholds). Models that use them are stored in format version 2.
	OpBatchNorm OpKind = "batch_norm" // per-channel normalisation (evaluation mode)
	OpClip      OpKind = "clip"       // min(max(x, Lo), Hi)
)

// Op is one step of an integer model. Layer is set for OpLayer, K and
// Stride for OpMaxPool, R for OpPixelShuffle, Lo and Hi for OpClip, Norm
// for OpBatchNorm.
type Op struct {
	Kind      OpKind
	Layer     *Layer
	K, Stride int
	R         int
	Lo, Hi    float32 // infinite bounds allowed
	Norm      *Norm
}

// Norm is a batch norm in evaluation mode, by the float32 operands of
// autodiff.BatchNorm: channel c (the last dimension) of x becomes
//
//	h = (x − Mean[c])·InvStd[c]     // rounded to float32
//	y = Gamma[c]·h + Beta[c]
//
// where InvStd[c] = float32(1/√(float64(σ²_c) + float64(ε))) from the
// running variance, and the two lines are written as autodiff writes them,
// so that both evaluate the same float32 operations.
type Norm struct {
	Name                      string
	Mean, InvStd, Gamma, Beta []float32
}

// Layer is one quantized convolution or linear layer as integers.
type Layer struct {
	Name string
	Kind string // "conv" or "linear"
	// InC and OutC are the input and output channels (features).
	InC, OutC int
	// KH, KW, Stride, Pad and Groups are the convolution's geometry (1, 1,
	// 1, 0, 1 for a linear layer). A transposed convolution ("conv_transpose")
	// keeps its own stride, padding and output padding OutPad, and its
	// weights flipped in kh and kw: it runs as the convolution (stride 1)
	// of its input spread out by the stride and padded by KH − 1 − Pad.
	KH, KW, Stride, Pad, Groups int
	OutPad                      int
	// K is the dot-product length per output channel: KH·KW·InC/Groups.
	K int

	// WeightBits is M; Weights holds OutC rows of K integers in
	// [−(2^(M−1)−1), 2^(M−1)−1], in (kh, kw, cin) order for a convolution.
	// FromModel negates the row of a channel whose map to the next layer
	// decreases (a negative batch-norm scale, see fold.go).
	WeightBits int
	Weights    []int32

	// InputBits, InputSigned and InputScale describe the layer's input
	// quantizer: x_int = thresh.Quantize(x, InputScale, lo, hi). The scale
	// is used only when the input is a float image (the first layer).
	InputBits   int
	InputSigned bool
	InputScale  float32

	// AccBits is the accumulator width P the layer was trained for.
	AccBits int
	// Tile, when positive, makes the layer's accumulation multi-stage:
	// each dot product is split into tiles of Tile consecutive terms of its
	// weight row, each tile summed in the P-bit inner accumulator (P =
	// AccBits), the tile sums in an outer one of accum.OuterBits(P, K, Tile)
	// bits. Zero: one stage. Otherwise 0 < Tile < K.
	Tile int

	// Scale and Bias give the layer's float output for accumulator acc of
	// channel c: thresh.Requant(float32(acc), Scale[c], Bias[c]) — the
	// last layer's output. For the other layers the thresholds are the
	// map; Scale and Bias describe its first step for the model's own
	// accumulator (−acc for a negated row), and the engine uses them only
	// for a vector form of the map, after checking it against the
	// thresholds.
	Scale, Bias []float32

	// OutBits is 0 for a layer that produces floats (the last one).
	// Otherwise the layer produces the next layer's OutBits-bit inputs
	// (signed if OutSigned): Thresholds holds OutC rows of 2^OutBits − 1
	// non-decreasing accumulator thresholds, and the output for acc is
	// lo + #{k : acc ≥ Thresholds[c][k]}.
	OutBits    int
	OutSigned  bool
	Thresholds []int64
}

// Model is an integer-only network: ops applied in order to N×H×W×C float
// images in [0, 1] (NHWC).
type Model struct {
	Name          string // the model's kind, e.g. "cnn"
	Task          string // "classify" or "super-resolution"
	InH, InW, InC int
	Ops           []Op
	// dag, for a model with branches, is how its values flow (see
	// dag.go), built from graph, its steps, whose value output is the
	// network's output; Ops then lists its layers only.
	dag    *dagPlan
	graph  []gstep
	output int
}

// Upscale is the factor by which a super-resolution model enlarges its
// input's sides (1 for a classifier).
func (m *Model) Upscale() int {
	if m.dag != nil {
		if sh := m.dag.out.sym.shape; len(sh) == 3 && sh[0]%m.InH == 0 {
			return sh[0] / m.InH
		}
		return 1
	}
	f := 1
	for _, op := range m.Ops {
		if op.Kind == OpPixelShuffle {
			f *= op.R
		}
	}
	return f
}

// Layers returns the model's layers in order.
func (m *Model) Layers() []*Layer {
	var ls []*Layer
	for _, op := range m.Ops {
		if op.Kind == OpLayer {
			ls = append(ls, op.Layer)
		}
	}
	return ls
}

// Search range of the thresholds: every accumulator value the engine can
// produce lies in [threshLo, threshHi] (it simulates P ≤ MaxSimAccBits).
const (
	threshLo = thresh.Min
	threshHi = thresh.Max
	// Unreached marks a level no accumulator value reaches.
	Unreached = thresh.Unreached
)

// Thresholds fills dst (len hi − lo) with the accumulator thresholds of the
// map f(acc) = thresh.Quantize(thresh.Requant(float32(acc), scale, bias), s,
// lo, hi): dst[k−lo−1] = min{acc ∈ [−2^62, 2^62) : f(acc) ≥ k} for k = lo+1
// … hi, or Unreached (thresh.Search). Since f is non-decreasing for scale >
// 0, f(acc) = lo + #{k : acc ≥ dst[k]} for every acc in that range.
func Thresholds(scale, bias, s float32, lo, hi int32, dst []int64) {
	f := func(acc int64) int32 {
		return int32(thresh.Quantize(thresh.Requant(float32(acc), scale, bias), s, float32(lo), float32(hi)))
	}
	thresh.Search(f, lo, hi, dst)
}

// levels returns the integer range of an n-bit input.
func levels(n int, signed bool) (lo, hi int32) {
	l, h := accum.InputRange(n, signed)
	return int32(l), int32(h)
}

// Size limits that keep a malformed file from asking for absurd memory.
const (
	maxDim    = 1 << 16 // any single dimension
	maxValues = 1 << 24 // values of one image's activation or one array
)

// Validate checks the model's consistency: shapes through every op, bit
// widths, weight ranges, scales and sorted thresholds. Errors name the op
// or layer and the field.
func (m *Model) Validate() error {
	if m.InH < 1 || m.InW < 1 || m.InC < 1 || m.InH > maxDim || m.InW > maxDim || m.InC > maxDim || m.InH*m.InW*m.InC > maxValues {
		return fmt.Errorf("input shape %d×%d×%d is empty or too large", m.InH, m.InW, m.InC)
	}
	if m.Task != TaskClassify && m.Task != TaskSuperResolve {
		return fmt.Errorf("task %q: want %q or %q", m.Task, TaskClassify, TaskSuperResolve)
	}
	if m.dag != nil {
		// FromModel checked the shapes along the graph.
		if len(m.Layers()) != len(m.dag.layerIn) {
			return fmt.Errorf("%d layers, %d layer inputs", len(m.Layers()), len(m.dag.layerIn))
		}
		for _, l := range m.Layers() {
			if err := l.checkTile(); err != nil {
				return err
			}
		}
		return nil
	}
	shape := []int{m.InH, m.InW, m.InC} // per image: [H, W, C] or [F]
	isInt, bits, signed := false, 0, false
	nLayers := 0
	for _, op := range m.Ops {
		if op.Kind == OpLayer {
			nLayers++
		}
	}
	if nLayers == 0 {
		return fmt.Errorf("the model has no layers")
	}
	li := 0
	for i, op := range m.Ops {
		switch op.Kind {
		case OpLayer:
			l := op.Layer
			if l == nil {
				return fmt.Errorf("op %d: layer op without a layer", i)
			}
			if isInt && (l.InputBits != bits || l.InputSigned != signed) {
				return fmt.Errorf("layer %s: takes %d-bit inputs (signed %v) but the previous layer produces %d-bit (signed %v)", l.Name, l.InputBits, l.InputSigned, bits, signed)
			}
			if !isInt && li > 0 {
				return fmt.Errorf("layer %s: its input is the previous layer's float output", l.Name)
			}
			out, err := l.validate(shape, li == nLayers-1)
			if err != nil {
				return err
			}
			shape = out
			isInt, bits, signed = l.OutBits > 0, l.OutBits, l.OutSigned
			li++
		case OpReLU:
		case OpClip:
			if isInt {
				return fmt.Errorf("op %d: clip on integer activations (between layers it is part of the thresholds)", i)
			}
			if err := checkBounds(op.Lo, op.Hi); err != nil {
				return fmt.Errorf("op %d: %v", i, err)
			}
		case OpBatchNorm:
			if isInt {
				return fmt.Errorf("op %d: batch norm on integer activations (between layers it is part of the thresholds)", i)
			}
			if op.Norm == nil {
				return fmt.Errorf("op %d: batch norm op without its parameters", i)
			}
			if err := op.Norm.validate(); err != nil {
				return fmt.Errorf("op %d: batch norm %s: %v", i, op.Norm.Name, err)
			}
			if c := len(op.Norm.Mean); c != shape[len(shape)-1] {
				return fmt.Errorf("op %d: batch norm %s of %d channels on a %v input", i, op.Norm.Name, c, shape)
			}
		case OpFlatten:
			shape = []int{prod(shape)}
		case OpMaxPool:
			if len(shape) != 3 || op.K < 1 || op.Stride < 0 || op.K > maxDim || op.Stride > maxDim {
				return fmt.Errorf("op %d: max pool %d×%d (stride %d) on a %v input", i, op.K, op.K, op.Stride, shape)
			}
			st := op.Stride
			if st == 0 {
				st = op.K
			}
			if shape[0] < op.K || shape[1] < op.K {
				return fmt.Errorf("op %d: max pool %d×%d does not fit a %d×%d input", i, op.K, op.K, shape[0], shape[1])
			}
			shape = []int{(shape[0]-op.K)/st + 1, (shape[1]-op.K)/st + 1, shape[2]}
		case OpPixelShuffle:
			if len(shape) != 3 || op.R < 1 || op.R > 64 || shape[2]%(op.R*op.R) != 0 {
				return fmt.Errorf("op %d: pixel shuffle by %d on a %v input", i, op.R, shape)
			}
			shape = []int{shape[0] * op.R, shape[1] * op.R, shape[2] / (op.R * op.R)}
			if shape[0] > maxDim || shape[1] > maxDim || prod(shape) > maxValues {
				return fmt.Errorf("op %d: pixel shuffle output %v too large", i, shape)
			}
		default:
			return fmt.Errorf("op %d: unknown op %q", i, op.Kind)
		}
	}
	return nil
}

// checkTile reports a tile that does not split the layer's dot products:
// a layer's Tile is 0 (one stage) or in (0, K).
func (l *Layer) checkTile() error {
	if l.Tile < 0 || l.Tile > 0 && l.Tile >= l.K {
		return fmt.Errorf("layer %s: tile: %d terms for dot products of k = %d, want 0 (one stage) or 0 < tile < k", l.Name, l.Tile, l.K)
	}
	return nil
}

// certBits is the accumulator width the layer's certificate compares with
// its P: the exact width of its dot products (accum.ExactBits), or, for a
// tiled layer, the exact inner width of its tiles (accum.TiledBits).
func (l *Layer) certBits() int {
	if l.Tile > 0 {
		inner, _ := accum.TiledBits(l.Weights, l.OutC, l.K, l.Tile, l.InputBits, l.InputSigned)
		return inner
	}
	return accum.ExactBits(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned)
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// validate checks the layer against its per-image input shape and returns
// its output shape.
// validateGraph checks a graph model's layer (which produces
// accumulators: no thresholds of its own) on input shape in and returns
// its output shape. A transposed convolution is checked as the
// convolution of its spread input it runs as.
func (l *Layer) validateGraph(in []int) ([]int, error) {
	if l.Kind != "conv_transpose" {
		return l.validate(in, true)
	}
	if l.KH != l.KW || l.KH < 1 || l.KH > maxDim || l.Stride < 1 || l.Stride > maxDim || l.Pad < 0 || l.Pad > l.KH-1 || l.OutPad < 0 || l.OutPad >= l.Stride {
		return nil, fmt.Errorf("layer %s: geometry: transposed %d×%d kernel, stride %d, pad %d, output pad %d: want a square kernel, pad below it and output pad below the stride",
			l.Name, l.KH, l.KW, l.Stride, l.Pad, l.OutPad)
	}
	if len(in) != 3 || in[0] > maxDim || in[1] > maxDim {
		return nil, fmt.Errorf("layer %s: input %v", l.Name, in)
	}
	c := *l
	c.Kind, c.Stride, c.Pad, c.OutPad = "conv", 1, 0, 0
	return c.validate([]int{spreadSize(l, in[0]), spreadSize(l, in[1]), in[2]}, true)
}

func (l *Layer) validate(in []int, last bool) ([]int, error) {
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("layer %s: %s: %s", l.Name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case l.Kind != "conv" && l.Kind != "linear":
		return nil, fail("kind", "%q, want conv or linear (or, in a graph, conv_transpose)", l.Kind)
	case l.OutPad != 0:
		return nil, fail("out_pad", "%d on a layer that is not a transposed convolution", l.OutPad)
	case l.InC < 1 || l.OutC < 1 || l.InC > maxValues || l.OutC > maxDim:
		return nil, fail("channels", "%d in, %d out", l.InC, l.OutC)
	case l.WeightBits < 2 || l.WeightBits > 16:
		return nil, fail("weight_bits", "M = %d outside [2, 16]", l.WeightBits)
	case l.InputBits < 1 || l.InputBits > 16:
		return nil, fail("input_bits", "N = %d outside [1, 16]", l.InputBits)
	case accum.CheckAccBits(l.AccBits) != nil:
		return nil, fail("acc_bits", "%v", accum.CheckAccBits(l.AccBits))
	case !(l.InputScale > 0) || math.IsInf(float64(l.InputScale), 0):
		return nil, fail("input_scale", "%v, want a positive finite scale", l.InputScale)
	}
	var out []int
	if l.Kind == "conv" {
		if len(in) != 3 || in[2] != l.InC {
			return nil, fail("in_c", "input %v, want H×W×%d", in, l.InC)
		}
		if l.KH < 1 || l.KW < 1 || l.KH > maxDim || l.KW > maxDim || l.Stride < 1 || l.Stride > maxDim || l.Pad < 0 || l.Pad >= max(l.KH, l.KW) ||
			l.Groups < 1 || l.InC%l.Groups != 0 || l.OutC%l.Groups != 0 {
			return nil, fail("geometry", "kernel %d×%d, stride %d, pad %d (must be less than the kernel), groups %d for %d→%d channels", l.KH, l.KW, l.Stride, l.Pad, l.Groups, l.InC, l.OutC)
		}
		oh, ow := (in[0]+2*l.Pad-l.KH)/l.Stride+1, (in[1]+2*l.Pad-l.KW)/l.Stride+1
		if in[0]+2*l.Pad < l.KH || in[1]+2*l.Pad < l.KW {
			return nil, fail("geometry", "%d×%d kernel does not fit a %d×%d input with padding %d", l.KH, l.KW, in[0], in[1], l.Pad)
		}
		if k := l.KH * l.KW * (l.InC / l.Groups); k != l.K {
			return nil, fail("k", "%d, want KH·KW·Cin/groups = %d", l.K, k)
		}
		out = []int{oh, ow, l.OutC}
		if prod(out) > maxValues {
			return nil, fail("geometry", "output %v too large", out)
		}
	} else {
		if prod(in) != l.InC || l.K != l.InC {
			return nil, fail("in_c", "input %v (%d values), k %d, want %d", in, prod(in), l.K, l.InC)
		}
		if l.KH != 1 || l.KW != 1 || l.Stride != 1 || l.Pad != 0 || l.Groups != 1 {
			return nil, fail("geometry", "a linear layer has a 1×1 kernel, stride 1, no padding, one group")
		}
		out = []int{l.OutC}
	}
	if l.K < 1 || l.K > maxValues/l.OutC || len(l.Weights) != l.OutC*l.K {
		return nil, fail("weights", "%d values, want out_c·k = %d·%d", len(l.Weights), l.OutC, l.K)
	}
	if err := l.checkTile(); err != nil {
		return nil, err
	}
	wm := int32(accum.WeightMax(l.WeightBits))
	for i, q := range l.Weights {
		if q > wm || q < -wm {
			return nil, fail("weights", "weight [%d][%d] = %d outside ±%d", i/l.K, i%l.K, q, wm)
		}
	}
	if len(l.Scale) != l.OutC || len(l.Bias) != l.OutC {
		return nil, fail("scale", "%d scales and %d biases for %d channels", len(l.Scale), len(l.Bias), l.OutC)
	}
	for c, s := range l.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, fail("scale", "channel %d: %v, want positive and finite", c, s)
		}
		if b := float64(l.Bias[c]); math.IsNaN(b) || math.IsInf(b, 0) {
			return nil, fail("bias", "channel %d: %v", c, b)
		}
	}
	if last {
		if l.OutBits != 0 || l.Thresholds != nil {
			return nil, fail("out_bits", "the last layer produces floats and has no thresholds")
		}
		return out, nil
	}
	if l.OutBits < 1 || l.OutBits > 16 {
		return nil, fail("out_bits", "%d outside [1, 16]", l.OutBits)
	}
	n := 1<<l.OutBits - 1
	if len(l.Thresholds) != l.OutC*n {
		return nil, fail("thresholds", "%d values, want out_c·(2^out_bits − 1) = %d·%d", len(l.Thresholds), l.OutC, n)
	}
	for c := 0; c < l.OutC; c++ {
		t := l.Thresholds[c*n : (c+1)*n]
		for k, v := range t {
			if v < threshLo || v > Unreached || (k > 0 && v < t[k-1]) {
				return nil, fail("thresholds", "channel %d: threshold %d = %d is out of order or out of range", c, k, v)
			}
		}
	}
	return out, nil
}
