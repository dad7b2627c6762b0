//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

// asmBuild reports whether the kernels below are assembly; when false they
// are their pure-Go reference loops and run anywhere.
const asmBuild = true

// CPU features of the assembly kernels.
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512  = hasAVX2FMA && cpu.X86.HasAVX512F
)

// kernel6x16 is the AVX2/FMA 6×16 micro-kernel:
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[p*6+i] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel6x16(kc int, a, b, c []float32, ldc int, beta float32)

// kernel6x16Direct is kernel6x16 reading a 6-row strip of A in place:
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[i*lda+p] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel6x16Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)

// kernel6x16Gather is kernel6x16Direct reading the strip of A through
// offsets: row i starts at a[rows[i]] and column p is offs[p] further on
// (offsets are non-negative and every sum indexes a):
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[int(rows[i])+int(offs[p])] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel6x16Gather(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32)

// kernel12x32 is the AVX-512 12×32 micro-kernel:
//
//	for i := 0; i < 12; i++ {
//		for j := 0; j < 32; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[p*12+i] * b[p*32+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel12x32(kc int, a, b, c []float32, ldc int, beta float32)

// kernel12x32Direct is kernel12x32 reading a 12-row strip of A in place:
//
//	for i := 0; i < 12; i++ {
//		for j := 0; j < 32; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[i*lda+p] * b[p*32+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel12x32Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)

// packBPanels packs npan full nr-wide panels of kb rows of B (nr a
// multiple of 16):
//
//	for p := 0; p < kb; p++ {
//		for q := 0; q < npan; q++ {
//			copy(dst[q*kb*nr+p*nr:q*kb*nr+p*nr+nr], src[p*ldb+q*nr:p*ldb+q*nr+nr])
//		}
//	}
//
//go:noescape
func packBPanels(dst, src []float32, kb, npan, ldb, nr int)

// packATrans6 packs one full 6-row panel of a transposed A:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*6:p*6+6], src[p*lda:p*lda+6])
//	}
//
//go:noescape
func packATrans6(dst, src []float32, kb, lda int)

// packATrans12 packs one full 12-row panel of a transposed A:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*12:p*12+12], src[p*lda:p*lda+12])
//	}
//
//go:noescape
func packATrans12(dst, src []float32, kb, lda int)

// fmaLoop runs n iterations of twelve independent 8-wide FMAs (192 flops
// per iteration) on registers only.
//
//go:noescape
func fmaLoop(n int)

// fmaLoop512 runs n iterations of twelve independent 16-wide FMAs (384
// flops per iteration) on registers only.
//
//go:noescape
func fmaLoop512(n int)

// kernel6x32Gather is the AVX-512 gathering micro-kernel of six rows:
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 32; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[int(rows[i])+int(offs[p])] * b[p*32+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// Every product is a fused multiply-add. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel6x32Gather(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32)

// kernel12x32Gather is kernel12x32Direct reading the strip of A through
// offsets: row i starts at a[rows[i]] and column p is offs[p] further on
// (offsets are non-negative and every sum indexes a):
//
//	for i := 0; i < 12; i++ {
//		for j := 0; j < 32; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[int(rows[i])+int(offs[p])] * b[p*32+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// It runs as two six-row halves: twelve row pointers, the offsets, B and
// the counters do not fit the general registers at once. Every product is
// a fused multiply-add. kc must be positive and the slices long enough; it
// does not check.
func kernel12x32Gather(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32) {
	kernel6x32Gather(kc, a, rows[:6], offs, b, c, ldc, beta)
	kernel6x32Gather(kc, a, rows[6:12], offs, b, c[6*ldc:], ldc, beta)
}
