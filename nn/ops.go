package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Clip is min(max(x, Lo), Hi); ReLU6 is Clip{0, 6}. Infinite bounds are
// allowed.
type Clip struct{ Lo, Hi float32 }

// Forward implements Module.
func (c Clip) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.Clip(x, c.Lo, c.Hi)
}

// Params implements Module.
func (Clip) Params() []*Param { return nil }

// LeakyReLU is x for x ≥ 0 and Alpha·x otherwise.
type LeakyReLU struct{ Alpha float32 }

// Forward implements Module.
func (l LeakyReLU) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.LeakyReLU(x, l.Alpha)
}

// Params implements Module.
func (LeakyReLU) Params() []*Param { return nil }

// Sigmoid is 1/(1 + e^−x).
type Sigmoid struct{}

// Forward implements Module.
func (Sigmoid) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.Sigmoid(x)
}

// Params implements Module.
func (Sigmoid) Params() []*Param { return nil }

// Pad pads the spatial dimensions of NHWC images with a constant.
type Pad struct {
	Top, Left, Bottom, Right int
	Value                    float32
}

// Forward implements Module.
func (p Pad) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.Pad(x, p.Top, p.Left, p.Bottom, p.Right, p.Value)
}

// Params implements Module.
func (Pad) Params() []*Param { return nil }

// PaddedPool is max or average pooling over K×K windows moved by Stride
// over an image padded by Pad on every side (MaxPool and AvgPool are the
// unpadded cases). Padding never wins a maximum; CountPad counts it in an
// average.
type PaddedPool struct {
	Max            bool
	K, Stride, Pad int
	CountPad       bool
}

// Forward implements Module.
func (p PaddedPool) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	if p.Max {
		return tp.MaxPoolPad(x, p.K, p.Stride, p.Pad)
	}
	return tp.AvgPoolPad(x, p.K, p.Stride, p.Pad, p.CountPad)
}

// Params implements Module.
func (PaddedPool) Params() []*Param { return nil }

// ResizeNearest upscales images by the integer factor F, each pixel
// becoming an F×F block.
type ResizeNearest struct{ F int }

// Forward implements Module.
func (r ResizeNearest) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.ResizeNearest(x, r.F, r.F)
}

// Params implements Module.
func (ResizeNearest) Params() []*Param { return nil }

// DepthToSpaceDCR is depth to space by a factor R in ONNX's DCR channel
// order (PixelShuffle is the CRD order).
type DepthToSpaceDCR struct{ R int }

// Forward implements Module.
func (d DepthToSpaceDCR) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.DepthToSpace(x, d.R, true)
}

// Params implements Module.
func (DepthToSpaceDCR) Params() []*Param { return nil }

// Joiner is a module of several inputs (a residual sum, a concatenation).
type Joiner interface {
	Join(tp *autodiff.Tape, xs []*autodiff.Var) *autodiff.Var
}

// Add sums its inputs elementwise.
type Add struct{}

// Join implements Joiner.
func (Add) Join(tp *autodiff.Tape, xs []*autodiff.Var) *autodiff.Var {
	y := xs[0]
	for _, x := range xs[1:] {
		y = tp.Add(y, x)
	}
	return y
}

// Concat joins its inputs along channels.
type Concat struct{}

// Join implements Joiner.
func (Concat) Join(tp *autodiff.Tape, xs []*autodiff.Var) *autodiff.Var { return tp.Concat(xs...) }

// Step is one operation of a DAG: a Module of one input or a Joiner of
// several, applied to the values Inputs names (0 is the DAG's input, k > 0
// the output of step k−1).
type Step struct {
	Name   string
	Op     any // Module or Joiner
	Inputs []int
}

// DAG runs steps in order, each on earlier values, and returns the value
// Output names: networks with branches (residual blocks, skip
// concatenations).
type DAG struct {
	Steps  []Step
	Output int
}

// Forward implements Module.
func (d *DAG) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return d.ForwardVisit(tp, x, train, nil)
}

// ForwardVisit runs d as Forward does and, if visit is not nil, calls it
// with each step whose operation is a Module and that step's input, just
// before the step runs (to look at what a layer receives).
func (d *DAG) ForwardVisit(tp *autodiff.Tape, x *autodiff.Var, train bool, visit func(s Step, in *autodiff.Var)) *autodiff.Var {
	vals := make([]*autodiff.Var, len(d.Steps)+1)
	vals[0] = x
	for i, s := range d.Steps {
		switch op := s.Op.(type) {
		case Module:
			if visit != nil {
				visit(s, vals[s.Inputs[0]])
			}
			vals[i+1] = op.Forward(tp, vals[s.Inputs[0]], train)
		case Joiner:
			xs := make([]*autodiff.Var, len(s.Inputs))
			for j, k := range s.Inputs {
				xs[j] = vals[k]
			}
			vals[i+1] = op.Join(tp, xs)
		default:
			panic(fmt.Sprintf("nn: DAG step %s: %T is neither a Module nor a Joiner", s.Name, s.Op))
		}
	}
	return vals[d.Output]
}

// Params implements Module.
func (d *DAG) Params() []*Param {
	var ps []*Param
	for _, s := range d.Steps {
		// Modules, and joiners with parameters of their own.
		if m, ok := s.Op.(interface{ Params() []*Param }); ok {
			ps = append(ps, m.Params()...)
		}
	}
	return ps
}

// ConvTranspose2d is a 2-D transposed convolution over NHWC images. Its
// weights are stored output channel first, [Cout, K, K, Cin/groups], as a
// convolution's are, so that each output channel's weights are one row
// (what A2Q's per-channel budget constrains); TransposedWeights gives
// autodiff's layout.
type ConvTranspose2d struct {
	Name            string
	In, Out, Kernel int
	Options         autodiff.ConvTransposeOptions
	Weight          *Param
	Bias            *Param // Out, or nil
}

// NewConvTranspose2d returns a transposed convolution initialised as
// PyTorch does (U(±1/√fan) with fan = Cout/groups·K²).
func NewConvTranspose2d(name string, in, out, kernel int, o autodiff.ConvTransposeOptions, bias bool, rng *rand.Rand) *ConvTranspose2d {
	g := max(o.Groups, 1)
	c := &ConvTranspose2d{Name: name, In: in, Out: out, Kernel: kernel, Options: o,
		Weight: NewParam(name+".weight", false, out, kernel, kernel, in/g)}
	b := 1 / math.Sqrt(float64(kernel*kernel*out/g))
	uniform(rng, c.Weight.Value, b)
	if bias {
		c.Bias = NewParam(name+".bias", true, out)
		uniform(rng, c.Bias.Value, b)
	}
	return c
}

// Forward implements Module.
func (c *ConvTranspose2d) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	var b *autodiff.Var
	if c.Bias != nil {
		b = c.Bias.Var(tp)
	}
	return tp.ConvTranspose2d(x, TransposedWeights(tp, c.Weight.Var(tp), c.In, max(c.Options.Groups, 1)), b, c.Options)
}

// Params implements Module.
func (c *ConvTranspose2d) Params() []*Param { return appendNonNil(nil, c.Weight, c.Bias) }

// TransposedWeights rearranges transposed-convolution weights stored
// [Cout, K, K, Cin/groups] into autodiff's [Cin, K, K, Cout/groups].
func TransposedWeights(tp *autodiff.Tape, w *autodiff.Var, in, groups int) *autodiff.Var {
	s := w.Value.Shape
	cout, k, cinG := s[0], s[1], s[3]
	coutG := cout / groups
	kk := k * s[2]
	idx := func(o, p, ci int) (src, dst int) {
		g := o / coutG
		c := g*cinG + ci
		return (o*kk+p)*cinG + ci, (c*kk+p)*coutG + o - g*coutG
	}
	out := tp.NewValue(in, k, s[2], coutG)
	for o := 0; o < cout; o++ {
		for p := 0; p < kk; p++ {
			for ci := 0; ci < cinG; ci++ {
				a, b := idx(o, p, ci)
				out.Data[b] = w.Value.Data[a]
			}
		}
	}
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		if g[0] == nil {
			return
		}
		for o := 0; o < cout; o++ {
			for p := 0; p < kk; p++ {
				for ci := 0; ci < cinG; ci++ {
					a, b := idx(o, p, ci)
					g[0].Data[a] += d.Data[b]
				}
			}
		}
	}, w)
}
