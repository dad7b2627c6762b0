package intgemm

import "fmt"

// Mode is the overflow behaviour of a P-bit accumulator.
type Mode int

const (
	// Exact keeps the true sum (an int64 reference) and only counts the
	// partial sums that leave the P-bit range.
	Exact Mode = iota
	// Wrap reduces the sum modulo 2^P into the signed range after every
	// addition (two's complement, what narrow hardware does).
	Wrap
	// Saturate clips the sum to the P-bit range after every addition.
	Saturate
)

// String returns "exact", "wrap" or "saturate".
func (m Mode) String() string {
	switch m {
	case Exact:
		return "exact"
	case Wrap:
		return "wrap"
	case Saturate:
		return "saturate"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode returns the Mode named s ("exact", "wrap" or "saturate").
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{Exact, Wrap, Saturate} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("intgemm: unknown accumulator mode %q (want exact, wrap or saturate)", s)
}

// DotP computes Σᵢ a[i]·w[i] in a signed P-bit accumulator, adding the terms
// in index order, and counts the additions whose result leaves
// [-2^(P-1), 2^(P-1)-1]. In Exact mode the sum is kept exact (int64) and the
// count tells how many partial sums a P-bit accumulator could not hold; in
// Wrap mode every such sum is wrapped modulo 2^P; in Saturate mode it is
// clipped to the nearest end of the range.
//
// It panics if len(a) != len(w), if p is outside [1, 62] or if mode is
// unknown (programmer errors).
func DotP(a []int32, w []int32, p int, mode Mode) (acc int64, overflows int) {
	if len(a) != len(w) {
		panic("intgemm: DotP length mismatch")
	}
	if p < 1 || p > 62 {
		panic("intgemm: DotP accumulator width outside [1, 62]")
	}
	if mode != Exact && mode != Wrap && mode != Saturate {
		panic("intgemm: DotP unknown mode")
	}
	lo, hi := -int64(1)<<(p-1), int64(1)<<(p-1)-1
	for i, x := range a {
		acc += int64(x) * int64(w[i])
		if acc >= lo && acc <= hi {
			continue
		}
		overflows++
		switch mode {
		case Wrap:
			// Two's complement: keep the low p bits, sign-extend.
			acc = acc << (64 - p) >> (64 - p)
		case Saturate:
			acc = min(max(acc, lo), hi)
		}
	}
	return acc, overflows
}
