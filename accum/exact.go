package accum

import (
	"fmt"
	"math"
	"math/bits"
)

// Range is a closed integer interval [Min, Max] of accumulator values.
type Range struct{ Min, Max int64 }

// checkShape panics unless w holds outChannels rows of k weights.
func checkShape(fn string, w []int32, outChannels, k int) {
	if outChannels < 0 || k < 0 || len(w) != outChannels*k {
		panic(fmt.Sprintf("accum: %s: %d weights for %d channels of %d", fn, len(w), outChannels, k))
	}
}

// oneSided returns q⁺ = Σ_{q>0} q and q⁻ = Σ_{q<0} |q| of row. Each is at
// most len(row)·2^31, far below 2^64.
func oneSided(row []int32) (pos, neg uint64) {
	for _, q := range row {
		if q > 0 {
			pos += uint64(q)
		} else {
			neg += uint64(-int64(q))
		}
	}
	return pos, neg
}

// extremes returns the magnitudes of the most negative and the most positive
// partial sums of a row with one-sided sums (pos, neg) under inputs [−negMag,
// posMax]: |μ|·q⁺ + ν·q⁻ and ν·q⁺ + |μ|·q⁻.
func extremes(pos, neg, negMag, posMax uint64) (lowMag, high u128) {
	lowMag = mul64x64(negMag, pos).add(mul64x64(posMax, neg))
	high = mul64x64(posMax, pos).add(mul64x64(negMag, neg))
	return lowMag, high
}

// wideRange is the exact range of every partial sum over every channel,
// as magnitudes: values lie in [−lowMag, high].
func wideRange(w []int32, outChannels, k, n int, signed bool) (lowMag, high u128) {
	negMag, posMax := inputMags(n, signed)
	for c := range outChannels {
		p, q := oneSided(w[c*k : (c+1)*k])
		l, h := extremes(p, q, negMag, posMax)
		lowMag, high = max128(lowMag, l), max128(high, h)
	}
	return lowMag, high
}

// clampNeg returns −x clamped to int64.
func clampNeg(x u128) int64 {
	if x.hi != 0 || x.lo > 1<<63 {
		return math.MinInt64
	}
	return int64(-x.lo) // two's complement, correct for x.lo = 2^63 too
}

// clampPos returns x clamped to int64.
func clampPos(x u128) int64 {
	if x.hi != 0 || x.lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(x.lo)
}

// ExactRange returns the exact range of the accumulator over every output
// channel, every input vector and every order of summation, for weights laid
// out as outChannels rows of k int32s (row-major) and n-bit inputs [μ, ν]:
// acc_max = max_c (ν·q⁺_c + |μ|·q⁻_c), acc_min = min_c −(|μ|·q⁺_c + ν·q⁻_c).
// Both extremes are attained by full dot products, so the range is tight.
// With no channels it is {0, 0}. Values beyond int64 (possible only with
// inputs and weights near 32 bits) are clamped to MinInt64 and MaxInt64;
// ExactBits is exact in every case. It panics if len(w) != outChannels·k or
// n is outside [1, 64].
func ExactRange(w []int32, outChannels, k, n int, signed bool) Range {
	checkShape("ExactRange", w, outChannels, k)
	lowMag, high := wideRange(w, outChannels, k, n, signed)
	return Range{Min: clampNeg(lowMag), Max: clampPos(high)}
}

// ExactBits is RangeBits(ExactRange(w, outChannels, k, n, signed)) computed
// without the int64 clamp (128-bit arithmetic), so that it is exact even
// when the range exceeds 64 bits.
func ExactBits(w []int32, outChannels, k, n int, signed bool) int {
	checkShape("ExactBits", w, outChannels, k)
	lowMag, high := wideRange(w, outChannels, k, n, signed)
	return signedBitsFor(lowMag, high)
}

// RangeBits is P_exact = ceil(log2(max(−Min, Max + 1)) + 1), the width of the
// smallest signed two's-complement accumulator holding r. It is computed
// exactly from bit lengths. The range {0, 0} (and an empty range with
// Min > Max) gives 1.
func RangeBits(r Range) int {
	var neg, pos uint64
	if r.Min < 0 {
		neg = uint64(-r.Min) // correct for MinInt64 as well
	}
	if r.Max > 0 {
		pos = uint64(r.Max)
	}
	return signedBitsFor(u128{0, neg}, u128{0, pos})
}

// TiledBits returns the accumulator widths of a multi-stage accumulation in
// which each dot product of length k is split into ceil(k/tile) tiles of
// tile consecutive terms (the last one possibly shorter), each tile summed
// in an inner accumulator and the tile sums added in an outer one.
//
// inner is the exact width (as RangeBits) of the union of the exact ranges
// of every tile of every channel. outer = inner + ceil(log2 ceil(k/tile)) is
// the width that holds any sum of ceil(k/tile) inner values, whatever they
// are; it is never below the exact width of the full dot product. A tile
// of k or more terms gives inner = ExactBits and outer = inner. It panics if
// tile < 1, len(w) != outChannels·k, or n is outside [1, 64].
func TiledBits(w []int32, outChannels, k, tile, n int, signed bool) (inner, outer int) {
	checkShape("TiledBits", w, outChannels, k)
	if tile < 1 {
		panic(fmt.Sprintf("accum: TiledBits: tile of %d terms", tile))
	}
	negMag, posMax := inputMags(n, signed)
	var lowMag, high u128
	for c := range outChannels {
		row := w[c*k : (c+1)*k]
		for t := 0; t < k; t += tile {
			p, q := oneSided(row[t:min(t+tile, k)])
			l, h := extremes(p, q, negMag, posMax)
			lowMag, high = max128(lowMag, l), max128(high, h)
		}
	}
	inner = signedBitsFor(lowMag, high)
	return inner, OuterBits(inner, k, tile)
}

// OuterBits returns the width of the outer accumulator of a multi-stage
// accumulation whose inner accumulators are inner bits wide: inner +
// ceil(log2 ceil(k/tile)), which holds any sum of the ceil(k/tile) tile
// sums of a dot product of k terms. A tile of k or more terms (one stage)
// gives inner. It is the one owner of that rule: certificates, the integer
// engine and the hardware model all call it. It panics if tile < 1 or
// k < 1.
func OuterBits(inner, k, tile int) int {
	if tile < 1 || k < 1 {
		panic(fmt.Sprintf("accum: OuterBits: %d terms in tiles of %d", k, tile))
	}
	tiles := (k + tile - 1) / tile
	if tiles <= 1 {
		return inner
	}
	return inner + bits.Len64(uint64(tiles-1)) // + ceil(log2 tiles)
}
