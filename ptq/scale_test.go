package ptq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
)

// TestSearchScales: the search keeps the budget, and its rounding fits the
// layer's outputs at least as well as rounding at the starting scale (the
// first factor) does.
func TestSearchScales(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range []Method{RTN, GPTQ, GPFQ} {
		for _, plus := range []bool{false, true} {
			k, outC := 96, 4
			x, xf := correlated(rng, 400, k)
			st := NewStats(k)
			if err := st.Add(x, xf, 400); err != nil {
				t.Fatal(err)
			}
			w := make([]float32, outC*k)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			b := Budget{L1: accum.A2QBudget(12, 8, false)}
			if plus {
				b = Budget{Half: accum.A2QPlusBudget(12, 8) / 2, Balanced: true}
			}
			l := Layer{Name: "search", W: w, OutC: outC, K: k, Scale: make([]float32, outC), Bits: 8, Budget: b}
			for c := range l.Scale {
				l.Scale[c] = 1
			}
			q, err := SearchScales(&l, m, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := withinBudget(q, k, 8, b); err != nil {
				t.Fatalf("%s plus=%v: %v", m, plus, err)
			}
			errAt := func(q []int32, scale []float32) float64 {
				e := make([]float64, k)
				var total float64
				for c := 0; c < outC; c++ {
					for i := range e {
						e[i] = float64(w[c*k+i]) - float64(scale[c])*float64(q[c*k+i])
					}
					total += quadratic(st.H, e)
				}
				return total
			}
			got := errAt(q, l.Scale)
			// The starting scales, rounded by the same method.
			start := Layer{Name: "start", W: w, OutC: outC, K: k, Scale: make([]float32, outC), Bits: 8, Budget: b}
			for c := 0; c < outC; c++ {
				var mx, l1 float64
				for _, v := range w[c*k : (c+1)*k] {
					mx, l1 = max(mx, math.Abs(float64(v))), l1+math.Abs(float64(v))
				}
				bl1 := b.L1 + 2*b.Half
				start.Scale[c] = float32(max(mx/127, l1/bl1) * ScaleFactors[0])
			}
			q0, err := Quantize(start, m, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if want := errAt(q0, start.Scale); got > want*(1+1e-9) {
				t.Errorf("%s plus=%v: search error %g above the starting scale's %g", m, plus, got, want)
			}
		}
	}
}
