package accum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// refExactBits computes the exact accumulator width of a layer with
// math/big, term by term: each weight meets the input extreme that grows
// the sum in each direction.
func refExactBits(w []int32, oc, k, n int, signed bool) int {
	lo, hi := big.NewInt(0), big.NewInt(0)
	ilo, ihi := refInputRange(n, signed)
	if n == 64 {
		panic("unsupported")
	}
	bl, bh := big.NewInt(ilo), big.NewInt(ihi)
	for c := range oc {
		cl, ch := new(big.Int), new(big.Int)
		for _, q := range w[c*k : (c+1)*k] {
			bq := big.NewInt(int64(q))
			a, b := new(big.Int).Mul(bq, bl), new(big.Int).Mul(bq, bh)
			if a.Cmp(b) > 0 {
				a, b = b, a
			}
			cl.Add(cl, a)
			ch.Add(ch, b)
		}
		if cl.Cmp(lo) < 0 {
			lo = cl
		}
		if ch.Cmp(hi) > 0 {
			hi = ch
		}
	}
	return bigRangeBitsRef(lo, hi)
}

// bigRangeBitsRef is the smallest P with −2^(P−1) ≤ lo and hi ≤ 2^(P−1) − 1,
// by search.
func bigRangeBitsRef(lo, hi *big.Int) int {
	for p := 1; ; p++ {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(p-1))
		if new(big.Int).Neg(lim).Cmp(lo) <= 0 && new(big.Int).Sub(lim, big.NewInt(1)).Cmp(hi) >= 0 {
			return p
		}
	}
}

func TestExactBitsWide(t *testing.T) {
	rng := newRand(3)
	const wm = 1<<31 - 1
	tests := []struct {
		name   string
		w      []int32
		oc, k  int
		n      int
		signed bool
	}{
		{"max unsigned K=1", []int32{wm}, 1, 1, 32, false},
		{"max unsigned K=4", []int32{wm, wm, wm, wm}, 1, 4, 32, false},
		{"min signed K=4", []int32{-wm, -wm, -wm, -wm}, 1, 4, 32, true},
		{"mixed signed", []int32{wm, -wm, wm, -wm, 1, 2}, 2, 3, 32, true},
		{"int32 min weight", []int32{math.MinInt32, math.MinInt32}, 1, 2, 32, true},
	}
	for range 50 {
		k := 1 + rng.IntN(200)
		oc := 1 + rng.IntN(4)
		w := make([]int32, oc*k)
		for i := range w {
			w[i] = int32(rng.Uint32())
		}
		tests = append(tests, struct {
			name   string
			w      []int32
			oc, k  int
			n      int
			signed bool
		}{"random wide", w, oc, k, 20 + rng.IntN(13), rng.IntN(2) == 1})
	}
	for _, tt := range tests {
		want := refExactBits(tt.w, tt.oc, tt.k, tt.n, tt.signed)
		if got := ExactBits(tt.w, tt.oc, tt.k, tt.n, tt.signed); got != want {
			t.Errorf("%s: ExactBits = %d, want %d", tt.name, got, want)
		}
		r := ExactRange(tt.w, tt.oc, tt.k, tt.n, tt.signed)
		if want <= 64 {
			if got := RangeBits(r); got != want {
				t.Errorf("%s: RangeBits(ExactRange) = %d, want %d", tt.name, got, want)
			}
		} else if r.Min != math.MinInt64 && r.Max != math.MaxInt64 {
			t.Errorf("%s: %d-bit range not clamped: %+v", tt.name, want, r)
		}
	}
}

func TestTiledBits(t *testing.T) {
	rng := newRand(4)
	for trial := range 200 {
		k := 1 + rng.IntN(100)
		oc := 1 + rng.IntN(5)
		n := 1 + rng.IntN(8)
		signed := rng.IntN(2) == 1
		m := 2 + rng.IntN(7)
		wm := int64(1)<<(m-1) - 1
		w := make([]int32, oc*k)
		for i := range w {
			w[i] = int32(rng.Int64N(2*wm+1) - wm)
		}
		full := ExactBits(w, oc, k, n, signed)
		prevInner := map[int]int{}
		for tile := 1; tile <= k+2; tile++ {
			inner, outer := TiledBits(w, oc, k, tile, n, signed)
			// Independent inner width: certify every tile as its own layer.
			want := 1
			for c := range oc {
				for s := 0; s < k; s += tile {
					e := min(s+tile, k)
					want = max(want, refExactBits(w[c*k+s:c*k+e], 1, e-s, n, signed))
				}
			}
			if inner != want {
				t.Fatalf("trial %d tile %d: inner = %d, want %d", trial, tile, inner, want)
			}
			if inner > full {
				t.Fatalf("trial %d tile %d: inner %d > full exact %d", trial, tile, inner, full)
			}
			tiles := (k + tile - 1) / tile
			extra := 0
			for 1<<extra < tiles {
				extra++
			}
			if outer != inner+extra {
				t.Fatalf("trial %d tile %d: outer = %d, want inner %d + ceil(log2 %d) = %d", trial, tile, outer, inner, tiles, inner+extra)
			}
			if outer < full {
				t.Fatalf("trial %d tile %d: outer %d < full exact %d", trial, tile, outer, full)
			}
			if tile >= k && (inner != full || outer != full) {
				t.Fatalf("trial %d tile %d ≥ K: (%d, %d), want (%d, %d)", trial, tile, inner, outer, full, full)
			}
			// Tiles of 2t terms are unions of tiles of t terms.
			if p, ok := prevInner[tile]; ok && inner < p {
				t.Fatalf("trial %d: inner(%d) = %d < inner(%d) = %d", trial, tile, inner, tile/2, p)
			}
			prevInner[2*tile] = inner
		}
	}
}

// designLayer is the conv2 layer of the report example in docs/CLI.md (“Report fields”): K =
// 288, 8-bit unsigned inputs, a channel with q⁺ = 120 and one with q⁻ = 101.
func designLayer() Layer {
	const k = 288
	w := make([]int32, 2*k)
	for i := range 40 {
		w[i] = 3 // q⁺ = 120, l1 = 120
	}
	for i := range 101 {
		w[k+i] = -1 // q⁻ = 101
	}
	return Layer{Name: "conv2", Kind: "conv", Weights: w, OutChannels: 2, K: k,
		InputBits: 8, WeightBits: 8, TargetBits: 16, L1Bound: A2QBudget(16, 8, false)}
}

func TestCertifyDesignExample(t *testing.T) {
	c, err := Certify(designLayer())
	if err != nil {
		t.Fatal(err)
	}
	want := Certificate{Name: "conv2", Kind: "conv", K: 288, OutChannels: 2, InputBits: 8, WeightBits: 8,
		AccBitsTarget: 16, L1Max: 120, L1Bound: 32767.0 / 256,
		AccBitsDatatype: 25, AccBitsL1: 16, AccBitsExact: 16, AccMin: -25755, AccMax: 30600,
		AccBitsExactWithBias: 16, AccMinWithBias: -25755, AccMaxWithBias: 30600,
		Sparsity: float64(2*288-141) / float64(2*288), Certified: true}
	if c != want {
		t.Errorf("Certify =\n%#v\nwant\n%#v", c, want)
	}
}

func TestCertifyMatchesReference(t *testing.T) {
	rng := newRand(5)
	for trial := range 300 {
		n := 1 + rng.IntN(8)
		m := 2 + rng.IntN(8)
		signed := rng.IntN(2) == 1
		k := 1 + rng.IntN(50)
		oc := 1 + rng.IntN(6)
		wm := int64(1)<<(m-1) - 1
		w := make([]int32, oc*k)
		zeros := 0
		for i := range w {
			if rng.IntN(4) > 0 {
				w[i] = int32(rng.Int64N(2*wm+1) - wm)
			}
			if w[i] == 0 {
				zeros++
			}
		}
		zeroChs := 0
		if rng.IntN(3) == 0 { // zero one channel
			c := rng.IntN(oc)
			for i := range k {
				if w[c*k+i] != 0 {
					w[c*k+i] = 0
					zeros++
				}
			}
		}
		var bias []int64
		if rng.IntN(2) == 0 {
			bias = make([]int64, oc)
			for i := range bias {
				bias[i] = rng.Int64N(4001) - 2000
			}
		}
		target := 0
		if rng.IntN(4) > 0 {
			target = 2 + rng.IntN(20)
		}
		l := Layer{Name: "l", Kind: "linear", Weights: w, OutChannels: oc, K: k, InputBits: n,
			InputSigned: signed, WeightBits: m, TargetBits: target, Bias: bias}
		c, err := Certify(l)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}

		// Independent per-channel reference by enumeration of each term.
		lo, hi := refInputRange(n, signed)
		var l1Max int64
		accLo, accHi := int64(0), int64(0)
		bLo, bHi := int64(math.MaxInt64), int64(math.MinInt64)
		q := make([]int64, k)
		for ch := range oc {
			var l1 int64
			for i := range q {
				q[i] = int64(w[ch*k+i])
				l1 += max(q[i], -q[i])
			}
			if l1 == 0 {
				zeroChs++
			}
			l1Max = max(l1Max, l1)
			_, _, pLo, pHi := separable(q, lo, hi)
			accLo, accHi = min(accLo, pLo), max(accHi, pHi)
			// The bias is one more term that may or may not be in a partial sum.
			var b int64
			if bias != nil {
				b = bias[ch]
			}
			bLo, bHi = min(bLo, pLo+min(b, 0)), max(bHi, pHi+max(b, 0))
		}
		pex := bigRangeBitsRef(big.NewInt(accLo), big.NewInt(accHi))
		want := Certificate{Name: "l", Kind: "linear", K: k, OutChannels: oc, InputBits: n, InputSigned: signed,
			WeightBits: m, AccBitsTarget: target, L1Max: l1Max,
			AccBitsDatatype: DataTypeBits(k, n, signed, m), AccBitsL1: L1Bits(float64(l1Max), n, signed),
			AccBitsExact: pex, AccMin: accLo, AccMax: accHi,
			AccBitsExactWithBias: bigRangeBitsRef(big.NewInt(bLo), big.NewInt(bHi)),
			AccMinWithBias:       bLo, AccMaxWithBias: bHi,
			Sparsity: float64(zeros) / float64(oc*k), ZeroChannels: zeroChs,
			Certified: target > 0 && pex <= target}
		if c != want {
			t.Fatalf("trial %d: Certify =\n%#v\nwant\n%#v", trial, c, want)
		}
		if c.CertifiedWithBias() != (target > 0 && want.AccBitsExactWithBias <= target) {
			t.Fatalf("trial %d: CertifiedWithBias = %v", trial, c.CertifiedWithBias())
		}
	}
}

func TestCertifyWideBias(t *testing.T) {
	// A bias at the edge of int64 must not wrap around.
	l := Layer{Name: "b", Weights: []int32{1}, OutChannels: 1, K: 1, InputBits: 8, WeightBits: 8,
		Bias: []int64{math.MaxInt64}}
	c, err := Certify(l)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccMaxWithBias != math.MaxInt64 || c.AccBitsExactWithBias != 65 || c.AccMinWithBias != 0 {
		t.Errorf("with bias: [%d, %d], %d bits; want [0, MaxInt64] (clamped), 65 bits",
			c.AccMinWithBias, c.AccMaxWithBias, c.AccBitsExactWithBias)
	}
}

func TestCertifyErrors(t *testing.T) {
	ok := func() Layer {
		return Layer{Name: "conv3", Kind: "conv", Weights: []int32{1, -1, 0, 7, -7, 2}, OutChannels: 2, K: 3,
			InputBits: 4, WeightBits: 4, TargetBits: 12, Bias: []int64{1, 2}}
	}
	tests := []struct {
		name   string
		modify func(*Layer)
		field  string
		base   error
	}{
		{"N=0", func(l *Layer) { l.InputBits = 0 }, "input_bits", ErrBitWidth},
		{"N=33", func(l *Layer) { l.InputBits = 33 }, "input_bits", ErrBitWidth},
		{"M=0", func(l *Layer) { l.WeightBits = 0 }, "weight_bits", ErrBitWidth},
		{"M=33", func(l *Layer) { l.WeightBits = 33 }, "weight_bits", ErrBitWidth},
		{"P=1", func(l *Layer) { l.TargetBits = 1 }, "acc_bits_target", ErrBitWidth},
		{"P=65", func(l *Layer) { l.TargetBits = 65 }, "acc_bits_target", ErrBitWidth},
		{"P=-3", func(l *Layer) { l.TargetBits = -3 }, "acc_bits_target", ErrBitWidth},
		{"short weights", func(l *Layer) { l.Weights = l.Weights[:5] }, "weights", ErrShape},
		{"long weights", func(l *Layer) { l.Weights = append(l.Weights, 0) }, "weights", ErrShape},
		{"no channels", func(l *Layer) { l.OutChannels = 0 }, "out_channels", ErrShape},
		{"K=0", func(l *Layer) { l.K = 0 }, "k", ErrShape},
		{"bias length", func(l *Layer) { l.Bias = []int64{1} }, "bias", ErrShape},
		{"weight too large", func(l *Layer) { l.Weights[3] = 8 }, "channel 1, index 0", ErrWeightRange},
		{"weight too negative", func(l *Layer) { l.Weights[4] = -8 }, "channel 1, index 1", ErrWeightRange},
		{"wide-range weight", func(l *Layer) { l.WeightBits = 3 }, "weights", ErrWeightRange},
		{"L1 bound NaN", func(l *Layer) { l.L1Bound = math.NaN() }, "l1_bound", ErrValue},
		{"L1 bound negative", func(l *Layer) { l.L1Bound = -1 }, "l1_bound", ErrValue},
		{"L1 bound Inf", func(l *Layer) { l.L1Bound = math.Inf(1) }, "l1_bound", ErrValue},
		{"negative tile", func(l *Layer) { l.Tile = -2 }, "tile", ErrShape},
		{"tile of K", func(l *Layer) { l.Tile = 3 }, "tile", ErrShape},
		{"tile above K", func(l *Layer) { l.Tile = 64 }, "tile", ErrShape},
	}
	if _, err := Certify(ok()); err != nil {
		t.Fatalf("valid layer: %v", err)
	}
	for _, tt := range tests {
		l := ok()
		tt.modify(&l)
		_, err := Certify(l)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !errors.Is(err, tt.base) {
			t.Errorf("%s: error %q does not wrap %v", tt.name, err, tt.base)
		}
		if msg := err.Error(); !strings.Contains(msg, `"conv3"`) || !strings.Contains(msg, tt.field) {
			t.Errorf("%s: error %q does not name the layer and %q", tt.name, msg, tt.field)
		}
	}
}

// TestCertifyTiled checks a tiled certificate against TiledBits and
// OuterBits and against the same layer certified in one stage: every other
// field is the same, and Certified follows the inner width, through
// Certify and through WithTarget alike.
func TestCertifyTiled(t *testing.T) {
	rng := newRand(6)
	for trial := range 200 {
		n := 1 + rng.IntN(8)
		m := 2 + rng.IntN(7)
		signed := rng.IntN(2) == 1
		k := 2 + rng.IntN(80)
		oc := 1 + rng.IntN(4)
		wm := int64(1)<<(m-1) - 1
		w := make([]int32, oc*k)
		for i := range w {
			if rng.IntN(3) > 0 {
				w[i] = int32(rng.Int64N(2*wm+1) - wm)
			}
		}
		bias := make([]int64, oc)
		for i := range bias {
			bias[i] = rng.Int64N(2001) - 1000
		}
		tile := 1 + rng.IntN(k-1)
		target := 2 + rng.IntN(24)
		l := Layer{Name: "t", Kind: "conv", Weights: w, OutChannels: oc, K: k, InputBits: n, InputSigned: signed,
			WeightBits: m, TargetBits: target, Bias: bias}
		one, err := Certify(l)
		if err != nil {
			t.Fatal(err)
		}
		l.Tile = tile
		c, err := Certify(l)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		inner, outer := TiledBits(w, oc, k, tile, n, signed)
		if c.Tile != tile || c.AccBitsInner != inner || c.AccBitsOuter != outer || outer != OuterBits(inner, k, tile) {
			t.Fatalf("trial %d: tile %d, inner %d, outer %d; want %d, %d, %d", trial, c.Tile, c.AccBitsInner, c.AccBitsOuter, tile, inner, outer)
		}
		if c.Certified != (inner <= target) || c.NeededBits() != inner {
			t.Fatalf("trial %d: inner %d at P = %d: certified %v", trial, inner, target, c.Certified)
		}
		if c.OuterTargetBits() != OuterBits(target, k, tile) {
			t.Fatalf("trial %d: outer at P = %d: %d", trial, target, c.OuterTargetBits())
		}
		if c.CertifiedWithBias() != (inner <= target && c.AccBitsExactWithBias <= OuterBits(target, k, tile)) {
			t.Fatalf("trial %d: CertifiedWithBias = %v", trial, c.CertifiedWithBias())
		}
		for _, p := range []int{0, inner - 1, inner, inner + 1, one.AccBitsExact} {
			wt := c.WithTarget(p)
			if wt.Certified != (p > 0 && inner <= p) {
				t.Fatalf("trial %d: WithTarget(%d) of inner %d: certified %v", trial, p, inner, wt.Certified)
			}
			if p >= MinAccBits {
				l.TargetBits = p
				if again, err := Certify(l); err != nil || again != wt {
					t.Fatalf("trial %d: WithTarget(%d) = %+v, Certify at %d = %+v (%v)", trial, p, wt, p, again, err)
				}
			}
		}
		// Apart from the stages, the certificate is the one-stage one.
		d := c
		d.Tile, d.AccBitsInner, d.AccBitsOuter = 0, 0, 0
		if d.WithTarget(target) != one {
			t.Fatalf("trial %d: tiled certificate\n%+v\ndiffers from one stage\n%+v", trial, c, one)
		}
		if one.NeededBits() != one.AccBitsExact || one.Stages() != "" || one.OuterTargetBits() != 0 {
			t.Fatalf("trial %d: one stage: needed %d, stages %q", trial, one.NeededBits(), one.Stages())
		}
		dt, l1, ex := c.Bounds()
		if dt != DataTypeBits(tile, n, signed, m) || l1 != one.AccBitsL1 || ex != inner || !(ex <= l1 && l1 <= one.AccBitsDatatype) || ex > dt {
			t.Fatalf("trial %d: tiled bounds %d, %d, %d", trial, dt, l1, ex)
		}
		if dt, l1, ex := one.Bounds(); dt != one.AccBitsDatatype || l1 != one.AccBitsL1 || ex != one.AccBitsExact {
			t.Fatalf("trial %d: one-stage bounds %d, %d, %d", trial, dt, l1, ex)
		}
	}
}

func TestEffectiveTile(t *testing.T) {
	for _, tc := range []struct{ tile, k, want int }{
		{0, 10, 0}, {-4, 10, 0}, {1, 10, 1}, {9, 10, 9}, {10, 10, 0}, {11, 10, 0}, {1, 1, 0}, {64, 288, 64},
	} {
		if got := EffectiveTile(tc.tile, tc.k); got != tc.want {
			t.Errorf("EffectiveTile(%d, %d) = %d, want %d", tc.tile, tc.k, got, tc.want)
		}
	}
}

// TestWriteStages: one line per tiled certificate under a heading, nothing
// without one.
func TestWriteStages(t *testing.T) {
	one, err := Certify(designLayer())
	if err != nil {
		t.Fatal(err)
	}
	l := designLayer()
	l.Tile = 100
	tiled, err := Certify(l)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteStages(&b, []Certificate{one}); err != nil || b.Len() != 0 {
		t.Errorf("untiled: %q (%v)", b.String(), err)
	}
	if err := WriteStages(&b, []Certificate{one, tiled}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := fmt.Sprintf("  conv2: P_I %d, P_O %d, tile 100 (3 tiles); at P = 16 the outer accumulator has 18 bits", tiled.AccBitsInner, tiled.AccBitsOuter)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "multi-stage") || lines[1] != want {
		t.Errorf("WriteStages:\n%s\nwant the heading and\n%s", b.String(), want)
	}
}

// TestCertifyTiledBruteForce enumerates every narrow-range weight vector of
// K = 2..4 terms (M = 2, 3; N = 1..3, both input signs) and every tile of
// 1..K−1 terms, and checks AccBitsInner against the true extremes of every
// partial sum within every tile, over every input vector: the smallest
// width that holds them. It also checks that every partial sum of the
// tile sums fits the outer accumulator at that width.
func TestCertifyTiledBruteForce(t *testing.T) {
	checked := 0
	for _, signed := range []bool{false, true} {
		for n := 1; n <= 3; n++ {
			for m := 2; m <= 3; m++ {
				for k := 2; k <= 4; k++ {
					lo, hi := refInputRange(n, signed)
					wm := int64(1)<<(m-1) - 1
					q := make([]int64, k)
					w := make([]int32, k)
					for i := range q {
						q[i] = -wm
					}
					for {
						for i, v := range q {
							w[i] = int32(v)
						}
						for tile := 1; tile < k; tile++ {
							c, err := Certify(Layer{Name: "b", Weights: w, OutChannels: 1, K: k, InputBits: n,
								InputSigned: signed, WeightBits: m, TargetBits: 2, Tile: tile})
							if err != nil {
								t.Fatal(err)
							}
							// Tile extremes by enumeration of inputs and subsets.
							var tLo, tHi, sumLo, sumHi int64
							for s := 0; s < k; s += tile {
								_, _, pLo, pHi := enumerate(q[s:min(s+tile, k)], lo, hi)
								tLo, tHi = min(tLo, pLo), max(tHi, pHi)
								sumLo, sumHi = sumLo+pLo, sumHi+pHi
							}
							want := 1
							for !fits(tLo, tHi, want) {
								want++
							}
							if c.AccBitsInner != want {
								t.Fatalf("s=%v N=%d M=%d q=%v tile %d: inner %d, tile sums [%d, %d] need %d bits",
									signed, n, m, q, tile, c.AccBitsInner, tLo, tHi, want)
							}
							// Partial sums of tile sums lie in [Σ lows, Σ highs].
							if !fits(sumLo, sumHi, c.AccBitsOuter) {
								t.Fatalf("s=%v N=%d M=%d q=%v tile %d: sums of tile sums [%d, %d] overflow outer %d",
									signed, n, m, q, tile, sumLo, sumHi, c.AccBitsOuter)
							}
							checked++
						}
						if !nextVector(q, wm) {
							break
						}
					}
				}
			}
		}
	}
	t.Logf("%d tiled layers checked by enumeration", checked)
}

func TestCertificateJSON(t *testing.T) {
	c, err := Certify(designLayer())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	// The certificate fields of docs/CLI.md, “Report fields”.
	want := []string{"name", "kind", "k", "out_channels", "input_bits", "input_signed", "weight_bits",
		"acc_bits_target", "l1_max", "l1_bound", "acc_bits_datatype", "acc_bits_l1", "acc_bits_exact",
		"acc_min", "acc_max", "sparsity", "certified",
		"acc_bits_exact_with_bias", "acc_min_with_bias", "acc_max_with_bias", "zero_channels"}
	var got []string
	for f := range fields {
		got = append(got, f)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("JSON fields %v, want %v", got, want)
	}
	if fields["acc_min"] != float64(-25755) || fields["certified"] != true {
		t.Errorf("JSON values: %s", b)
	}
	var back Certificate
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}

	// A tiled layer adds its stages.
	l := designLayer()
	l.Tile = 64
	tc, err := Certify(l)
	if err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(tc)
	if err != nil {
		t.Fatal(err)
	}
	fields = nil
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != len(want)+3 || fields["tile"] != float64(64) || fields["acc_bits_inner"] != float64(tc.AccBitsInner) ||
		fields["acc_bits_outer"] != float64(tc.AccBitsOuter) {
		t.Errorf("tiled JSON: %s", b)
	}
	back = Certificate{}
	if err := json.Unmarshal(b, &back); err != nil || back != tc {
		t.Errorf("tiled JSON round trip: %+v, %v", back, err)
	}
}

func TestSummarize(t *testing.T) {
	a := Certificate{Name: "a", K: 10, OutChannels: 1, Sparsity: 0.5, AccBitsTarget: 0, AccBitsExact: 20}
	b := Certificate{Name: "b", K: 30, OutChannels: 1, Sparsity: 0.9, AccBitsTarget: 16, AccBitsExact: 15, Certified: true, ZeroChannels: 1}
	c := Certificate{Name: "c", K: 5, OutChannels: 2, Sparsity: 0.1, AccBitsTarget: 12, AccBitsExact: 13}
	tests := []struct {
		name      string
		certs     []Certificate
		sparsity  float64
		weights   int
		maxBits   int
		certified bool
		uncert    []string
	}{
		{"empty", nil, 0, 0, 0, false, nil},
		{"no targets", []Certificate{a}, 0.5, 10, 20, false, nil},
		{"certified", []Certificate{a, b}, (5 + 27) / 40.0, 40, 20, true, nil},
		{"one fails", []Certificate{a, b, c}, (5 + 27 + 1) / 50.0, 50, 20, false, []string{"c"}},
	}
	for _, tt := range tests {
		s := Summarize(tt.certs)
		if math.Abs(s.Sparsity-tt.sparsity) > 1e-15 || s.Weights != tt.weights || s.MaxAccBitsExact != tt.maxBits ||
			s.Certified != tt.certified || !slices.Equal(s.Uncertified, tt.uncert) {
			t.Errorf("%s: Summarize = %+v", tt.name, s)
		}
	}
}

func TestWriteTable(t *testing.T) {
	c1, err := Certify(designLayer())
	if err != nil {
		t.Fatal(err)
	}
	l := designLayer()
	l.Name, l.TargetBits, l.L1Bound = "a-much-longer-layer-name", 14, 0
	c2, err := Certify(l)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Certificate{c1, c2}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), buf.String())
	}
	// Aligned: every column starts at the same offset on every line.
	col := strings.Index(lines[0], "kind")
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line[col:], "conv") {
			t.Errorf("column kind not aligned:\n%s", buf.String())
		}
	}
	for _, want := range []string{"[-25755, 30600]", "yes", "no", "127.996"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if s := c2.String(); !strings.Contains(s, "NOT certified for P=14") {
		t.Errorf("String() = %q", s)
	}
}
