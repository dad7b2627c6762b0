package quant

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// PenaltyWeight is λ of the penalty λ·Σ_c relu(g_c − T·s_c) that keeps g
// inside the budget where min(g/s, T) passes it no gradient.
const PenaltyWeight = 1e-3

// WeightQuant quantizes a layer's weights per output channel. The float
// weights (the direction v for A2Q and A2Q+) are the layer's weight
// parameter, shaped [Cout, …] with each channel's K weights contiguous.
type WeightQuant struct {
	Mode Mode
	Bits int // M
	// InputBits and InputSigned are the layer's input quantizer's (A2Q,
	// A2Q+ only).
	InputBits    int
	InputSigned  bool
	V            *nn.Param // the float weights, [Cout, …]
	Log2G, Log2S *nn.Param // [Cout], A2Q and A2Q+ only

	// layer is the owning layer's configuration, whose AccBits is the one
	// stored accumulator width P of the layer (see AccBits).
	layer *LayerConfig

	// KeepProjectedNorm makes InitFromWeights leave each projected channel
	// at the L1 norm the projection gives it instead of lifting it (see
	// InitFromWeights): the initialisation of earlier versions.
	KeepProjectedNorm bool

	// refL1 is each channel's L1 norm after centring and before the
	// projection, recorded by InitFromWeights.
	refL1 []float64

	// surrogate replaces round-toward-zero and the clamp by the identity,
	// so that tests can check the straight-through gradients against
	// finite differences.
	surrogate bool
}

// Channels returns Cout and K.
func (w *WeightQuant) Channels() (cout, k int) {
	cout = w.V.Value.Shape[0]
	return cout, w.V.Value.Len() / cout
}

// QMax returns 2^(M−1) − 1.
func (w *WeightQuant) QMax() float32 { return float32(accum.WeightMax(w.Bits)) }

// AccBits returns the accumulator width P the budget is derived from: the
// owning layer's Config.AccBits, which the quantizer reads rather than
// copies.
func (w *WeightQuant) AccBits() int { return w.layer.AccBits }

// Budget returns the L1 budget T of an accumulator-aware quantizer (0
// otherwise): of each channel, or of each tile of a channel when the layer
// is tiled (see Tile).
func (w *WeightQuant) Budget() float64 {
	switch w.Mode {
	case A2Q:
		return accum.A2QBudget(w.AccBits(), w.InputBits, w.InputSigned)
	case A2QPlus:
		return accum.A2QPlusBudget(w.AccBits(), w.InputBits)
	}
	return 0
}

// Tile returns the effective tile size of the owning layer for this
// quantizer's K (LayerConfig.TileFor), 0 for one stage. When it is
// positive, A2Q and A2Q+ hold the budget T in each tile of Tile consecutive
// weights of a channel (the last one may be shorter) instead of in the
// whole channel.
func (w *WeightQuant) Tile() int {
	_, k := w.Channels()
	return w.layer.TileFor(k)
}

// tiling returns the tile size (K for one stage) and the number of tiles
// of a channel.
func (w *WeightQuant) tiling() (tile, tiles int) {
	_, k := w.Channels()
	if tile = w.Tile(); tile == 0 {
		return k, 1
	}
	return tile, (k + tile - 1) / tile
}

// Params returns the quantizer's own parameters (g and s), not V.
func (w *WeightQuant) Params() []*nn.Param {
	if w.Log2G == nil {
		return nil
	}
	return []*nn.Param{w.Log2G, w.Log2S}
}

// InitFromWeights sets g_c = ‖v_c‖₁ (of the centred weights for A2Q+) and
// s_c = max|v_c|/(2^(M−1)−1) from the current float weights. With project
// set it first applies the Euclidean-projection initialisation of A2Q+:
// each channel is projected onto the L1 ball of radius s_c·T and g_c
// clipped to s_c·T, so that the first quantized weights are close to the
// float ones instead of being squeezed (or zeroed) by the budget.
//
// In a tiled layer (see Tile) the projection is tile by tile: A2Q's onto
// the L1 ball of radius s_c·T, A2Q+'s, after centring each tile on its own
// mean, onto q⁺, q⁻ ≤ s_c·T/2 (ProjectHalves, which keeps the tile
// zero-sum: the plain L1 projection of a short tile would move its mean,
// and the quantizer's re-centring would then push the tile far over its
// budget). g_c is the L1 norm of the whole projected channel (at most
// s_c·T·tiles), so that the first integers are the projected weights
// truncated in units of s_c.
//
// The projection leaves a channel's L1 norm at s_c·T or less (per tile),
// which a tight budget puts orders of magnitude below the float channel's
// (ReferenceL1). An optimiser that moves every weight by about its learning
// rate per step, whatever the weight's size (Adam), then adds more L1 norm
// to the channel in a step or two than its few non-zero weights hold, and
// RTZ rounds the channel to zero. Unless KeepProjectedNorm is set, each
// channel with ‖v_c‖₁·T below its ReferenceL1 is therefore scaled up to
// ‖v_c‖₁·T = ReferenceL1 (T per tile in a tiled layer): the L1 norm steps
// can add before the largest integer falls grows with ‖v_c‖₁·T. Channels
// the budget binds less stay as projected. V enters the quantizer only as
// V/‖V‖₁ (per tile), so the integers, g and s do not change (a channel
// whose integers float rounding would change keeps its projected norm).
func (w *WeightQuant) InitFromWeights(project bool) {
	if w.Log2G == nil {
		return
	}
	if project && !w.KeepProjectedNorm {
		defer w.liftNorms()
	}
	if w.Tile() > 0 {
		w.initTiled(project)
		return
	}
	cout, k := w.Channels()
	t := w.Budget()
	qmax := float64(w.QMax())
	w.refL1 = make([]float64, cout)
	for c := 0; c < cout; c++ {
		v := w.V.Value.Data[c*k : c*k+k]
		mx, l1 := w.centreForInit(v, k)
		w.refL1[c] = l1
		s := mx / qmax
		if project {
			ProjectL1(v, s*t)
			l1 = 0
			for _, x := range v {
				l1 += math.Abs(float64(x))
			}
			l1 = min(max(l1, 1e-8), s*t)
		}
		w.Log2S.Value.Data[c] = float32(math.Log2(s))
		w.Log2G.Value.Data[c] = float32(math.Log2(l1))
	}
}

// centreForInit removes, for A2Q+, the mean of each tile of tile weights
// of the channel v (the channel's mean for tile ≥ len(v)), and returns
// max|v| and ‖v‖₁ (both a tiny positive number for a zero channel), from
// which InitFromWeights sets s and g.
func (w *WeightQuant) centreForInit(v []float32, tile int) (mx, l1 float64) {
	if w.Mode == A2QPlus {
		for lo := 0; lo < len(v); lo += tile {
			vt := v[lo:min(lo+tile, len(v))]
			mu := mean(vt)
			for i := range vt {
				vt[i] -= mu
			}
		}
	}
	for _, x := range v {
		mx = max(mx, math.Abs(float64(x)))
		l1 += math.Abs(float64(x))
	}
	if mx == 0 {
		mx, l1 = 1e-8, 1e-8
	}
	return mx, l1
}

// initTiled is InitFromWeights for a tiled layer.
func (w *WeightQuant) initTiled(project bool) {
	cout, k := w.Channels()
	tile, tiles := w.tiling()
	t := w.Budget()
	qmax := float64(w.QMax())
	w.refL1 = make([]float64, cout)
	for c := 0; c < cout; c++ {
		v := w.V.Value.Data[c*k : c*k+k]
		mx, l1 := w.centreForInit(v, tile)
		w.refL1[c] = l1
		s := mx / qmax
		if project {
			l1 = 0
			for lo := 0; lo < k; lo += tile {
				vt := v[lo:min(lo+tile, k)]
				if w.Mode == A2QPlus {
					ProjectHalves(vt, s*t/2)
				} else {
					ProjectL1(vt, s*t)
				}
				for _, x := range vt {
					l1 += math.Abs(float64(x))
				}
			}
			l1 = min(max(l1, 1e-8), s*t*float64(tiles))
		}
		w.Log2S.Value.Data[c] = float32(math.Log2(s))
		w.Log2G.Value.Data[c] = float32(math.Log2(l1))
	}
}

// liftNorms scales each channel's V up to an L1 norm of ReferenceL1/T
// where it is smaller (see InitFromWeights), keeping the integers.
func (w *WeightQuant) liftNorms() {
	cout, k := w.Channels()
	t := w.Budget()
	if len(w.refL1) != cout || !(t > 0) {
		return
	}
	vd := w.V.Value.Data
	before, _ := w.Integers()
	old := slices.Clone(vd)
	lifted := false
	for c := 0; c < cout; c++ {
		v := vd[c*k : c*k+k]
		var l1 float64
		for _, x := range v {
			l1 += math.Abs(float64(x))
		}
		f := w.refL1[c] / (t * l1)
		if !(l1 > 0) || !(f > 1) || math.IsInf(f, 0) {
			continue
		}
		for i := range v {
			v[i] = float32(float64(v[i]) * f)
		}
		lifted = true
	}
	if !lifted {
		return
	}
	after, _ := w.Integers()
	for c := 0; c < cout; c++ {
		if !slices.Equal(before[c*k:c*k+k], after[c*k:c*k+k]) {
			copy(vd[c*k:c*k+k], old[c*k:c*k+k])
		}
	}
}

// ReferenceL1 returns, per output channel, the L1 norm of the float
// weights the last InitFromWeights started from (after A2Q+'s centring,
// before the projection): the norm the quantized channel is meant to
// reproduce. In a tiled layer it is the sum over the channel's tiles, each
// centred on its own mean for A2Q+. It is nil until InitFromWeights has run
// in this process (it is not stored in checkpoints).
func (w *WeightQuant) ReferenceL1() []float64 { return w.refL1 }

// ProjectionGain returns, per output channel, the gain α_c ≥ 1 that the
// initialisation took from the channel, the factor models.FoldProjectionGain
// gives back (through the channel's scale, or the next layer): the ratio
// of ReferenceL1 to the L1 norm of the dequantised weights q·s. (On the
// reference CNN at W8A8 this L1 ratio makes a better start than the
// least-squares gain of the channel's output.) In a tiled layer it is still one gain per channel, the ratio of
// the channel's norms summed over its tiles. It is nil before
// InitFromWeights, or if a channel quantizes to zero.
func (w *WeightQuant) ProjectionGain() []float64 {
	cout, k := w.Channels()
	if len(w.refL1) != cout {
		return nil
	}
	q, log2s := w.Integers()
	alpha := make([]float64, cout)
	for c := 0; c < cout; c++ {
		var ql float64
		for _, v := range q[c*k : c*k+k] {
			ql += math.Abs(float64(v))
		}
		ql *= math.Exp2(float64(log2s[c]))
		if ql == 0 || w.refL1[c] == 0 {
			return nil
		}
		alpha[c] = max(w.refL1[c]/ql, 1)
	}
	return alpha
}

func mean(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return float32(s / float64(len(v)))
}

// L1Shift returns the shift θ ≥ 0 of the Euclidean projection of the
// non-negative vector u onto the L1 ball of radius z, u ↦ max(u − θ, 0)
// (see ProjectL1), or 0 when Σ u_i ≤ z. It reorders u.
func L1Shift(u []float64, z float64) float64 {
	var l1 float64
	for _, x := range u {
		l1 += x
	}
	if l1 <= z {
		return 0
	}
	slices.SortFunc(u, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	var cum, theta float64
	for j, x := range u {
		cum += x
		if x*float64(j+1) > cum-z {
			theta = (cum - z) / float64(j+1)
		}
	}
	return theta
}

// ProjectL1 replaces v by its Euclidean projection onto the L1 ball of
// radius z (Duchi et al. 2008): with u = |v| sorted descending,
// ρ = max{j : u_j·j > Σ_{i≤j} u_i − z}, θ = (Σ_{i≤ρ} u_i − z)/ρ and
// v ← sign(v)·max(|v| − θ, 0). A vector already inside is unchanged.
func ProjectL1(v []float32, z float64) {
	u := make([]float64, len(v))
	for i, x := range v {
		u[i] = math.Abs(float64(x))
	}
	theta := L1Shift(u, z)
	if theta == 0 {
		return
	}
	for i, x := range v {
		m := math.Max(math.Abs(float64(x))-theta, 0)
		v[i] = float32(math.Copysign(m, float64(x)))
	}
}

// ProjectHalves replaces v by its Euclidean projection onto the set of
// vectors whose positive entries and whose negative entries each sum to at
// most z in magnitude (A2Q+'s q⁺, q⁻ ≤ T/2): the positive and the negative
// entries projected separately onto the L1 ball of radius z (ProjectL1).
// A zero-sum v stays zero-sum (both sides shrink to z), so that for it this
// is also the projection onto the zero-sum vectors of L1 norm at most 2z.
func ProjectHalves(v []float32, z float64) {
	pos, neg := make([]float32, len(v)), make([]float32, len(v))
	for i, x := range v {
		pos[i], neg[i] = max(x, 0), max(-x, 0)
	}
	ProjectL1(pos, z)
	ProjectL1(neg, z)
	for i := range v {
		v[i] = pos[i] - neg[i]
	}
}

// Integers computes the integer weights q (as float32, [Cout·K]) and the
// per-channel log2 scales, without recording anything: the same values the
// forward pass uses.
func (w *WeightQuant) Integers() (q []float32, log2s []float32) {
	cout, k := w.Channels()
	q = make([]float32, cout*k)
	log2s = make([]float32, cout)
	if w.Mode.AccumulatorAware() && w.Tile() > 0 {
		w.computeTiled(q, log2s, nil, nil)
	} else {
		w.compute(q, log2s, nil)
	}
	return q, log2s
}

// IntegerWeights returns Integers' weights as int32, the form the
// accumulator bounds, the integer engine and the hardware generator take.
func (w *WeightQuant) IntegerWeights() (q []int32, log2s []float32) {
	qf, log2s := w.Integers()
	q = make([]int32, len(qf))
	for i, v := range qf {
		q[i] = int32(v)
	}
	return q, log2s
}

// chanState keeps what the backward pass of A2Q/A2Q+ needs per channel.
type chanState struct {
	mu, n1, r float32 // mean (A2Q+), ‖v−μ‖₁, min(g/s, T)
	clamped   bool    // g/s ≥ T: no gradient to g and s through r
	tiny      bool    // pre hit its floor: treat as constant
}

// compute fills q and log2s; st (len Cout, may be nil) receives the
// per-channel state for the backward pass.
func (w *WeightQuant) compute(q, log2s []float32, st []chanState) []chanState {
	cout, k := w.Channels()
	qmax := w.QMax()
	vd := w.V.Value.Data
	switch w.Mode {
	case Baseline:
		for c := 0; c < cout; c++ {
			v := vd[c*k : c*k+k]
			var mx float32
			for _, x := range v {
				mx = max(mx, float32(math.Abs(float64(x))))
			}
			if mx == 0 {
				log2s[c] = 0
				clear(q[c*k : c*k+k])
				continue
			}
			l := float32(math.Log2(float64(mx / qmax)))
			log2s[c] = l
			s := Exp2(l)
			for i, x := range v {
				q[c*k+i] = thresh.Quantize(x, s, -qmax, qmax)
			}
		}
	case A2Q, A2QPlus:
		if w.Tile() > 0 {
			panic("quant: compute on a tiled quantizer (computeTiled)")
		}
		t := float32(w.Budget())
		for c := 0; c < cout; c++ {
			v := vd[c*k : c*k+k]
			var mu float32
			if w.Mode == A2QPlus {
				mu = mean(v)
			}
			var n1 float64
			for _, x := range v {
				n1 += math.Abs(float64(x - mu))
			}
			g, s := Exp2(w.Log2G.Value.Data[c]), Exp2(w.Log2S.Value.Data[c])
			r, clamped := g/s, false
			if r >= t {
				r, clamped = t, true
			}
			pre := float32(n1) / r
			tiny := false
			if !(pre > 1e-10) {
				pre, tiny = 1e-10, true
			}
			log2s[c] = w.Log2S.Value.Data[c]
			for i, x := range v {
				if w.surrogate {
					q[c*k+i] = (x - mu) / pre
				} else {
					q[c*k+i] = min(max(RTZ((x-mu)/pre), -qmax), qmax)
				}
			}
			if st != nil {
				st[c] = chanState{mu: mu, n1: float32(n1), r: r, clamped: clamped, tiny: tiny}
			}
		}
	default:
		panic("quant: compute on a float weight quantizer")
	}
	return st
}

// Apply records the weight quantizer on the tape. It returns the integer
// weights q (shape of V) and the per-channel log2 scales log2 s_c ([Cout];
// a constant for the baseline, the trainable Log2S otherwise).
func (w *WeightQuant) Apply(tp *autodiff.Tape) (q, log2s *autodiff.Var) {
	if w.Mode.AccumulatorAware() && w.Tile() > 0 {
		return w.applyTiled(tp)
	}
	cout, k := w.Channels()
	qv := tp.NewValue(w.V.Value.Shape...)
	ls := tp.NewValue(cout)
	var st []chanState
	if w.Mode.AccumulatorAware() {
		st = make([]chanState, cout)
	}
	w.compute(qv.Data, ls.Data, st)
	v := w.V.Var(tp)
	if w.Mode == Baseline {
		s := ls.Data
		qmax := w.QMax()
		// Straight-through: dq/dw = 1/s inside the range.
		qo := tp.Custom(qv, func(d *tensor.Tensor, g []*tensor.Tensor) {
			if g[0] == nil {
				return
			}
			for c := 0; c < cout; c++ {
				inv := 1 / Exp2(s[c])
				for i := c * k; i < c*k+k; i++ {
					if math.Abs(float64(w.V.Value.Data[i]*inv)) <= float64(qmax)+0.5 {
						g[0].Data[i] += d.Data[i] * inv
					}
				}
			}
		}, v)
		return qo, tp.Constant(ls)
	}
	lg, lsv := w.Log2G.Var(tp), w.Log2S.Var(tp)
	qmax := w.QMax()
	vd, qd := w.V.Value.Data, qv.Data
	qo := tp.Custom(qv, func(d *tensor.Tensor, g []*tensor.Tensor) {
		gv, gg, gs := g[0], g[1], g[2]
		for c := 0; c < cout; c++ {
			cs := st[c]
			if cs.tiny {
				continue
			}
			v := vd[c*k : c*k+k]
			dq := d.Data[c*k : c*k+k]
			a := float32(cs.r / cs.n1) // du/dv scale: u = (v−μ)·r/‖v−μ‖₁
			// Straight-through RTZ; no gradient where the clamp is active
			// (only a weight at ±qmax can have been clamped).
			passes := func(i int) bool {
				if q := qd[c*k+i]; q != qmax && q != -qmax {
					return true
				}
				u := (v[i] - cs.mu) * a
				return u < qmax+1 && u > -qmax-1
			}
			var sumAV float64
			for i := range v {
				if passes(i) {
					sumAV += float64(dq[i]) * float64(v[i]-cs.mu)
				}
			}
			if gv != nil {
				// dv_j = a·dq_j − a/‖v−μ‖₁·sign(v_j−μ)·Σ dq_i (v_i−μ), masked;
				// A2Q+ then subtracts the mean of dv (through μ).
				corr := float32(float64(a) / float64(cs.n1) * sumAV)
				gvc := gv.Data[c*k : c*k+k]
				var dsum float64
				for i := range v {
					var dv float32
					if passes(i) {
						dv = a * dq[i]
					}
					x := v[i] - cs.mu
					if x > 0 {
						dv -= corr
					} else if x < 0 {
						dv += corr
					}
					gvc[i] += dv
					dsum += float64(dv)
				}
				if w.Mode == A2QPlus {
					m := float32(dsum / float64(k))
					for i := range gvc {
						gvc[i] -= m
					}
				}
			}
			if !cs.clamped {
				// u depends on r = g/s: ∂u/∂log2 g = u·ln2, ∂u/∂log2 s = −u·ln2.
				dr := sumAV / float64(cs.n1) * float64(cs.r) * math.Ln2
				if gg != nil {
					gg.Data[c] += float32(dr)
				}
				if gs != nil {
					gs.Data[c] -= float32(dr)
				}
			}
		}
	}, v, lg, lsv)
	return qo, lsv
}

// Penalty records λ·Σ_c relu(g_c − T·s_c) (nil for quantizers without a
// budget). In a tiled layer the bound is T·tiles·s_c, the largest g_c/s_c
// can reach (see Tile).
func (w *WeightQuant) Penalty(tp *autodiff.Tape) *autodiff.Var {
	if !w.Mode.AccumulatorAware() {
		return nil
	}
	_, tiles := w.tiling()
	t := w.Budget() * float64(tiles)
	lg, ls := w.Log2G.Var(tp), w.Log2S.Var(tp)
	out := tp.NewValue(1)
	cout := w.Log2G.Value.Len()
	active := make([]bool, cout)
	var sum float64
	for c := 0; c < cout; c++ {
		g := math.Exp2(float64(w.Log2G.Value.Data[c]))
		ts := t * math.Exp2(float64(w.Log2S.Value.Data[c]))
		if g > ts {
			sum += g - ts
			active[c] = true
		}
	}
	out.Data[0] = float32(PenaltyWeight * sum)
	return tp.Custom(out, func(d *tensor.Tensor, gr []*tensor.Tensor) {
		k := float64(d.Data[0]) * PenaltyWeight * math.Ln2
		for c := 0; c < cout; c++ {
			if !active[c] {
				continue
			}
			if gr[0] != nil {
				gr[0].Data[c] += float32(k * math.Exp2(float64(w.Log2G.Value.Data[c])))
			}
			if gr[1] != nil {
				gr[1].Data[c] -= float32(k * t * math.Exp2(float64(w.Log2S.Value.Data[c])))
			}
		}
	}, lg, ls)
}

// SettableBudget returns the budgets within which SetIntegers can always
// represent a channel's integers, or in a tiled layer each tile's (see
// Tile; pass Tile as ptq.Budget.Tile): l1 bounds ‖q‖₁ (A2Q), half bounds
// q⁺ and q⁻ (A2Q+, whose integers must also sum to zero, per tile in a
// tiled layer). SetIntegers pushes each non-zero weight at least 1/256 of
// a step away from zero, and for A2Q+ moves as much again to keep the sum
// at zero, so the float norm it needs is at most ‖q‖₁·(1 + 1/256) (A2Q)
// or ‖q‖₁·(1 + 2/256) (A2Q+); the budgets are T divided by that, less a
// relative margin of 10⁻³ for float32 rounding. They are at least 1/2,
// which admits only zero weights, so that a budget never reads as none. A
// baseline layer has no budget: both are 0.
func (w *WeightQuant) SettableBudget() (l1, half float64) {
	t := w.Budget() * (1 - 1e-3)
	switch w.Mode {
	case A2Q:
		return max(t/(1+1.0/256), 0.5), 0
	case A2QPlus:
		return 0, max(t/2/(1+2.0/256), 0.5)
	}
	return 0, 0
}

// SetIntegers makes the quantizer produce the integer weights q ([Cout·K],
// channel-major as Integers returns them) with the per-channel log2 scales
// log2s: afterwards IntegerWeights returns exactly q and, for A2Q and A2Q+,
// log2s. It is how post-training quantization (package ptq) writes the
// integers it chose into a layer.
//
// An A2Q or A2Q+ quantizer computes q = clamp(RTZ((v−μ)·r/‖v−μ‖₁)) with
// r = min(g/s, T), so SetIntegers sets v to q pushed a fraction of a step
// away from zero (RTZ keeps it on q), zero-sum for A2Q+ (whose μ is the
// channel mean), and g = s·‖v‖₁. In a tiled layer (see Tile) the budget,
// A2Q+'s mean and its zero sum are per tile, and g = s·‖v‖₁ makes the
// channel's scale r/‖v‖₁ one, which no tile within its budget overrides.
// It fails if a channel (a tile) is outside what the quantizer can
// produce: |q| > 2^(M−1)−1, ‖q‖₁ > T (A2Q), q⁺ or q⁻ > T/2 (A2Q+),
// integers too far from summing to zero for A2Q+'s centring, or a baseline
// channel whose largest |q| is neither 0 nor 2^(M−1)−1 (the baseline's
// scale is max|w|/(2^(M−1)−1)). It checks the result by recomputing the
// integers, and on failure leaves the quantizer changed.
func (w *WeightQuant) SetIntegers(q []int32, log2s []float32) error {
	cout, k := w.Channels()
	if len(q) != cout*k || len(log2s) != cout {
		return fmt.Errorf("set integers: %d weights and %d scales for %d channels of %d", len(q), len(log2s), cout, k)
	}
	qmax := int32(w.QMax())
	for i, v := range q {
		if v > qmax || v < -qmax {
			return fmt.Errorf("set integers: channel %d weight %d outside ±%d", i/k, v, qmax)
		}
	}
	for c, l := range log2s {
		if err := CheckLog2Scale(l); err != nil {
			return fmt.Errorf("set integers: channel %d: %w", c, err)
		}
	}
	vd := w.V.Value.Data
	switch w.Mode {
	case Baseline:
		for c := 0; c < cout; c++ {
			var mx int32
			for _, v := range q[c*k : c*k+k] {
				mx = max(mx, v, -v)
			}
			if mx != 0 && mx != qmax {
				return fmt.Errorf("set integers: channel %d: largest |q| is %d; the baseline quantizer's scale puts it at 0 or %d", c, mx, qmax)
			}
			s := Exp2(log2s[c])
			for i, v := range q[c*k : c*k+k] {
				vd[c*k+i] = float32(v) * s
			}
		}
		return w.checkIntegers(q, nil, k)
	case A2Q, A2QPlus:
	default:
		return fmt.Errorf("set integers: a %s layer has no integer weights", w.Mode)
	}
	t := float32(w.Budget())
	tile, tiles := w.tiling()
	for c := 0; c < cout; c++ {
		for lo := 0; lo < k; lo += tile {
			var pos, neg int64
			for _, v := range q[c*k+lo : c*k+min(lo+tile, k)] {
				if v > 0 {
					pos += int64(v)
				} else {
					neg -= int64(v)
				}
			}
			where := fmt.Sprintf("channel %d", c)
			if tiles > 1 {
				where = fmt.Sprintf("channel %d tile %d", c, lo/tile)
			}
			switch {
			case w.Mode == A2Q && float32(pos+neg) > t:
				return fmt.Errorf("set integers: %s: ‖q‖₁ = %d exceeds the budget T = %.6g", where, pos+neg, t)
			case w.Mode == A2QPlus && (float32(pos) > t/2 || float32(neg) > t/2):
				return fmt.Errorf("set integers: %s: q⁺ = %d, q⁻ = %d exceed T/2 = %.6g", where, pos, neg, t/2)
			}
		}
	}
	w.refL1 = nil
	pending := make([]bool, cout)
	for c := range pending {
		pending[c] = true
	}
	u := make([]int64, k)
	// v is held in units of 1/256, exact in float32 for |q| < 2^15, so that
	// the channel's (tile's) sum (A2Q+'s μ) and ‖v‖₁ are exact; e is the step
	// fraction, halved until the recomputed integers match.
	for e := int64(128); e >= 1; e /= 2 {
	channels:
		for c := 0; c < cout; c++ {
			if !pending[c] {
				continue
			}
			qc := q[c*k : c*k+k]
			over := false // a tile's ‖v_t‖₁ above T
			for lo := 0; lo < k; lo += tile {
				hi := min(lo+tile, k)
				if !w.centredUnits(qc[lo:hi], e, u[lo:hi]) {
					continue channels
				}
				var lt int64
				for _, x := range u[lo:hi] {
					lt += max(x, -x)
				}
				over = over || float32(float64(lt)/256) > t
			}
			var l1 int64
			for i, x := range u {
				vd[c*k+i] = float32(x) / 256
				l1 += max(x, -x)
			}
			w.Log2S.Value.Data[c] = log2s[c]
			if l1 == 0 {
				w.Log2G.Value.Data[c] = log2s[c]
				continue
			}
			if over {
				continue
			}
			n1 := float64(l1) / 256
			w.Log2G.Value.Data[c] = log2s[c] + float32(math.Log2(n1))
		}
		got, _ := w.Integers()
		done := true
		for c := 0; c < cout; c++ {
			if !pending[c] {
				continue
			}
			pending[c] = !slices.Equal(q[c*k:c*k+k], int32s(got[c*k:c*k+k]))
			done = done && !pending[c]
		}
		if done {
			return nil
		}
	}
	for c, p := range pending {
		if p {
			return fmt.Errorf("set integers: channel %d: the %s quantizer cannot produce these integers (for A2Q+: they sum, in the channel or in one of its tiles, to too much for its zero-centring)", c, w.Mode)
		}
	}
	return nil
}

// centredUnits fills u (units of 1/256) with q pushed e units away from
// zero and, for A2Q+, adjusted to sum to zero while each entry still
// truncates to q (at least e units inside its interval; entries at ±qmax
// may move outward without bound). It reports false if no such u exists.
func (w *WeightQuant) centredUnits(q []int32, e int64, u []int64) bool {
	qmax := int32(w.QMax())
	var sum int64
	for i, v := range q {
		u[i] = 256 * int64(v)
		switch {
		case v > 0:
			u[i] += e
		case v < 0:
			u[i] -= e
		}
		sum += u[i]
	}
	if w.Mode != A2QPlus || sum == 0 {
		return true
	}
	// Move the entries on the side opposite to the excess: the sign of the
	// move is −sign(sum); room is how far an entry can go that way.
	dir := int64(1)
	if sum > 0 {
		dir = -1
	}
	need := max(sum, -sum)
	room := func(v int32) (int64, bool) {
		switch {
		case int64(v)*dir == int64(qmax):
			return 0, true // at the clamp: unbounded
		case int64(v)*dir > 0:
			return 256 - 2*e, false // e inside both ends of [|v|, |v|+1)
		case v == 0:
			return 256 - e, false
		}
		return 0, false // moving toward zero from the far side: no room kept
	}
	var bounded, free int64
	for _, v := range q {
		r, unb := room(v)
		bounded += r
		if unb {
			free++
		}
	}
	if bounded < need && free == 0 {
		return false
	}
	// Spread the move evenly over the bounded room, the rest over the
	// clamped entries.
	share := min(need, bounded)
	left := need
	for i, v := range q {
		r, unb := room(v)
		if unb || r == 0 {
			continue
		}
		m := min(r, (share*r+bounded-1)/bounded, left)
		u[i] += dir * m
		left -= m
	}
	for i, v := range q {
		if _, unb := room(v); unb && left > 0 {
			m := (left + free - 1) / free
			m = min(m, left)
			u[i] += dir * m
			left -= m
			free--
		}
	}
	return left == 0
}

func int32s(f []float32) []int32 {
	q := make([]int32, len(f))
	for i, v := range f {
		q[i] = int32(v)
	}
	return q
}

// checkIntegers compares the quantizer's integers with want.
func (w *WeightQuant) checkIntegers(want []int32, _ []float32, k int) error {
	got, _ := w.IntegerWeights()
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("set integers: channel %d weight %d: the quantizer computes %d, want %d", i/k, i%k, got[i], want[i])
		}
	}
	return nil
}
