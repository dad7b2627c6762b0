package recipe

import (
	"context"
	"math"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Gain limits of the output correction: a channel's scale moves by at most
// a factor of 256 either way (the projection of a tight budget can shrink
// a channel by tens), so that a channel whose rounded output is mostly
// noise cannot blow up.
const (
	minCorrectionGain = 1.0 / 256
	maxCorrectionGain = 256
)

// correction is the per-channel affine map y_float ≈ a·z + c that matches
// the first two moments of a rounded layer's output z (without its bias)
// to the float model's y_float: a = σ_y/σ_z, c = μ_y − a·μ_z, as batch-norm
// re-estimation does. A least-squares gain, cov/σ_z², would shrink every
// noisy channel (regression dilution), and the shrinkage compounds layer
// after layer.
type correction struct {
	n                     float64
	sz, sy, szz, szy, syy []float64
	gain, offset          []float64
	fitted                bool
}

func newCorrection(c int) *correction {
	return &correction{sz: make([]float64, c), sy: make([]float64, c), szz: make([]float64, c), szy: make([]float64, c), syy: make([]float64, c)}
}

// add accumulates one chunk: z and y are NHWC (or N×C) with the channel
// innermost.
func (k *correction) add(z, y []float32) {
	c := len(k.sz)
	for i, v := range z {
		ch := i % c
		zv, yv := float64(v), float64(y[i])
		k.sz[ch] += zv
		k.sy[ch] += yv
		k.szz[ch] += zv * zv
		k.szy[ch] += zv * yv
		k.syy[ch] += yv * yv
	}
	k.n += float64(len(z) / c)
}

// fit computes each channel's map. A channel whose rounded output does not
// vary, or varies against the float output, keeps its gain (a = 1) and only
// has its offset corrected.
func (k *correction) fit() {
	c := len(k.sz)
	k.gain, k.offset = make([]float64, c), make([]float64, c)
	for ch := range c {
		mz, my := k.sz[ch]/k.n, k.sy[ch]/k.n
		vz := k.szz[ch]/k.n - mz*mz
		cov := k.szy[ch]/k.n - mz*my
		a := 1.0
		if vz > 1e-12*(k.szz[ch]/k.n) && vz > 0 && cov > 0 {
			vy := max(k.syy[ch]/k.n-my*my, 0)
			a = min(max(math.Sqrt(vy/vz), minCorrectionGain), maxCorrectionGain)
		}
		k.gain[ch], k.offset[ch] = a, my-a*mz
	}
}

// correctOutputs re-estimates, on the calibration inputs x, the batch norm
// that alone reads the rounded layer m.Layers[i]: each channel of the
// layer's output is matched to the float model's same layer (on the float
// model's own inputs, so that the error of the layers before it is
// corrected too), without touching the integers: the gain multiplies the
// channel's scale s_c, the offset goes into the bias, or into the norm's
// running mean when the layer has none. A norm keeps the statistics of the
// float layer's outputs; rounding under a tight budget shrinks and shifts
// them, and the norm would otherwise amplify the shift. The certificate is
// unchanged: only float scales move. It reports whether the layer has such
// a norm (and was corrected).
func correctOutputs(ctx context.Context, m, fm *models.Model, i int, x *tensor.Tensor, threads int) (bool, error) {
	l, fl := m.Layers[i], fm.Layers[i]
	bn := m.NormAfter(l)
	if l.W == nil || bn == nil {
		return false, nil
	}
	k := newCorrection(l.OutC)
	tp := autodiff.NewTape(threads)
	// forChunks runs m, then fm, on each chunk: l's input is captured
	// first, and both layers' outputs are compared when fl sees its own.
	var qx *tensor.Tensor
	l.Observe = func(t *tensor.Tensor) { qx = t.Clone() }
	fl.Observe = func(fx *tensor.Tensor) {
		z, y := layerOutput(tp, l, qx), layerOutput(tp, fl, fx)
		if l.Bias != nil {
			for j := range z {
				z[j] -= l.Bias.Value.Data[j%l.OutC]
			}
		}
		k.add(z, y)
		tp.Reset()
	}
	defer func() { l.Observe, fl.Observe = nil, nil }()
	if err := forChunks(ctx, m, fm, x, threads); err != nil {
		return false, err
	}
	k.fit()
	q, log2s := l.W.IntegerWeights()
	for c, a := range k.gain {
		log2s[c] += float32(math.Log2(a))
	}
	if err := l.W.SetIntegers(q, log2s); err != nil {
		return false, err
	}
	if l.Bias != nil {
		for c, b := range k.offset {
			l.Bias.Value.Data[c] = float32(b)
		}
		return true, nil
	}
	// BN(z + c) with running mean μ equals BN(z) with running mean μ − c.
	for c, b := range k.offset {
		bn.RunMean.Value.Data[c] -= float32(b)
	}
	return true, nil
}

// layerOutput runs layer l alone on its captured input x and returns its
// output values (channel innermost).
func layerOutput(tp *autodiff.Tape, l *quant.Layer, x *tensor.Tensor) []float32 {
	obs := l.Observe
	l.Observe = nil
	defer func() { l.Observe = obs }()
	return l.Forward(tp, tp.Constant(x), false).Value.Data
}
