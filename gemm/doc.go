// Package gemm provides the float32 matrix-multiply kernels that a2q trains on.
//
// Sgemm computes C = op(A)·op(B) + beta·C where op(X) is X or Xᵀ. All matrices
// are row-major: element (i, j) of a matrix X with row stride ldx is
// x[i*ldx+j]. op(A) is m×k, op(B) is k×n and C is m×n; a stored matrix that is
// transposed by op has its dimensions swapped (A is stored k×m when transA is
// true). A stride must be at least the stored row length. beta == 0
// overwrites C without reading it, so C may hold NaN or garbage. C must not
// overlap A or B.
//
// The implementation follows GotoBLAS/BLIS: op(B) is packed in kc×nc blocks
// and op(A) in mc×kc blocks, both split into micro-panels of nr columns and
// mr rows laid out so that an mr×nr micro-kernel streams them sequentially.
// Transposition is handled while packing, so one micro-kernel serves all
// four combinations. When A is not transposed and C is narrow (or always,
// with AVX-512) A is not packed: the micro-kernel reads an mr-row strip in
// place while it sweeps the packed column panels of B. Ragged edges are
// packed with zero padding and written through a small temporary tile.
//
// SgemmGather and SgemmGatherB take the left operand as a Gather: element
// (i, p) at Data[Rows[i]+Cols[p]], as an unpadded convolution's patch
// matrix sits in its input. The loop nests read such a strip through its
// offsets (the AVX2 and AVX-512 families have gathering micro-kernels; the
// pure-Go family copies each strip into a small dense one, a run of
// consecutive offsets at a time) and pack it through them, so
// the result is Sgemm's on the stored matrix, bit for bit, without the
// matrix ever being stored. SgemmGatherRight takes the right operand so,
// packing it through its offsets.
//
// The micro-kernel family is chosen at run time (golang.org/x/sys/cpu):
// a 12×32 AVX-512 kernel holding the tile in 24 ZMM registers, else a 6×16
// AVX2/FMA kernel holding it in 12 YMM registers, else (and with the noasm
// build tag, or on other architectures) a pure-Go 6×16 kernel with the same
// packing. Every assembly routine has its pure-Go reference loop in its doc
// comment and, in stubs_noasm.go, as its body. The k-summation order of
// every C element depends only on the shape, the kernel family and its
// block size kc — a product with a long k and a small C (a convolution's
// weight gradient) is summed as two halves of k, on one goroutine as on
// several — so SgemmParallel gives results bit-identical to Sgemm.
//
// Shape errors (negative dimensions, strides shorter than a row, slices too
// short for the given dimensions and strides) are programmer errors and
// panic with a message naming the operand and the sizes. The functions never
// retain the slices they are given.
package gemm
