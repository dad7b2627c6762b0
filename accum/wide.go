package accum

import "math/bits"

// u128 is an unsigned 128-bit integer, used where products of a K·2^31
// weight sum and a 2^32 input extreme overflow 64 bits.
type u128 struct{ hi, lo uint64 }

// mul64x64 returns a·b.
func mul64x64(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

// add returns x+y; it panics on overflow, which the callers' argument
// ranges exclude (two products of 64-bit values with at least one factor
// below 2^64 − 1 and a sum far below 2^128).
func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	if c != 0 {
		panic("accum: 128-bit overflow")
	}
	return u128{hi, lo}
}

// less reports x < y.
func (x u128) less(y u128) bool {
	return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo)
}

// isZero reports x == 0.
func (x u128) isZero() bool { return x.hi == 0 && x.lo == 0 }

// dec returns x−1; x must be non-zero.
func (x u128) dec() u128 {
	lo, b := bits.Sub64(x.lo, 1, 0)
	hi, _ := bits.Sub64(x.hi, 0, b)
	return u128{hi, lo}
}

// inc returns x+1.
func (x u128) inc() u128 { return x.add(u128{0, 1}) }

// bitLen returns the number of bits needed to represent x (0 for 0).
func (x u128) bitLen() int {
	if x.hi != 0 {
		return 64 + bits.Len64(x.hi)
	}
	return bits.Len64(x.lo)
}

// ceilLog2 returns ceil(log2 x) for x ≥ 1.
func (x u128) ceilLog2() int {
	return x.dec().bitLen()
}

// max128 returns the larger of x and y.
func max128(x, y u128) u128 {
	if x.less(y) {
		return y
	}
	return x
}

// signedBitsFor returns the width of the smallest signed two's-complement
// accumulator holding [−neg, pos] (neg, pos ≥ 0):
// ceil(log2(max(neg, pos+1))) + 1.
func signedBitsFor(neg, pos u128) int {
	v := max128(neg, pos.inc())
	return v.ceilLog2() + 1
}
