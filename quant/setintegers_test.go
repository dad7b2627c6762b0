package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSetIntegersRoundTrip writes random integers within each quantizer's
// budget and checks that the quantizer then computes exactly them and their
// scales.
func TestSetIntegersRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		mode         Mode
		m, n, p, in  int
		out          int
		signed, full bool // full: channels at the budget
	}{
		{A2Q, 8, 8, 16, 64, 8, false, false},
		{A2Q, 8, 8, 16, 64, 8, false, true},
		{A2Q, 4, 4, 12, 300, 6, true, true},
		{A2QPlus, 8, 8, 16, 64, 8, false, false},
		{A2QPlus, 8, 8, 14, 288, 8, false, true},
		{A2QPlus, 16, 8, 32, 50, 4, false, true},
		{Baseline, 8, 8, 32, 40, 5, false, false},
	} {
		rng := rand.New(rand.NewPCG(uint64(tt.in), uint64(tt.p)))
		l, err := NewLinear("fc", tt.in, tt.out, true, LayerConfig{Mode: tt.mode, WeightBits: tt.m, ActBits: tt.n, AccBits: tt.p}, tt.signed, rng)
		if err != nil {
			t.Fatal(err)
		}
		w := l.W
		cout, k := w.Channels()
		qmax := float64(w.QMax())
		tb := w.Budget()
		for trial := 0; trial < 20; trial++ {
			q := make([]int32, cout*k)
			log2s := make([]float32, cout)
			for c := 0; c < cout; c++ {
				log2s[c] = float32(-12 + 8*rng.Float64())
				// A random centred direction scaled to a random share of
				// the budget (all of it with full), truncated: the shape of
				// what ptq produces.
				x := make([]float64, k)
				var mu, l1 float64
				for i := range x {
					x[i] = rng.NormFloat64()
					mu += x[i] / float64(k)
				}
				for i := range x {
					if tt.mode == A2QPlus {
						x[i] -= mu
					}
					l1 += math.Abs(x[i])
				}
				r := tb * rng.Float64()
				if tt.full {
					r = tb
				}
				mx := 0.0
				for i := range x {
					if tt.mode == Baseline {
						continue
					}
					x[i] *= r / l1
					mx = max(mx, math.Abs(x[i]))
				}
				if tt.mode == Baseline {
					for i := range x {
						mx = max(mx, math.Abs(x[i]))
					}
					for i := range x {
						x[i] = math.Round(x[i] / mx * qmax)
					}
				}
				for i := range x {
					q[c*k+i] = int32(math.Trunc(max(-qmax, min(qmax, x[i]))))
				}
			}
			if trial == 0 {
				clear(q[:k]) // a dead channel
				if tt.mode == Baseline {
					log2s[0] = 0
				}
			}
			if err := w.SetIntegers(q, log2s); err != nil {
				t.Fatalf("%s M%d P%d trial %d: %v", tt.mode, tt.m, tt.p, trial, err)
			}
			got, gs := w.IntegerWeights()
			if !slices.Equal(got, q) {
				t.Fatalf("%s M%d P%d trial %d: integers differ", tt.mode, tt.m, tt.p, trial)
			}
			if tt.mode != Baseline && !slices.Equal(gs, log2s) {
				t.Fatalf("%s trial %d: scales %v, want %v", tt.mode, trial, gs, log2s)
			}
		}
	}
}

// TestSetIntegersRefuses checks integers the quantizer cannot produce.
func TestSetIntegersRefuses(t *testing.T) {
	mk := func(mode Mode) *WeightQuant {
		l, err := NewLinear("fc", 16, 1, false, LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16}, false, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		return l.W
	}
	fill := func(v int32) []int32 {
		q := make([]int32, 16)
		for i := range q {
			q[i] = v
		}
		return q
	}
	for _, tt := range []struct {
		name string
		mode Mode
		q    []int32
	}{
		{"over M bits", A2Q, append(fill(0)[:15], 200)},
		{"over the L1 budget", A2Q, fill(20)},
		{"over half the budget", A2QPlus, append(fill(-20)[:8], fill(20)[:8]...)},
		{"not zero-sum", A2QPlus, fill(1)},
		{"baseline without qmax", Baseline, append(fill(0)[:15], 5)},
		{"wrong length", A2Q, fill(1)[:3]},
	} {
		if err := mk(tt.mode).SetIntegers(tt.q, []float32{-8}); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
