package models

import (
	"math"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
)

// FoldProjectionGain compensates the shrinkage that the projection
// initialisation inflicts on accumulator-aware layers. A tight budget can
// scale a channel's weights down by a large factor α_c (59–83× for the
// reference CNN's conv2 at W8A8, P = 16); since ReLU and max pooling are
// positively homogeneous, dividing the channel's bias by α_c and
// multiplying the next layer's weights on that channel by α_c gives the
// network back (approximately) the float model's function, so fine-tuning
// starts from a good model instead of a damaged one.
//
// It applies to every accumulator-aware layer of the top-level sequence
// followed, through ReLU, max pooling and flattening only, by another
// layer, which is re-initialised from its float weights (in the float
// checkpoint at path) times α. It returns the number of layers folded. Call
// it after InitFromFloat(m, path).
func FoldProjectionGain(m *Model, path string) (int, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return 0, err
	}
	float := func(l *quant.Layer) []float32 {
		if t, ok := c.Tensors[l.Name+".weight"]; ok && t.Len() == l.Weight.Value.Len() {
			return t.Data
		}
		return nil
	}
	folded := 0
	for i, mod := range m.Net {
		l, ok := mod.(*quant.Layer)
		if !ok || l.W == nil || !l.W.Mode.AccumulatorAware() || float(l) == nil {
			continue
		}
		next, flatten := nextLayer(m.Net[i+1:])
		if next == nil || float(next) == nil {
			continue
		}
		alpha := projectionGain(l, float(l))
		if alpha == nil {
			continue
		}
		if l.Bias != nil {
			for c, a := range alpha {
				l.Bias.Value.Data[c] /= float32(a)
			}
		}
		w := next.Weight.Value.Data
		copy(w, float(next))
		cin := len(alpha)
		switch {
		case next.Kind == "conv" && next.Options.Groups <= 1:
			// [Cout, KH, KW, Cin]: the channel is the innermost index.
			for j := range w {
				w[j] *= float32(alpha[j%cin])
			}
		case next.Kind == "linear" && (flatten || next.InC == cin):
			// NHWC flattening keeps the channel innermost too.
			for j := range w {
				w[j] *= float32(alpha[(j%next.InC)%cin])
			}
		default:
			continue
		}
		if next.W != nil {
			next.W.InitFromWeights(next.W.Mode.AccumulatorAware())
		}
		folded++
	}
	return folded, nil
}

// nextLayer returns the first quantized layer in ms reached through
// ReLU, max pooling and flattening only, and whether a flatten was passed.
func nextLayer(ms []nn.Module) (*quant.Layer, bool) {
	flatten := false
	for _, m := range ms {
		switch v := m.(type) {
		case *quant.Layer:
			return v, flatten
		case nn.ReLU, nn.MaxPool:
		case nn.Flatten:
			flatten = true
		default:
			return nil, false
		}
	}
	return nil, false
}

// projectionGain returns, per output channel, the ratio of the float
// weights' L1 norm to that of the dequantised weights q·s, or nil if any
// channel quantizes to zero.
func projectionGain(l *quant.Layer, v []float32) []float64 {
	q, log2s := l.W.Integers()
	cout := l.OutC
	k := len(q) / cout
	alpha := make([]float64, cout)
	for c := 0; c < cout; c++ {
		var fl, ql float64
		for i := c * k; i < c*k+k; i++ {
			fl += math.Abs(float64(v[i]))
			ql += math.Abs(float64(q[i]))
		}
		ql *= math.Exp2(float64(log2s[c]))
		if ql == 0 || fl == 0 {
			return nil
		}
		alpha[c] = max(fl/ql, 1)
	}
	return alpha
}
