//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the CPU runs the AVX2/FMA micro-kernel.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16 is the AVX2/FMA micro-kernel; it computes
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
//
// with a fused multiply-add for every product. kc must be positive and the
// slices long enough; it does not check.
//
//go:noescape
func kernel6x16(kc int, a, b, c []float32, ldc int, beta float32)

// fmaLoop runs n iterations of twelve independent 8-wide FMAs (192 flops
// per iteration) on registers only.
//
//go:noescape
func fmaLoop(n int)

// fmaLoopFlops is the number of floating-point operations per fmaLoop
// iteration.
const fmaLoopFlops = 12 * 8 * 2

// packBPanels copies npan full nr-wide panels of kb rows of B into packed
// form:
//
//	for p := 0; p < kb; p++ {
//		for q := 0; q < npan; q++ {
//			copy(dst[q*kb*nr+p*nr:q*kb*nr+p*nr+nr], src[p*ldb+q*nr:p*ldb+q*nr+nr])
//		}
//	}
//
//go:noescape
func packBPanels(dst, src []float32, kb, npan, ldb int)

// packATrans6 packs one full micro-panel of a transposed A:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*mr:p*mr+mr], src[p*lda:p*lda+mr])
//	}
//
//go:noescape
func packATrans6(dst, src []float32, kb, lda int)

// kernel6x16Direct is kernel6x16 reading a 6-row strip of A in place,
// element (i, p) at a[i*lda+p], instead of a packed panel:
//
//	for i := 0; i < mr; i++ {
//		for j := 0; j < nr; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[i*lda+p] * b[p*nr+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
//go:noescape
func kernel6x16Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)
