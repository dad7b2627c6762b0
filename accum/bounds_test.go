package accum

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"
)

// pow2Rat returns 2^e as a big.Rat.
func pow2Rat(e int) *big.Rat {
	if e >= 0 {
		return new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(e)))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), uint(-e)))
}

// refA2QBudget is T_A2Q(P, N, s) = (2^(P−1) − 1)·2^(s−N) as an exact rational.
func refA2QBudget(p, n int, signed bool) *big.Rat {
	t := new(big.Rat).Sub(pow2Rat(p-1), big.NewRat(1, 1))
	return t.Mul(t, pow2Rat(sbit(signed)-n))
}

// refA2QPlusBudget is T_A2Q+(P, N) = (2^P − 2)/(2^N − 1) as an exact rational.
func refA2QPlusBudget(p, n int) *big.Rat {
	num := new(big.Rat).Sub(pow2Rat(p), big.NewRat(2, 1))
	den := new(big.Rat).Sub(pow2Rat(n), big.NewRat(1, 1))
	return num.Quo(num, den)
}

// budgetTable returns budget(P) for P = 0..200 (index 0 unused).
func budgetTable(budget func(p int) *big.Rat) []*big.Rat {
	tab := make([]*big.Rat, 201)
	for p := 1; p <= 200; p++ {
		tab[p] = budget(p)
	}
	return tab
}

// minP returns the smallest P in [1, 200] with l1 ≤ tab[P] (the budgets
// increase with P), by bisection.
func minP(l1 *big.Rat, tab []*big.Rat) int {
	lo, hi := 1, 200
	for lo < hi {
		mid := (lo + hi) / 2
		if l1.Cmp(tab[mid]) <= 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// refDataTypeBits is the smallest P with K·2^(N+M−1−s) + 1 ≤ 2^(P−1), i.e.
// P − 1 ≥ log2(2^α + 1), found by search over exact rationals.
func refDataTypeBits(k, n int, signed bool, m int) int {
	a := new(big.Rat).Mul(big.NewRat(int64(k), 1), pow2Rat(n+m-1-sbit(signed)))
	a.Add(a, big.NewRat(1, 1))
	for p := 1; ; p++ {
		if a.Cmp(pow2Rat(p-1)) <= 0 {
			return p
		}
	}
}

func TestKnownValues(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"DataTypeBits K=576 N=M=8 unsigned (docs/MATH.md)", DataTypeBits(576, 8, false, 8), 26},
		{"DataTypeBits K=288 N=M=8 unsigned (docs/MATH.md, docs/CLI.md)", DataTypeBits(288, 8, false, 8), 25},
		{"L1BitsInt 120 N=8 unsigned (docs/CLI.md)", L1BitsInt(120, 8, false), 16},
		{"L1Bits 120 N=8 unsigned (docs/CLI.md)", L1Bits(120, 8, false), 16},
		{"RangeBits [-25755, 30600] (docs/CLI.md)", RangeBits(Range{-25755, 30600}), 16},
		// Powers of two: log2 must not round up by an ulp.
		{"DataTypeBits K=512 N=M=8 unsigned", DataTypeBits(512, 8, false, 8), 26},
		{"DataTypeBits K=2^30 N=M=16 unsigned", DataTypeBits(1<<30, 16, false, 16), 63},
		{"DataTypeBits K=1 N=M=8 signed", DataTypeBits(1, 8, true, 8), 16},
		{"L1Bits 128 N=8 unsigned", L1Bits(128, 8, false), 17},
		{"L1Bits 127 N=8 unsigned", L1Bits(127, 8, false), 16},
		{"RangeBits [-128, 127]", RangeBits(Range{-128, 127}), 8},
		{"RangeBits [-129, 0]", RangeBits(Range{-129, 0}), 9},
		{"RangeBits [0, 128]", RangeBits(Range{0, 128}), 9},
		{"RangeBits [0, 0]", RangeBits(Range{0, 0}), 1},
		{"RangeBits [-1, 0]", RangeBits(Range{-1, 0}), 1},
		{"RangeBits full int64", RangeBits(Range{math.MinInt64, math.MaxInt64}), 64},
		{"RangeBits empty", RangeBits(Range{5, -5}), 1},
		{"A2QPlusBits 1 N=8", A2QPlusBits(1, 8), 9},
		{"A2QPlusBits 0", A2QPlusBits(0, 8), 1},
		{"L1Bits 0", L1Bits(0, 8, false), 1},
		{"DataTypeBits K=0", DataTypeBits(0, 8, false, 8), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestDataTypeBitsExact(t *testing.T) {
	ks := []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
		255, 256, 257, 288, 511, 512, 513, 576, 1023, 1024, 1025, 4608, 1 << 20, 1<<20 + 1, 1 << 30, 1<<31 - 1}
	for k := 1; k <= 300; k++ {
		ks = append(ks, k)
	}
	for _, k := range ks {
		for _, signed := range []bool{false, true} {
			for _, nm := range [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 5}, {4, 4}, {8, 8}, {16, 8}, {32, 32}} {
				n, m := nm[0], nm[1]
				got, want := DataTypeBits(k, n, signed, m), refDataTypeBits(k, n, signed, m)
				if got != want {
					t.Fatalf("DataTypeBits(K=%d, N=%d, s=%v, M=%d) = %d, want %d", k, n, signed, m, got, want)
				}
			}
		}
	}
}

func TestL1BitsIsInverseOfBudget(t *testing.T) {
	rng := newRand(2)
	for _, signed := range []bool{false, true} {
		for n := 1; n <= 32; n++ {
			budget := budgetTable(func(p int) *big.Rat { return refA2QBudget(p, n, signed) })
			plusBudget := budgetTable(func(p int) *big.Rat { return refA2QPlusBudget(p, n) })
			var l1s []float64
			for v := range 300 {
				l1s = append(l1s, float64(v))
			}
			for range 200 {
				l1s = append(l1s, math.Ldexp(rng.Float64(), rng.IntN(60)-8))
			}
			for p := 1; p <= 64; p++ {
				// The budgets themselves and their float neighbours.
				for _, b := range []float64{A2QBudget(p, n, signed), A2QPlusBudget(p, n)} {
					l1s = append(l1s, b, math.Nextafter(b, math.Inf(1)), math.Nextafter(b, 0), math.Floor(b), math.Floor(b)+1)
				}
			}
			for _, l1 := range l1s {
				r := new(big.Rat).SetFloat64(l1)
				if got, want := L1Bits(l1, n, signed), minP(r, budget); got != want {
					t.Fatalf("L1Bits(%v, N=%d, s=%v) = %d, want %d (smallest P with l1 ≤ T_A2Q)", l1, n, signed, got, want)
				}
				if got, want := A2QPlusBits(l1, n), minP(r, plusBudget); got != want {
					t.Fatalf("A2QPlusBits(%v, N=%d) = %d, want %d (smallest P with l1 ≤ T_A2Q+)", l1, n, got, want)
				}
				if l1 == math.Trunc(l1) && l1 < 1<<62 {
					if got, want := L1BitsInt(int64(l1), n, signed), L1Bits(l1, n, signed); got != want {
						t.Fatalf("L1BitsInt(%v) = %d, L1Bits = %d", l1, got, want)
					}
				}
			}
		}
	}
}

func TestL1BitsFormula(t *testing.T) {
	// Where β is not near an integer, the float formula of docs/MATH.md (“A2Q bound”) is safe:
	// the exact implementation must agree with it.
	for _, signed := range []bool{false, true} {
		for n := 1; n <= 8; n++ {
			for l1 := 1.5; l1 < 5000; l1 *= 1.37 {
				beta := math.Log2(l1) + float64(n-sbit(signed))
				f := beta + math.Log2(1+math.Exp2(-beta)) + 1
				if math.Abs(f-math.Round(f)) < 1e-9 {
					continue
				}
				if got, want := L1Bits(l1, n, signed), int(math.Ceil(f)); got != want {
					t.Errorf("L1Bits(%v, N=%d, s=%v) = %d, float formula %d", l1, n, signed, got, want)
				}
			}
		}
	}
}

func TestBudgetsRoundTowardZero(t *testing.T) {
	for p := 1; p <= 64; p++ {
		for n := 1; n <= 64; n++ {
			for _, signed := range []bool{false, true} {
				checkFloor(t, fmt.Sprintf("A2QBudget(%d, %d, %v)", p, n, signed), A2QBudget(p, n, signed), refA2QBudget(p, n, signed))
			}
			checkFloor(t, fmt.Sprintf("A2QPlusBudget(%d, %d)", p, n), A2QPlusBudget(p, n), refA2QPlusBudget(p, n))
		}
	}
}

// checkFloor fails unless got is the largest float64 not above want.
func checkFloor(t *testing.T, what string, got float64, want *big.Rat) {
	t.Helper()
	if new(big.Rat).SetFloat64(got).Cmp(want) > 0 {
		t.Fatalf("%s = %v exceeds the exact value %s", what, got, want.FloatString(20))
	}
	if next := math.Nextafter(got, math.Inf(1)); new(big.Rat).SetFloat64(next).Cmp(want) <= 0 {
		t.Fatalf("%s = %v, but %v is closer and still not above %s", what, got, next, want.FloatString(20))
	}
}

// TestBrevitasGrid covers the accumulator and input widths of Brevitas's
// accumulator-aware quantizer tests.
func TestBrevitasGrid(t *testing.T) {
	for _, p := range []int{8, 9, 10, 12, 16, 24, 32} {
		for n := 2; n <= 8; n++ {
			for _, signed := range []bool{false, true} {
				name := fmt.Sprintf("P=%d N=%d s=%v", p, n, signed)
				ta := A2QBudget(p, n, signed)
				tp := A2QPlusBudget(p, n)
				if ta < 1 {
					continue // no non-zero weight: nothing to round-trip
				}
				fl := math.Floor(ta)
				if got := L1Bits(fl, n, signed); got > p {
					t.Errorf("%s: L1Bits(floor T = %v) = %d > P", name, fl, got)
				}
				if got := L1Bits(ta, n, signed); got != p {
					t.Errorf("%s: L1Bits(T = %v) = %d, want P", name, ta, got)
				}
				if got := L1Bits(fl+1, n, signed); got <= p {
					t.Errorf("%s: L1Bits(floor T + 1 = %v) = %d, want > P", name, fl+1, got)
				}
				if got := L1Bits(ta*(1+1e-9), n, signed); got <= p {
					t.Errorf("%s: L1Bits(T·(1+1e-9)) = %d, want > P", name, got)
				}
				fp := math.Floor(tp)
				if got := A2QPlusBits(fp, n); got > p {
					t.Errorf("%s: A2QPlusBits(floor T+ = %v) = %d > P", name, fp, got)
				}
				if got := A2QPlusBits(fp+1, n); got <= p {
					t.Errorf("%s: A2QPlusBits(floor T+ + 1) = %d, want > P", name, got)
				}
				// A2Q+ never gives less budget; the ratio is 2^(N+1−s)/(2^N − 1):
				// a bit more than one extra bit for unsigned inputs.
				if tp < ta {
					t.Errorf("%s: A2Q+ budget %v < A2Q budget %v", name, tp, ta)
				}
				ratio := tp / ta
				want := math.Ldexp(1, n+1-sbit(signed)) / (math.Ldexp(1, n) - 1)
				if math.Abs(ratio/want-1) > 1e-9 {
					t.Errorf("%s: T+/T = %v, want %v", name, ratio, want)
				}
				if extra := math.Log2(ratio); !signed && (extra < 1 || extra > 1.5) {
					t.Errorf("%s: A2Q+ gives %.3f extra bits for unsigned inputs, want about 1", name, extra)
				}

				// The worst case at the budget fits P bits, and one more unit
				// of L1 norm (all on one adversarial weight) overflows for
				// signed inputs, where the A2Q bound is tight.
				for _, sign := range []int32{1, -1} {
					w := []int32{sign * int32(fl)}
					if b := ExactBits(w, 1, 1, n, signed); b > p {
						t.Errorf("%s: weight %d at the A2Q budget needs %d bits", name, w[0], b)
					}
				}
				if signed {
					if b := ExactBits([]int32{-int32(fl) - 1}, 1, 1, n, signed); b <= p {
						t.Errorf("%s: weight %d beyond the A2Q budget fits %d bits", name, -int32(fl)-1, b)
					}
				}
				// A2Q+: the zero-centred channel (h, −h) with h = floor(T+/2)
				// fits, (h+1, −(h+1)) does not.
				h := int32(math.Floor(tp / 2))
				if b := ExactBits([]int32{h, -h}, 1, 2, n, signed); b > p {
					t.Errorf("%s: A2Q+ channel (%d, %d) needs %d bits", name, h, -h, b)
				}
				if b := ExactBits([]int32{h + 1, -h - 1}, 1, 2, n, signed); b <= p {
					t.Errorf("%s: A2Q+ channel (%d, %d) beyond T+/2 fits %d bits", name, h+1, -h-1, b)
				}
			}
		}
	}
}

func TestMinBitsForNonzero(t *testing.T) {
	for n := 1; n <= 32; n++ {
		for _, signed := range []bool{false, true} {
			p := MinBitsForNonzero(n, signed, false)
			if A2QBudget(p, n, signed) < 1 || (p > 1 && A2QBudget(p-1, n, signed) >= 1) {
				t.Errorf("A2Q N=%d s=%v: MinBitsForNonzero = %d, budgets %v at P and %v at P−1",
					n, signed, p, A2QBudget(p, n, signed), A2QBudget(p-1, n, signed))
			}
			if L1Bits(1, n, signed) != p {
				t.Errorf("A2Q N=%d s=%v: MinBitsForNonzero = %d, L1Bits(1) = %d", n, signed, p, L1Bits(1, n, signed))
			}
			pp := MinBitsForNonzero(n, signed, true)
			// A zero-centred channel needs T+/2 ≥ 1 for q⁺ = 1.
			if A2QPlusBudget(pp, n) < 2 || A2QPlusBudget(pp-1, n) >= 1 {
				t.Errorf("A2Q+ N=%d: MinBitsForNonzero = %d, budgets %v at P and %v at P−1",
					n, pp, A2QPlusBudget(pp, n), A2QPlusBudget(pp-1, n))
			}
			if pp < MinAccBits {
				t.Errorf("A2Q+ N=%d: MinBitsForNonzero = %d below MinAccBits", n, pp)
			}
		}
	}
}

func TestWeightMax(t *testing.T) {
	tests := []struct {
		m    int
		want int64
	}{{1, 0}, {2, 1}, {3, 3}, {4, 7}, {8, 127}, {16, 32767}, {32, 1<<31 - 1}, {64, math.MaxInt64}}
	for _, tt := range tests {
		if got := WeightMax(tt.m); got != tt.want {
			t.Errorf("WeightMax(%d) = %d, want %d", tt.m, got, tt.want)
		}
	}
}

func TestInputRange(t *testing.T) {
	tests := []struct {
		n      int
		signed bool
		lo, hi int64
	}{
		{1, false, 0, 1}, {1, true, -1, 0}, {8, false, 0, 255}, {8, true, -128, 127},
		{32, false, 0, 1<<32 - 1}, {32, true, -(1 << 31), 1<<31 - 1},
		{63, false, 0, math.MaxInt64}, {64, true, math.MinInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		if lo, hi := InputRange(tt.n, tt.signed); lo != tt.lo || hi != tt.hi {
			t.Errorf("InputRange(%d, %v) = [%d, %d], want [%d, %d]", tt.n, tt.signed, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		p, n, m int
		field   string // "" when valid
	}{
		{16, 8, 8, ""}, {2, 1, 2, ""}, {64, 32, 32, ""},
		{1, 8, 8, "P = 1"}, {65, 8, 8, "P = 65"}, {0, 8, 8, "P = 0"},
		{16, 0, 8, "N = 0"}, {16, 33, 8, "N = 33"},
		{16, 8, 1, "M = 1"}, {16, 8, 0, "M = 0"}, {16, 8, 33, "M = 33"},
	}
	for _, tt := range tests {
		err := CheckConfig(tt.p, tt.n, tt.m)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("CheckConfig(%d, %d, %d) = %v, want nil", tt.p, tt.n, tt.m, err)
		case tt.field != "" && (err == nil || !errors.Is(err, ErrBitWidth) || !contains(err.Error(), tt.field)):
			t.Errorf("CheckConfig(%d, %d, %d) = %v, want an ErrBitWidth naming %q", tt.p, tt.n, tt.m, err, tt.field)
		}
	}
}

func TestCheckAccBits(t *testing.T) {
	tests := []struct {
		p    int
		want string // "" when valid
	}{
		{MinAccBits, ""}, {16, ""}, {62, ""}, {MaxAccBits, ""},
		{0, "accumulator width P = 0 outside [2, 64]"},
		{1, "accumulator width P = 1 outside [2, 64]"},
		{65, "accumulator width P = 65 outside [2, 64]"},
		{-3, "accumulator width P = -3 outside [2, 64]"},
	}
	for _, tt := range tests {
		err := CheckAccBits(tt.p)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckAccBits(%d) = %v, want nil", tt.p, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, ErrBitWidth)):
			t.Errorf("CheckAccBits(%d) = %v, want %q wrapping ErrBitWidth", tt.p, err, tt.want)
		}
		// CheckConfig and Certify take P through CheckAccBits and say the same.
		cerr := CheckConfig(tt.p, 8, 8)
		if (cerr == nil) != (err == nil) || err != nil && !contains(cerr.Error(), err.Error()) {
			t.Errorf("CheckConfig(%d, 8, 8) = %v, CheckAccBits %v", tt.p, cerr, err)
		}
		if tt.p == 0 {
			continue // Certify takes 0 as "no target"
		}
		_, lerr := Certify(Layer{Name: "l", Weights: []int32{1}, OutChannels: 1, K: 1, InputBits: 8, WeightBits: 8, TargetBits: tt.p})
		if (lerr == nil) != (err == nil) || err != nil && (!contains(lerr.Error(), err.Error()) || !errors.Is(lerr, ErrBitWidth)) {
			t.Errorf("Certify at P = %d: %v, CheckAccBits %v", tt.p, lerr, err)
		}
	}
}

func TestWithTarget(t *testing.T) {
	c, err := Certify(Layer{Name: "l", Weights: []int32{3, -2, 1}, OutChannels: 1, K: 3, InputBits: 4, WeightBits: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{0, c.AccBitsExact - 1, c.AccBitsExact, c.AccBitsExact + 1, MaxAccBits} {
		got := c.WithTarget(p)
		want, err := Certify(Layer{Name: "l", Weights: []int32{3, -2, 1}, OutChannels: 1, K: 3, InputBits: 4, WeightBits: 4, TargetBits: p})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("WithTarget(%d) = %+v, Certify at that target %+v", p, got, want)
		}
	}
}

func TestPanicsOnProgrammerErrors(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"DataTypeBits k<0", func() { DataTypeBits(-1, 8, false, 8) }},
		{"DataTypeBits n=0", func() { DataTypeBits(4, 0, false, 8) }},
		{"L1Bits negative", func() { L1Bits(-1, 8, false) }},
		{"L1Bits NaN", func() { L1Bits(math.NaN(), 8, false) }},
		{"L1Bits Inf", func() { L1Bits(math.Inf(1), 8, false) }},
		{"A2QPlusBits negative", func() { A2QPlusBits(-0.5, 8) }},
		{"A2QBudget p=0", func() { A2QBudget(0, 8, false) }},
		{"A2QPlusBudget p=65", func() { A2QPlusBudget(65, 8) }},
		{"WeightMax 0", func() { WeightMax(0) }},
		{"InputRange unsigned 64", func() { InputRange(64, false) }},
		{"ExactRange short", func() { ExactRange(make([]int32, 5), 2, 3, 8, false) }},
		{"TiledBits tile 0", func() { TiledBits(make([]int32, 6), 2, 3, 0, 8, false) }},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tt.name)
				}
			}()
			tt.f()
		}()
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
