package quant

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// FitGain gives each output channel of an accumulator-aware layer the gain
// and offset with which its quantized weights best reproduce the float
// channel on the inputs in mo. With ŵ_c = q_c·s_c the dequantised weights,
// w_c and b_c the float channel's weights and bias, and m and Σ the mean
// and covariance of the inputs, it minimises E[(w_c·x + b_c − α·ŵ_c·x − β)²]:
// α = w_cᵀΣŵ_c / ŵ_cᵀΣŵ_c and β = b_c + (w_c − α·ŵ_c)·m. The gain goes into
// s_c and g_c alike, so g/s, the integers and the budget do not change; the
// offset becomes the bias. A layer without a bias fits the gain alone, on
// the second moment E[x·xᵀ] instead of Σ.
//
// This is what a tight budget needs after the projection initialisation:
// the projection keeps a channel's largest weights and shrinks them, and
// neither the float bias nor a gain that restores the L1 norm
// (FoldProjectionGain) then matches what the channel computes; a channel
// whose output shrank below its negative bias never fires again. A channel
// whose fitted gain is not positive (its quantized output does not follow
// the float one) keeps its scale and gets the offset for gain 1.
//
// wf is the float weights in the layer's layout ([Cout][K]) and bf the float
// bias (ignored for a layer without one). It returns the number of channels
// given a gain.
func (l *Layer) FitGain(mo *InputMoments, wf, bf []float32) (int, error) {
	if l.W == nil || !l.W.Mode.AccumulatorAware() {
		return 0, fmt.Errorf("layer %s: gain fitting applies to A2Q and A2Q+ layers", l.Name)
	}
	if mo == nil || mo.l != l || mo.n == 0 {
		return 0, fmt.Errorf("layer %s: no input statistics to fit gains on", l.Name)
	}
	k := mo.k
	if len(wf) != l.OutC*k || l.Bias != nil && len(bf) != l.OutC {
		return 0, fmt.Errorf("layer %s: %d float weights and %d biases for %d channels of %d weights", l.Name, len(wf), len(bf), l.OutC, k)
	}
	q, log2s := l.W.Integers()
	groups := len(mo.sum)
	per := l.OutC / groups
	w, hat := make([]float64, k), make([]float64, k)
	wv, hv := mat.NewVecDense(k, w), mat.NewVecDense(k, hat)
	fitted := 0
	for grp := 0; grp < groups; grp++ {
		m, cov := mo.group(grp, l.Bias != nil)
		mv := mat.NewVecDense(k, m)
		for c := grp * per; c < (grp+1)*per; c++ {
			s := math.Exp2(float64(log2s[c]))
			for i := range w {
				w[i] = float64(wf[c*k+i])
				hat[i] = float64(q[c*k+i]) * s
			}
			alpha, _, hh := lsGain(cov, wv, hv)
			if hh > 0 && alpha > 0 && !math.IsInf(alpha, 0) {
				d := float32(math.Log2(alpha))
				l.W.Log2S.Value.Data[c] += d
				l.W.Log2G.Value.Data[c] += d
				fitted++
			} else {
				alpha = 1
			}
			if l.Bias != nil {
				l.Bias.Value.Data[c] = float32(float64(bf[c]) + mat.Dot(wv, mv) - alpha*mat.Dot(hv, mv))
			}
		}
	}
	return fitted, nil
}
