//go:build !amd64 || noasm

package intgemm

// useAVX2 is always false without assembly; it exists so that tests can
// flip it on every platform.
var useAVX2 = false

func kern16(wide, signed bool, a []uint8, lda int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	checkBcast(a, lda, group, b, c, ldc, groups, cols, cols16, blocks)
	for blk := 0; blk < blocks; blk++ {
		kern16Go(signed, a[blk*bRows*lda:], lda, b, c[blk*bRows*ldc:], ldc, groups, cols)
	}
}

func kern32(signed bool, a []uint8, lda int, b []int16, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k32Step)
	kern32Go(a, lda, b, c, ldc, steps, panels, signed)
}

// Without assembly the CPU's vendor and family are not read.
const (
	cpuVendor = ""
	cpuFamily = 0
)

// Without assembly there are no VNNI or AVX-512 kernels.
var (
	haveVNNI   = false
	useVNNI    = false
	haveAVX512 = false
	useAVX512  = false
)

func kernVNNIStrips(signed bool, a []uint8, lda, gstride int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	panic("intgemm: VNNI kernel without assembly")
}

func kernVNNI4(signed bool, a []uint8, lda int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	panic("intgemm: VNNI kernel without assembly")
}

func kern32bU8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int) {
	panic("intgemm: AVX2 kernel without assembly")
}

func kern32bS8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int) {
	panic("intgemm: AVX2 kernel without assembly")
}

func kern32bMax4U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int) {
	panic("intgemm: AVX2 kernel without assembly")
}

func kern32bMax4S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int) {
	panic("intgemm: AVX2 kernel without assembly")
}

func kernVNNIMax4x2(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int) {
	panic("intgemm: VNNI kernel without assembly")
}

func kernVNNIMax4x1(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int) {
	panic("intgemm: VNNI kernel without assembly")
}
