package ptq

import (
	"math"
	"runtime"

	"github.com/a2qtoolkit/a2q/gemm"
)

// gpfq rounds the layer with accumulator-aware GPFQ (AXE's A2GPFQ) into q
// (see the package doc). Without G (no float inputs: X̃ = X) H is used in
// its place.
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
	// a[c·K+t] = Σ_{j≤t} G_tj·w_j, one product with G's lower triangle.
	lg := make([]float32, k*k)
	w32 := make([]float32, outC*k)
	for t := 0; t < k; t++ {
		for j := 0; j <= t; j++ {
			lg[t*k+j] = float32(g[t*k+j])
		}
	}
	for i, v := range w {
		w32[i] = float32(v)
	}
	a := make([]float32, outC*k)
	gemm.SgemmParallel(runtime.GOMAXPROCS(0), false, true, outC, k, k, w32, k, lg, k, 0, a, k)
	// r[c·K+t] accumulates Σ_{j<t} H_tj·q_j of channel c as the q_j are
	// fixed: in the block at once, after it by one product.
	r := make([]float64, outC*k)
	z := newLazy(h, k, outC)
	for t1 := 0; t1 < k; t1 += lazyBlock {
		t2 := min(k, t1+lazyBlock)
		for t := t1; t < t2; t++ {
			tr.start(t)
			tile := l.Budget.tileOf(t)
			htt := h[t*k+t]
			for c := 0; c < outC; c++ {
				x := 0.0
				if htt != 0 {
					lo, hi := tr.bounds(c)
					x = (float64(a[c*k+t]) - r[c*k+t]) / htt
					x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(x, th[c*nt+tile])))))
				}
				v := tr.take(c, x)
				q[c*k+t] = v
				if v == 0 {
					continue
				}
				fv := float64(v)
				z.set(c, t, t1, fv)
				// H is symmetric: row t holds H_t't for t' > t.
				rest := r[c*k+t+1 : c*k+t2]
				for j, hv := range h[t*k+t+1 : t*k+t2] {
					rest[j] += fv * hv
				}
			}
		}
		z.flush(r, t1, t2, 1)
	}
}
