//go:build !noasm

package intgemm

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 micro-kernels. Tests turn it off to force the Go
// kernels.
var useAVX2 = cpu.X86.HasAVX2

// The assembly micro-kernels. Their reference loops are kern16Go and
// kern32Go; lda and ldc count elements (bytes of A, int32 of C).

//go:noescape
func kern16U8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, steps, panels int)

//go:noescape
func kern16S8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, steps, panels int)

//go:noescape
func kern32U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)

//go:noescape
func kern32S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)

func kern16U8(a []uint8, lda int, b []int8, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k16Step)
	if useAVX2 {
		kern16U8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
		return
	}
	kern16Go(a, lda, b, c, ldc, steps, panels, false)
}

func kern16S8(a []uint8, lda int, b []int8, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k16Step)
	if useAVX2 {
		kern16S8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
		return
	}
	kern16Go(a, lda, b, c, ldc, steps, panels, true)
}

func kern32U8(a []uint8, lda int, b []int16, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k32Step)
	if useAVX2 {
		kern32U8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
		return
	}
	kern32Go(a, lda, b, c, ldc, steps, panels, false)
}

func kern32S8(a []uint8, lda int, b []int16, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k32Step)
	if useAVX2 {
		kern32S8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
		return
	}
	kern32Go(a, lda, b, c, ldc, steps, panels, true)
}
