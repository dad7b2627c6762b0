package intgemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sparseWeights draws n×k weights with about the given fraction of zeros,
// the rest mostly ±1 and ±2 with some larger magnitudes, the positive and
// the negative part of each row at most 127: the exact bound then fits 16
// bits for unsigned and for signed 8-bit inputs (255·127 and 127·127 +
// 128·127 are below 2^15).
func sparseWeights(rng *rand.Rand, n, k int, zeros float64) []int8 {
	w := make([]int8, n*k)
	for j := 0; j < n; j++ {
		pos, neg := 127, 127
		for i := 0; i < k; i++ {
			if rng.Float64() < zeros {
				continue
			}
			var m int
			switch r := rng.IntN(10); {
			case r < 5:
				m = 1
			case r < 8:
				m = 2
			case r < 9:
				m = 3 + rng.IntN(6)
			default:
				m = 9 + rng.IntN(40)
			}
			if rng.IntN(2) == 0 {
				m = min(m, pos)
				pos -= m
				w[j*k+i] = int8(m)
			} else {
				m = min(m, neg)
				neg -= m
				w[j*k+i] = int8(-m)
			}
		}
	}
	return w
}

// sparseLayout draws the offsets of k terms for np positions: "strided"
// puts term k at k·stride (k-major rows, stride ≥ np), "conv" is a stride-1
// convolution over channel-major planes (term (kh, kw, cin) at
// cin·planeStride + kh·W + kw), "random" any offsets, repeats included.
func sparseLayout(rng *rand.Rand, layout string, np int) []int32 {
	var off []int32
	switch layout {
	case "strided":
		k, stride := 1+rng.IntN(120), np+rng.IntN(20)
		for i := 0; i < k; i++ {
			off = append(off, int32(i*stride))
		}
	case "conv":
		cin, kh, kw := 1+rng.IntN(8), 1+rng.IntN(3), 1+rng.IntN(3)
		width, plane := kw+rng.IntN(12), np+rng.IntN(40)
		for a := 0; a < kh; a++ {
			for b := 0; b < kw; b++ {
				for ci := 0; ci < cin; ci++ {
					off = append(off, int32(ci*plane+a*width+b))
				}
			}
		}
	case "random":
		k := 1 + rng.IntN(100)
		for i := 0; i < k; i++ {
			off = append(off, int32(rng.IntN(3*np+50)))
		}
	default:
		panic("unknown layout " + layout)
	}
	return off
}

// inputRange returns the range of inputBits-bit activations.
func inputRange(inputBits int, signed bool) (lo, hi int) {
	if signed {
		return -(1 << (inputBits - 1)), 1<<(inputBits-1) - 1
	}
	return 0, 1<<inputBits - 1
}

// actByte is the byte that holds activation v for Sparse.Mul: v itself,
// or for signed inputs its int8 bits with the sign bit flipped (v + 128).
func actByte(v int, signed bool) uint8 {
	if signed {
		return uint8(int8(v)) ^ 0x80
	}
	return uint8(v)
}

// actOf is the activation byte b holds (actByte's inverse).
func actOf(b uint8, signed bool) int64 {
	if signed {
		return int64(b) - 128
	}
	return int64(b)
}

// sparseRef is the int64 oracle: c[p][j] = Σ_k w[j][k]·a(x[off[k]+p]), a
// the activation each byte holds.
func sparseRef(w []int8, n int, off []int32, np int, x []uint8, signed bool) []int64 {
	k := len(off)
	c := make([]int64, np*n)
	for p := 0; p < np; p++ {
		for j := 0; j < n; j++ {
			var s int64
			for i, o := range off {
				s += int64(w[j*k+i]) * actOf(x[int(o)+p], signed)
			}
			c[p*n+j] = s
		}
	}
	return c
}

// randActs returns n random 8-bit activations as the sparse kernel reads
// them (signed ones with 128 added).
func randActs(rng *rand.Rand, n int, signed bool) []uint8 {
	lo, hi := inputRange(8, signed)
	x := make([]uint8, n)
	for i := range x {
		x[i] = actByte(lo+rng.IntN(hi-lo+1), signed)
	}
	return x
}

const sparseSentinel = -0x5a5a5a5b

// sparseCheck runs s.Mul on np positions of x into a sentinel-filled c with
// row stride ldc, passed as the shortest slice Mul accepts, and checks every
// entry of the block against want and every other entry of the backing
// array against the sentinel. It returns the backing array.
func sparseCheck(t *testing.T, s *Sparse, np int, x []uint8, ldc int, want []int64) []int32 {
	t.Helper()
	n := s.N()
	back := make([]int32, np*ldc+8)
	for i := range back {
		back[i] = sparseSentinel
	}
	s.Mul(np, x, back[:(np-1)*ldc+n], ldc)
	for p := 0; p < np; p++ {
		for j := 0; j < ldc; j++ {
			got := back[p*ldc+j]
			switch {
			case j < n && int64(got) != want[p*n+j]:
				t.Fatalf("%s: c[%d][%d] = %d, want %d", s.Impl(), p, j, got, want[p*n+j])
			case j >= n && got != sparseSentinel:
				t.Fatalf("%s: c[%d][%d] outside the %d×%d block written (%d)", s.Impl(), p, j, np, n, got)
			}
		}
	}
	for i := np * ldc; i < len(back); i++ {
		if back[i] != sparseSentinel {
			t.Fatalf("%s: c[%d] past the block written (%d)", s.Impl(), i, back[i])
		}
	}
	return back
}

// TestSparseMul checks every implementation against the int64 oracle and
// against each other, sentinels included, over sparsities, input types,
// shapes that cut blocks and chunks, and offset layouts.
func TestSparseMul(t *testing.T) {
	ns, nps := []int{1, 7, 16, 17, 64, 70}, []int{1, 15, 64, 65, 128, 129, 200}
	if testing.Short() {
		ns, nps = []int{1, 7, 17}, []int{1, 15, 65}
	}
	for _, zeros := range []float64{0.5, 0.9, 0.99, 1} {
		for _, signed := range []bool{false, true} {
			for _, layout := range []string{"strided", "conv", "random"} {
				name := fmt.Sprintf("zeros=%v/signed=%v/%s", zeros, signed, layout)
				t.Run(name, func(t *testing.T) {
					seed := uint64(zeros*1000) + 2*uint64(len(layout))
					if signed {
						seed++
					}
					rng := rand.New(rand.NewPCG(seed, 14))
					for _, n := range ns {
						for _, np := range nps {
							sparseMulCase(t, rng, zeros, signed, layout, n, np)
						}
					}
				})
			}
		}
	}
}

func sparseMulCase(t *testing.T, rng *rand.Rand, zeros float64, signed bool, layout string, n, np int) {
	t.Helper()
	off := sparseLayout(rng, layout, np)
	k := len(off)
	w := sparseWeights(rng, n, k, zeros)
	s, err := NewSparse(w, n, k, off, 8, signed, 16)
	if err != nil {
		t.Fatalf("n=%d k=%d: %v", n, k, err)
	}
	nnz, groups, muls := 0, 0, 0
	for j := 0; j < n; j++ {
		vals := map[int8]bool{}
		for _, v := range w[j*k : (j+1)*k] {
			if v != 0 {
				nnz++
				vals[v] = true
			}
		}
		groups += len(vals)
		muls += len(vals) - b2iTest(vals[1]) - b2iTest(vals[-1])
	}
	if s.NonZeros() != nnz || s.Groups() != groups || s.Multiplies() != muls {
		t.Fatalf("NonZeros, Groups, Multiplies = %d, %d, %d; want %d, %d, %d", s.NonZeros(), s.Groups(), s.Multiplies(), nnz, groups, muls)
	}
	x := randActs(rng, s.InputLen(np)+rng.IntN(3), signed)
	want := sparseRef(w, n, off, np, x, signed)
	ldc := n + rng.IntN(4)
	var outs [][]int32
	for _, impl := range impls() {
		forceImpl(t, impl)
		outs = append(outs, sparseCheck(t, s, np, x, ldc, want))
	}
	for i := 1; i < len(outs); i++ {
		if !slices.Equal(outs[0], outs[i]) {
			t.Fatalf("n=%d np=%d: %s and %s write different arrays", n, np, impls()[0], impls()[i])
		}
	}
}

// TestSparseExtremes drives every channel to the ends of its exact bound,
// the bound itself at 16 bits: inputs at their maximum where the weight is
// positive and at their minimum where it is negative (even positions), the
// reverse at odd positions. Each channel has its own terms, so one input
// holds every channel's worst case.
func TestSparseExtremes(t *testing.T) {
	ones := func(v int8, cnt int) []int8 { return slices.Repeat([]int8{v}, cnt) }
	tests := []struct {
		name      string
		inputBits int
		signed    bool
		rows      [][]int8
	}{
		{"u8", 8, false, [][]int8{
			ones(1, 128), ones(-1, 128), // ±255·128
			append(ones(2, 64), ones(-1, 128)...),
			{127, 1, -127, -1},
			append(ones(3, 42), 2, -64, -64),
		}},
		{"s8", 8, true, [][]int8{
			append(ones(1, 129), ones(-1, 127)...), // 127·129 + 128·127 = 32639
			{127, -127},
			append(ones(-2, 64), ones(1, 127)...),
			{64, 60, -5, 3, -120},
		}},
		{"u7", 7, false, [][]int8{ones(1, 258), append(ones(-1, 127), 3, -5, 0, 1)}}, // 127·258 = 32766
		{"s4", 4, true, [][]int8{ones(-127, 32), {127, -1}, {7, 7}}},                 // 8·127·32 = 32512
	}
	for _, tc := range tests {
		n := len(tc.rows)
		var w []int8
		k := 0
		for _, r := range tc.rows {
			k += len(r)
		}
		w = make([]int8, n*k)
		at := 0
		for j, r := range tc.rows {
			copy(w[j*k+at:], r)
			at += len(r)
		}
		const np = 100
		off := make([]int32, k)
		for i := range off {
			off[i] = int32(i * np)
		}
		s, err := NewSparse(w, n, k, off, tc.inputBits, tc.signed, 16)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s.AccBits() != 16 {
			t.Fatalf("%s: AccBits = %d, want the edge, 16", tc.name, s.AccBits())
		}
		lo, hi := inputRange(tc.inputBits, tc.signed)
		x := make([]uint8, s.InputLen(np))
		for j := 0; j < n; j++ {
			for i := 0; i < k; i++ {
				v := w[j*k+i]
				if v == 0 {
					continue
				}
				for p := 0; p < np; p++ {
					if (v > 0) == (p%2 == 0) {
						x[int(off[i])+p] = actByte(hi, tc.signed)
					} else {
						x[int(off[i])+p] = actByte(lo, tc.signed)
					}
				}
			}
		}
		want := sparseRef(w, n, off, np, x, tc.signed)
		for _, impl := range impls() {
			t.Run(tc.name+"/"+impl, func(t *testing.T) {
				forceImpl(t, impl)
				sparseCheck(t, s, np, x, n, want)
			})
		}
	}
}

// TestNewSparseRefuses checks the refusals: certificates and weights that
// need more than 16 bits (ErrNotCertified), and malformed arguments.
func TestNewSparseRefuses(t *testing.T) {
	ones := func(cnt int) []int8 { return slices.Repeat([]int8{1}, cnt) }
	offs := func(k int) []int32 {
		o := make([]int32, k)
		for i := range o {
			o[i] = int32(i)
		}
		return o
	}
	tests := []struct {
		name         string
		w            []int8
		n, k         int
		off          []int32
		inputBits    int
		signed       bool
		certified    int
		wantErr      string // "" for success
		notCertified bool   // whether the error wraps ErrNotCertified
	}{
		{"edge accepted", ones(128), 1, 128, offs(128), 8, false, 16, "", false},
		{"certificate 17", ones(4), 1, 4, offs(4), 8, false, 17, "17-bit", true},
		{"weights need 17", ones(129), 1, 129, offs(129), 8, false, 16, "needs 17 bits", true},
		{"signed weights need 17", slices.Concat(slices.Repeat([]int8{-127}, 130), slices.Repeat([]int8{127}, 130)), 2, 130, offs(130), 8, true, 16, "output 0", true},
		{"second output needs 17", slices.Concat(ones(128), make([]int8, 1), ones(129)), 2, 129, offs(129), 8, false, 12, "output 1", true},
		{"weight -128", []int8{1, -128}, 1, 2, offs(2), 8, false, 16, "-128", false},
		{"short weights", ones(5), 2, 3, offs(3), 8, false, 16, "weights have 5 values", false},
		{"short offsets", ones(6), 2, 3, offs(2), 8, false, 16, "2 offsets for 3 terms", false},
		{"negative offset", ones(3), 1, 3, []int32{0, -1, 2}, 8, false, 16, "term 1 is negative", false},
		{"negative shape", nil, -1, 0, nil, 8, false, 16, "negative shape", false},
		{"9-bit inputs", ones(1), 1, 1, offs(1), 9, false, 16, "9-bit activations", false},
		{"0-bit inputs", ones(1), 1, 1, offs(1), 0, false, 16, "0-bit activations", false},
		{"zero certificate", ones(1), 1, 1, offs(1), 8, false, 0, "not positive", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSparse(tc.w, tc.n, tc.k, tc.off, tc.inputBits, tc.signed, tc.certified)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewSparse: %v", err)
				}
				if s.AccBits() > 16 {
					t.Fatalf("accepted with AccBits %d", s.AccBits())
				}
				return
			}
			if err == nil {
				t.Fatalf("NewSparse accepted (AccBits %d)", s.AccBits())
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNotCertified) != tc.notCertified {
				t.Fatalf("error %q: errors.Is(ErrNotCertified) = %v, want %v", err, !tc.notCertified, tc.notCertified)
			}
		})
	}
}

// TestSparseMulArgs checks Mul's panics on short slices and its no-ops.
func TestSparseMulArgs(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	const n, np = 5, 70
	off := sparseLayout(rng, "strided", np)
	w := sparseWeights(rng, n, len(off), 0.5)
	s, err := NewSparse(w, n, len(off), off, 8, false, 16)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]uint8, s.InputLen(np))
	c := make([]int32, np*n)
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	panics("short x", func() { s.Mul(np, x[:len(x)-1], c, n) })
	panics("short c", func() { s.Mul(np, x, c[:len(c)-1], n) })
	panics("ldc < n", func() { s.Mul(np, x, c, n-1) })
	panics("negative np", func() { s.Mul(-1, x, c, n) })
	c[0] = sparseSentinel
	s.Mul(0, nil, c, n)
	if c[0] != sparseSentinel {
		t.Errorf("Mul of 0 positions wrote c")
	}

	// No terms: every output is zero.
	s0, err := NewSparse(nil, n, 0, nil, 8, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, impl := range impls() {
		forceImpl(t, impl)
		sparseCheck(t, s0, np, make([]uint8, s0.InputLen(np)), n+1, make([]int64, np*n))
	}
}

// TestSparseImpl checks that Impl names the forced implementation.
func TestSparseImpl(t *testing.T) {
	s, err := NewSparse([]int8{1}, 1, 1, []int32{0}, 8, false, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"go": "go-sparse16", "avx2": "avx2-sparse16", "vnni": "avx512-sparse16"}
	for _, impl := range impls() {
		forceImpl(t, impl)
		if s.Impl() != want[impl] {
			t.Errorf("forced %s: Impl = %q, want %q", impl, s.Impl(), want[impl])
		}
	}
}

// TestSparseAllocs checks that Mul does not allocate.
func TestSparseAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	const n, np = 17, 130
	off := sparseLayout(rng, "conv", np)
	w := sparseWeights(rng, n, len(off), 0.9)
	s, err := NewSparse(w, n, len(off), off, 8, true, 16)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]uint8, s.InputLen(np))
	c := make([]int32, np*n)
	for _, impl := range impls() {
		forceImpl(t, impl)
		if a := testing.AllocsPerRun(10, func() { s.Mul(np, x, c, n) }); a != 0 {
			t.Errorf("%s: %v allocations per Mul", impl, a)
		}
	}
}

func b2iTest(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSparseMulRows checks MulRows and MulMap on every implementation: the
// kept positions' outputs in the rows of a random permutation, every third
// position sent to one scratch row (where the last of them stays), nothing
// written anywhere else. MulMap runs on a map of more positions than the
// product's, whose rows past them would overwrite the kept ones.
func TestSparseMulRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	for _, np := range []int{1, 5, 64, 129, 300} {
		for _, signed := range []bool{false, true} {
			off := sparseLayout(rng, "conv", np)
			n, k := 19, len(off)
			w := sparseWeights(rng, n, k, 0.8)
			s, err := NewSparse(w, n, k, off, 8, signed, 16)
			if err != nil {
				t.Fatal(err)
			}
			x := randActs(rng, s.InputLen(np), signed)
			want := sparseRef(w, n, off, np, x, signed)
			var kept []int
			for p := 0; p < np; p++ {
				if p%3 != 2 {
					kept = append(kept, p)
				}
			}
			scratch := len(kept)
			rows := make([]int32, np)
			for p := range rows {
				rows[p] = int32(scratch)
			}
			for i, r := range rng.Perm(len(kept)) {
				rows[kept[i]] = int32(r)
			}
			ldc := n + 3
			longer := slices.Clone(rows)
			for _, r := range rng.Perm(scratch + 1) {
				longer = append(longer, int32(r))
			}
			m, err := NewRowMap(longer, ldc)
			if err != nil {
				t.Fatal(err)
			}
			for _, run := range []string{"MulRows", "MulMap"} {
				for _, impl := range impls() {
					forceImpl(t, impl)
					c := make([]int32, (scratch+2)*ldc)
					for i := range c {
						c[i] = sparseSentinel
					}
					if run == "MulRows" {
						s.MulRows(np, x, c, ldc, rows)
					} else {
						s.MulMap(np, x, c, m)
					}
					wantRow := func(r int) []int64 {
						last := -1
						for p, pr := range rows {
							if int(pr) == r {
								last = p
							}
						}
						if last < 0 {
							return nil
						}
						return want[last*n : (last+1)*n]
					}
					for r := 0; r < scratch+2; r++ {
						wr := wantRow(r)
						for j := 0; j < ldc; j++ {
							got := c[r*ldc+j]
							switch {
							case j < n && wr != nil && int64(got) != wr[j]:
								t.Fatalf("%s %s np=%d signed=%v: row %d channel %d = %d, want %d", run, impl, np, signed, r, j, got, wr[j])
							case (j >= n || wr == nil) && got != sparseSentinel:
								t.Fatalf("%s %s np=%d signed=%v: c[%d][%d] written (%d)", run, impl, np, signed, r, j, got)
							}
						}
					}
				}
			}
		}
	}
	if _, err := NewRowMap([]int32{0, 3, -1}, 4); err == nil || !strings.Contains(err.Error(), "position 2") {
		t.Errorf("a negative row: error %v, want one naming position 2", err)
	}
}

// TestSparseMulPool checks MulPool on every implementation against the
// maxima of the reference product: 2×2 windows of grids of odd and even
// widths, windows reading both halves of the block, as many windows as
// lanes and a few, channels in whole chunks of 8 and not, and windows of
// random positions (wp = 0: two even and two odd, in any order, in either
// half of the block); nothing written
// outside the windows' rows and the n columns.
func TestSparseMulPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	cases := []struct{ wp, ph, pw, n int }{
		{13, 5, 5, 64}, // the reference CNN's conv2: 10×10 outputs on a 13-wide grid
		{12, 5, 6, 19},
		{16, 4, 8, 8},
		{11, 1, 3, 5},
		{9, 6, 4, 24},
		{0, 4, 8, 16},
		{0, 3, 3, 11},
	}
	for _, tc := range cases {
		var win [][4]int32
		for q := 0; tc.wp == 0 && q < tc.ph*tc.pw; q++ {
			// Two even and two odd positions, in any order.
			var w [4]int32
			for t := range w {
				w[t] = int32(2*rng.IntN(64) + t%2)
			}
			rng.Shuffle(4, func(a, b int) { w[a], w[b] = w[b], w[a] })
			win = append(win, w)
		}
		for i := 0; tc.wp > 0 && i < tc.ph; i++ {
			for j := 0; j < tc.pw; j++ {
				p := int32(2*i*tc.wp + 2*j)
				w := int32(tc.wp)
				win = append(win, [4]int32{p, p + 1, p + w, p + w + 1})
			}
		}
		for _, signed := range []bool{false, true} {
			span := 0
			for _, w := range win {
				span = max(span, int(slices.Max(w[:]))+1)
			}
			off := sparseLayout(rng, "conv", span)
			k := len(off)
			w := sparseWeights(rng, tc.n, k, 0.8)
			s, err := NewSparse(w, tc.n, k, off, 8, signed, 16)
			if err != nil {
				t.Fatal(err)
			}
			x := randActs(rng, s.InputLen(span), signed)
			want := sparseRef(w, tc.n, off, span, x, signed)
			ldc := tc.n + 5
			m, err := NewPoolMap(win, ldc)
			if err != nil {
				t.Fatal(err)
			}
			if m.Span() != span || m.Len() != len(win) {
				t.Fatalf("span %d, %d windows; want %d, %d", m.Span(), m.Len(), span, len(win))
			}
			for _, impl := range impls() {
				forceImpl(t, impl)
				c := make([]int32, (len(win)+2)*ldc)
				for i := range c {
					c[i] = sparseSentinel
				}
				s.MulPool(x, c[:(len(win)-1)*ldc+tc.n], m)
				for r := 0; r < len(win)+2; r++ {
					for j := 0; j < ldc; j++ {
						got := c[r*ldc+j]
						if r >= len(win) || j >= tc.n {
							if got != sparseSentinel {
								t.Fatalf("%s %+v signed=%v: c[%d][%d] written (%d)", impl, tc, signed, r, j, got)
							}
							continue
						}
						wv := want[int(win[r][0])*tc.n+j]
						for _, p := range win[r][1:] {
							wv = max(wv, want[int(p)*tc.n+j])
						}
						if int64(got) != wv {
							t.Fatalf("%s %+v signed=%v: window %d channel %d = %d, want %d", impl, tc, signed, r, j, got, wv)
						}
					}
				}
			}
		}
	}
}

// TestPoolMapErrors checks that NewPoolMap refuses windows the kernel
// cannot pool, naming what is wrong.
func TestPoolMapErrors(t *testing.T) {
	many := make([][4]int32, 33)
	for _, tc := range []struct {
		name string
		win  [][4]int32
		ldc  int
		want string
	}{
		{"none", nil, 4, "0 pool windows"},
		{"too many", many, 4, "33 pool windows"},
		{"past the block", [][4]int32{{0, 1, 2, 3}, {0, 1, 128, 3}}, 4, "window 1 reads position 128"},
		{"negative position", [][4]int32{{0, -1, 2, 3}}, 4, "window 0 reads position -1"},
		{"three even positions", [][4]int32{{0, 1, 2, 3}, {4, 6, 9, 10}}, 4, "window 1 reads 3 even positions"},
		{"negative stride", [][4]int32{{0, 1, 2, 3}}, -1, "row stride -1"},
	} {
		if _, err := NewPoolMap(tc.win, tc.ldc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
