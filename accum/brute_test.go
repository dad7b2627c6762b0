package accum

import (
	"fmt"
	"math"
	"testing"
)

// refInputRange is the input range of docs/MATH.md (“Notation”), written out independently.
func refInputRange(n int, signed bool) (lo, hi int64) {
	if signed {
		return -(int64(1) << (n - 1)), int64(1)<<(n-1) - 1
	}
	return 0, int64(1)<<n - 1
}

// fits reports whether [lo, hi] fits a signed p-bit accumulator.
func fits(lo, hi int64, p int) bool {
	if p >= 64 {
		return true
	}
	return lo >= -(int64(1)<<(p-1)) && hi <= int64(1)<<(p-1)-1
}

// separable returns, by enumeration of every input value of every term, the
// extremes of the full dot products (fullLo, fullHi) and of the partial sums
// over every subset of terms (partLo, partHi) of weight vector q. The
// maximum over inputs and subsets of Σ_{i∈S} q_i·x_i separates over i: each
// term independently either stays out (0) or takes its best input.
func separable(q []int64, lo, hi int64) (fullLo, fullHi, partLo, partHi int64) {
	for _, qi := range q {
		tmin, tmax := int64(math.MaxInt64), int64(math.MinInt64)
		for x := lo; x <= hi; x++ {
			t := qi * x
			tmin, tmax = min(tmin, t), max(tmax, t)
		}
		fullLo += tmin
		fullHi += tmax
		partLo += min(tmin, 0)
		partHi += max(tmax, 0)
	}
	return
}

// enumerate returns the extremes of full dot products and of the partial
// sums over every subset, by enumerating every input vector and subset.
func enumerate(q []int64, lo, hi int64) (fullLo, fullHi, partLo, partHi int64) {
	k := len(q)
	x := make([]int64, k)
	for i := range x {
		x[i] = lo
	}
	fullLo, fullHi = math.MaxInt64, math.MinInt64
	for {
		for s := 0; s < 1<<k; s++ {
			var sum int64
			for i := range k {
				if s&(1<<i) != 0 {
					sum += q[i] * x[i]
				}
			}
			partLo, partHi = min(partLo, sum), max(partHi, sum)
			if s == 1<<k-1 {
				fullLo, fullHi = min(fullLo, sum), max(fullHi, sum)
			}
		}
		i := 0
		for ; i < k; i++ {
			if x[i] < hi {
				x[i]++
				break
			}
			x[i] = lo
		}
		if i == k {
			return
		}
	}
}

// nextVector advances q through every vector of [−wm, wm]^len(q) and
// reports false after the last one.
func nextVector(q []int64, wm int64) bool {
	for i := range q {
		if q[i] < wm {
			q[i]++
			return true
		}
		q[i] = -wm
	}
	return false
}

// TestBruteForce enumerates every narrow-range weight vector for
// K = 1..4, N = 1..4, M = 2..4 and both input signs, and checks every bound
// against the true worst-case partial sums.
func TestBruteForce(t *testing.T) {
	const maxP = 20
	fullEnumerated := 0
	for _, signed := range []bool{false, true} {
		for n := 1; n <= 4; n++ {
			for m := 2; m <= 4; m++ {
				for k := 1; k <= 4; k++ {
					name := fmt.Sprintf("s=%v/N=%d/M=%d/K=%d", signed, n, m, k)
					lo, hi := refInputRange(n, signed)
					if glo, ghi := InputRange(n, signed); glo != lo || ghi != hi {
						t.Fatalf("%s: InputRange = [%d, %d], want [%d, %d]", name, glo, ghi, lo, hi)
					}
					wm := int64(1)<<(m-1) - 1
					vectors := math.Pow(float64(2*wm+1), float64(k))
					inputs := math.Pow(float64(hi-lo+1), float64(k))
					full := vectors*inputs*float64(int(1)<<k) <= 1<<25
					pdt := DataTypeBits(k, n, signed, m)
					var budget, plusHalf [maxP + 1]float64
					for p := 2; p <= maxP; p++ {
						budget[p], plusHalf[p] = A2QBudget(p, n, signed), A2QPlusBudget(p, n)/2
					}

					q := make([]int64, k)
					w := make([]int32, k)
					for i := range q {
						q[i] = -wm
					}
					plusSeen := 0
					for {
						fLo, fHi, pLo, pHi := separable(q, lo, hi)
						if full {
							eLo, eHi, epLo, epHi := enumerate(q, lo, hi)
							if eLo != fLo || eHi != fHi || epLo != pLo || epHi != pHi {
								t.Fatalf("%s q=%v: enumeration [%d,%d]/[%d,%d] != separable [%d,%d]/[%d,%d]",
									name, q, eLo, eHi, epLo, epHi, fLo, fHi, pLo, pHi)
							}
							fullEnumerated++
						}
						var l1, qp, qn int64
						for i, v := range q {
							w[i] = int32(v)
							if v > 0 {
								qp += v
							} else {
								qn -= v
							}
						}
						l1 = qp + qn

						r := ExactRange(w, 1, k, n, signed)
						if r.Min != fLo || r.Max != fHi {
							t.Fatalf("%s q=%v: ExactRange = %+v, true full-dot range [%d, %d]", name, q, r, fLo, fHi)
						}
						pex := RangeBits(r)
						if eb := ExactBits(w, 1, k, n, signed); eb != pex {
							t.Fatalf("%s q=%v: ExactBits = %d, RangeBits = %d", name, q, eb, pex)
						}
						pl1 := L1Bits(float64(l1), n, signed)
						if pl1i := L1BitsInt(l1, n, signed); pl1i != pl1 {
							t.Fatalf("%s q=%v: L1BitsInt = %d, L1Bits = %d", name, q, pl1i, pl1)
						}
						for _, b := range []struct {
							what string
							p    int
						}{{"DataTypeBits", pdt}, {"L1Bits", pl1}, {"RangeBits", pex}} {
							if !fits(pLo, pHi, b.p) {
								t.Fatalf("%s q=%v: partial sums [%d, %d] overflow %s = %d", name, q, pLo, pHi, b.what, b.p)
							}
						}
						// RangeBits is the smallest width that fits.
						if pex > 1 && fits(pLo, pHi, pex-1) {
							t.Fatalf("%s q=%v: [%d, %d] fits %d bits, RangeBits = %d", name, q, pLo, pHi, pex-1, pex)
						}
						if !(pex <= pl1 && pl1 <= pdt) {
							t.Fatalf("%s q=%v: want P_exact %d ≤ P_l1 %d ≤ P_datatype %d", name, q, pex, pl1, pdt)
						}
						for p := 2; p <= maxP; p++ {
							if float64(l1) <= budget[p] && !fits(pLo, pHi, p) {
								t.Fatalf("%s q=%v: ||q||_1 = %d within A2Q budget of P=%d but [%d, %d] overflows",
									name, q, l1, p, pLo, pHi)
							}
							half := plusHalf[p]
							if float64(qp) <= half && float64(qn) <= half {
								if !fits(pLo, pHi, p) {
									t.Fatalf("%s q=%v: q⁺ = %d, q⁻ = %d within A2Q+ half budget of P=%d but [%d, %d] overflows",
										name, q, qp, qn, p, pLo, pHi)
								}
								if l1 > 0 {
									plusSeen++
								}
							}
						}
						if !nextVector(q, wm) {
							break
						}
					}
					if plusSeen == 0 {
						t.Errorf("%s: no non-zero vector met an A2Q+ budget: the check was vacuous", name)
					}
				}
			}
		}
	}
	if fullEnumerated == 0 {
		t.Error("no configuration was small enough for full enumeration")
	}
	t.Logf("%d weight vectors cross-checked by full input and subset enumeration", fullEnumerated)
}

// TestExactRangeChannels checks that the multi-channel range is the union of
// the per-channel true ranges, on random layers.
func TestExactRangeChannels(t *testing.T) {
	rng := newRand(1)
	for trial := range 300 {
		n := 1 + rng.IntN(6)
		m := 2 + rng.IntN(7)
		signed := rng.IntN(2) == 1
		k := 1 + rng.IntN(40)
		oc := 1 + rng.IntN(8)
		wm := int64(1)<<(m-1) - 1
		w := make([]int32, oc*k)
		for i := range w {
			if rng.IntN(3) > 0 { // some sparsity
				w[i] = int32(rng.Int64N(2*wm+1) - wm)
			}
		}
		lo, hi := refInputRange(n, signed)
		want := Range{math.MaxInt64, math.MinInt64}
		q := make([]int64, k)
		for c := range oc {
			for i := range q {
				q[i] = int64(w[c*k+i])
			}
			fLo, fHi, _, _ := separable(q, lo, hi)
			want.Min, want.Max = min(want.Min, fLo), max(want.Max, fHi)
		}
		if got := ExactRange(w, oc, k, n, signed); got != want {
			t.Fatalf("trial %d (oc=%d k=%d n=%d s=%v): ExactRange = %+v, want %+v", trial, oc, k, n, signed, got, want)
		}
	}
}
