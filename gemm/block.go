package gemm

import "sync"

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

// directKernel is a micro-kernel that reads a 6-row strip of op(A) = A in
// place (element (i, p) at a[i*lda+p]) rather than from a packed panel.
type directKernel func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)

// maxDirectN is the widest C for which A is read in place instead of
// packed: with few column panels, each A strip is used so few times that
// packing it costs more than it saves.
const maxDirectN = 128

// kernels is the pair of micro-kernels one multiplication uses. direct is
// nil when the build has no in-place kernel.
type kernels struct {
	packed microKernel
	direct directKernel
}

// kernelsFor returns the assembly micro-kernels when asm is true and the
// build has them, the pure-Go micro-kernel otherwise.
func kernelsFor(asm bool) kernels {
	if asm && hasAVX2FMA {
		return kernels{packed: kernel6x16, direct: kernel6x16Direct}
	}
	return kernels{packed: kernelGo}
}

// packBuf holds one worker's packing memory.
type packBuf struct {
	a, b []float32
	tmp  [mr * nr]float32 // edge tile
}

// packPool recycles packing memory between calls.
var packPool = sync.Pool{New: func() any { return new(packBuf) }}

// blocks returns the cache block sizes for an m×n×k problem. kc is balanced
// so that the k-blocks have nearly equal length; it depends on k only, so
// every part of a split problem sums each C element in the same order.
func blocks(m, n, k int) (mc, kc, nc int) {
	kc = balance(k, defaultKC, 1)
	mc = balance(m, defaultMC, mr)
	nc = balance(n, defaultNC, nr)
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
func getPack(m, n, k int) *packBuf {
	mc, kc, nc := blocks(m, n, k)
	p := packPool.Get().(*packBuf)
	if na := mc * kc; cap(p.a) < na {
		p.a = make([]float32, na)
	}
	if nb := nc * kc; cap(p.b) < nb {
		p.b = make([]float32, nb)
	}
	return p
}

func putPack(p *packBuf) { packPool.Put(p) }

// sgemmBlocked is the GotoBLAS/BLIS loop nest around the micro-kernel. The
// arguments have been checked and m, n, k are positive.
func sgemmBlocked(ks kernels, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, p *packBuf) {
	if ks.direct != nil && !transA && n <= maxDirectN {
		sgemmDirect(ks, transB, m, n, k, a, lda, b, ldb, beta, c, ldc, p)
		return
	}
	kern := ks.packed
	mc, kc, nc := blocks(m, n, k)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bp := p.b[:roundUp(nb, nr)*kb]
			packB(transB, kb, nb, b, ldb, pc, jc, bp)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				ap := p.a[:roundUp(mb, mr)*kb]
				packA(transA, mb, kb, a, lda, ic, pc, ap)
				macroKernel(kern, mb, nb, kb, ap, bp, c[ic*ldc+jc:], ldc, bt, &p.tmp)
			}
		}
	}
}

// sgemmDirect is the loop nest for a narrow C (n <= maxDirectN) and an
// untransposed A: only op(B) is packed, and the direct kernel reads each
// 6-row strip of A in place while it sweeps all column panels. Rows past the
// last full strip are packed and go through the packed kernel.
func sgemmDirect(ks kernels, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, p *packBuf) {
	_, kc, _ := blocks(m, n, k)
	mFull := m / mr * mr
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		bp := p.b[:roundUp(n, nr)*kb]
		packB(transB, kb, n, b, ldb, pc, 0, bp)
		bt := beta
		if pc > 0 {
			bt = 1
		}
		for ir := 0; ir < mFull; ir += mr {
			as := a[ir*lda+pc:]
			cs := c[ir*ldc:]
			for jr := 0; jr < n; jr += nr {
				bpan := bp[jr*kb : (jr+nr)*kb]
				if jr+nr <= n {
					ks.direct(kb, as, lda, bpan, cs[jr:], ldc, bt)
					continue
				}
				nw := n - jr
				t := p.tmp[:]
				if bt != 0 {
					for i := 0; i < mr; i++ {
						copy(t[i*nr:i*nr+nw], cs[i*ldc+jr:i*ldc+jr+nw])
					}
				}
				ks.direct(kb, as, lda, bpan, t, nr, bt)
				for i := 0; i < mr; i++ {
					copy(cs[i*ldc+jr:i*ldc+jr+nw], t[i*nr:i*nr+nw])
				}
			}
		}
		if mFull < m {
			ap := p.a[:mr*kb]
			packA(false, m-mFull, kb, a, lda, mFull, pc, ap)
			macroKernel(ks.packed, m-mFull, n, kb, ap, bp, c[mFull*ldc:], ldc, bt, &p.tmp)
		}
	}
}

// macroKernel multiplies a packed mb×kb block of op(A) by a packed kb×nb
// block of op(B) into C, one micro-tile at a time. Partial tiles on the
// right and bottom edges go through tmp.
func macroKernel(kern microKernel, mb, nb, kb int, ap, bp, c []float32, ldc int, beta float32, tmp *[mr * nr]float32) {
	for jr := 0; jr < nb; jr += nr {
		nw := min(nr, nb-jr)
		bpan := bp[jr*kb : (jr+nr)*kb]
		for ir := 0; ir < mb; ir += mr {
			mh := min(mr, mb-ir)
			apan := ap[ir*kb : (ir+mr)*kb]
			cc := c[ir*ldc+jr:]
			if mh == mr && nw == nr {
				kern(kb, apan, bpan, cc, ldc, beta)
				continue
			}
			t := tmp[:]
			if beta != 0 {
				for i := 0; i < mh; i++ {
					copy(t[i*nr:i*nr+nw], cc[i*ldc:i*ldc+nw])
				}
			}
			kern(kb, apan, bpan, t, nr, beta)
			for i := 0; i < mh; i++ {
				copy(cc[i*ldc:i*ldc+nw], t[i*nr:i*nr+nw])
			}
		}
	}
}
