package gemm

import (
	"fmt"
	"sync"
)

// Sgemm computes C = op(A)·op(B) + beta·C for row-major matrices, with
// op(X) = X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n. lda/ldb/ldc are row
// strides. beta is 0 or any value (beta == 0 overwrites C even if C holds
// NaN). Single-threaded.
//
// Sgemm panics if a dimension is negative, a stride is shorter than the
// stored row, or a slice is too short for its dimensions and stride.
func Sgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	active.sgemm(matA{a: a, lda: lda, trans: transA}, matB{b: b, ldb: ldb, trans: transB}, m, n, k, beta, c, ldc)
}

// SgemmParallel is Sgemm split over threads goroutines (threads <= 1 means
// Sgemm). C is cut into blocks of whole micro-tiles, one per worker, so no
// more than threads workers run; small problems use fewer. A product with
// a long k and a small C runs as two halves of k side by side instead,
// each on half the workers (splitk.go). The result is bit-identical to
// Sgemm's.
func SgemmParallel(threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if threads <= 1 {
		Sgemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	active.parallel(threads, matA{a: a, lda: lda, trans: transA}, matB{b: b, ldb: ldb, trans: transB}, m, n, k, beta, c, ldc)
}

// parallel runs an m×n×k multiplication (arguments checked, m, n, k
// positive) on up to threads goroutines, one block of C each, or, where
// splitK says so, the halves of k side by side, each on half the threads.
func (kn *kernel) parallel(threads int, A matA, B matB, m, n, k int, beta float32, c []float32, ldc int) {
	if kn.splitK(m, n, k) {
		kn.sgemmSplitK(threads, A, B, m, n, k, beta, c, ldc)
		return
	}
	kn.parallelC(threads, A, B, m, n, k, beta, c, ldc)
}

// parallelC runs an m×n×k multiplication on up to threads goroutines, one
// block of C each, every block in one pass over k.
func (kn *kernel) parallelC(threads int, A matA, B matB, m, n, k int, beta float32, c []float32, ldc int) {
	parts := splitWork(threads, m, n, k, kn.mr, kn.nr)
	if len(parts) == 1 {
		kn.sgemm1(A, B, m, n, k, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	for _, w := range parts {
		wg.Add(1)
		go func(w part) {
			defer wg.Done()
			kn.sgemm1(A.sub(w.m0, w.m1), B.sub(w.n0, w.n1), w.m1-w.m0, w.n1-w.n0, k, beta, c[w.m0*ldc+w.n0:], ldc)
		}(w)
	}
	wg.Wait()
}

// part is a block of C, rows [m0, m1) and columns [n0, n1).
type part struct{ m0, m1, n0, n1 int }

// minPartFlops is the least work worth a goroutine of its own.
const minPartFlops = 1 << 20

// splitWork cuts C into at most threads blocks whose edges fall on mr×nr
// micro-tile boundaries.
func splitWork(threads, m, n, k, mr, nr int) []part {
	flops := 2 * m * n * k
	if t := flops / minPartFlops; t < threads {
		threads = max(t, 1)
	}
	mt := (m + mr - 1) / mr // row tiles
	nt := (n + nr - 1) / nr // column tiles
	// A split along m makes every worker pack all of op(B) (k·n values),
	// one along n all of op(A) (m·k): duplicate the smaller operand, unless
	// that leaves too few tiles to balance.
	alongM := m >= n
	if alongM && mt < 2*threads && nt >= 2*threads {
		alongM = false
	} else if !alongM && nt < 2*threads && mt >= 2*threads {
		alongM = true
	}
	tiles, unit, size := mt, mr, m
	if !alongM {
		tiles, unit, size = nt, nr, n
	}
	if tiles < threads {
		threads = tiles
	}
	parts := make([]part, 0, threads)
	for t := 0; t < threads; t++ {
		lo := (tiles * t / threads) * unit
		hi := min((tiles*(t+1)/threads)*unit, size)
		if lo >= hi {
			continue
		}
		if alongM {
			parts = append(parts, part{lo, hi, 0, n})
		} else {
			parts = append(parts, part{0, m, lo, hi})
		}
	}
	return parts
}

// scaleC sets C = beta·C, writing zeros when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// checkArgs panics on negative sizes, short strides and short slices.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkOperand("A", ar, ac, a, lda)
	checkOperand("B", br, bc, b, ldb)
	checkOperand("C", m, n, c, ldc)
}

func checkOperand(name string, rows, cols int, x []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: %s stride %d shorter than its row length %d", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s slice has %d elements, need %d for %d×%d with stride %d", name, len(x), need, rows, cols, ld))
	}
}
