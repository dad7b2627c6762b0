package ptq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestSetIntegersRoundTrip rounds quantized layers, tiled and untiled, the
// way the PTQ driver does (the budget from quant.WeightQuant.SettableBudget
// in tiles of WeightQuant.Tile, A2Q+ balanced and centred per tile), writes
// the integers into the layer's quantizer with SetIntegers and checks that
// it then computes exactly them, at the chosen scales, and that the layer
// is certified at P per tile (accum.TiledBits).
func TestSetIntegersRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		mode       quant.Mode
		k, tile    int
		m, n, p    int
		wantTile   int
		inSigned   bool
		shiftFloat float32 // added to the float weights: tiles not centred
	}{
		{quant.A2Q, 100, 32, 8, 8, 14, 32, false, 0},
		{quant.A2Q, 288, 64, 4, 4, 11, 64, true, 0.02},
		{quant.A2QPlus, 288, 64, 8, 8, 16, 64, false, 0.05},
		{quant.A2QPlus, 50, 7, 4, 4, 8, 7, false, 0},
		{quant.A2QPlus, 40, 40, 6, 6, 13, 0, false, 0.05}, // Tile ≥ K: one stage
		{quant.A2Q, 64, 0, 8, 8, 16, 0, false, 0},
	} {
		for _, method := range methods {
			name := fmt.Sprintf("%s K %d tile %d %s", tc.mode, tc.k, tc.tile, method)
			rng := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.p)))
			const outC = 6
			l, err := quant.NewLinear("fc", tc.k, outC, true, quant.LayerConfig{Mode: tc.mode, WeightBits: tc.m, ActBits: tc.n, AccBits: tc.p, Tile: tc.tile}, tc.inSigned, rng)
			if err != nil {
				t.Fatal(err)
			}
			w := l.W
			for i := range w.V.Value.Data {
				w.V.Value.Data[i] += tc.shiftFloat
			}
			w.InitFromWeights(true)
			cout, k := w.Channels()
			if w.Tile() != tc.wantTile {
				t.Fatalf("%s: Tile() = %d, want %d", name, w.Tile(), tc.wantTile)
			}
			_, log2s := w.Integers()
			pl := Layer{Name: l.Name, W: make([]float32, cout*k), OutC: cout, K: k, Scale: make([]float32, cout), Bits: w.Bits}
			centre := quant.PlainCentring(k, w.Tile())
			for c := 0; c < cout; c++ {
				src := w.V.Value.Data[c*k : (c+1)*k]
				if tc.mode == quant.A2QPlus {
					centre.Centre(pl.W[c*k:(c+1)*k], src, nil)
				} else {
					copy(pl.W[c*k:(c+1)*k], src)
				}
				pl.Scale[c] = quant.Exp2(log2s[c])
			}
			// The driver's call.
			switch l1, half := w.SettableBudget(); tc.mode {
			case quant.A2Q:
				pl.Budget = Budget{L1: l1, Tile: w.Tile()}
			case quant.A2QPlus:
				pl.Budget = Budget{Half: half, Balanced: true, Tile: w.Tile()}
			}
			var q []int32
			if method == RTN {
				q, err = Quantize(pl, method, nil, Options{})
			} else {
				rows := 4 * k
				x, xf := correlated(rng, rows, k)
				st := NewStats(k)
				if err := st.Add(x, xf, rows); err != nil {
					t.Fatal(err)
				}
				q, err = SearchScales(&pl, method, st, Options{})
				for c, s := range pl.Scale {
					log2s[c] = float32(math.Log2(float64(s)))
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// The budget must bind somewhere for the test to mean anything.
			var use float64
			for c := 0; c < cout; c++ {
				for t := 0; t < pl.Budget.tiles(k); t++ {
					lo, hi := t*pl.Budget.Tile, min(k, (t+1)*pl.Budget.Tile)
					if pl.Budget.Tile == 0 {
						lo, hi = 0, k
					}
					var pos, neg int64
					for _, v := range q[c*k+lo : c*k+hi] {
						pos, neg = pos+max(int64(v), 0), neg+max(-int64(v), 0)
					}
					use = max(use, float64(pos+neg)/max(pl.Budget.L1, 2*pl.Budget.Half))
				}
			}
			if use < 0.5 {
				t.Fatalf("%s: no tile uses more than %.2f of its budget: the test does not exercise the budget", name, use)
			}
			if err := w.SetIntegers(q, log2s); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, gs := w.IntegerWeights()
			if !slices.Equal(got, q) || !slices.Equal(gs, log2s) {
				t.Fatalf("%s: the quantizer does not compute the integers and scales written", name)
			}
			tile := w.Tile()
			if tile == 0 {
				tile = k
			}
			if inner, _ := accum.TiledBits(got, cout, k, tile, tc.n, tc.inSigned); inner > tc.p {
				t.Errorf("%s: inner accumulator %d bits, above P = %d", name, inner, tc.p)
			}
		}
	}
}
