// Package intgemm computes integer matrix products for certified integer
// inference: C = A·Wᵀ with 8-bit activations A, signed 8-bit weights W and
// int32 results, accumulating either in 16-bit or in 32-bit lanes.
//
// # Layout
//
// A is m×k, row-major with row stride lda (in elements); W is n×k, row-major
// and packed once by [NewKernel]; C is m×n int32, row-major with row stride
// ldc. Both A and W are "k-contiguous", so every output C[i][j] = Σₖ A[i][k]·W[j][k]
// is a dot product of two contiguous rows. Weights are narrow-range signed
// 8-bit integers in [-127, 127]; activations are uint8 ([Kernel.MulU8]) or
// int8 ([Kernel.MulS8]).
//
// # Accumulators
//
// The 16-bit path ([Acc16]) multiplies u8×s8 pairs with VPMADDUBSW and adds
// them in int16 lanes, widening to int32 once per output. It is exact only
// when every partial sum of every dot product fits in int16. The caller's
// certificate (the exact accumulator bound of the layer, docs/MATH.md) says so,
// and NewKernel checks it again against the weights themselves: a kernel never
// runs the 16-bit path on weights whose exact bound exceeds 16 bits. Signed
// activations use the offset trick (a+128 is unsigned; the kernel subtracts
// 128·Σₖ W[j][k] afterwards), which is exact when the unsigned-input bound of
// the weights fits 16 bits; otherwise MulS8 runs the 32-bit path. The path a
// kernel takes for each activation type is reported by [Kernel.Path].
//
// The 32-bit path ([Acc32]) is exact whenever the layer's exact bound fits 32
// bits, which NewKernel checks. On CPUs with AVX-512 VNNI it uses VPDPBUSD
// (u8×s8 quadruples summed into int32 lanes without saturation; signed
// activations through the same offset trick); otherwise it widens both
// operands to int16 and multiplies with VPMADDWD into int32 lanes.
//
// VPDPBUSD does 64 multiply-adds in one instruction where the 16-bit AVX2
// path needs two (VPMADDUBSW, VPADDW) for 32, so on a CPU with AVX-512 VNNI
// the exact 32-bit path is the faster one; the 16-bit path pays off on AVX2
// CPUs without it. [Preferred] picks the faster accumulator for a certified
// layer on the running CPU.
//
// The 32-bit path of a short dot product (K ≤ 128 on AVX2: a first
// convolution on one channel has K = 9) runs a broadcast kernel instead
// (kern32b.go): a pair of activations widened to int16 and broadcast to
// every lane, one output column per 32-bit lane, VPMADDWD, so there is no
// horizontal sum per output and no padding of K to 16. [Kernel.MulU8Max4]
// runs it, or VNNI's kernels, with a 2×2 max pool inside: of every 4
// consecutive rows (a pool window's patches) only the maximum is stored.
//
// # Sparse layers
//
// [Sparse] holds a layer's non-zero weights, grouped by value per output
// channel, for layers whose exact bound fits 16 bits: [Sparse.Mul] adds,
// for blocks of output positions in 16-bit lanes, the activation bytes each
// non-zero weight reads (one multiplication per group of equal weights, none
// for ±1), from any layout in which term k of position p lies at a fixed
// offset plus p. It is exact modulo 2^16 since the true sums fit 16 bits,
// which [NewSparse] checks from the weights. It runs on AVX-512 (BW) where
// the CPU has it, on AVX2 otherwise. [Sparse.MulMap] stores positions in
// the rows of a prepared [RowMap]; [Sparse.MulPool] takes the maxima of
// 2×2 pool windows within one block in the AVX-512 kernel's registers
// ([PoolMap]).
//
// # Implementations
//
// Every kernel exists twice: an assembly micro-kernel and a pure-Go
// reference that
// computes the same sums (for the 16-bit path it emulates the int16 lanes,
// including saturation and wrap-around). The kernels are chosen at run time
// from golang.org/x/sys/cpu ([Kernel.Impl] says which); building with
// -tags noasm leaves only the Go kernels. The 16-bit AVX2 and the VNNI
// kernels broadcast 4 activation bytes to every lane and keep one output
// column per lane (6 activation rows × 16 weight rows per tile for AVX2, ×
// 64 for VNNI), so no horizontal sums are needed; the int16-operand 32-bit
// AVX2 kernel uses 3 × 4 tiles over 16 values of k and sums lanes at the end.
//
// # Errors and panics
//
// NewKernel returns errors for bad data (weights out of range, a certificate
// that does not allow the requested accumulator). The Mul methods panic on
// shape mismatches (short slices, strides smaller than the row length), which
// are programmer errors.
//
// [DotP] is the scalar reference for a P-bit accumulator in exact, wrapping and
// saturating modes; it shows what overflow does to a dot product.
package intgemm
