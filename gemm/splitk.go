package gemm

import "sync"

// Products with a long k and a small C, the weights' gradient of a
// convolution above all (dYᵀ·patches: m output channels by n patch values,
// k = images × output positions), parallelise badly by cutting C: each
// worker packs all of the operand it shares, a full pass over k, and there
// are few tiles of C to share out. Such products are instead computed as
// two halves of k, each on its own worker, then summed. The split is a
// function of the shape alone (never of the thread count), so a product
// gives the same bits on one goroutine as on several: the halves are
// summed first, then added to beta·C.

// splitKMin is the shortest k that is split.
const splitKMin = 4096

// splitKMaxC is the largest C (m·n values) that is split: the halves need
// two m×n temporaries.
const splitKMaxC = 1 << 16

// splitK reports whether kn computes an m×n×k product in two halves of k:
// k long against both m and n, C small, and op(B) too large for a whole
// packed copy (so that a PackedB product, packed whole, never splits).
func (kn *kernel) splitK(m, n, k int) bool {
	return k >= splitKMin && k >= 16*max(m, n) && m*n <= splitKMaxC && !kn.wholeB(n, k)
}

// kSub returns columns [p0, p1) of op(A).
func (A matA) kSub(p0, p1 int) matA {
	switch {
	case A.gathered():
		A.cols = A.cols[p0:p1]
	case A.trans:
		A.a = A.a[p0*A.lda:]
	default:
		A.a = A.a[p0:]
	}
	return A
}

// kSub returns rows [p0, p1) of op(B).
func (B matB) kSub(p0, p1 int) matB {
	switch {
	case B.rows != nil:
		B.rows = B.rows[p0:p1]
	case B.trans:
		B.b = B.b[p0:]
	default:
		B.b = B.b[p0*B.ldb:]
	}
	return B
}

// sgemmSplitK computes the product as two halves of k, side by side when
// threads allows (each half's C split over its share of the threads, which
// does not change its bits): T₁ and T₂ into temporaries, then C = beta·C +
// (T₁ + T₂), each step rounded (never fused).
func (kn *kernel) sgemmSplitK(threads int, A matA, B matB, m, n, k int, beta float32, c []float32, ldc int) {
	kh := k / 2
	p := packPool.Get().(*packBuf)
	defer putPack(p)
	if cap(p.split) < 2*m*n {
		p.split = make([]float32, 2*m*n)
	}
	t1, t2 := p.split[:m*n], p.split[m*n:2*m*n]
	first := func(th int) { kn.parallelC(th, A.kSub(0, kh), B.kSub(0, kh), m, n, kh, 0, t1, n) }
	second := func(th int) { kn.parallelC(th, A.kSub(kh, k), B.kSub(kh, k), m, n, k-kh, 0, t2, n) }
	if threads > 1 {
		var wg sync.WaitGroup
		wg.Go(func() { second(threads / 2) })
		first(threads - threads/2)
		wg.Wait()
	} else {
		first(1)
		second(1)
	}
	for i := range m {
		row, r1, r2 := c[i*ldc:i*ldc+n], t1[i*n:(i+1)*n], t2[i*n:(i+1)*n]
		for j := range row {
			s := r1[j] + r2[j]
			if beta == 0 {
				row[j] = s
			} else {
				row[j] = float32(beta*row[j]) + s
			}
		}
	}
}
