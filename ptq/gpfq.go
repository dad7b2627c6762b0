package ptq

import "math"

// gpfq rounds the layer with accumulator-aware GPFQ (AXE's A2GPFQ) into q.
//
// GPFQ follows the float layer's output greedily: with X the quantized
// path's inputs and X̃ the float model's, weight t of a channel is
//
//	q_t = Q(⟨X_t, u_{t−1} + w_t·X̃_t⟩ / ‖X_t‖²),  u_t = u_{t−1} + w_t·X̃_t − s·q_t·X_t,
//
// which in terms of H = XᵀX and G = XᵀX̃ (in units of s) is
//
//	q_t = Q((G_tt·w_t + Σ_{j<t} G_tj·w_j − Σ_{j<t} H_tj·q_j) / H_tt),
//
// so only K×K matrices are kept. Without G (no float inputs: X̃ = X) H is
// used in its place. Q soft-thresholds, clamps to the bit width and the
// budget left, and rounds to nearest.
func gpfq(l *Layer, st *Stats, q []int32) {
	k, outC := l.K, l.OutC
	h, g := st.H, st.G
	if g == nil {
		g = h
	}
	w := scaled(l)
	th := thresholds(l)
	nt := l.Budget.tiles(k)
	tr := newTracker(l.Budget, l.Bits, outC)
	m := qmax(l.Bits)
	// r[c·K+t] accumulates Σ_{j<t} H_tj·q_j of channel c as the q_j are fixed.
	r := make([]float64, outC*k)
	for t := 0; t < k; t++ {
		tr.start(t)
		tile := l.Budget.tileOf(t)
		htt := h[t*k+t]
		gt := g[t*k : t*k+t+1]
		for c := 0; c < outC; c++ {
			x := 0.0
			if htt != 0 {
				wc := w[c*k : c*k+t+1]
				var a float64
				for j, v := range gt {
					a += v * wc[j]
				}
				lo, hi := tr.bounds(c)
				x = (a - r[c*k+t]) / htt
				x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(x, th[c*nt+tile])))))
			}
			v := tr.take(c, x)
			q[c*k+t] = v
			if v == 0 {
				continue
			}
			// H is symmetric: row t holds H_t't for t' > t.
			fv := float64(v)
			rest := r[c*k+t+1 : (c+1)*k]
			for j, hv := range h[t*k+t+1 : (t+1)*k] {
				rest[j] += fv * hv
			}
		}
	}
}
