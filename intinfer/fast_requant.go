package intinfer

import (
	"math"

	"github.com/a2qtoolkit/a2q/tensor"
)

// Requantisation in the fused pipeline: int32 accumulators to the next
// layer's input bytes, through per-channel thresholds.

// requant maps a layer's int32 accumulators to the next layer's input
// bytes: lo + #{k : acc ≥ t_k}, at least floor, exactly threshold32's count.
//
// Its first method is a bucket table per channel: the accumulator axis cut
// into buckets of width 2^shift_c, narrow enough that each holds at most
// one distinct threshold value, so one load and one comparison give the
// level. Where the tables for the whole accumulator range are small (full),
// bucket = off_c + v>>shift_c; otherwise they cover the thresholds only and
// the index is clamped. Without tables (thresholds too close for their
// span), the linear guess of threshold32 is checked against a window of
// thresholds: each channel's are padded to n + 3 values, [MinInt32, t₀ …
// t_{n−1}, sentinel, MaxInt32], so the window around any guess can be read
// without bounds tests.
type requant struct {
	buckets   []bucket
	chans     []bucketChan
	full      bool
	tp        []int32 // OutC rows of n + 3 padded thresholds
	t         []int32 // the layer's thr32 (OutC rows of n + 1)
	guess     []thrGuess
	n         int
	lo, floor int32
	// vec, when set, replaces the lookups with the vector kernel.
	vec *vecRequant
}

func newRequant(lr *layerRun, next *Layer, relu bool, amin, amax int32) requant {
	floor := int32(math.MinInt32)
	if relu {
		floor = 0
	}
	q := baseRequant(lr.thr32, lr.guess, lr.l.OutC, lr.tsize-1, lr.outLo, floor)
	// The vector form, where it holds, makes the tables unnecessary.
	if q.vec = newVecRequant(&q, lr.l, next, amin, amax); q.vec != nil {
		return q
	}
	q.tables(amin, amax)
	return q
}

// baseRequant is the requant of cout channels of n thresholds each (thr
// rows of n + 1, the last unreachable, clamped to the accumulator range
// like layerRun.thr32, with their linear guesses), levels from lo, at
// least floor, before its tables are built.
func baseRequant(thr []int32, guess []thrGuess, cout, n int, lo, floor int32) requant {
	q := requant{t: thr, guess: guess, n: n, lo: lo, floor: floor}
	q.tp = make([]int32, cout*(n+3))
	for c := 0; c < cout; c++ {
		row := q.tp[c*(n+3) : (c+1)*(n+3)]
		row[0] = math.MinInt32
		copy(row[1:], thr[c*(n+1):(c+1)*(n+1)])
		row[n+2] = math.MaxInt32
	}
	return q
}

// tables builds q's bucket tables for accumulators in [amin, amax]: whole
// where they are small enough, over the thresholds otherwise, none when a
// channel's thresholds are too close for their span (the guess then
// serves).
func (q *requant) tables(amin, amax int32) {
	cout := len(q.guess)
	q.buckets, q.chans = bucketTables(q.t, cout, q.n, amin, amax, q.lo, q.floor, true)
	q.full = q.buckets != nil
	if !q.full {
		q.buckets, q.chans = bucketTables(q.t, cout, q.n, amin, amax, q.lo, q.floor, false)
	}
}

// level is channel c's level for accumulator v, by binary search: the
// reference the faster forms are checked against.
func (q *requant) level(c int, v int32) uint8 {
	return uint8(max(q.lo+int32(q.search(c, v)), q.floor))
}

// bucket is one slice of a channel's accumulator range: an accumulator v
// in it maps to above if v ≥ t, to below otherwise (levels as bytes).
type bucket struct {
	t  int32
	lv [2]uint8 // below, above
}

// bucketChan locates a channel's buckets.
type bucketChan struct {
	base  int32
	shift uint8
	last  int32 // number of buckets − 1
	// off is the first bucket in requant.buckets, or with full tables the
	// index of bucket 0 of v >> shift = 0.
	off int64
}

// maxBuckets bounds the buckets of one channel; maxFull those of a channel
// whose buckets cover the whole accumulator range.
const (
	maxBuckets = 1024
	maxFull    = 4096
	// maxFullTotal bounds the buckets of all channels of a layer with
	// full tables (8 bytes each).
	maxFullTotal = 1 << 17
)

// bucketTables builds the bucket tables of cout channels of n thresholds
// (rows of n + 1 in thr, the last unreachable), for accumulators in [amin,
// amax], or returns nil when a channel would need more than maxBuckets.
// Thresholds at most amin count for every accumulator, those above amax for
// none; the buckets cover the others, as wide as the largest power of two
// not above the smallest gap between their distinct values, so that each
// holds at most one of them.
func bucketTables(thr []int32, cout, n int, amin, amax, lo, floor int32, full bool) ([]bucket, []bucketChan) {
	chans := make([]bucketChan, cout)
	var bs []bucket
	lvl := func(count int) uint8 { return uint8(max(lo+int32(count), floor)) }
	for c := 0; c < cout; c++ {
		t := thr[c*(n+1) : c*(n+1)+n]
		low := 0 // thresholds ≤ amin: t[:low]
		for low < n && t[low] <= amin {
			low++
		}
		reach := low // thresholds ≤ amax: t[:reach]
		for reach < n && t[reach] <= amax {
			reach++
		}
		if reach == low && !full {
			chans[c] = bucketChan{base: math.MinInt32, off: int64(len(bs))}
			bs = append(bs, bucket{t: math.MaxInt32, lv: [2]uint8{lvl(low), lvl(low)}})
			continue
		}
		gap := int64(math.MaxInt32)
		for i := low + 1; i < reach; i++ {
			if d := int64(t[i]) - int64(t[i-1]); d > 0 {
				gap = min(gap, d)
			}
		}
		shift := 0
		for shift < 30 && int64(1)<<(shift+1) <= gap {
			shift++
		}
		var base int64
		var nb int
		if full {
			// Aligned to the bucket width: v's bucket is off + v>>shift.
			base = int64(amin) >> shift << shift
			nb = int(int64(amax)>>shift-base>>shift) + 1
		} else {
			base = int64(t[low])
			nb = int((int64(t[reach-1])-base)>>shift) + 1
		}
		if !full && nb > maxBuckets || full && nb > maxFull {
			return nil, nil
		}
		chans[c] = bucketChan{base: int32(base), shift: uint8(shift), last: int32(nb - 1), off: int64(len(bs))}
		if full {
			chans[c].off -= base >> shift
		}
		k := low // thresholds below the current bucket
		for j := 0; j < nb; j++ {
			end := base + int64(j+1)<<shift // exclusive
			b := bucket{t: math.MaxInt32, lv: [2]uint8{lvl(k), 0}}
			if k < reach && int64(t[k]) < end {
				b.t = t[k]
				for k < reach && t[k] == b.t {
					k++
				}
			}
			b.lv[1] = lvl(k)
			bs = append(bs, b)
		}
		if full && len(bs) > maxFullTotal {
			return nil, nil
		}
	}
	return bs, chans
}

// span requantises channels [0, len(o)) of one pixel, whose accumulator of
// channel c is max(x0[c], x1[c], x2[c], x3[c]) (pass the same slice several
// times for fewer inputs). Maxima and clamps are computed without branches:
// pooled accumulators are in no predictable order.
func (q *requant) span(o []uint8, x0, x1, x2, x3 []int32) {
	if q.vec != nil {
		q.vec.pixel(o, x0, x1, x2, x3)
		return
	}
	x0, x1, x2, x3 = x0[:len(o)], x1[:len(o)], x2[:len(o)], x3[:len(o)]
	guess := q.guess[:len(o)]
	tp := q.tp
	stride, last := q.n+3, int64(q.n-1)
	lo, floor := int64(q.lo), int64(q.floor)
	if q.buckets != nil {
		q.spanBuckets(o, x0, x1, x2, x3)
		return
	}
	off := 0
	for c := range o {
		v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
		gs := &guess[c]
		b := int64(gs.base) + (v-int64(gs.anchor))*gs.mul>>guessShift
		b = b &^ (b >> 63)   // max(b, 0)
		b = -bmax(-b, -last) // min(b, last)
		i := off + int(b)
		t := tp[i : i+4 : i+4]
		v32 := int32(v)
		var g int64
		if t[0] <= v32 && t[3] > v32 {
			g = b + int64(b2i(t[1] <= v32)) + int64(b2i(t[2] <= v32))
		} else {
			g = int64(q.search(c, v32))
		}
		o[c] = uint8(bmax(lo+g, floor))
		off += stride
	}
}

// spanBuckets is span with the bucket tables. Maxima, clamps and the
// final choice are arithmetic rather than branches (the compiler keeps
// branches here): pooled accumulators come in no predictable order, and a
// mispredicted branch costs more than the whole lookup.
func (q *requant) spanBuckets(o []uint8, x0, x1, x2, x3 []int32) {
	x0, x1, x2, x3 = x0[:len(o)], x1[:len(o)], x2[:len(o)], x3[:len(o)]
	chans := q.chans[:len(o)]
	bs := q.buckets
	if q.full {
		for c := range o {
			v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
			ch := &chans[c]
			b := &bs[int(ch.off+v>>(ch.shift&63))]
			o[c] = b.lv[b2i(int32(v) >= b.t)&1]
		}
		return
	}
	for c := range o {
		v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
		o[c] = bucketLevel(&chans[c], bs, v)
	}
}

// bucketLevel looks v up in its channel's buckets.
func bucketLevel(ch *bucketChan, bs []bucket, v int64) uint8 {
	j := (v - int64(ch.base)) >> (ch.shift & 63)
	j &^= j >> 63 // max(j, 0)
	d := j - int64(ch.last)
	j -= d &^ (d >> 63) // min(j, last)
	b := &bs[int(ch.off)+int(j)]
	return b.lv[b2i(int32(v) >= b.t)&1]
}

// rowsBuckets is spanBuckets on one input.
func (q *requant) rowsBuckets(o []uint8, x []int32) {
	x = x[:len(o)]
	chans := q.chans[:len(o)]
	bs := q.buckets
	if q.full {
		for c, v := range x {
			ch := &chans[c]
			b := &bs[int(ch.off+int64(v)>>(ch.shift&63))]
			o[c] = b.lv[b2i(v >= b.t)&1]
		}
		return
	}
	for c, v := range x {
		o[c] = bucketLevel(&chans[c], bs, int64(v))
	}
}

// bmax is max(a, b) without a branch, for |a − b| < 2^63.
func bmax(a, b int64) int64 {
	d := a - b
	return a - d&(d>>63)
}

// search counts channel c's thresholds at most v by binary search.
//
//go:noinline
func (q *requant) search(c int, v int32) int {
	ts := q.n + 1
	t := q.t[c*ts : (c+1)*ts]
	g := 0
	for half := ts >> 1; half > 0; half >>= 1 {
		if t[g+half-1] <= v {
			g += half
		}
	}
	return g
}

// rows requantises rows of OutC accumulators.
func (q *requant) rows(acc []int32, out []uint8) {
	cout := len(q.guess)
	if q.vec != nil {
		q.vec.run(out, acc, cout, len(acc)/cout, cout, [4]int{})
		return
	}
	for r := 0; r+cout <= len(acc); r += cout {
		a := acc[r : r+cout]
		if q.buckets != nil {
			q.rowsBuckets(out[r:r+cout], a)
			continue
		}
		q.span(out[r:r+cout], a, a, a, a)
	}
}

// poolRequant max-pools n NHWC accumulator images h×w×c over k×k windows
// and requantises each pooled value into out.
func poolRequant(n, h, w, c, k, stride int, acc []int32, out []uint8, q *requant) {
	poolRequantGrid(n, h, w, h, w, c, k, stride, acc, out, q)
}

// poolRequantGrid is poolRequant on images h×w×c stored in a larger grid
// of gh×gw positions per image (the first h rows and w columns of each).
func poolRequantGrid(n, h, w, gh, gw, c, k, stride int, acc []int32, out []uint8, q *requant) {
	oh, ow := tensor.PoolOut(h, k, stride, 0), tensor.PoolOut(w, k, stride, 0)
	if k == 2 {
		// The four inputs of a window are at fixed offsets: a row of
		// output pixels at a time.
		for b := 0; b < n; b++ {
			for i := 0; i < oh; i++ {
				base := (b*gh + i*stride) * gw * c
				q.pixels(out[(b*oh+i)*ow*c:], acc, c, ow, stride*c, [4]int{base, base + c, base + gw*c, base + gw*c + c})
			}
		}
		return
	}
	row := make([]int32, c)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				base := ((b*gh+i*stride)*gw + j*stride) * c
				copy(row, acc[base:][:c])
				for kh := 0; kh < k; kh++ {
					for kw := 0; kw < k; kw++ {
						for ch, v := range acc[base+(kh*gw+kw)*c:][:c] {
							row[ch] = max(row[ch], v)
						}
					}
				}
				q.span(out[((b*oh+i)*ow+j)*c:][:c], row, row, row, row)
			}
		}
	}
}

// pixels requantises pix pixels of n channels laid out as for
// vecRequant.run: pixel p's accumulator of channel c is the largest of
// x[p·step + off[i] + c], i < 4.
func (q *requant) pixels(o []uint8, x []int32, n, pix, step int, off [4]int) {
	if q.vec != nil {
		q.vec.run(o, x, n, pix, step, off)
		return
	}
	for p := 0; p < pix; p++ {
		b := p * step
		q.span(o[p*n:(p+1)*n], x[b+off[0]:], x[b+off[1]:], x[b+off[2]:], x[b+off[3]:])
	}
}
