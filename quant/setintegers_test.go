package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSetIntegersRoundTrip writes random integers within each quantizer's
// budget (per tile in a tiled layer) and checks that the quantizer then
// computes exactly them and their scales.
func TestSetIntegersRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		mode         Mode
		m, n, p, in  int
		out          int
		signed, full bool // full: channels (tiles) at the budget
		tile         int
	}{
		{A2Q, 8, 8, 16, 64, 8, false, false, 0},
		{A2Q, 8, 8, 16, 64, 8, false, true, 0},
		{A2Q, 4, 4, 12, 300, 6, true, true, 0},
		{A2QPlus, 8, 8, 16, 64, 8, false, false, 0},
		{A2QPlus, 8, 8, 14, 288, 8, false, true, 0},
		{A2QPlus, 16, 8, 32, 50, 4, false, true, 0},
		{Baseline, 8, 8, 32, 40, 5, false, false, 0},
		{A2Q, 8, 8, 16, 100, 8, false, true, 32},
		{A2Q, 4, 4, 12, 300, 6, true, false, 64},
		{A2QPlus, 8, 8, 14, 288, 8, false, true, 64},
		{A2QPlus, 8, 8, 16, 100, 8, false, false, 7},
		{A2QPlus, 16, 8, 32, 50, 4, false, true, 16},
		{Baseline, 8, 8, 32, 40, 5, false, false, 16},
	} {
		rng := rand.New(rand.NewPCG(uint64(tt.in), uint64(tt.p)))
		l, err := NewLinear("fc", tt.in, tt.out, true, LayerConfig{Mode: tt.mode, WeightBits: tt.m, ActBits: tt.n, AccBits: tt.p, Tile: tt.tile}, tt.signed, rng)
		if err != nil {
			t.Fatal(err)
		}
		w := l.W
		cout, k := w.Channels()
		qmax := float64(w.QMax())
		tb := w.Budget()
		if w.Tile() != tt.tile {
			t.Fatalf("Tile() = %d, want %d", w.Tile(), tt.tile)
		}
		tile := tt.tile
		if tile == 0 {
			tile = k
		}
		for trial := 0; trial < 20; trial++ {
			q := make([]int32, cout*k)
			log2s := make([]float32, cout)
			for c := 0; c < cout; c++ {
				log2s[c] = float32(-12 + 8*rng.Float64())
				for lo := 0; lo < k; lo += tile {
					randomTile(rng, tt.mode, tt.full, tb, qmax, q[c*k+lo:c*k+min(lo+tile, k)])
				}
			}
			if trial == 0 {
				clear(q[:k]) // a dead channel
				if tt.mode == Baseline {
					log2s[0] = 0
				}
			}
			if err := w.SetIntegers(q, log2s); err != nil {
				t.Fatalf("%s M%d P%d tile %d trial %d: %v", tt.mode, tt.m, tt.p, tt.tile, trial, err)
			}
			got, gs := w.IntegerWeights()
			if !slices.Equal(got, q) {
				t.Fatalf("%s M%d P%d tile %d trial %d: integers differ", tt.mode, tt.m, tt.p, tt.tile, trial)
			}
			if tt.mode != Baseline && !slices.Equal(gs, log2s) {
				t.Fatalf("%s tile %d trial %d: scales %v, want %v", tt.mode, tt.tile, trial, gs, log2s)
			}
		}
	}
}

// randomTile fills q with a random direction (centred for A2Q+) scaled to
// a random share of the budget tb (all of it with full), truncated: the
// shape of what ptq produces. A baseline tile is scaled to ±qmax instead.
func randomTile(rng *rand.Rand, mode Mode, full bool, tb, qmax float64, q []int32) {
	k := len(q)
	x := make([]float64, k)
	var mu, l1 float64
	for i := range x {
		x[i] = rng.NormFloat64()
		mu += x[i] / float64(k)
	}
	for i := range x {
		if mode == A2QPlus {
			x[i] -= mu
		}
		l1 += math.Abs(x[i])
	}
	r := tb * rng.Float64()
	if full {
		r = tb
	}
	if mode == Baseline {
		var mx float64
		for i := range x {
			mx = max(mx, math.Abs(x[i]))
		}
		for i := range x {
			x[i] = math.Round(x[i] / mx * qmax)
		}
	} else {
		for i := range x {
			x[i] *= r / l1
		}
	}
	for i := range x {
		q[i] = int32(math.Trunc(max(-qmax, min(qmax, x[i]))))
	}
}

// TestSetIntegersRefuses checks integers the quantizer cannot produce (and
// that tiling changes what it can: per-tile budgets and zero sums).
func TestSetIntegersRefuses(t *testing.T) {
	mk := func(mode Mode, tile int) *WeightQuant {
		l, err := NewLinear("fc", 16, 1, false, LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16, Tile: tile}, false, rand.New(rand.NewPCG(1, 2)))
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
	alt := func(a int32) []int32 { // a, −a, a, −a, …
		q := fill(a)
		for i := 1; i < len(q); i += 2 {
			q[i] = -a
		}
		return q
	}
	for _, tt := range []struct {
		name string
		mode Mode
		tile int
		q    []int32
		ok   bool
	}{
		{"over M bits", A2Q, 0, append(fill(0)[:15], 200), false},
		{"over the L1 budget", A2Q, 0, fill(20), false},
		{"over half the budget", A2QPlus, 0, append(fill(-20)[:8], fill(20)[:8]...), false},
		{"not zero-sum", A2QPlus, 0, fill(1), false},
		{"baseline without qmax", Baseline, 0, append(fill(0)[:15], 5), false},
		{"wrong length", A2Q, 0, fill(1)[:3], false},
		{"a tile over the L1 budget", A2Q, 8, append(fill(17)[:8], fill(0)[:8]...), false},
		{"tiles within the L1 budget, the channel over", A2Q, 8, fill(15), true},
		{"tiles over half the budget", A2QPlus, 8, alt(40), false},
		{"tiles within half the budget, the channel over", A2QPlus, 8, alt(30), true},
		{"tiles not zero-sum", A2QPlus, 8, append(fill(1)[:8], fill(-1)[:8]...), false},
		{"the same integers untiled: zero-sum", A2QPlus, 0, append(fill(1)[:8], fill(-1)[:8]...), true},
	} {
		w := mk(tt.mode, tt.tile)
		err := w.SetIntegers(tt.q, []float32{-8})
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.ok:
			if got, _ := w.IntegerWeights(); !slices.Equal(got, tt.q) {
				t.Errorf("%s: the quantizer computes %v", tt.name, got)
			}
		case err == nil:
			t.Errorf("%s: no error", tt.name)
		}
	}
}
