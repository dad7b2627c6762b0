//go:build !amd64 || noasm

package gemm

// hasAVX2FMA reports whether the CPU runs the AVX2/FMA micro-kernel; this
// build has no assembly.
const hasAVX2FMA = false

// kernel6x16 is the AVX2/FMA micro-kernel on amd64; here it is kernelGo:
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
func kernel6x16(kc int, a, b, c []float32, ldc int, beta float32) {
	kernelGo(kc, a, b, c, ldc, beta)
}

// fmaLoop is not available without assembly; FMAPeak measures the Go loop.
func fmaLoop(n int) { _ = fmaLoopGo(n) }

// fmaLoopFlops is the number of floating-point operations per fmaLoop
// iteration.
const fmaLoopFlops = fmaLoopGoFlops

// packBPanels copies npan full nr-wide panels of kb rows of B into packed
// form:
//
//	for p := 0; p < kb; p++ {
//		for q := 0; q < npan; q++ {
//			copy(dst[q*kb*nr+p*nr:q*kb*nr+p*nr+nr], src[p*ldb+q*nr:p*ldb+q*nr+nr])
//		}
//	}
func packBPanels(dst, src []float32, kb, npan, ldb int) {
	packBPanelsGo(dst, src, kb, npan, ldb)
}

// packATrans6 packs one full micro-panel of a transposed A:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*mr:p*mr+mr], src[p*lda:p*lda+mr])
//	}
func packATrans6(dst, src []float32, kb, lda int) {
	packATrans6Go(dst, src, kb, lda)
}

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
func kernel6x16Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < kc; p++ {
				s += a[i*lda+p] * b[p*nr+j]
			}
			if beta == 0 {
				c[i*ldc+j] = s
			} else {
				c[i*ldc+j] = beta*c[i*ldc+j] + s
			}
		}
	}
}
