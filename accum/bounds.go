package accum

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

// Errors wrapped by Certify and CheckConfig, so that callers can tell the
// kinds of bad input apart with errors.Is.
var (
	// ErrBitWidth reports an impossible bit width (N, M or P).
	ErrBitWidth = errors.New("impossible bit width")
	// ErrShape reports weights or biases whose length does not match the
	// layer's shape.
	ErrShape = errors.New("shape mismatch")
	// ErrWeightRange reports an integer weight outside the narrow M-bit range.
	ErrWeightRange = errors.New("weight outside the narrow range")
	// ErrValue reports a malformed real-valued field (NaN, infinite, negative).
	ErrValue = errors.New("invalid value")
)

// Limits accepted by CheckConfig and Certify. MinAccBits and MaxAccBits
// define the valid accumulator widths P for the whole toolkit (see
// CheckAccBits); a back-end that cannot run some of them says so in its
// own terms.
const (
	MaxInputBits  = 32 // largest N
	MaxWeightBits = 32 // largest M
	MinAccBits    = 2  // smallest P: one sign bit and one magnitude bit
	MaxAccBits    = 64 // largest P
)

// CheckAccBits reports whether p is a valid accumulator width P, in
// [MinAccBits, MaxAccBits]. It is the one check of P: every flag, file
// reader and configuration that takes a P calls it, so the same bad P gets
// the same message ("accumulator width P = 70 outside [2, 64]")
// everywhere. The error wraps ErrBitWidth.
func CheckAccBits(p int) error {
	if p < MinAccBits || p > MaxAccBits {
		return bitWidthError(fmt.Sprintf("accumulator width P = %d outside [%d, %d]", p, MinAccBits, MaxAccBits))
	}
	return nil
}

// bitWidthError is an error that wraps ErrBitWidth without repeating its
// text.
type bitWidthError string

func (e bitWidthError) Error() string { return string(e) }
func (e bitWidthError) Unwrap() error { return ErrBitWidth }

// sbit returns s: 1 for signed inputs, 0 for unsigned ones.
func sbit(signed bool) int {
	if signed {
		return 1
	}
	return 0
}

// InputRange returns the integer range [lo, hi] of an n-bit input, signed
// ([−2^(n−1), 2^(n−1)−1]) or unsigned ([0, 2^n−1]). It panics unless
// 1 ≤ n ≤ 64 (signed) or 1 ≤ n ≤ 63 (unsigned).
func InputRange(n int, signed bool) (lo, hi int64) {
	if signed {
		if n < 1 || n > 64 {
			panic(fmt.Sprintf("accum: InputRange: %d-bit signed input", n))
		}
		lo = math.MinInt64 >> (64 - n)
		return lo, -lo - 1
	}
	if n < 1 || n > 63 {
		panic(fmt.Sprintf("accum: InputRange: %d-bit unsigned input", n))
	}
	return 0, 1<<n - 1
}

// inputMags returns |μ| and ν of the input range as unsigned integers, for
// 1 ≤ n ≤ 64.
func inputMags(n int, signed bool) (negMag, pos uint64) {
	if n < 1 || n > 64 {
		panic(fmt.Sprintf("accum: %d-bit input", n))
	}
	if signed {
		return 1 << (n - 1), 1<<(n-1) - 1
	}
	return 0, math.MaxUint64 >> (64 - n)
}

// WeightMax returns 2^(m−1)−1, the narrow-range magnitude limit of m-bit
// weights (0 for m = 1). It panics unless 1 ≤ m ≤ 64.
func WeightMax(m int) int64 {
	if m < 1 || m > 64 {
		panic(fmt.Sprintf("accum: WeightMax: %d-bit weights", m))
	}
	return int64(uint64(1)<<(m-1) - 1)
}

// DataTypeBits is the data-type bound P_datatype = ceil(α + log2(1 + 2^−α) + 1)
// with α = log2 K + N + M − 1 − s: the accumulator width that no K-term dot
// product of n-bit inputs and m-bit weights can overflow, whatever the
// weights. Since α + log2(1 + 2^−α) = log2(2^α + 1) and 2^α = K·2^(N+M−1−s)
// is an integer (or half an integer), the result is computed exactly from
// bit lengths. K = 0 gives 1, the limit of the formula. It panics if k < 0,
// n < 1 or m < 1.
func DataTypeBits(k, n int, signed bool, m int) int {
	if k < 0 || n < 1 || m < 1 {
		panic(fmt.Sprintf("accum: DataTypeBits(k=%d, n=%d, m=%d)", k, n, m))
	}
	if k == 0 {
		return 1
	}
	e := n + m - 1 - sbit(signed)
	if e >= 0 {
		// ceil(log2(K·2^e + 1)) = bitlen(K·2^e) = bitlen(K) + e.
		return bits.Len64(uint64(k)) + e + 1
	}
	// e = −b < 0: 2^α + 1 = (K + 2^b)/2^b, ceil(log2) = bitlen(K + 2^b − 1) − b.
	b := -e
	return bits.Len64(uint64(k)+(1<<b)-1) - b + 1
}

// A2QBudget is the A2Q per-channel L1-norm budget
// T_A2Q(P, N, s) = (2^(P−1) − 1)·2^(s − N): any integer weight vector with
// ||q||_1 ≤ T, dotted with n-bit inputs, fits a p-bit accumulator in every
// order of summation. The exact value is rounded toward zero to a float64
// (it is exact for p ≤ 54). It panics unless 1 ≤ p ≤ 64 and 1 ≤ n ≤ 64.
func A2QBudget(p, n int, signed bool) float64 {
	if p < 1 || p > 64 || n < 1 || n > 64 {
		panic(fmt.Sprintf("accum: A2QBudget(p=%d, n=%d)", p, n))
	}
	var num float64
	if p-1 <= 53 {
		num = float64(uint64(1)<<(p-1) - 1)
	} else {
		// 2^(p−1) − 1 is not representable: take the float64 just below 2^(p−1).
		num = math.Nextafter(math.Ldexp(1, p-1), 0)
	}
	return math.Ldexp(num, sbit(signed)-n)
}

// A2QPlusBudget is the A2Q+ per-channel L1-norm budget for zero-centred
// weights, T_A2Q+(P, N) = (2^P − 2)/(2^N − 1), valid for either input sign.
// The guarantee needs both one-sided sums q⁺ and q⁻ to be at most T/2, which
// the A2Q+ quantizer ensures; ||q||_1 ≤ T alone is not enough. The exact
// rational is rounded toward zero to a float64. It panics unless
// 1 ≤ p ≤ 64 and 1 ≤ n ≤ 64.
func A2QPlusBudget(p, n int) float64 {
	if p < 1 || p > 64 || n < 1 || n > 64 {
		panic(fmt.Sprintf("accum: A2QPlusBudget(p=%d, n=%d)", p, n))
	}
	if p <= 53 && n <= 53 {
		// Numerator and denominator are exact float64s and the quotient is
		// correctly rounded; the sign of the fused f·den − num is the sign
		// of the exact rounding error, so one step down gives the floor.
		num, den := math.Ldexp(1, p)-2, math.Ldexp(1, n)-1
		f := num / den
		if math.FMA(f, den, -num) > 0 {
			f = math.Nextafter(f, 0)
		}
		return f
	}
	num := new(big.Int).Lsh(big.NewInt(1), uint(p))
	num.Sub(num, big.NewInt(2))
	den := new(big.Int).Lsh(big.NewInt(1), uint(n))
	den.Sub(den, big.NewInt(1))
	return ratFloor(new(big.Rat).SetFrac(num, den))
}

// ratFloor returns the largest float64 not above r (r ≥ 0, in range).
func ratFloor(r *big.Rat) float64 {
	f, exact := r.Float64()
	if !exact && new(big.Rat).SetFloat64(f).Cmp(r) > 0 {
		f = math.Nextafter(f, 0)
	}
	return f
}

// checkL1 panics on an L1 norm outside [0, +Inf).
func checkL1(fn string, l1 float64) {
	if !(l1 >= 0) || math.IsInf(l1, 1) {
		panic(fmt.Sprintf("accum: %s: L1 norm %v", fn, l1))
	}
}

// ceilLog2Float returns ceil(log2 x) for a finite x ≥ 1 given as a big.Float.
func ceilLog2Float(x *big.Float) int {
	mant := new(big.Float)
	exp := x.MantExp(mant) // x = mant·2^exp, 0.5 ≤ mant < 1
	if mant.Cmp(big.NewFloat(0.5)) == 0 {
		return exp - 1
	}
	return exp
}

// exactFloat returns f as a big.Float with room for exact sums of values
// that are float64s times small integers.
func exactFloat(f float64) *big.Float {
	return new(big.Float).SetPrec(2200).SetFloat64(f)
}

// isSmallInt reports whether f is an integer below 2^53.
func isSmallInt(f float64) bool {
	return f == math.Trunc(f) && f < 1<<53
}

// L1Bits is the inverse of A2QBudget: the accumulator width required by a
// channel of L1 norm l1 under the A2Q bound,
// β = log2 l1 + N − s, P = ceil(β + log2(1 + 2^−β) + 1) = ceil(log2(l1·2^(N−s) + 1)) + 1.
// It is the smallest P with l1 ≤ A2QBudget(P, N, s) (for unsigned inputs
// the bound treats 2^N as the largest input, slightly loose, as the
// reference does). l1 = 0 (a zero channel) gives 1, the limit of the formula
// and the width RangeBits gives the range {0}. The result is exact for every
// float64 l1. It panics if l1 is negative, NaN or infinite, or n < 1.
func L1Bits(l1 float64, n int, signed bool) int {
	checkL1("L1Bits", l1)
	if n < 1 {
		panic(fmt.Sprintf("accum: L1Bits: %d-bit input", n))
	}
	e := n - sbit(signed)
	if l1 == 0 {
		return 1
	}
	if isSmallInt(l1) {
		return L1BitsInt(int64(l1), n, signed)
	}
	x := exactFloat(l1)
	x.SetMantExp(x, e)
	x.Add(x, big.NewFloat(1))
	return ceilLog2Float(x) + 1
}

// L1BitsInt is L1Bits for an integer L1 norm (as computed from integer
// weights), exact over the whole int64 range: bitlen(l1) + N − s + 1, and 1
// for l1 = 0. It panics if l1 < 0 or n < 1.
func L1BitsInt(l1 int64, n int, signed bool) int {
	if l1 < 0 || n < 1 {
		panic(fmt.Sprintf("accum: L1BitsInt(l1=%d, n=%d)", l1, n))
	}
	if l1 == 0 {
		return 1
	}
	// ceil(log2(l1·2^e + 1)) = bitlen(l1·2^e) = bitlen(l1) + e.
	return bits.Len64(uint64(l1)) + n - sbit(signed) + 1
}

// A2QPlusBits is the inverse of A2QPlusBudget, P = ceil(log2(l1·(2^N − 1) + 2)):
// the smallest P with l1 ≤ A2QPlusBudget(P, N). l1 = 0 gives 1. Like the
// budget, it assumes zero-centred weights (q⁺, q⁻ ≤ l1/2); certify A2Q+
// layers with ExactRange. It panics if l1 is negative, NaN or infinite, or
// unless 1 ≤ n ≤ 64.
func A2QPlusBits(l1 float64, n int) int {
	checkL1("A2QPlusBits", l1)
	if n < 1 || n > 64 {
		panic(fmt.Sprintf("accum: A2QPlusBits: %d-bit input", n))
	}
	d := uint64(math.MaxUint64) >> (64 - n) // 2^N − 1
	if isSmallInt(l1) {
		x := mul64x64(uint64(l1), d).add(u128{0, 2})
		return x.ceilLog2()
	}
	x := exactFloat(l1)
	x.Mul(x, new(big.Float).SetUint64(d))
	x.Add(x, big.NewFloat(2))
	return ceilLog2Float(x)
}

// MinBitsForNonzero returns the smallest accumulator width P whose budget
// allows at least one non-zero integer weight, so that callers can reject a
// P too small for any non-zero weight. For A2Q (plus = false) that is the
// smallest P with T_A2Q(P, N, s) ≥ 1, namely N − s + 2. For A2Q+
// (plus = true) a zero-centred channel has q⁺ = q⁻ ≤ T/2 before rounding,
// so a non-zero integer needs T_A2Q+ ≥ 2; both T ≥ 1 and T ≥ 2 first hold
// at P = N + 1. It panics if n < 1.
func MinBitsForNonzero(n int, signed bool, plus bool) int {
	if n < 1 {
		panic(fmt.Sprintf("accum: MinBitsForNonzero: %d-bit input", n))
	}
	if plus {
		return n + 1
	}
	return n - sbit(signed) + 2
}

// CheckConfig validates the bit widths of an accumulator-aware layer:
// accumulator P as CheckAccBits, input N in [1, MaxInputBits],
// weight M in [2, MaxWeightBits] (1-bit narrow-range weights can only be 0).
// The error wraps ErrBitWidth and names the field.
func CheckConfig(p, n, m int) error {
	if err := CheckAccBits(p); err != nil {
		return err
	}
	if n < 1 || n > MaxInputBits {
		return fmt.Errorf("input bits N = %d: must be in [1, %d]: %w", n, MaxInputBits, ErrBitWidth)
	}
	if m < 2 || m > MaxWeightBits {
		return fmt.Errorf("weight bits M = %d: must be in [2, %d] (narrow-range 1-bit weights hold only 0): %w", m, MaxWeightBits, ErrBitWidth)
	}
	return nil
}
