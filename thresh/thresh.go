// Package thresh owns requantisation: the float map from a layer's integer
// accumulator to the next layer's input level (Requant, then Quantize; see
// requant.go), shared by the fake-quantized model, the integer engine and
// the hardware, and the accumulator thresholds that replace it.
//
// A layer's output passes through float operations (the scale and bias of
// its requantisation, ReLUs, clips, batch norms) into the next layer's input
// quantizer; when that map is non-decreasing, the level of an accumulator
// acc is lo + #{k : acc ≥ t[k]}, so a list of integers, the thresholds t,
// replaces the float operations exactly. This is FINN's multi-threshold
// activation, used by the integer engine (package intinfer) and by the
// generated hardware (package hw) alike, so both hold the same thresholds.
//
// The package depends on nothing but the standard library: the caller
// supplies the map, written with the float operations of its model.
package thresh

import "fmt"

// Every accumulator value a threshold is searched for lies in [Min, Max]:
// the widest accumulator the integer engine simulates is 62 bits plus
// headroom.
const (
	Min = -(int64(1) << 62)
	Max = int64(1)<<62 - 1
	// Unreached is the threshold of a level no accumulator value in
	// [Min, Max] reaches.
	Unreached = Max + 1
)

// Search fills dst (len hi − lo) with the thresholds of the non-decreasing
// map f from [Min, Max] to the levels [lo, hi]: dst[k−lo−1] = min{acc ∈
// [Min, Max] : f(acc) ≥ k} for k = lo+1 … hi, or Unreached. Then f(acc) =
// lo + Count(acc, dst) for every acc in [Min, Max]. It finds each threshold
// by binary search, from the previous one, with about 63 calls of f per
// level. It panics if len(dst) ≠ hi − lo (a programmer error); f must be
// non-decreasing for the result to mean anything.
func Search(f func(acc int64) int32, lo, hi int32, dst []int64) {
	if int64(len(dst)) != int64(hi)-int64(lo) {
		panic(fmt.Sprintf("thresh: Search: %d slots for levels [%d, %d]", len(dst), lo, hi))
	}
	from := Min
	for i := range dst {
		k := lo + 1 + int32(i)
		// Smallest acc in [from, Max] with f(acc) ≥ k, or Unreached.
		a, b := from, Max+1
		for a < b {
			mid := a + int64((uint64(b)-uint64(a))/2) // b − a may reach 2^63
			if f(mid) >= k {
				b = mid
			} else {
				a = mid + 1
			}
		}
		dst[i] = a
		from = a
	}
}

// Count returns #{k : acc ≥ t[k]}, the number of thresholds acc reaches:
// its level above the lowest one.
func Count(acc int64, t []int64) int {
	n := 0
	for _, v := range t {
		if acc >= v {
			n++
		}
	}
	return n
}
