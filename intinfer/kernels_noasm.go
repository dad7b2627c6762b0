//go:build !amd64 || noasm

package intinfer

// Without assembly the kernels below are never selected: the bucket
// tables requantise, and Go loops quantize and copy patches.
var (
	useAVX512 = false
	useAVX2   = false
	hasVBMI   = false
)

func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32) {
	panic("intinfer: no vector kernels in this build")
}

func requantFMA512(o *uint8, x0, x1, x2, x3 *int32, m, c *float32, fix *int32, n, pix, step int, lo, hi int32) {
	panic("intinfer: no vector kernels in this build")
}

func requantFMARows512(o *uint8, x *int32, m, c *float32, fix *int32, total int, lo, hi int32) {
	panic("intinfer: no vector kernels in this build")
}

func planarVNNI(img *uint8, nimg, imgLen int, tab *uint8, nblk int, w *int32, n int, m, c *float32, fix *int32, planes *uint8, ldp, perImg, rowLen int, lo, hi int32) {
	panic("intinfer: no vector kernels in this build")
}

func quantizeAVX512(o *uint8, x *float32, n int, div, lo, hi float32) {
	panic("intinfer: no vector kernels in this build")
}

func im2colValidAVX2(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int) {
	panic("intinfer: no vector kernels in this build")
}

func im2colWords(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int) {
	panic("intinfer: no vector kernels in this build")
}

func im2colWords3(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int) {
	panic("intinfer: no vector kernels in this build")
}

func im2colWords3Pool(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int) {
	panic("intinfer: no vector kernels in this build")
}

func im2col3x3Pool1(dst *uint8, src *uint8, oh, ow, rowLen int) {
	panic("intinfer: no vector kernels in this build")
}

func requantAVX2(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32) {
	panic("intinfer: no vector kernels in this build")
}

func quantizeAVX2(o *uint8, x *float32, n int, div, lo, hi float32) {
	panic("intinfer: no vector kernels in this build")
}

func transposeU8AVX2(dst *uint8, ld int, x *uint8, c, n int) {
	panic("intinfer: no vector kernels in this build")
}

func transposeS8AVX2(dst *uint8, ld int, x *uint8, c, n int) {
	panic("intinfer: no vector kernels in this build")
}

func mapAVX2(o *uint8, x *int32, ops *int64, nops int, par *float32, n, rows int, div, lo, hi float32, off int32) {
	panic("intinfer: no vector kernels in this build")
}

func dwRowU8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int) {
	panic("intinfer: no vector kernels in this build")
}

func dwRowS8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int) {
	panic("intinfer: no vector kernels in this build")
}

func widenAddAVX2(sum *int32, b *uint8, n int, lo int32, set bool) {
	panic("intinfer: no vector kernels in this build")
}
