package intgemm

import (
	"errors"
	"fmt"
	"sync"
)

// Acc selects the accumulator width a kernel uses.
type Acc int

const (
	// Acc32 accumulates in int32 lanes: exact whenever the layer's exact
	// accumulator bound fits 32 bits.
	Acc32 Acc = iota
	// Acc16 accumulates in int16 lanes: exact only for layers certified for
	// a 16-bit accumulator.
	Acc16
)

// String returns "acc16" or "acc32".
func (a Acc) String() string {
	switch a {
	case Acc16:
		return "acc16"
	case Acc32:
		return "acc32"
	}
	return fmt.Sprintf("Acc(%d)", int(a))
}

// ErrNotCertified is wrapped by the errors NewKernel returns when the
// certificate (or the weights themselves) does not allow the requested
// accumulator width. A caller can test for it with errors.Is and fall back to
// Acc32.
var ErrNotCertified = errors.New("accumulator not certified")

// Micro-tile geometry shared by the assembly and the Go kernels.
const (
	// AVX2 32-bit path (int16 operands, horizontal sums at the end).
	mr        = 3  // activation rows per micro-tile
	nr        = 4  // weight rows (output columns) per micro-tile
	stepBytes = 32 // bytes of one packed weight row per k step
	k32Step   = 16 // k values per step

	// Broadcast kernels (16-bit AVX2 and 32-bit VNNI): bRows activation
	// rows, k in groups of 4 bytes broadcast to every lane; the weights of
	// a group are packed column after column, 4 bytes each, in panels of
	// 16 columns (AVX2 16-bit: two YMM) or 64 columns (VNNI: four ZMM).
	bRows     = 6
	group     = 4
	cols16    = 16
	vnniCols  = 16
	vnniPanel = 64
)

// Kernel is a prepared (packed) weight matrix for one layer. It is read-only
// after NewKernel and safe for concurrent use.
type Kernel struct {
	n, k   int
	acc    Acc
	panels int // ceil(n/nr)

	groups  int     // ceil(k/4)
	b8      []int8  // 16-bit path: ceil(n/16) panels × groups × 16 columns × 4 bytes
	steps32 int     // ceil(k/16)
	b16     []int16 // 32-bit path: panels × steps32 × nr × 16 int16
	colSum  []int32 // Σₖ W[j][k], for the signed-activation offset trick

	bv []int8 // 32-bit path with VNNI: ceil(n/16) strips × groups × 16 columns × 4 bytes
	// b32: 32-bit path for short K (≤ b32MaxK) on AVX2, the broadcast
	// kernel's packing (packPairs); nil for longer K.
	b32 []int16

	bitsU8, bitsS8 int  // exact accumulator bounds of the weights
	u16, s16       bool // whether MulU8 / MulS8 run the 16-bit path

	// packs holds *[]uint8 row blocks that the broadcast kernels copy
	// short blocks into, so that a product allocates nothing once warm.
	packs sync.Pool
}

// NewKernel packs n×k signed weights w (row-major, len n·k, values in
// [-127, 127]) for products with accumulator acc. certifiedBits is the
// layer's certified accumulator width (docs/MATH.md, “Exact bound”).
//
// For Acc16 it returns an error wrapping ErrNotCertified when certifiedBits
// exceeds 16, or when the weights' own exact bound exceeds 16 bits for both
// unsigned and signed 8-bit activations (a wrong certificate): the kernel
// refuses the 16-bit path for an uncertified layer rather than compute
// wrong sums. Callers add the layer name, e.g.
// fmt.Errorf("layer %s: %w", name, err).
func NewKernel(w []int8, n, k int, acc Acc, certifiedBits int) (*Kernel, error) {
	if n < 0 || k < 0 {
		return nil, fmt.Errorf("intgemm: negative shape %d×%d", n, k)
	}
	if len(w) != n*k {
		return nil, fmt.Errorf("intgemm: weights have %d values, want n·k = %d·%d = %d", len(w), n, k, n*k)
	}
	if acc != Acc16 && acc != Acc32 {
		return nil, fmt.Errorf("intgemm: unknown accumulator %v", acc)
	}
	if certifiedBits < 1 {
		return nil, fmt.Errorf("intgemm: certified accumulator width %d bits is not positive", certifiedBits)
	}
	kn := &Kernel{n: n, k: k, acc: acc, panels: (n + nr - 1) / nr}
	kn.colSum = make([]int32, n)
	for j := 0; j < n; j++ {
		pos, neg, err := rowSums(w[j*k:(j+1)*k], j)
		if err != nil {
			return nil, err
		}
		kn.colSum[j] = int32(pos - neg)
		kn.bitsU8 = max(kn.bitsU8, bitsFor(-255*neg, 255*pos))
		kn.bitsS8 = max(kn.bitsS8, bitsFor(-(128*pos+127*neg), 127*pos+128*neg))
	}
	if b := max(kn.bitsU8, kn.bitsS8); b > 32 {
		return nil, fmt.Errorf("intgemm: weights need a %d-bit accumulator; the 32-bit path requires ≤ 32: %w", b, ErrNotCertified)
	}
	if acc == Acc16 {
		if certifiedBits > 16 {
			return nil, fmt.Errorf("intgemm: certificate needs %d-bit accumulator; the 16-bit path requires ≤ 16: %w", certifiedBits, ErrNotCertified)
		}
		if kn.bitsU8 > 16 && kn.bitsS8 > 16 {
			return nil, fmt.Errorf("intgemm: certificate claims a %d-bit accumulator but the weights need %d bits for u8 and %d bits for s8 activations; the 16-bit path requires ≤ 16: %w",
				certifiedBits, kn.bitsU8, kn.bitsS8, ErrNotCertified)
		}
		// The offset trick for signed activations feeds a+128 ∈ [0, 255]
		// to the unsigned kernel, so both need the unsigned bound.
		kn.u16 = kn.bitsU8 <= 16
		kn.s16 = kn.bitsU8 <= 16
	}
	kn.groups = (k + group - 1) / group
	if kn.u16 {
		kn.b8 = packBcast(w, n, k, kn.groups, cols16)
	}
	if !kn.u16 || !kn.s16 {
		kn.steps32 = (k + k32Step - 1) / k32Step
		kn.b16 = make([]int16, kn.panels*kn.steps32*nr*k32Step)
		for j := 0; j < n; j++ {
			p, q := j/nr, j%nr
			for i, v := range w[j*k : (j+1)*k] {
				s := i / k32Step
				kn.b16[((p*kn.steps32+s)*nr+q)*k32Step+i%k32Step] = int16(v)
			}
		}
	}
	if k <= b32MaxK && (!kn.u16 || !kn.s16) {
		kn.b32 = packPairs(w, n, k)
	}
	if haveVNNI && (!kn.u16 || !kn.s16) {
		kn.bv = packBcast(w, n, k, kn.groups, vnniCols)
	}
	return kn, nil
}

// packBcast packs n×k weights for the broadcast kernels: strips of width
// columns; within a strip, for each group g of 4 k values, the 4 bytes
// w[j][4g..4g+3] of each column j in turn. Strips follow each other, so a
// panel of several strips is contiguous too. Padding is zero.
func packBcast(w []int8, n, k, groups, width int) []int8 {
	strips := (n + width - 1) / width
	b := make([]int8, strips*groups*width*group)
	for j := 0; j < n; j++ {
		s, q := j/width, j%width
		for i, v := range w[j*k : (j+1)*k] {
			b[((s*groups+i/group)*width+q)*group+i%group] = v
		}
	}
	return b
}

// rowSums returns the sums of the positive weights of row j and of the
// negated negative ones (q⁺ and q⁻ of docs/MATH.md), or an error for a
// weight outside the narrow range.
func rowSums(row []int8, j int) (pos, neg int64, err error) {
	for i, v := range row {
		if v == -128 {
			return 0, 0, fmt.Errorf("intgemm: weight [%d][%d] = -128 is outside the narrow range [-127, 127]", j, i)
		}
		if v > 0 {
			pos += int64(v)
		} else {
			neg -= int64(v)
		}
	}
	return pos, neg, nil
}

// bitsFor returns the smallest P such that [lo, hi] fits a signed P-bit
// two's-complement accumulator.
func bitsFor(lo, hi int64) int {
	p := 1
	for lo < -(int64(1)<<(p-1)) || hi > int64(1)<<(p-1)-1 {
		p++
	}
	return p
}

// N returns the number of weight rows (outputs per activation row).
func (kn *Kernel) N() int { return kn.n }

// K returns the dot-product length.
func (kn *Kernel) K() int { return kn.k }

// Acc returns the accumulator width the kernel was built for.
func (kn *Kernel) Acc() Acc { return kn.acc }

// AccBits returns the exact accumulator bound of the weights (docs/MATH.md) for
// unsigned (signedInput false) or signed 8-bit activations.
func (kn *Kernel) AccBits(signedInput bool) int {
	if signedInput {
		return kn.bitsS8
	}
	return kn.bitsU8
}

// Path returns the accumulator width that MulU8 (signedInput false) or MulS8
// (signedInput true) actually uses: Acc16 only when the kernel was built for
// Acc16 and the weights' exact bound for that activation type fits 16 bits.
func (kn *Kernel) Path(signedInput bool) Acc {
	if (signedInput && kn.s16) || (!signedInput && kn.u16) {
		return Acc16
	}
	return Acc32
}

// Impl names the implementation MulU8 (signedInput false) or MulS8 (signedInput
// true) runs with the current CPU features: "avx2-int16", "avx2-int32",
// "avx512vnni-int32", "go-int16" or "go-int32".
func (kn *Kernel) Impl(signedInput bool) string {
	switch {
	case kn.Path(signedInput) == Acc16 && useAVX2:
		return "avx2-int16"
	case kn.Path(signedInput) == Acc16:
		return "go-int16"
	case useVNNI && kn.bv != nil:
		return "avx512vnni-int32"
	case useAVX2:
		return "avx2-int32"
	}
	return "go-int32"
}

// RowStep returns the multiple of bytes in which the kernel that MulU8
// (signedInput false) or MulS8 (signedInput true) runs reads its rows of A:
// a kernel built for K a multiple of it, fed rows of that length, runs
// without copying its input; other rows are copied, block by block, into
// zero-padded ones.
func (kn *Kernel) RowStep(signedInput bool) int {
	switch {
	case kn.Path(signedInput) == Acc16 || (useVNNI && kn.bv != nil):
		return group
	case kn.b32 != nil:
		return 2
	}
	return k32Step
}

// WithoutVNNI restricts the kernel's 32-bit path to the AVX2 (or pure-Go)
// kernels, dropping its AVX-512 VNNI packing. Benchmarks use it to compare
// 16- and 32-bit accumulation on one instruction set.
func (kn *Kernel) WithoutVNNI() { kn.bv = nil }

// UsesVNNI reports whether the kernel's 32-bit path runs the AVX-512 VNNI
// kernels.
func (kn *Kernel) UsesVNNI() bool { return useVNNI && kn.bv != nil }

// Preferred returns the faster accumulator for a layer certified for
// certifiedBits bits on this CPU: Acc16 when the certificate allows it and
// the CPU lacks AVX-512 VNNI, whose exact 32-bit dot products (one
// instruction per 64 multiply-adds) outrun the AVX2 16-bit lanes (two per
// 32); Acc32 otherwise.
func Preferred(certifiedBits int) Acc {
	if certifiedBits <= 16 && !useVNNI {
		return Acc16
	}
	return Acc32
}

// MulU8 computes C (m×n int32, row stride ldc) = A (m×k uint8, row stride
// lda) · Wᵀ, using up to threads goroutines (threads ≤ 1 runs on the calling
// goroutine). Elements of C outside the m×n block are not touched. The
// kernels may read up to 3 bytes past a row's k values, and past the last
// row when a extends beyond it, but what those bytes hold never changes C;
// a caller whose k is not a multiple of 4 spares them a copy of each row
// block by passing a with 3 bytes of room after the last row.
func (kn *Kernel) MulU8(threads, m int, a []uint8, lda int, c []int32, ldc int) {
	kn.check(m, len(a), lda, len(c), ldc)
	kn.run(threads, m, a, lda, group, c, ldc, false)
}

// MulS8 computes C (m×n int32, row stride ldc) = A (m×k int8, row stride
// lda) · Wᵀ, like MulU8.
func (kn *Kernel) MulS8(threads, m int, a []int8, lda int, c []int32, ldc int) {
	kn.check(m, len(a), lda, len(c), ldc)
	kn.run(threads, m, asBytes(a), lda, group, c, ldc, true)
}

// UsesMax4 reports whether MulU8Max4 (signedInput false) or MulS8Max4
// (true) can run the kernel: its product for that input runs on the
// broadcast 32-bit kernel (K ≤ 128 on 32-bit lanes without VNNI), or, for
// unsigned inputs and K ≤ 128, on VNNI's.
func (kn *Kernel) UsesMax4(signedInput bool) bool {
	if kn.n == 0 || kn.k == 0 {
		return false
	}
	switch kn.rowKernel(signedInput) {
	case rowsB32:
		return true
	case rowsVNNI:
		return !signedInput && kn.k <= max4K
	}
	return false
}

// MulU8Max4 computes the products of MulU8 for m activation rows (m a
// multiple of 4) and keeps, of every 4 consecutive rows, the maximum:
//
//	C[i][j] = max_{r<4} Σₖ A[4i+r][k]·W[j][k],  i < m/4
//
// C has m/4 rows. A convolution followed by a 2×2 max pool of stride 2 is
// this product when the patch rows of each pool window are consecutive,
// and its full accumulators are then never stored. The reads are MulU8's.
// It panics unless UsesMax4(false).
func (kn *Kernel) MulU8Max4(threads, m int, a []uint8, lda int, c []int32, ldc int) {
	kn.runMax4(threads, m, a, lda, c, ldc, false)
}

// MulS8Max4 is MulU8Max4 for int8 activations. It panics unless
// UsesMax4(true).
func (kn *Kernel) MulS8Max4(threads, m int, a []int8, lda int, c []int32, ldc int) {
	kn.runMax4(threads, m, asBytes(a), lda, c, ldc, true)
}

// runMax4 checks a pooled product and hands contiguous ranges of output
// rows to up to threads goroutines.
func (kn *Kernel) runMax4(threads, m int, a []uint8, lda int, c []int32, ldc int, signed bool) {
	out := m / max4Rows
	switch {
	case !kn.UsesMax4(signed):
		panic("intgemm: pooled product needs the broadcast 32-bit kernel")
	case m < 0 || m%max4Rows != 0:
		panic("intgemm: pooled product of a row count that is not a multiple of 4")
	case lda < kn.k || ldc < kn.n:
		panic("intgemm: lda < k or ldc < n")
	case m > 0 && len(a) < (m-1)*lda+kn.k:
		panic("intgemm: activation slice too short")
	case m > 0 && len(c) < (out-1)*ldc+kn.n:
		panic("intgemm: output slice too short")
	}
	threads = max(1, min(threads, out))
	if threads == 1 {
		kn.rowsMax4(0, out, a, lda, c, ldc, signed)
		return
	}
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		o0, o1 := t*out/threads, (t+1)*out/threads
		wg.Go(func() { kn.rowsMax4(o0, o1, a, lda, c, ldc, signed) })
	}
	wg.Wait()
}

// UsesGroups reports whether MulU8Groups can run the kernel: its K is a
// whole number of groups of 4 and its 32-bit path runs on VNNI.
func (kn *Kernel) UsesGroups() bool { return kn.k%group == 0 && kn.UsesVNNI() }

// MulU8Groups is MulU8 for activation rows whose K values lie in groups of
// 4 bytes gstride bytes apart (gstride ≥ 4):
//
//	C[i][j] = Σ_g Σ_{t<4} a[i·lda + g·gstride + t] · W[j][4g+t]
//
// A convolution of a one-channel image with kernels at most 4 wide reads
// its input so, with no patch copies: row i is the output position i of the
// image's own grid (lda = 1), group g the kernel row g (gstride = the
// image's width), its fourth byte weighted by zero when the kernel is 3
// wide. It panics unless UsesGroups. The bytes read are
// a[i·lda + g·gstride + t] only.
func (kn *Kernel) MulU8Groups(threads, m int, a []uint8, lda, gstride int, c []int32, ldc int) {
	switch {
	case !kn.UsesGroups():
		panic("intgemm: MulU8Groups needs K a multiple of 4 and the VNNI kernels")
	case m < 0 || lda < 0 || gstride < group || ldc < kn.n:
		panic("intgemm: MulU8Groups: negative m or lda, gstride < 4 or ldc < n")
	case m > 0 && len(a) < (m-1)*lda+(kn.groups-1)*gstride+group:
		panic("intgemm: activation slice too short")
	case m > 0 && len(c) < (m-1)*ldc+kn.n:
		panic("intgemm: output slice too short")
	}
	// A VNNI kernel's rows run on rowsBcast, whatever the stride.
	kn.run(threads, m, a, lda, gstride, c, ldc, false)
}

func (kn *Kernel) check(m, la, lda, lc, ldc int) {
	switch {
	case m < 0:
		panic("intgemm: negative m")
	case lda < kn.k:
		panic("intgemm: lda < k")
	case ldc < kn.n:
		panic("intgemm: ldc < n")
	case m > 0 && la < (m-1)*lda+kn.k:
		panic("intgemm: activation slice too short")
	case m > 0 && lc < (m-1)*ldc+kn.n:
		panic("intgemm: output slice too short")
	}
}

// run splits the rows of A into blocks of mr and hands contiguous ranges of
// blocks to the goroutines. gstride is the distance of a row's groups of 4
// bytes: 4 (contiguous rows) except for MulU8Groups, whose kernels are
// VNNI's.
func (kn *Kernel) run(threads, m int, a []uint8, lda, gstride int, c []int32, ldc int, signed bool) {
	if m == 0 || kn.n == 0 {
		return
	}
	if kn.k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+kn.n])
		}
		return
	}
	kind := kn.rowKernel(signed)
	blk := [...]int{rowsInt16: mr, rowsBcast16: bRows, rowsVNNI: bRows, rowsB32: b32Rows}[kind]
	blocks := (m + blk - 1) / blk
	threads = max(1, min(threads, blocks))
	if threads == 1 {
		kn.rowsOn(kind, 0, m, a, lda, gstride, c, ldc, signed)
		return
	}
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		b0, b1 := t*blocks/threads, (t+1)*blocks/threads
		i0, i1 := b0*blk, min(b1*blk, m)
		wg.Go(func() { kn.rowsOn(kind, i0, i1, a, lda, gstride, c, ldc, signed) })
	}
	wg.Wait()
}

// The row kernels of run: the int16-operand 32-bit kernel, the 16-bit and
// VNNI broadcast kernels, and the broadcast 32-bit kernel of short dot
// products.
const (
	rowsInt16 = iota
	rowsBcast16
	rowsVNNI
	rowsB32
)

// rowKernel returns the row kernel MulU8 (signed false) or MulS8 (signed
// true) runs.
func (kn *Kernel) rowKernel(signed bool) int {
	switch {
	case kn.Path(signed) == Acc16:
		return rowsBcast16
	case useVNNI && kn.bv != nil:
		return rowsVNNI
	case kn.b32 != nil:
		return rowsB32
	}
	return rowsInt16
}

// rowsOn computes output rows [i0, i1) with the row kernel kind; a switch
// rather than a function value, so that a single-threaded product
// allocates nothing.
func (kn *Kernel) rowsOn(kind, i0, i1 int, a []uint8, lda, gstride int, c []int32, ldc int, signed bool) {
	switch kind {
	case rowsBcast16:
		kn.rowsBcast(i0, i1, a, lda, group, c, ldc, signed, false)
	case rowsVNNI:
		kn.rowsBcast(i0, i1, a, lda, gstride, c, ldc, signed, true)
	case rowsB32:
		kn.rowsB32(i0, i1, a, lda, c, ldc, signed)
	default:
		kn.rows(i0, i1, a, lda, c, ldc, signed)
	}
}

// rowsBcast computes output rows [i0, i1) with a broadcast kernel, the 16-bit
// one or (vnni) VNNI's, each row's groups of 4 bytes gstride apart (4 for
// a contiguous row; only VNNI's strip kernels take another stride).
//
// The kernels read each row in groups of 4 bytes. When k is not a multiple
// of 4, the last group of a row holds bytes past its k values (the next
// row's, or a's slack); their packed weights are zero, so whatever they
// hold adds nothing, and whole row blocks are read in place, all in one
// kernel call, as far as a is long enough. Only the blocks after them
// (short of rows or of bytes) are copied, into a contiguous zero-padded
// block from the kernel's pool.
func (kn *Kernel) rowsBcast(i0, i1 int, a []uint8, lda, gstride int, c []int32, ldc int, signed, vnni bool) {
	kPad := kn.groups * group
	span := (kn.groups-1)*gstride + group // bytes a row's groups reach
	full := inPlaceBlocks(i0, i1, bRows, lda, span, len(a))
	if full > 0 {
		kn.bcastBlocks(a[i0*lda:], lda, gstride, c[i0*ldc:], ldc, full, bRows, signed, vnni)
	}
	var pack *[]uint8
	for i := i0 + full*bRows; i < i1; i += bRows {
		rows := min(bRows, i1-i)
		if pack == nil {
			pack, _ = kn.packs.Get().(*[]uint8)
			if pack == nil || len(*pack) < bRows*kPad {
				b := make([]uint8, bRows*kPad)
				pack = &b
			}
		}
		p := (*pack)[:bRows*kPad]
		clear(p)
		for r := 0; r < rows; r++ {
			if gstride == group {
				// A contiguous row: one copy.
				copy(p[r*kPad:], a[(i+r)*lda:][:kn.k])
				continue
			}
			for g := 0; g < kn.groups; g++ {
				o := (i+r)*lda + g*gstride
				copy(p[r*kPad+g*group:], a[o:o+min(group, kn.k-g*group)])
			}
		}
		kn.bcastBlocks(p, kPad, group, c[i*ldc:], ldc, 1, rows, signed, vnni)
	}
	if pack != nil {
		kn.packs.Put(pack)
	}
	if signed {
		kn.unflip(c, i0, i1-i0, ldc)
	}
}

// inPlaceBlocks returns how many whole blocks of rows rows, from row i0
// and within rows [i0, i1), a holds entirely, each row starting lda bytes
// after the one before and reaching span bytes: the blocks a kernel can
// read in place.
func inPlaceBlocks(i0, i1, rows, lda, span, la int) int {
	n := (i1 - i0) / rows
	if la < span {
		return 0
	}
	if lda > 0 {
		n = min(n, ((la-span)/lda+1-i0)/rows)
	}
	return max(n, 0)
}

// bcastBlocks computes blocks row blocks of bRows rows of a (only the
// first rows rows of C of a single, short block): panels of wide columns,
// then whole panels of narrow columns straight into C, the last partial
// panel (every panel of a short block) through a tile on the stack. Rows
// whose groups are not contiguous (gstride ≠ 4) take the narrow panels
// only.
func (kn *Kernel) bcastBlocks(a []uint8, lda, gstride int, c []int32, ldc, blocks, rows int, signed, vnni bool) {
	b, wide, narrow := kn.b8, cols16, cols16
	if vnni {
		b, wide, narrow = kn.bv, vnniPanel, vnniCols
	}
	// Direct calls, not a function value, keep the tile on the stack.
	kern := func(wide bool, a []uint8, b []int8, c []int32, ldc, cols, blocks int) {
		switch {
		case vnni && wide:
			kernVNNI4(signed, a, lda, b, c, ldc, kn.groups, cols, blocks)
		case vnni:
			kernVNNIStrips(signed, a, lda, gstride, b, c, ldc, kn.groups, cols, blocks)
		default:
			kern16(wide, signed, a, lda, b, c, ldc, kn.groups, cols, blocks)
		}
	}
	done := 0 // columns written straight into C
	if rows == bRows && gstride == group && kn.n >= wide {
		done = kn.n / wide * wide
		kern(true, a, b, c, ldc, done, blocks)
	}
	if whole := (kn.n - done) / narrow * narrow; rows == bRows && whole > 0 {
		kern(false, a, b[done*kn.groups*group:], c[done:], ldc, whole, blocks)
		done += whole
	}
	if done == kn.n {
		return
	}
	var tile [bRows * cols16]int32 // narrow ≤ cols16
	for blk := 0; blk < blocks; blk++ {
		for j := done; j < kn.n; j += narrow {
			kern(false, a[blk*bRows*lda:], b[j*kn.groups*group:], tile[:], narrow, narrow, 1)
			cols := min(narrow, kn.n-j)
			for r := 0; r < rows; r++ {
				copy(c[(blk*bRows+r)*ldc+j:(blk*bRows+r)*ldc+j+cols], tile[r*narrow:])
			}
		}
	}
}

// unflip removes the offset of signed activations fed as a+128:
// Σ (a+128)·w − 128·Σ w = Σ a·w.
func (kn *Kernel) unflip(c []int32, i, rows, ldc int) {
	for r := 0; r < rows; r++ {
		row := c[(i+r)*ldc : (i+r)*ldc+kn.n]
		for j, s := range kn.colSum {
			row[j] -= 128 * s
		}
	}
}

// rows computes output rows [i0, i1) with the int16-operand 32-bit kernels.
// A last block of fewer than mr rows is computed as the block of the last
// mr rows (recomputing some rows, with the same results) where there are
// mr rows, and row by row where there are fewer; only blocks of a K that
// is not a whole number of steps are copied into a zero-padded block (the
// only allocation). The panels not written straight into C (the last,
// partial one; all of a block of fewer than mr rows) go one at a time
// through a tile on the stack.
func (kn *Kernel) rows(i0, i1 int, a []uint8, lda int, c []int32, ldc int, signed bool) {
	steps, b16 := kn.steps32, kn.b16
	kPad := steps * k32Step
	full := kn.n / nr // panels that are written straight into C
	var pack []uint8  // zero-padded copy of a row block, when needed
	var tmp [mr * nr]int32
	for i := i0; i < i1; i += mr {
		ib := i // the block's first row
		if i1-i < mr && i1-i0 >= mr {
			ib = i1 - mr
		}
		rows := min(mr, i1-ib)
		ab, ld := a[ib*lda:], lda
		if rows < mr && kn.k == kPad {
			// Fewer than mr rows in all: each row on its own, read as
			// every row of a block (stride 0).
			for r := ib; r < i1; r++ {
				for p := range kn.panels {
					kern32(signed, a[r*lda:], 0, b16[p*steps*nr*k32Step:], tmp[:], nr, steps, 1)
					copy(c[r*ldc+p*nr:r*ldc+min(kn.n, p*nr+nr)], tmp[:])
				}
			}
			break
		}
		if rows < mr || kn.k != kPad {
			if pack == nil {
				pack = make([]uint8, mr*kPad)
			}
			clear(pack)
			for r := 0; r < rows; r++ {
				copy(pack[r*kPad:], a[(ib+r)*lda:(ib+r)*lda+kn.k])
			}
			ab, ld = pack, kPad
		}
		p0 := 0 // the first panel not written straight into C
		if rows == mr && full > 0 {
			kern32(signed, ab, ld, b16, c[ib*ldc:], ldc, steps, full)
			p0 = full
		}
		for p := p0; p < kn.panels; p++ {
			kern32(signed, ab, ld, b16[p*steps*nr*k32Step:], tmp[:], nr, steps, 1)
			w := min(nr, kn.n-p*nr)
			for r := i - ib; r < rows; r++ {
				copy(c[(ib+r)*ldc+p*nr:(ib+r)*ldc+p*nr+w], tmp[r*nr:r*nr+w])
			}
		}
	}
}

// HasVNNI reports whether the 32-bit path can run the AVX-512 VNNI kernels
// on this CPU (and build).
func HasVNNI() bool { return useVNNI }

// CPUVendor returns the CPU's vendor identification string, such as
// "GenuineIntel" or "AuthenticAMD", or "" where the package has no
// assembly. Cores of the same instruction set differ by vendor in what
// each kernel costs (see intinfer's cost model).
func CPUVendor() string { return cpuVendor }

// CPUFamily returns the CPU's family number as Linux reports it ("cpu
// family": 25 for AMD's Zen 3 and Zen 4, 26 for Zen 5, 6 for most Intel
// cores), or 0 where the package has no assembly. Within a vendor,
// families differ in how wide their vector units are.
func CPUFamily() int { return cpuFamily }
