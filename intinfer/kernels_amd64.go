//go:build !noasm

package intinfer

import "golang.org/x/sys/cpu"

// useAVX512 selects the vector requantisation and input quantisation
// kernels, useAVX2 the im2col kernel. Tests turn them off to force the Go
// code.
var (
	useAVX512 = cpu.X86.HasAVX512F
	useAVX2   = cpu.X86.HasAVX2
)

// hasVBMI reports AVX-512 VBMI (byte permutes), which the planar first
// layer (planarRun) needs besides AVX-512 and VNNI.
var hasVBMI = cpu.X86.HasAVX512VBMI

// requantAVX512 requantises n channels of pix pixels in the float form of
// vecRequant, each the maximum of four accumulators (x0…x3 advance by step
// values a pixel; pass the same pointer several times for fewer).
//
//go:noescape
func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32)

// requantFMA512 requantises n channels of pix pixels in the fused form of
// fmaForm, each the maximum of four accumulators as for requantAVX512; fix
// holds n accumulators and then their n corrections, or is nil.
//
//go:noescape
func requantFMA512(o *uint8, x0, x1, x2, x3 *int32, m, c *float32, fix *int32, n, pix, step int, lo, hi int32)

// requantFMARows512 is requantFMA512 on total accumulators in rows of
// channels that divide 64, the parameters repeated to 64 values.
//
//go:noescape
func requantFMARows512(o *uint8, x *int32, m, c *float32, fix *int32, total int, lo, hi int32)

// planarVNNI computes a 3×3 convolution of one byte channel, its 2×2 max
// pool and its fused-form requantisation straight into the next layer's
// planes; see planarRun.
//
//go:noescape
func planarVNNI(img *uint8, nimg, imgLen int, tab *uint8, nblk int, w *int32, n int, m, c *float32, fix *int32, planes *uint8, ldp, perImg, rowLen int, lo, hi int32)

// quantizeAVX512 quantizes n floats x to bytes as thresh.Quantize does.
//
//go:noescape
func quantizeAVX512(o *uint8, x *float32, n int, div, lo, hi float32)

// im2colValidAVX2 writes the oh·ow patch rows of one image for a valid
// (unpadded) one-group convolution; see im2colValid.
//
//go:noescape
func im2colValidAVX2(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)

// im2colWords is im2colValidAVX2 for runs of at most 8 bytes, moved as
// words; it needs 8 bytes of slack after the source and the destination.
//
//go:noescape
func im2colWords(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)

// im2colWords3 is im2colWords for three kernel rows (kh = 3) and rows
// with at most 8 bytes of padding (lda ≤ k+8).
//
//go:noescape
func im2colWords3(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int)

// im2colWords3Pool is im2colWords3 with the rows in the order of 2×2 pool
// windows (im2colPool2): oh·ow windows of four patch rows.
//
//go:noescape
func im2colWords3Pool(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int)

// im2col3x3Pool1 is im2colWords3Pool for a 3×3 kernel of stride 1 on one
// channel, rows of 12 bytes (rowLen = W): oh·ow windows of four patch rows
// from src (the image).
//
//go:noescape
func im2col3x3Pool1(dst *uint8, src *uint8, oh, ow, rowLen int)

// requantAVX2 and quantizeAVX2 are requantAVX512 and quantizeAVX512 on
// the first n &^ 7 channels (values).
//
//go:noescape
func requantAVX2(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32)

//go:noescape
func quantizeAVX2(o *uint8, x *float32, n int, div, lo, hi float32)

// transposeU8AVX2 and transposeS8AVX2 are transposeBytes for c a multiple
// of 16 and n (pixels) a multiple of 16, for unsigned and signed bytes.
//
//go:noescape
func transposeU8AVX2(dst *uint8, ld int, x *uint8, c, n int)

//go:noescape
func transposeS8AVX2(dst *uint8, ld int, x *uint8, c, n int)

// mapAVX2 runs a vecMap's program on rows rows of n accumulators, the
// first n &^ 7 channels of each; see vecMap.rows.
//
//go:noescape
func mapAVX2(o *uint8, x *int32, ops *int64, nops int, par *float32, n, rows int, div, lo, hi float32, off int32)

// dwRowU8AVX2 and dwRowS8AVX2 compute channels [0, c &^ 7) of one
// output row of a depthwise convolution on unsigned or signed bytes; see
// depthwise.rowGo.
//
//go:noescape
func dwRowU8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int)

//go:noescape
func dwRowS8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int)

// widenAddAVX2 is addLevels on the first n &^ 7 values.
//
//go:noescape
func widenAddAVX2(sum *int32, b *uint8, n int, lo int32, set bool)
