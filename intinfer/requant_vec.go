package intinfer

import "github.com/a2qtoolkit/a2q/thresh"

// The vector requantisation. The thresholds of a layer are the step points
// of the float map the model was trained with,
//
//	level(acc) = Quantize(Requant(float32(acc), scale_c, bias_c), s, lo, hi),
//
// s being the next layer's input scale. Evaluating that map directly takes
// a handful of vector instructions per sixteen channels (convert, multiply,
// add, divide, clamp, round, narrow), against a table lookup per channel
// for the thresholds. The two agree by construction, but the engine does
// not take that on trust: it uses the vector form for a layer only after
// verify has checked it, on this CPU, against the thresholds at every
// point where they could differ.

// vecRequant is a layer's requantisation in its float form, for the vector
// kernel: level = clamp(RoundToEven((float32(acc)·scale_c + bias_c) / div),
// lo, hi), with lo raised to the ReLU floor when a ReLU follows.
type vecRequant struct {
	scale, bias []float32
	div, lo, hi float32
	// fma, when set, is the fused form (requant_fma.go) the kernel
	// evaluates instead: it gives the same levels at a third of the cost.
	fma *fmaForm
}

// newVecRequant returns the vector form of q for layer l, whose outputs
// feed next, or nil when there is no vector kernel or the float form does
// not reproduce q on [amin, amax].
func newVecRequant(q *requant, l, next *Layer, amin, amax int32) *vecRequant {
	if !useAVX512 && !useAVX2 || next == nil || l.OutBits == 0 || l.OutBits > 8 {
		return nil
	}
	lo, hi := levels(l.OutBits, l.OutSigned)
	v := &vecRequant{scale: l.Scale, bias: l.Bias, div: next.InputScale, lo: float32(max(lo, q.floor)), hi: float32(hi)}
	if useAVX512 {
		if v.fma = newFMAForm(q, v, amin, amax); v.fma != nil && v.verify(q, amin, amax) {
			return v
		}
		v.fma = nil
	}
	if !v.verify(q, amin, amax) {
		return nil
	}
	return v
}

// pixel requantises channels [0, len(o)) of one pixel whose accumulator
// of channel c is max(x0[c], x1[c], x2[c], x3[c]).
func (v *vecRequant) pixel(o []uint8, x0, x1, x2, x3 []int32) {
	n := len(o)
	if n == 0 {
		return
	}
	_, _, _, _ = x0[n-1], x1[n-1], x2[n-1], x3[n-1]
	if v.vecChans(n) > 0 {
		v.kernel(&o[0], &x0[0], &x1[0], &x2[0], &x3[0], n, 1, 0)
	}
	for c := v.vecChans(n); c < n; c++ {
		o[c] = v.level(c, max(x0[c], x1[c], x2[c], x3[c]))
	}
}

// run requantises pix pixels of n channels: pixel p's output is
// o[p·n : (p+1)·n], and its accumulator of channel c the largest of
// x[p·step + off[i] + c], i < 4 (repeat an offset for fewer inputs).
func (v *vecRequant) run(o []uint8, x []int32, n, pix, step int, off [4]int) {
	if n == 0 || pix == 0 {
		return
	}
	if step < 0 || min(off[0], off[1], off[2], off[3]) < 0 {
		panic("intinfer: negative requantisation stride or offset")
	}
	_, _ = o[pix*n-1], x[(pix-1)*step+max(off[0], off[1], off[2], off[3])+n-1]
	if f := v.fma; f != nil && f.row64 != nil && useAVX512 && step == n && off == [4]int{off[0], off[0], off[0], off[0]} {
		// Whole rows of 64 first (whole pixels, as n divides 64).
		r, rows := f.row64, pix*n/64*64
		if rows > 0 {
			requantFMARows512(&o[0], &x[off[0]], &r.m[0], &r.c[0], first(r.fix), rows, f.lo, f.hi)
		}
		if pix -= rows / n; pix == 0 {
			return
		}
		o, x = o[rows:], x[rows:]
	}
	if v.vecChans(n) > 0 {
		v.kernel(&o[0], &x[off[0]], &x[off[1]], &x[off[2]], &x[off[3]], n, pix, step)
	}
	for c := v.vecChans(n); c < n; c++ {
		for p := range pix {
			b := p * step
			o[p*n+c] = v.level(c, max(x[b+off[0]+c], x[b+off[1]+c], x[b+off[2]+c], x[b+off[3]+c]))
		}
	}
}

// vecChans returns how many of n channels the vector kernel requantises
// (the first ones of each pixel); the callers' Go loops take the rest.
func (v *vecRequant) vecChans(n int) int {
	switch {
	case useAVX512:
		return n
	case useAVX2 && v.fma == nil:
		return n &^ 7
	}
	return 0
}

// kernel runs the vector kernel on pix pixels, on their first vecChans(n)
// channels. The callers have checked the bounds.
func (v *vecRequant) kernel(o *uint8, x0, x1, x2, x3 *int32, n, pix, step int) {
	_, _ = v.scale[n-1], v.bias[n-1]
	switch {
	case v.fma != nil:
		f := v.fma
		requantFMA512(o, x0, x1, x2, x3, &f.m[0], &f.c[0], first(f.fix), n, pix, step, f.lo, f.hi)
	case useAVX512:
		requantAVX512(o, x0, x1, x2, x3, &v.scale[0], &v.bias[0], n, pix, step, v.div, v.lo, v.hi)
	case n >= 8:
		requantAVX2(o, x0, x1, x2, x3, &v.scale[0], &v.bias[0], n, pix, step, v.div, v.lo, v.hi)
	}
}

// level is the kernel's map of channel c for accumulator acc, in Go.
func (v *vecRequant) level(c int, acc int32) uint8 {
	if v.fma != nil {
		return v.fma.level(c, acc)
	}
	return uint8(int32(thresh.Quantize(thresh.Requant(float32(acc), v.scale[c], v.bias[c]), v.div, v.lo, v.hi)))
}

// verify reports whether the kernel gives q's level for every accumulator
// value in [amin, amax]. Both maps are non-decreasing in the accumulator
// (scales are positive, and conversion, product, sum, quotient, clamp and
// rounding are each monotone in IEEE arithmetic), and the threshold map is
// constant between consecutive thresholds; so agreeing at amin, at amax and
// on both sides of every threshold inside the range proves agreement on the
// whole range. That is at most 2·(2^N − 1) + 2 points per channel. The
// fused form's corrected accumulators are checked too: between them and
// the other points its map is non-decreasing (a fused multiply-add rounds
// monotonically as well).
func (v *vecRequant) verify(q *requant, amin, amax int32) bool {
	cout := len(v.scale)
	x := q.critical(amin, amax)
	if v.fma != nil && v.fma.fix != nil {
		for c := range cout {
			x = append(x, max(v.fma.fix[c], amin))
		}
	}
	got := make([]uint8, len(x))
	v.run(got, x, cout, len(x)/cout, cout, [4]int{})
	return q.matches(x, got)
}

// critical returns, as rows of one accumulator per channel, the points at
// which a non-decreasing map must give q's levels to give them on all of
// [amin, amax]: both ends and both sides of every threshold inside
// (channels with fewer points repeat their last).
func (q *requant) critical(amin, amax int32) []int32 {
	cout := len(q.guess)
	pts := make([][]int32, cout)
	rows := 0
	for c := range pts {
		p := []int32{amin, amax}
		for _, t := range q.t[c*(q.n+1) : c*(q.n+1)+q.n] {
			if t > amin && t <= amax {
				p = append(p, t-1, t)
			}
		}
		pts[c] = p
		rows = max(rows, len(p))
	}
	x := make([]int32, rows*cout)
	for r := 0; r < rows; r++ {
		for c, p := range pts {
			x[r*cout+c] = p[min(r, len(p)-1)]
		}
	}
	return x
}

// matches reports whether levels got are q's for the accumulators x
// (rows of one per channel).
func (q *requant) matches(x []int32, got []uint8) bool {
	cout := len(q.guess)
	for i, v := range x {
		if got[i] != q.level(i%cout, v) {
			return false
		}
	}
	return true
}
