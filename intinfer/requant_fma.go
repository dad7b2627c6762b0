package intinfer

import (
	"cmp"
	"math"
	"slices"
)

// The fused form of the vector requantisation. The model's float map
// (requant_vec.go) rounds four times, once in a division, and costs about
// six cycles per sixteen channels on AVX-512. One fused multiply-add per
// channel,
//
//	level = clamp(RoundToEven(fma(float32(acc), m_c, c_c)), lo, hi),
//
// with m_c ≈ scale_c / div and c_c ≈ bias_c / div, costs a third of that,
// but it is a different map: its steps fall on the thresholds except where
// a step of the model's map lies within rounding error of an integer
// accumulator. So the form is fitted channel by channel against the
// thresholds: m_c is moved by up to fmaULPs units in the last place, and
// c_c is put where the line's every step lands on its threshold. Where no
// line does that (the thresholds are the model's rounded map, not a line's),
// the one accumulator that the best line gets wrong is corrected in the
// kernel: a compare and a masked add. Like the four-operation form, the
// engine uses it only after verify has run the kernel on this CPU at every
// point where it could differ from the thresholds (the corrected points
// among them).

// fmaULPs is how far fmaForm.fit moves m from scale/div, in units in the
// last place; fmaTries is how many lines of each kind (through every step,
// through every step but one) it checks against the thresholds before it
// gives up on a channel.
const (
	fmaULPs  = 64
	fmaTries = 8
)

// fmaForm is a layer's requantisation in the fused form.
type fmaForm struct {
	m, c []float32
	// fix is nil when no channel needs a correction; otherwise it holds,
	// for each channel, the accumulator whose level is corrected (one
	// outside the range for none) and then, for each channel, the
	// correction.
	fix    []int32
	lo, hi int32
	// row64 holds m, c and fix repeated to 64 values when the channels
	// divide 64, for the kernel on whole rows (requantFMARows512).
	row64 *fmaRow64
}

// fmaRow64 is an fmaForm's parameters repeated to 64 values; fix is nil
// when the form's is.
type fmaRow64 struct {
	m, c [64]float32
	fix  []int32
}

// fmaRound returns float32(a·m + c) rounded once, as VFMADD computes it.
// The product is exact in float64; the sum's rounding error is recovered
// (TwoSum) to settle the one case where rounding the float64 sum to
// float32 would round twice: a sum exactly halfway between two float32
// values that is not the exact sum.
func fmaRound(a int32, m, c float32) float32 {
	p, q := float64(a)*float64(m), float64(c)
	s := p + q
	pp := s - q
	e := (p - pp) + (q - (s - pp))
	r := float32(s)
	if e == 0 || float64(r) == s {
		return r
	}
	// s lies between two float32 values; it is a tie when it is their
	// midpoint.
	other := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), s-float64(r))))
	if mid := (float64(r) + float64(other)) / 2; s != mid {
		return r
	}
	if (e > 0) == (float64(other) > float64(r)) {
		return other
	}
	return r
}

// raw is channel ch's level before the clamp and the correction; values
// beyond the int32 range come out as math.MinInt32, as VCVTPS2DQ gives.
func (f *fmaForm) raw(ch int, acc int32) int32 {
	v := math.RoundToEven(float64(fmaRound(acc, f.m[ch], f.c[ch])))
	if v < math.MinInt32 || v > math.MaxInt32 {
		return math.MinInt32
	}
	return int32(v)
}

// level is channel ch's level for accumulator acc, in Go: the kernels'
// twin. A correction applies before the clamp.
func (f *fmaForm) level(ch int, acc int32) uint8 {
	v := f.raw(ch, acc)
	if f.fix != nil && acc == f.fix[ch] {
		v += f.fix[len(f.m)+ch]
	}
	return uint8(min(max(v, f.lo), f.hi))
}

// newFMAForm fits the fused form of v to q's thresholds on [amin, amax],
// channel by channel, or returns nil when a channel needs more than one
// correction or the line's values could leave the int32 range.
func newFMAForm(q *requant, v *vecRequant, amin, amax int32) *fmaForm {
	if amax == math.MaxInt32 {
		return nil // the steps are searched up to amax + 1
	}
	n := len(v.scale)
	f := &fmaForm{m: make([]float32, n), c: make([]float32, n), lo: int32(v.lo), hi: int32(v.hi)}
	fix := make([]int32, 2*n)
	fixes := false
	for ch := range n {
		m0, c0 := float32(float64(v.scale[ch])/float64(v.div)), float32(float64(v.bias[ch])/float64(v.div))
		at, d, ok := f.fit(q, ch, m0, c0, amin, amax)
		if !ok {
			return nil
		}
		fix[ch], fix[n+ch] = at, d
		if d != 0 {
			fixes = true
		}
	}
	if fixes {
		if amin == math.MinInt32 {
			return nil // no accumulator outside the range marks "none"
		}
		for ch := range n {
			if fix[n+ch] == 0 {
				fix[ch] = amin - 1
			}
		}
		f.fix = fix
	}
	f.tile()
	return f
}

// tile sets f.row64 from f's parameters when its channels divide 64.
func (f *fmaForm) tile() {
	n := len(f.m)
	if 64%n != 0 {
		return
	}
	r := &fmaRow64{}
	if f.fix != nil {
		r.fix = make([]int32, 128)
	}
	for i := range 64 {
		r.m[i], r.c[i] = f.m[i%n], f.c[i%n]
		if r.fix != nil {
			r.fix[i], r.fix[64+i] = f.fix[i%n], f.fix[n+i%n]
		}
	}
	f.row64 = r
}

// first returns &s[0], or nil for an empty s: the kernels take a nil
// corrections table as none.
func first(s []int32) *int32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// fmaLine is a candidate line of a channel: how far its steps miss the
// thresholds (≤ 0: none does, in exact arithmetic).
type fmaLine struct {
	m, c float32
	miss float64
}

// fit sets channel ch's line (f.m[ch], f.c[ch]), m within fmaULPs of the
// quotient m0, and returns its correction (accumulator at, level change
// d; d = 0 for none), or ok = false when no line it tries needs at most
// one.
func (f *fmaForm) fit(q *requant, ch int, m0, c0 float32, amin, amax int32) (at, d int32, ok bool) {
	var steps []fmaStep
	row := q.t[ch*(q.n+1) : ch*(q.n+1)+q.n]
	for j := f.lo + 1; j <= f.hi; j++ {
		if t := row[j-q.lo-1]; t > amin && t <= amax {
			steps = append(steps, fmaStep{j, t})
		}
	}
	try := func(ln fmaLine) bool {
		f.m[ch], f.c[ch] = ln.m, ln.c
		return f.raw(ch, amin) != math.MinInt32 && f.raw(ch, amax) != math.MinInt32 // within int32 at both ends
	}
	// The lines through every step, nearest first, and the plain
	// quotients; failing those, the first of them, or of the lines through
	// every step but one, to miss a single accumulator (where a threshold
	// is off every line, the best compromise can miss on both sides of it,
	// the quotients once).
	lines := append(fmaLines(steps, m0, c0, false), fmaLine{m0, c0, math.Inf(1)})
	for _, ln := range lines {
		if try(ln) && f.agrees(q, ch, steps, amin, amax) {
			return 0, 0, true
		}
	}
	for _, ln := range append(lines, fmaLines(steps, m0, c0, true)...) {
		if !try(ln) {
			continue
		}
		if at, d, ok := f.oneMiss(q, ch, amin, amax); ok {
			return at, d, true
		}
	}
	return 0, 0, false
}

// fmaStep is a step of a channel's thresholds: level j from accumulator t.
type fmaStep struct{ j, t int32 }

// fmaLines returns up to fmaTries lines for steps, m within fmaULPs of m0,
// those that miss the steps least first. A line m·acc + c steps to level j
// between acc = t − 1 and t when (t − 1)·m + c < j − ½ ≤ t·m + c: c in
// [j − ½ − t·m, j − ½ − (t−1)·m); for each m, c is the middle of the
// intersection over the steps, or with dropOne of the intersection over
// all steps but one (a line for a single correction), for each step.
func fmaLines(steps []fmaStep, m0, c0 float32, dropOne bool) []fmaLine {
	var lines []fmaLine
	n := len(steps)
	lo, hi := make([]float64, n+2), make([]float64, n+2)   // prefix bounds
	slo, shi := make([]float64, n+2), make([]float64, n+2) // suffix bounds
	bits := int64(math.Float32bits(m0))
	for i := int64(-fmaULPs); i <= fmaULPs; i++ {
		m := math.Float32frombits(uint32(bits + i))
		if m <= 0 || math.IsInf(float64(m), 0) {
			continue
		}
		if n == 0 {
			lines = append(lines, fmaLine{m, c0, math.Inf(-1)})
			continue
		}
		lo[0], hi[0], slo[n+1], shi[n+1] = math.Inf(-1), math.Inf(1), math.Inf(-1), math.Inf(1)
		for k, s := range steps {
			lo[k+1] = max(lo[k], float64(s.j)-0.5-float64(s.t)*float64(m))
			hi[k+1] = min(hi[k], float64(s.j)-0.5-float64(s.t-1)*float64(m))
		}
		if !dropOne {
			lines = append(lines, fmaLine{m, float32((lo[n] + hi[n]) / 2), lo[n] - hi[n]})
			continue
		}
		for k := n - 1; k >= 0; k-- {
			s := steps[k]
			slo[k+1] = max(slo[k+2], float64(s.j)-0.5-float64(s.t)*float64(m))
			shi[k+1] = min(shi[k+2], float64(s.j)-0.5-float64(s.t-1)*float64(m))
		}
		for k := range n {
			l, h := max(lo[k], slo[k+2]), min(hi[k], shi[k+2])
			if l < h {
				lines = append(lines, fmaLine{m, float32((l + h) / 2), l - h})
			}
		}
	}
	slices.SortStableFunc(lines, func(a, b fmaLine) int { return cmp.Compare(a.miss, b.miss) })
	return lines[:min(fmaTries, len(lines))]
}

// agrees reports whether the uncorrected form gives q's levels for channel
// ch at both ends of the range and on both sides of each of its steps:
// then, both maps being non-decreasing and q's constant between steps, on
// the whole range.
func (f *fmaForm) agrees(q *requant, ch int, steps []fmaStep, amin, amax int32) bool {
	check := func(a int32) bool { return uint8(min(max(f.raw(ch, a), f.lo), f.hi)) == q.level(ch, a) }
	if !check(amin) || !check(amax) {
		return false
	}
	for _, s := range steps {
		if !check(s.t-1) || !check(s.t) {
			return false
		}
	}
	return true
}

// oneMiss reports whether the uncorrected form of channel ch differs from
// q's levels at exactly one accumulator in [amin, amax], which it returns
// with the change to the unclamped level that corrects it. The form's step to each level
// is found by binary search; the accumulators it misses lie between that
// step and the threshold.
func (f *fmaForm) oneMiss(q *requant, ch int, amin, amax int32) (at, d int32, ok bool) {
	level := func(a int32) int32 { return min(max(f.raw(ch, a), f.lo), f.hi) }
	row := q.t[ch*(q.n+1) : ch*(q.n+1)+q.n]
	misses := 0
	for j := f.lo + 1; j <= f.hi; j++ {
		t := min(max(row[j-q.lo-1], amin), amax+1)
		// The form's step: the least a in [amin, amax+1] with level(a) ≥ j.
		lo, hi := int64(amin), int64(amax)+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			if level(int32(mid)) >= j {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		u := int32(lo)
		if u == t {
			continue
		}
		misses += int(max(u, t) - min(u, t))
		if misses > 1 {
			return 0, 0, false
		}
		at = min(u, t)
	}
	if misses != 1 {
		return 0, 0, false
	}
	return at, int32(q.level(ch, at)) - f.raw(ch, at), true
}
