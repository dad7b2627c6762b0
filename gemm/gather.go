package gemm

import "fmt"

// Gather is an m×k matrix given by offsets into Data rather than stored:
// element (i, p) is Data[Rows[i]+Cols[p]], so m = len(Rows) and
// k = len(Cols). The patch matrix of an unpadded convolution is one: Rows
// holds each output pixel's window corner in the input, Cols each kernel
// tap's position relative to it. Multiplying it as a Gather reads the input
// in place instead of copying every patch. Offsets are non-negative and
// every Rows[i]+Cols[p] indexes Data.
type Gather struct {
	Data       []float32
	Rows, Cols []int32
}

// mat returns g as the loop nests read it.
func (g Gather) mat() matA { return matA{a: g.Data, rows: g.Rows, cols: g.Cols} }

// check panics if an offset is negative or a sum of offsets falls outside
// Data.
func (g Gather) check() {
	maxR, maxC := int32(-1), int32(-1)
	for _, r := range g.Rows {
		if r < 0 {
			panic(fmt.Sprintf("gemm: Gather row offset %d is negative", r))
		}
		maxR = max(maxR, r)
	}
	for _, c := range g.Cols {
		if c < 0 {
			panic(fmt.Sprintf("gemm: Gather column offset %d is negative", c))
		}
		maxC = max(maxC, c)
	}
	if maxR >= 0 && maxC >= 0 && int(maxR)+int(maxC) >= len(g.Data) {
		panic(fmt.Sprintf("gemm: Gather offsets reach element %d of a %d-element slice", int(maxR)+int(maxC), len(g.Data)))
	}
}

// SgemmGather computes C = A·op(B) + beta·C for the gathered m×k A
// (m = len(a.Rows), k = len(a.Cols)) and op(B) k×n (B stored n×k when
// transB), split over threads goroutines like SgemmParallel. Its result is
// bit-identical to Sgemm's on the stored A, for every split.
//
// SgemmGather panics on the shape errors Sgemm panics on and on offsets
// that are negative or reach past a.Data.
func SgemmGather(threads int, a Gather, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m, k := len(a.Rows), len(a.Cols)
	if n < 0 {
		panic(fmt.Sprintf("gemm: negative dimension n=%d", n))
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkOperand("B", br, bc, b, ldb)
	checkOperand("C", m, n, c, ldc)
	a.check()
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	active.parallel(max(threads, 1), a.mat(), matB{b: b, ldb: ldb, trans: transB}, m, n, k, beta, c, ldc)
}

// SgemmGatherRight computes C = op(A)·B + beta·C for op(A) m×k (A stored
// k×m when transA) and the gathered k×n B (k = len(b.Rows),
// n = len(b.Cols)), split over threads goroutines like SgemmParallel. Its
// result is bit-identical to Sgemm's on the stored B, for every split. The
// weights' gradient of a convolution, the output gradient (transposed)
// times the patch matrix, is such a product.
//
// SgemmGatherRight panics on the shape errors Sgemm panics on and on
// offsets that are negative or reach past b.Data.
func SgemmGatherRight(threads int, transA bool, m int, a []float32, lda int, b Gather, beta float32, c []float32, ldc int) {
	k, n := len(b.Rows), len(b.Cols)
	if m < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d", m))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkOperand("A", ar, ac, a, lda)
	checkOperand("C", m, n, c, ldc)
	b.check()
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	B := matB{b: b.Data, rows: b.Rows, cols: b.Cols}
	active.parallel(max(threads, 1), matA{a: a, lda: lda, trans: transA}, B, m, n, k, beta, c, ldc)
}

// SgemmGatherB is SgemmB for a gathered A (k = len(a.Cols) must be
// pb.K()): C = A·op(B) + beta·C on one goroutine, bit-identical to Sgemm's
// result on the stored A.
func SgemmGatherB(a Gather, pb *PackedB, beta float32, c []float32, ldc int) {
	m := len(a.Rows)
	if len(a.Cols) != pb.k {
		panic(fmt.Sprintf("gemm: SgemmGatherB: A has %d columns, packed B %d rows", len(a.Cols), pb.k))
	}
	checkOperand("C", m, pb.n, c, ldc)
	a.check()
	if m == 0 {
		return
	}
	pb.mul(a.mat(), m, beta, c, ldc)
}
