package quant

import (
	"math"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Sum is a residual sum whose inputs are quantized first, all with the one
// quantizer Q: y = s·Σ_i Q(x_i). Integer inference needs every value
// between layers on an integer grid; a sum of two differently scaled
// values is on none, while this sum is s times an exact integer sum, which
// integer inference computes bit for bit (see package intinfer).
type Sum struct{ Q *ActQuant }

// Join implements nn.Joiner. The quantizer calibrates on all the inputs
// of its first batch together.
func (s Sum) Join(tp *autodiff.Tape, xs []*autodiff.Var) *autodiff.Var {
	if !s.Q.IsCalibrated() {
		var all []float32
		for _, x := range xs {
			all = append(all, x.Value.Data...)
		}
		s.Q.calibrate(all)
	}
	k := s.Q.Apply(tp, xs[0], true)
	for _, x := range xs[1:] {
		k = tp.Add(k, s.Q.Apply(tp, x, true))
	}
	return Dequantize(tp, k, s.Q.Log2Scale.Var(tp))
}

// Params returns the quantizer's parameters.
func (s Sum) Params() []*nn.Param { return s.Q.Params() }

// OnGrid applies a linear operation (average pooling) to the integers of
// its input's quantization: y = s·Op(Q(x)). An average of quantized values
// computed this way is s times an average of integers, which integer
// inference reproduces exactly; an average of dequantized values is not.
type OnGrid struct {
	Q  *ActQuant
	Op nn.Module
}

// Forward implements nn.Module.
func (o OnGrid) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	k := o.Op.Forward(tp, o.Q.Apply(tp, x, train), train)
	return Dequantize(tp, k, o.Q.Log2Scale.Var(tp))
}

// Params implements nn.Module.
func (o OnGrid) Params() []*nn.Param { return append(o.Q.Params(), o.Op.Params()...) }

// Dequantize returns k·s with s = 2^log2s: the float value of integers k
// on the grid of scale s, each product rounded once to float32.
func Dequantize(tp *autodiff.Tape, k, log2s *autodiff.Var) *autodiff.Var {
	s := Exp2(log2s.Value.Data[0])
	out := tp.NewOutput(k.Value.Shape...)
	for i, v := range k.Value.Data {
		out.Data[i] = v * s
	}
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		gk, gl := g[0], g[1]
		var dl float64
		for i, dv := range d.Data {
			if gk != nil {
				gk.Data[i] += dv * s
			}
			dl += float64(dv) * float64(out.Data[i])
		}
		if gl != nil {
			gl.Data[0] += float32(dl * math.Ln2)
		}
	}, k, log2s)
}
