package models

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// InitOptions selects the refinements InitFromFloatWith applies after
// loading a float model into a quantized one.
type InitOptions struct {
	// FoldGain folds the gain the projection takes from each
	// accumulator-aware layer into the next layer (see FoldProjectionGain).
	FoldGain bool
	// CentreOn, if non-nil, is a batch of training inputs (N×H×W×C, a
	// thousand examples is plenty) on which every A2Q+ layer is
	// zero-centred with quant.Layer.CentreOnInputs instead of by
	// subtracting each channel's mean.
	CentreOn *tensor.Tensor
	// Threads for the forward passes over CentreOn (0: one).
	Threads int
}

// InitResult counts the layers each refinement changed.
type InitResult struct {
	Folded  int // layers whose gain was folded into the next layer
	Centred int // A2Q+ layers zero-centred on data
}

// CentringExamples is how many training examples the train and sweep
// commands pass as InitOptions.CentreOn.
const CentringExamples = 1024

// InitFromFloatWith is InitFromFloat followed by the refinements o asks
// for, applied layer by layer in network order so that each layer's input
// statistics and float weights already include the changes made upstream:
// an A2Q+ layer is first zero-centred on data (its float weights being the
// checkpoint's, times the gain folded into it by the layer before), then
// its own projection gain is folded into the next layer.
func InitFromFloatWith(m *Model, path string, o InitOptions) (InitResult, error) {
	if err := InitFromFloat(m, path); err != nil {
		return InitResult{}, err
	}
	if !o.FoldGain && o.CentreOn == nil {
		return InitResult{}, nil
	}
	c, err := checkpoint.Load(path)
	if err != nil {
		return InitResult{}, err
	}
	return refine(m, c, o)
}

// FoldProjectionGain compensates the shrinkage that the projection
// initialisation inflicts on accumulator-aware layers. A tight budget can
// scale a channel's weights down by a large factor α_c (59–83× for the
// reference CNN's conv2 at W8A8, P = 16); since ReLU and max pooling are
// positively homogeneous, dividing the channel's bias by α_c and
// multiplying the next layer's weights on that channel by α_c gives the
// network back (approximately) the float model's function, so fine-tuning
// starts from a good model instead of a damaged one. α_c is the ratio of
// the channel's L1 norm before the projection (after A2Q+'s centring) to
// that of its dequantised weights q·s.
//
// It applies to every accumulator-aware layer of the top-level sequence
// followed, through ReLU, max pooling and flattening only, by another
// layer, which is re-initialised from its float weights (in the float
// checkpoint at path) times α. It returns the number of layers folded. Call
// it after InitFromFloat(m, path); InitFromFloatWith does both.
func FoldProjectionGain(m *Model, path string) (int, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return 0, err
	}
	r, err := refine(m, c, InitOptions{FoldGain: true})
	return r.Folded, err
}

// refine applies o's refinements to m, whose float weights came from c.
func refine(m *Model, c *checkpoint.Checkpoint, o InitOptions) (InitResult, error) {
	var res InitResult
	// ref holds each layer's current float weights: the checkpoint's,
	// scaled by any gain folded into the layer.
	ref := map[*quant.Layer][]float32{}
	for _, l := range m.Layers {
		if t, ok := c.Tensors[l.Name+".weight"]; ok && t.Len() == l.Weight.Value.Len() {
			ref[l] = append([]float32(nil), t.Data...)
		}
	}
	type follower struct {
		l       *quant.Layer
		flatten bool
	}
	next := map[*quant.Layer]follower{}
	for i, mod := range m.Net {
		if l, ok := mod.(*quant.Layer); ok {
			if n, flatten := nextLayer(m.Net[i+1:]); n != nil {
				next[l] = follower{n, flatten}
			}
		}
	}
	for _, l := range m.Layers {
		if l.W == nil || !l.W.Mode.AccumulatorAware() || ref[l] == nil {
			continue
		}
		if o.CentreOn != nil && l.W.Mode == quant.A2QPlus {
			copy(l.Weight.Value.Data, ref[l])
			if err := centreOnData(m, l, o.CentreOn, o.Threads); err != nil {
				return res, err
			}
			res.Centred++
		}
		f, ok := next[l]
		if !o.FoldGain || !ok || ref[f.l] == nil {
			continue
		}
		if fold(l, f.l, f.flatten, ref[f.l]) {
			res.Folded++
		}
	}
	return res, nil
}

// fold divides l's bias by its projection gain α and sets next's weights
// to nw (its float weights, updated in place) times α on l's channels. It
// reports false (changing nothing) if the layout does not allow it.
func fold(l, next *quant.Layer, flatten bool, nw []float32) bool {
	alpha := projectionGain(l)
	if alpha == nil {
		return false
	}
	cin := len(alpha)
	var idx func(j int) int
	switch {
	case next.Kind == "conv" && next.Options.Groups <= 1:
		// [Cout, KH, KW, Cin]: the channel is the innermost index.
		idx = func(j int) int { return j % cin }
	case next.Kind == "linear" && (flatten || next.InC == cin):
		// NHWC flattening keeps the channel innermost too.
		idx = func(j int) int { return (j % next.InC) % cin }
	default:
		return false
	}
	if l.Bias != nil {
		for c, a := range alpha {
			l.Bias.Value.Data[c] /= float32(a)
		}
	}
	for j := range nw {
		nw[j] *= float32(alpha[idx(j)])
	}
	copy(next.Weight.Value.Data, nw)
	if next.W != nil {
		next.W.InitFromWeights(next.W.Mode.AccumulatorAware())
	}
	return true
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

// projectionGain returns, per output channel, the ratio of the L1 norm of
// the weights the quantizer was initialised from (quant.WeightQuant's
// ReferenceL1) to that of the dequantised weights q·s, at least 1, or nil
// if any channel quantizes to zero.
func projectionGain(l *quant.Layer) []float64 {
	ref := l.W.ReferenceL1()
	q, log2s := l.W.Integers()
	cout := l.OutC
	if len(ref) != cout {
		return nil
	}
	k := len(q) / cout
	alpha := make([]float64, cout)
	for c := 0; c < cout; c++ {
		var ql float64
		for i := c * k; i < c*k+k; i++ {
			ql += math.Abs(float64(q[i]))
		}
		ql *= math.Exp2(float64(log2s[c]))
		if ql == 0 || ref[c] == 0 {
			return nil
		}
		alpha[c] = max(ref[c]/ql, 1)
	}
	return alpha
}

// centreOnData gathers l's input moments over x (forward passes of m in
// evaluation mode, 256 examples at a time) and zero-centres l on them. The
// activation quantizers' scales and calibration flags are restored
// afterwards, so that training still calibrates them on its first batch.
func centreOnData(m *Model, l *quant.Layer, x *tensor.Tensor, threads int) error {
	if len(x.Shape) != 4 || x.Shape[0] == 0 {
		return fmt.Errorf("layer %s: data-aware centring wants a non-empty N×H×W×C batch, got shape %v", l.Name, x.Shape)
	}
	type saved struct{ scale, calibrated float32 }
	var acts []saved
	for _, ql := range m.Layers {
		if ql.In != nil {
			acts = append(acts, saved{ql.In.Log2Scale.Value.Data[0], ql.In.Calibrated.Value.Data[0]})
		}
	}
	defer func() {
		i := 0
		for _, ql := range m.Layers {
			if ql.In != nil {
				ql.In.Log2Scale.Value.Data[0], ql.In.Calibrated.Value.Data[0] = acts[i].scale, acts[i].calibrated
				i++
			}
		}
	}()
	mo := l.NewInputMoments()
	l.Observe = mo.Add
	defer func() { l.Observe = nil }()
	tp := autodiff.NewTape(max(threads, 1))
	n := x.Shape[0]
	per := x.Len() / n
	for lo := 0; lo < n; lo += 256 {
		hi := min(n, lo+256)
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		m.Forward(tp, tp.Constant(tensor.FromData(x.Data[lo*per:hi*per], shape...)), false)
		tp.Reset()
	}
	return l.CentreOnInputs(mo)
}
