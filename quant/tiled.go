package quant

import (
	"math"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Tiled A2Q and A2Q+ (multi-stage accumulation, see WeightQuant.Tile).
//
// Channel c's weights v split into tiles t of Tile consecutive weights,
// each summed in its own P-bit accumulator, so the budget T holds per tile.
// With μ_t the tile's mean (A2Q+; 0 for A2Q), n_t = ‖v_t − μ_t‖₁,
// N = Σ_t n_t and r = min(g/s, T·tiles), every weight of tile t is
//
//	u_i = (v_i − μ_t)·a_t,  a_t = min(r/N, T/n_t),  q_i = clamp(RTZ(u_i), ±(2^(M−1)−1)).
//
// So ‖u_t‖₁ = n_t·a_t ≤ T, and RTZ only shrinks: ‖q_t‖₁ ≤ T (A2Q), and
// since Σ u_t = 0, q⁺_t and q⁻_t are at most T/2 (A2Q+). One scale r/N
// serves the channel as long as no tile exceeds its budget; a tile that
// would (T/n_t < r/N, "clamped") is scaled down to exactly T on its own.
// The forward pass divides by pre_t = 1/a_t = max(N/r, n_t/T), as the
// one-stage quantizer divides by ‖v−μ‖₁/r.
//
// Gradients (straight-through RTZ, none where the ±qmax clamp is active):
// with x = v − μ_t and S_t = Σ_{i∈t} dq_i·x_i over the weights that pass,
// an unclamped tile's scale r/N depends on every weight of the channel
// through N and on g and s through r; a clamped tile's scale T/n_t only on
// the tile's own weights:
//
//	dx_j = a_t(j)·dq_j − sign(x_j)·(r/N²)·Σ_{t unclamped} S_t − [t(j) clamped]·sign(x_j)·(T/n_t²)·S_t(j)
//	d log2 g = −d log2 s = ln2·(r/N)·Σ_{t unclamped} S_t   (0 when r = T·tiles)
//
// and A2Q+ subtracts from dx its mean over each tile (the gradient through
// μ_t).

// tileState keeps what the backward pass needs per tile.
type tileState struct {
	mu, n1 float32 // tile mean (A2Q+), ‖v_t − μ_t‖₁
	pre    float32 // u = (v − μ)/pre
	// clamped: n_t/T > N/r, the tile is scaled to its own budget.
	clamped bool
	tiny    bool // pre hit its floor: treat the tile as constant
}

// computeTiled is compute for a tiled A2Q or A2Q+ quantizer. st (len Cout)
// and ts (len Cout·tiles), if not nil, receive the per-channel state
// (n1 = N, r, clamped: r = T·tiles) and the per-tile state.
func (w *WeightQuant) computeTiled(q, log2s []float32, st []chanState, ts []tileState) {
	cout, k := w.Channels()
	tile, tiles := w.tiling()
	qmax := w.QMax()
	vd := w.V.Value.Data
	t := float32(w.Budget())
	tAll := float32(w.Budget() * float64(tiles))
	if ts == nil {
		ts = make([]tileState, cout*tiles)
	}
	for c := 0; c < cout; c++ {
		v := vd[c*k : c*k+k]
		tc := ts[c*tiles : (c+1)*tiles]
		var n float64
		for j := range tc {
			vt := v[j*tile : min((j+1)*tile, k)]
			var mu float32
			if w.Mode == A2QPlus {
				mu = mean(vt)
			}
			var n1 float64
			for _, x := range vt {
				n1 += math.Abs(float64(x - mu))
			}
			tc[j] = tileState{mu: mu, n1: float32(n1)}
			n += n1
		}
		g, s := Exp2(w.Log2G.Value.Data[c]), Exp2(w.Log2S.Value.Data[c])
		r, clamped := g/s, false
		if r >= tAll {
			r, clamped = tAll, true
		}
		pc := float32(n) / r
		log2s[c] = w.Log2S.Value.Data[c]
		for j := range tc {
			tj := &tc[j]
			pre := pc
			if pt := tj.n1 / t; pt > pc {
				pre, tj.clamped = pt, true
			}
			if !(pre > 1e-10) {
				pre, tj.tiny = 1e-10, true
			}
			tj.pre = pre
			lo, mu := j*tile, tj.mu
			qt := q[c*k+lo : c*k+min(lo+tile, k)]
			vt := v[lo : lo+len(qt)]
			if w.surrogate {
				for i, x := range vt {
					qt[i] = (x - mu) / pre
				}
				continue
			}
			for i, x := range vt {
				qt[i] = min(max(RTZ((x-mu)/pre), -qmax), qmax)
			}
		}
		if st != nil {
			st[c] = chanState{n1: float32(n), r: r, clamped: clamped}
		}
	}
}

// applyTiled is Apply for a tiled A2Q or A2Q+ quantizer.
func (w *WeightQuant) applyTiled(tp *autodiff.Tape) (q, log2s *autodiff.Var) {
	cout, k := w.Channels()
	tile, tiles := w.tiling()
	qv := tp.NewValue(w.V.Value.Shape...)
	ls := tp.NewValue(cout)
	st := make([]chanState, cout)
	ts := make([]tileState, cout*tiles)
	w.computeTiled(qv.Data, ls.Data, st, ts)
	v := w.V.Var(tp)
	lg, lsv := w.Log2G.Var(tp), w.Log2S.Var(tp)
	qmax := w.QMax()
	t := float32(w.Budget())
	vd, qd := w.V.Value.Data, qv.Data
	qo := tp.Custom(qv, func(d *tensor.Tensor, g []*tensor.Tensor) {
		gv, gg, gs := g[0], g[1], g[2]
		sums := make([]float64, tiles)
		for c := 0; c < cout; c++ {
			cs := st[c]
			tc := ts[c*tiles : (c+1)*tiles]
			v := vd[c*k : c*k+k]
			dq := d.Data[c*k : c*k+k]
			qc := qd[c*k : c*k+k]
			var su float64 // Σ S_t over the unclamped tiles
			for j := range tc {
				tj := &tc[j]
				sums[j] = 0
				if tj.tiny {
					continue
				}
				lo, hi := j*tile, min((j+1)*tile, k)
				mu, pre := tj.mu, tj.pre
				qt, dqt := qc[lo:hi], dq[lo:hi]
				var sj float64
				for i, x := range v[lo:hi] {
					if x -= mu; passes(qt[i], x, pre, qmax) {
						sj += float64(dqt[i]) * float64(x)
					}
				}
				sums[j] = sj
				if !tj.clamped {
					su += sj
				}
			}
			if cs.n1 == 0 {
				continue // every tile is tiny
			}
			a := float32(cs.r / cs.n1) // r/N
			if gv != nil {
				corrN := float32(float64(a) / float64(cs.n1) * su)
				for j := range tc {
					tj := &tc[j]
					lo, hi := j*tile, min((j+1)*tile, k)
					at, corr := a, corrN
					if tj.clamped {
						at = t / tj.n1
						corr += float32(float64(at) / float64(tj.n1) * sums[j])
					}
					gvt := gv.Data[c*k+lo : c*k+hi]
					mu, pre, live := tj.mu, tj.pre, !tj.tiny
					vt, qt, dqt := v[lo:hi], qc[lo:hi], dq[lo:hi]
					var dsum float64
					for i := range gvt {
						var dv float32
						x := vt[i] - mu
						if live && passes(qt[i], x, pre, qmax) {
							dv = at * dqt[i]
						}
						if x > 0 {
							dv -= corr
						} else if x < 0 {
							dv += corr
						}
						gvt[i] += dv
						dsum += float64(dv)
					}
					if w.Mode == A2QPlus {
						m := float32(dsum / float64(hi-lo))
						for i := range gvt {
							gvt[i] -= m
						}
					}
				}
			}
			if !cs.clamped {
				// The unclamped tiles' u depend on r = g/s.
				dr := su / float64(cs.n1) * float64(cs.r) * math.Ln2
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

// passes reports whether the straight-through gradient passes a weight
// quantized to q from x/pre: not where the clamp to ±qmax is active (only
// a weight at ±qmax can have been clamped).
func passes(q, x, pre, qmax float32) bool {
	if q != qmax && q != -qmax {
		return true
	}
	u := x / pre
	return u < qmax+1 && u > -qmax-1
}
