package hw

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
)

func TestEstimateLUTHandComputed(t *testing.T) {
	// Every want below was worked out by hand from the formula in docs/MATH.md (“Hardware cost”).
	tests := []struct {
		name string
		u    MVU
		want Estimate
	}{
		{
			name: "conv2-like P16",
			u:    MVU{MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: 16, WeightsInLUTRAM: true},
			// M+N=16, ceil(16/6)=3: mult=8·5·16; tree=16·15; TMEM=16; WMEM=576 → 9 words of 64.
			want: Estimate{LUT: 42450.4, Mult: 640, AdderTree: 240, Acc: 16, Thr: 4080, Comp: 4080, WMem: 2304},
		},
		{
			name: "conv2-like P32",
			u:    MVU{MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: 32, WeightsInLUTRAM: true},
			want: Estimate{LUT: 78424.8, Mult: 640, AdderTree: 240, Acc: 32, Thr: 8160, Comp: 8160, WMem: 2304},
		},
		{
			name: "DSP multipliers, BRAM weights, no thresholds",
			u:    MVU{MW: 16, MH: 10, PE: 2, SIMD: 4, WeightBits: 4, InputBits: 4, OutputBits: 0, AccBits: 12, MultOnDSP: true},
			want: Estimate{LUT: 449.6, AdderTree: 56, Acc: 12},
		},
		{
			name: "narrow operands, fully folded",
			u:    MVU{MW: 1600, MH: 10, PE: 1, SIMD: 1, WeightBits: 2, InputBits: 3, OutputBits: 1, AccBits: 20, WeightsInLUTRAM: true},
			// M+N=5 → one LUT level: mult=5; WMEM=16000 → 250 words.
			want: Estimate{LUT: 877, Mult: 5, AdderTree: 5, Acc: 20, Thr: 20, Comp: 20, WMem: 500},
		},
		{
			name: "deep threshold memory",
			u:    MVU{MW: 64, MH: 256, PE: 2, SIMD: 16, WeightBits: 8, InputBits: 8, OutputBits: 2, AccBits: 16},
			// TMEM=128 → two LUTRAM words per threshold.
			want: Estimate{LUT: 4559.2, Mult: 1280, AdderTree: 496, Acc: 16, Thr: 96, Comp: 48},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EstimateLUT(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			if !estimatesClose(got, tt.want) {
				t.Errorf("EstimateLUT = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func estimatesClose(a, b Estimate) bool {
	x := []float64{a.LUT, a.Mult, a.AdderTree, a.Acc, a.Thr, a.Comp, a.WMem}
	y := []float64{b.LUT, b.Mult, b.AdderTree, b.Acc, b.Thr, b.Comp, b.WMem}
	for i := range x {
		if math.Abs(x[i]-y[i]) > 1e-9*math.Max(1, math.Abs(y[i])) {
			return false
		}
	}
	return true
}

func TestEstimateLUTMonotoneInP(t *testing.T) {
	base := MVU{MW: 288, MH: 64, PE: 8, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 4, AccBits: 8}
	prev := 0.0
	for p := 8; p <= 32; p++ {
		u := base
		u.AccBits = p
		e, err := EstimateLUT(u)
		if err != nil {
			t.Fatal(err)
		}
		if e.LUT <= prev {
			t.Fatalf("LUT(P=%d) = %g, not above LUT(P=%d) = %g", p, e.LUT, p-1, prev)
		}
		prev = e.LUT
	}
}

func TestEstimateLUTReductionP16vsP32(t *testing.T) {
	u := MVU{MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: 16, WeightsInLUTRAM: true}
	e16, err := EstimateLUT(u)
	if err != nil {
		t.Fatal(err)
	}
	u.AccBits = 32
	e32, err := EstimateLUT(u)
	if err != nil {
		t.Fatal(err)
	}
	// Threshold storage and comparators scale linearly with P: they must halve exactly.
	if e32.Thr != 2*e16.Thr || e32.Comp != 2*e16.Comp || e32.Acc != 2*e16.Acc {
		t.Errorf("P-dependent terms do not scale with P: P16 %+v, P32 %+v", e16, e32)
	}
	if e16.Mult != e32.Mult || e16.AdderTree != e32.AdderTree || e16.WMem != e32.WMem {
		t.Errorf("P-independent terms changed with P: P16 %+v, P32 %+v", e16, e32)
	}
	if r := e32.LUT / e16.LUT; r < 1.5 {
		t.Errorf("P=32/P=16 LUT ratio %.3f, want a visible reduction (≥ 1.5)", r)
	}
}

func TestEstimateLUTErrors(t *testing.T) {
	ok := MVU{Name: "conv2", MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: 16}
	tests := []struct {
		name   string
		mutate func(*MVU)
		want   string
	}{
		{"PE not dividing MH", func(u *MVU) { u.PE = 5 }, "PE=5"},
		{"zero PE", func(u *MVU) { u.PE = 0 }, "PE=0"},
		{"SIMD not dividing MW", func(u *MVU) { u.SIMD = 7 }, "SIMD=7"},
		{"zero size", func(u *MVU) { u.MW = 0 }, "matrix size"},
		{"zero weight bits", func(u *MVU) { u.WeightBits = 0 }, "weight bits"},
		{"huge input bits", func(u *MVU) { u.InputBits = 33 }, "input bits"},
		{"negative output bits", func(u *MVU) { u.OutputBits = -1 }, "output bits"},
		{"huge output bits", func(u *MVU) { u.OutputBits = 17 }, "output bits"},
		{"zero acc bits", func(u *MVU) { u.AccBits = 0 }, "accumulator width P = 0 outside"},
		{"acc bits over 64", func(u *MVU) { u.AccBits = 65 }, "accumulator width P = 65 outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ok
			tt.mutate(&u)
			_, err := EstimateLUT(u)
			if err == nil {
				t.Fatalf("EstimateLUT(%+v) succeeded, want error", u)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "conv2") {
				t.Errorf("error %q does not name %q and the layer", err, tt.want)
			}
		})
	}
	if _, err := EstimateLUT(ok); err != nil {
		t.Errorf("valid unit rejected: %v", err)
	}
}

func TestEstimateAll(t *testing.T) {
	a := MVU{Name: "a", MW: 16, MH: 10, PE: 2, SIMD: 4, WeightBits: 4, InputBits: 4, AccBits: 12, MultOnDSP: true}
	b := MVU{Name: "b", MW: 1600, MH: 10, PE: 1, SIMD: 1, WeightBits: 2, InputBits: 3, OutputBits: 1, AccBits: 20, WeightsInLUTRAM: true}
	per, total, err := EstimateAll([]MVU{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != 2 || math.Abs(total.LUT-(449.6+877)) > 1e-9 || total.WMem != 500 {
		t.Errorf("EstimateAll = %+v, total %+v", per, total)
	}
	b.SIMD = 3
	if _, _, err := EstimateAll([]MVU{a, b}); err == nil || !strings.Contains(err.Error(), "layer b") {
		t.Errorf("EstimateAll with a bad unit: err = %v, want one naming layer b", err)
	}
}

func TestDefaultFolding(t *testing.T) {
	tests := []struct {
		mw, mh, peCap, simdCap int
		pe, simd               int
	}{
		{288, 64, 16, 8, 16, 8},
		{288, 64, 5, 5, 4, 4},  // largest divisors ≤ 5: 4 of 64, 4 of 288
		{1600, 10, 4, 7, 2, 5}, // 10 → 2; 1600 = 2^6·5^2 → 5
		{13, 7, 4, 4, 1, 1},    // primes larger than the caps
		{9, 9, 100, 100, 9, 9}, // caps above the size
		{288, 64, 0, -3, 1, 1}, // caps below 1
		{0, -1, 8, 8, 1, 1},    // sizes below 1
		{576, 128, 32, 32, 32, 32},
	}
	for _, tt := range tests {
		pe, simd := DefaultFolding(tt.mw, tt.mh, tt.peCap, tt.simdCap)
		if pe != tt.pe || simd != tt.simd {
			t.Errorf("DefaultFolding(%d, %d, %d, %d) = %d, %d; want %d, %d",
				tt.mw, tt.mh, tt.peCap, tt.simdCap, pe, simd, tt.pe, tt.simd)
		}
		if tt.mh > 0 && tt.mh%pe != 0 || tt.mw > 0 && tt.mw%simd != 0 {
			t.Errorf("DefaultFolding(%d, %d, ...) = %d, %d: not divisors", tt.mw, tt.mh, pe, simd)
		}
	}
}

// TestEstimateLUTTiled checks the two-stage unit: a tile of MW or more terms is the
// one-stage unit; a tiled unit's accumulators are the inner P_I plus the outer
// accum.OuterBits(P_I, MW, Tile) bits, its thresholds and comparators P_O bits wide, the rest
// of the unit unchanged; and the errors of a bad tile.
func TestEstimateLUTTiled(t *testing.T) {
	base := MVU{Name: "conv2", MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: 16, WeightsInLUTRAM: true}
	one, err := EstimateLUT(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range []int{0, 288, 289, 1 << 20} {
		u := base
		u.Tile = tile
		e, err := EstimateLUT(u)
		if err != nil || e != one || u.Tiled() || u.OuterAccBits() != 0 {
			t.Errorf("tile %d of K = 288: %+v (%v), want the one-stage %+v", tile, e, err, one)
		}
	}
	// Hand-computed from the formula: 5 tiles of 64, P_O = 16 + 3 = 19; acc = 16 + 19;
	// thr = comp = 255·19; LUT = 300 + 4.4·(640 + 240 + 35 + 4845 + 4845) + 2304.
	u := base
	u.Tile = 64
	e, err := EstimateLUT(u)
	if err != nil {
		t.Fatal(err)
	}
	want := Estimate{LUT: 49266.0, Mult: 640, AdderTree: 240, Acc: 35, Thr: 4845, Comp: 4845, WMem: 2304}
	if !estimatesClose(e, want) || u.OuterAccBits() != 19 {
		t.Errorf("tiled unit: %+v (P_O %d), want %+v (P_O 19)", e, u.OuterAccBits(), want)
	}
	// Every P-independent term is the one-stage unit's.
	if e.Mult != one.Mult || e.AdderTree != one.AdderTree || e.WMem != one.WMem {
		t.Errorf("tiling changed a P-independent term: %+v, one stage %+v", e, one)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*MVU)
		want   string
	}{
		{"negative tile", func(u *MVU) { u.Tile = -1 }, "tile of -1 terms"},
		{"SIMD not dividing the tile", func(u *MVU) { u.Tile = 36 }, "SIMD=8 must divide the tile of 36"},
	} {
		u := base
		tc.mutate(&u)
		if _, err := EstimateLUT(u); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "conv2") {
			t.Errorf("%s: err = %v, want one naming conv2 and %q", tc.name, err, tc.want)
		}
	}
}

// TestEstimateLUTTiledAgainstOneStage prices random layers both ways at their certified
// widths: in tiles with inner accumulators of the certificate's P_I, and in one stage at the
// exact width P_E. The inner accumulator is narrower (P_I ≤ P_E), but the outer one is at
// least P_E wide, so the two-stage unit always has more accumulator LUTs (by at least P_I)
// and never fewer in total: this model gives tiling no LUT saving for the same weights.
func TestEstimateLUTTiledAgainstOneStage(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	narrower := 0
	for trial := range 200 {
		k := 8 * (2 + rng.IntN(60))
		tile := 8 * (1 + rng.IntN(k/8-1))
		oc, m, n := 4, 2+rng.IntN(7), 1+rng.IntN(8)
		wm := int64(1)<<(m-1) - 1
		w := make([]int32, oc*k)
		for i := range w {
			w[i] = int32(rng.Int64N(2*wm+1) - wm)
		}
		c, err := accum.Certify(accum.Layer{Name: "l", Weights: w, OutChannels: oc, K: k, InputBits: n, WeightBits: m, Tile: tile})
		if err != nil {
			t.Fatal(err)
		}
		one := MVU{Name: "l", MW: k, MH: oc, PE: 2, SIMD: 8, WeightBits: m, InputBits: n, OutputBits: 4, AccBits: max(c.AccBitsExact, 2)}
		two := one
		two.AccBits, two.Tile = max(c.AccBitsInner, 2), tile
		e1, err := EstimateLUT(one)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := EstimateLUT(two)
		if err != nil {
			t.Fatal(err)
		}
		if two.OuterAccBits() < one.AccBits || e2.Acc < e1.Acc+float64(two.AccBits) || e2.LUT < e1.LUT {
			t.Fatalf("trial %d (K = %d, tile %d): P_I %d, P_O %d, P_E %d: two stages %+v, one %+v",
				trial, k, tile, two.AccBits, two.OuterAccBits(), one.AccBits, e2, e1)
		}
		if two.AccBits < one.AccBits {
			narrower++
		}
	}
	if narrower == 0 {
		t.Error("no layer had a narrower inner accumulator: the comparison was vacuous")
	}
}
