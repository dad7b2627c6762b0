package gemm

import (
	"math"
	"sync"
)

// microKernel updates one mr×nr tile of C from packed panels:
//
//	for i := 0; i < mr; i++ {
//		for j := 0; j < nr; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[p*mr+i] * b[p*nr+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
type microKernel func(kc int, a, b, c []float32, ldc int, beta float32)

// directKernel is a micro-kernel that reads an mr-row strip of op(A) = A in
// place (element (i, p) at a[i*lda+p]) rather than from a packed panel.
type directKernel func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)

// gatherKernel is a direct micro-kernel for a gathered A: element (i, p)
// of the strip is a[rows[i]+offs[p]], for the mr offsets in rows and the
// kc in offs.
type gatherKernel func(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32)

// matA is the left operand op(A) as the loop nests read it: stored, with
// element (i, p) at a[i*lda+p] (a[p*lda+i] when trans), or gathered (rows
// non-nil), at a[rows[i]+cols[p]].
type matA struct {
	a          []float32
	lda        int
	trans      bool
	rows, cols []int32
}

// gathered reports whether A is given by offsets.
func (A matA) gathered() bool { return A.rows != nil }

// sub returns rows [i0, i1) of op(A).
func (A matA) sub(i0, i1 int) matA {
	switch {
	case A.gathered():
		A.rows = A.rows[i0:i1]
	case A.trans:
		A.a = A.a[i0:]
	default:
		A.a = A.a[i0*A.lda:]
	}
	return A
}

// matB is the right operand op(B) as the packing routines read it:
// stored, with element (p, j) at b[p*ldb+j] (b[j*ldb+p] when trans), or
// gathered (rows non-nil), at b[rows[p]+cols[j]].
type matB struct {
	b          []float32
	ldb        int
	trans      bool
	rows, cols []int32
}

// sub returns columns [j0, j1) of op(B).
func (B matB) sub(j0, j1 int) matB {
	switch {
	case B.rows != nil:
		B.cols = B.cols[j0:j1]
	case B.trans:
		B.b = B.b[j0*B.ldb:]
	default:
		B.b = B.b[j0:]
	}
	return B
}

// maxTile is the largest mr·nr of any kernel.
const maxTile = 12 * 32

// kernel is one micro-kernel family: its tile, its cache blocks and the
// routines that feed it.
type kernel struct {
	name       string
	mr, nr     int // tile
	mc, kc, nc int // block limits; mc is a multiple of mr, nc of nr
	packed     microKernel
	direct     directKernel // nil: A is always packed
	// gather is direct for a gathered A; when nil, a gathered strip is
	// copied into a dense one that direct reads.
	gather gatherKernel
	// directN is the widest C for which A is read in place by direct
	// instead of packed (when A is not transposed). The in-place strip
	// stays in L1 while the packed B block streams from L2; it saves
	// packing A, which matters most when C has few column panels.
	directN int
	// directNC is the nc limit of the direct loop nest: a kc×directNC
	// block of B must sit in L2.
	directNC int
	// packATrans packs one full mr-row panel of op(A) = Aᵀ:
	// dst[p*mr+i] = src[p*lda+i].
	packATrans func(dst, src []float32, kb, lda int)
	// packBPanels packs npan full nr-wide panels of op(B) = B:
	// dst[q*kb*nr+p*nr+j] = src[p*ldb+q*nr+j].
	packBPanels func(dst, src []float32, kb, npan, ldb, nr int)
}

// The kernel families. Every build has goKernel; the others need assembly
// and the CPU features named.
var (
	goKernel = &kernel{
		name: "go", mr: 6, nr: 16, mc: 192, kc: 256, nc: 4080,
		packed:      kernelGo,
		packATrans:  func(dst, src []float32, kb, lda int) { packATransGo(dst, src, kb, lda, 6) },
		packBPanels: packBPanelsGo,
	}
	avx2Kernel = &kernel{
		name: "avx2", mr: 6, nr: 16, mc: 192, kc: 256, nc: 4080,
		packed:      kernel6x16,
		direct:      kernel6x16Direct,
		gather:      kernel6x16Gather,
		directN:     128,
		directNC:    128,
		packATrans:  packATrans6,
		packBPanels: packBPanels,
	}
	avx512Kernel = &kernel{
		name: "avx512", mr: 12, nr: 32, mc: 192, kc: 256, nc: 4096,
		packed:      kernel12x32,
		direct:      kernel12x32Direct,
		gather:      kernel12x32Gather,
		directN:     math.MaxInt,
		directNC:    1024,
		packATrans:  packATrans12,
		packBPanels: packBPanels,
	}
)

// kernels returns the kernel families this build and CPU can run, fastest
// last.
func kernels() []*kernel {
	ks := []*kernel{goKernel}
	if hasAVX2FMA {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

// active is the kernel family Sgemm uses: the fastest the CPU runs. It is a
// variable so that tests and benchmarks can force every path; it must not
// change while a multiplication is running.
var active = kernels()[len(kernels())-1]

// packBuf holds one worker's packing memory.
type packBuf struct {
	a, b  []float32
	strip []float32        // a gathered strip of A copied for direct
	runs  []int32          // the runs of consecutive offsets of its columns
	split []float32        // the halves of a product split in k (splitk.go)
	tmp   [maxTile]float32 // edge tile
}

// packPool recycles packing memory between calls.
var packPool = sync.Pool{New: func() any { return new(packBuf) }}

// blocks returns the cache block sizes of kernel kn for an m×n×k problem.
// kc is balanced so that the k-blocks have nearly equal length; it depends
// on k only, so every part of a split problem sums each C element in the
// same order.
func (kn *kernel) blocks(m, n, k int) (mc, kc, nc int) {
	kc = balance(k, kn.kc, 1)
	mc = balance(m, kn.mc, kn.mr)
	ncMax := kn.nc
	if kn.useDirect(false, n) {
		ncMax = kn.directNC
	}
	nc = balance(n, ncMax, kn.nr)
	return mc, kc, nc
}

// balance splits size into the fewest blocks of at most limit and returns a
// block length that is a multiple of unit and covers size evenly.
func balance(size, limit, unit int) int {
	if size <= limit {
		return roundUp(size, unit)
	}
	nb := (size + limit - 1) / limit
	return roundUp((size+nb-1)/nb, unit)
}

func roundUp(x, unit int) int { return (x + unit - 1) / unit * unit }

// getPack returns packing memory large enough for an m×n×k problem.
func (kn *kernel) getPack(m, n, k int) *packBuf {
	mc, kc, nc := kn.blocks(m, n, k)
	p := packPool.Get().(*packBuf)
	if na := mc * kc; cap(p.a) < na {
		p.a = make([]float32, na)
	}
	nb := nc * kc
	if kn.wholeB(n, k) {
		nb = roundUp(n, kn.nr) * k
	}
	if cap(p.b) < nb {
		p.b = make([]float32, nb)
	}
	return p
}

func putPack(p *packBuf) { packPool.Put(p) }

// sgemm runs an m×n×k multiplication on one goroutine, in two halves of
// k where splitK says so. The arguments have been checked and m, n, k are
// positive.
func (kn *kernel) sgemm(A matA, B matB, m, n, k int, beta float32, c []float32, ldc int) {
	if kn.splitK(m, n, k) {
		kn.sgemmSplitK(1, A, B, m, n, k, beta, c, ldc)
		return
	}
	kn.sgemm1(A, B, m, n, k, beta, c, ldc)
}

// sgemm1 runs an m×n×k multiplication on one goroutine in one pass over k.
func (kn *kernel) sgemm1(A matA, B matB, m, n, k int, beta float32, c []float32, ldc int) {
	p := kn.getPack(m, n, k)
	if kn.useDirect(A.trans, n) {
		kn.sgemmDirect(A, B, m, n, k, beta, c, ldc, p)
	} else {
		kn.sgemmPacked(A, B, m, n, k, beta, c, ldc, p)
	}
	putPack(p)
}

// useDirect reports whether an n-column product reads A in place.
func (kn *kernel) useDirect(transA bool, n int) bool {
	return kn.direct != nil && !transA && n <= kn.directN
}

// sgemmPacked is the GotoBLAS/BLIS loop nest around the micro-kernel.
func (kn *kernel) sgemmPacked(A matA, B matB, m, n, k int, beta float32, c []float32, ldc int, p *packBuf) {
	mr, nr := kn.mr, kn.nr
	mc, kc, nc := kn.blocks(m, n, k)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bp := p.b[:roundUp(nb, nr)*kb]
			kn.packB(B, kb, nb, pc, jc, bp)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				ap := p.a[:roundUp(mb, mr)*kb]
				kn.packA(A, mb, kb, ic, pc, ap)
				kn.macroKernel(mb, nb, kb, ap, bp, c[ic*ldc+jc:], ldc, bt, &p.tmp)
			}
		}
	}
}

// wholeBBytes is the most packed op(B) that sgemmDirect packs at once; it
// is then read from L2 for every strip of A.
const wholeBBytes = 1 << 20

// wholeB reports whether sgemmDirect packs all of op(B) up front.
func (kn *kernel) wholeB(n, k int) bool {
	return kn.useDirect(false, n) && n <= kn.directNC && roundUp(n, kn.nr)*k*4 <= wholeBBytes
}

// sgemmDirect is the loop nest for an untransposed A: only op(B) is packed,
// and the direct kernel reads each mr-row strip of A in place (from L1)
// while it sweeps the column panels of B. When all of op(B) packs into
// wholeBBytes it is packed once and each strip runs through every k-block
// while its rows of C are hot; otherwise B is packed in kc×nc blocks kept
// in L2. Rows past the last full strip are packed and go through the
// packed kernel. Either way each C element sums its k-blocks in order.
func (kn *kernel) sgemmDirect(A matA, B matB, m, n, k int, beta float32, c []float32, ldc int, p *packBuf) {
	mr, nr := kn.mr, kn.nr
	_, kc, nc := kn.blocks(m, n, k)
	mFull := m / mr * mr
	betaAt := func(pc int) float32 {
		if pc > 0 {
			return 1
		}
		return beta
	}
	if kn.wholeB(n, k) {
		kn.packWholeB(B, n, k, p.b)
		kn.directWhole(A, m, n, k, p.b, beta, c, ldc, p)
		return
	}
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bp := p.b[:roundUp(nb, nr)*kb]
			kn.packB(B, kb, nb, pc, jc, bp)
			for ir := 0; ir < mFull; ir += mr {
				kn.strip(A, ir, pc, kb, nb, bp, c[ir*ldc+jc:], ldc, betaAt(pc), p)
			}
			if mFull < m {
				ap := p.a[:mr*kb]
				kn.packA(A, m-mFull, kb, mFull, pc, ap)
				kn.macroKernel(m-mFull, nb, kb, ap, bp, c[mFull*ldc+jc:], ldc, betaAt(pc), &p.tmp)
			}
		}
	}
}

// packWholeB packs all of op(B) for directWhole: k-blocks of kc rows,
// each roundUp(n, nr) columns wide, one after the other.
func (kn *kernel) packWholeB(B matB, n, k int, dst []float32) {
	_, kc, _ := kn.blocks(1, n, k)
	npad := roundUp(n, kn.nr)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		kn.packB(B, kb, n, pc, 0, dst[pc*npad:pc*npad+npad*kb])
	}
}

// directWhole is sgemmDirect with all of op(B) packed (by packWholeB) in
// bp: each strip of A runs through every k-block while its rows of C are
// hot; rows past the last full strip are packed and go through the packed
// kernel.
func (kn *kernel) directWhole(A matA, m, n, k int, bp []float32, beta float32, c []float32, ldc int, p *packBuf) {
	mr := kn.mr
	_, kc, _ := kn.blocks(m, n, k)
	npad := roundUp(n, kn.nr)
	mFull := m / mr * mr
	betaAt := func(pc int) float32 {
		if pc > 0 {
			return 1
		}
		return beta
	}
	for ir := 0; ir < mFull; ir += mr {
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			kn.strip(A, ir, pc, kb, n, bp[pc*npad:pc*npad+npad*kb], c[ir*ldc:], ldc, betaAt(pc), p)
		}
	}
	if mFull < m {
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			ap := p.a[:mr*kb]
			kn.packA(A, m-mFull, kb, mFull, pc, ap)
			kn.macroKernel(m-mFull, n, kb, ap, bp[pc*npad:pc*npad+npad*kb], c[mFull*ldc:], ldc, betaAt(pc), &p.tmp)
		}
	}
}

// strip multiplies the mr×kb strip of A at rows [ir, ir+mr) and columns
// [pc, pc+kb), read in place, by a packed kb×nb block of op(B) into mr rows
// of C.
func (kn *kernel) strip(A matA, ir, pc, kb, nb int, bp, cs []float32, ldc int, beta float32, p *packBuf) {
	if A.gathered() {
		kn.gatherStrip(kb, nb, A.a, A.rows[ir:ir+kn.mr], A.cols[pc:pc+kb], bp, cs, ldc, beta, p)
		return
	}
	kn.directStrip(kb, nb, A.a[ir*A.lda+pc:], A.lda, bp, cs, ldc, beta, p)
}

// directStrip multiplies one in-place mr×kb strip of A by a packed kb×nb
// block of op(B) into mr rows of C; a ragged last panel goes through tmp.
func (kn *kernel) directStrip(kb, nb int, as []float32, lda int, bp, cs []float32, ldc int, beta float32, p *packBuf) {
	mr, nr := kn.mr, kn.nr
	for jr := 0; jr < nb; jr += nr {
		bpan := bp[jr*kb : (jr+nr)*kb]
		if jr+nr <= nb {
			kn.direct(kb, as, lda, bpan, cs[jr:], ldc, beta)
			continue
		}
		nw := nb - jr
		t := p.tmp[:mr*nr]
		if beta != 0 {
			for i := 0; i < mr; i++ {
				copy(t[i*nr:i*nr+nw], cs[i*ldc+jr:i*ldc+jr+nw])
			}
		}
		kn.direct(kb, as, lda, bpan, t, nr, beta)
		for i := 0; i < mr; i++ {
			copy(cs[i*ldc+jr:i*ldc+jr+nw], t[i*nr:i*nr+nw])
		}
	}
}

// gatherStrip is directStrip for a gathered strip, element (i, p) at
// a[rows[i]+cols[p]]: gather reads it through the offsets or, without
// one, it is copied into p.strip for direct.
func (kn *kernel) gatherStrip(kb, nb int, a []float32, rows, cols []int32, bp, cs []float32, ldc int, beta float32, p *packBuf) {
	if kn.gather == nil {
		kn.directStrip(kb, nb, p.gatherStrip(a, rows, cols), kb, bp, cs, ldc, beta, p)
		return
	}
	mr, nr := kn.mr, kn.nr
	for jr := 0; jr < nb; jr += nr {
		bpan := bp[jr*kb : (jr+nr)*kb]
		if jr+nr <= nb {
			kn.gather(kb, a, rows, cols, bpan, cs[jr:], ldc, beta)
			continue
		}
		nw := nb - jr
		t := p.tmp[:mr*nr]
		if beta != 0 {
			for i := 0; i < mr; i++ {
				copy(t[i*nr:i*nr+nw], cs[i*ldc+jr:i*ldc+jr+nw])
			}
		}
		kn.gather(kb, a, rows, cols, bpan, t, nr, beta)
		for i := 0; i < mr; i++ {
			copy(cs[i*ldc+jr:i*ldc+jr+nw], t[i*nr:i*nr+nw])
		}
	}
}

// macroKernel multiplies a packed mb×kb block of op(A) by a packed kb×nb
// block of op(B) into C, one micro-tile at a time. Partial tiles on the
// right and bottom edges go through tmp.
func (kn *kernel) macroKernel(mb, nb, kb int, ap, bp, c []float32, ldc int, beta float32, tmp *[maxTile]float32) {
	mr, nr := kn.mr, kn.nr
	for jr := 0; jr < nb; jr += nr {
		nw := min(nr, nb-jr)
		bpan := bp[jr*kb : (jr+nr)*kb]
		for ir := 0; ir < mb; ir += mr {
			mh := min(mr, mb-ir)
			apan := ap[ir*kb : (ir+mr)*kb]
			cc := c[ir*ldc+jr:]
			if mh == mr && nw == nr {
				kn.packed(kb, apan, bpan, cc, ldc, beta)
				continue
			}
			t := tmp[:mr*nr]
			if beta != 0 {
				for i := 0; i < mh; i++ {
					copy(t[i*nr:i*nr+nw], cc[i*ldc:i*ldc+nw])
				}
			}
			kn.packed(kb, apan, bpan, t, nr, beta)
			for i := 0; i < mh; i++ {
				copy(cc[i*ldc:i*ldc+nw], t[i*nr:i*nr+nw])
			}
		}
	}
}
