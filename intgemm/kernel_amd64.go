//go:build !noasm

package intgemm

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 micro-kernels. Tests turn it off to force the Go
// kernels.
var useAVX2 = cpu.X86.HasAVX2

// The assembly micro-kernels. Their reference loops are kern16Go and
// kern32Go; lda and ldc count elements (bytes of A, int32 of C).

// kern16AVX2 runs cols/16 panels of the 16-bit broadcast kernel.
//
//go:noescape
func kern16U8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels int)

//go:noescape
func kern16S8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels int)

//go:noescape
func kern32U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)

//go:noescape
func kern32S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)

// kern16 runs the 16-bit kernel over blocks row blocks of bRows rows, in
// panels of 16 columns whether wide or not.
func kern16(wide, signed bool, a []uint8, lda int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	checkBcast(a, lda, group, b, c, ldc, groups, cols, cols16, blocks)
	for blk := 0; blk < blocks; blk++ {
		a, c := a[blk*bRows*lda:], c[blk*bRows*ldc:]
		switch {
		case !useAVX2:
			kern16Go(signed, a, lda, b, c, ldc, groups, cols)
		case signed:
			kern16S8AVX2(&a[0], lda, &b[0], &c[0], ldc, groups, cols/cols16)
		default:
			kern16U8AVX2(&a[0], lda, &b[0], &c[0], ldc, groups, cols/cols16)
		}
	}
}

// kern32 runs the int16-operand 32-bit micro-kernel on unsigned (signed:
// signed) activation bytes.
func kern32(signed bool, a []uint8, lda int, b []int16, c []int32, ldc, steps, panels int) {
	checkTile(len(a), lda, len(b), len(c), ldc, steps, panels, k32Step)
	switch {
	case !useAVX2:
		kern32Go(a, lda, b, c, ldc, steps, panels, signed)
	case signed:
		kern32S8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
	default:
		kern32U8AVX2(&a[0], lda, &b[0], &c[0], ldc, steps, panels)
	}
}

// useVNNI selects the AVX-512 VNNI kernels for the 32-bit path; haveVNNI
// says whether NewKernel packs weights for them. Tests turn useVNNI off to
// force the AVX2 or Go kernels.
var (
	haveVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI
	useVNNI  = haveVNNI
)

// cpuVendor is the CPU's vendor identification string (CPUID leaf 0),
// such as "GenuineIntel" or "AuthenticAMD".
var cpuVendor = func() string {
	_, b, c, d := cpuid(0, 0)
	var v [12]byte
	for i := range 4 {
		v[i], v[4+i], v[8+i] = byte(b>>(8*i)), byte(d>>(8*i)), byte(c>>(8*i))
	}
	return string(v[:])
}()

// cpuFamily is the CPU's family (CPUID leaf 1: the base family, plus the
// extended family when the base is 15), such as 25 for AMD's Zen 3 and
// Zen 4 or 26 for Zen 5.
var cpuFamily = func() int {
	a, _, _, _ := cpuid(1, 0)
	f := int(a>>8) & 0xf
	if f == 0xf {
		f += int(a>>20) & 0xff
	}
	return f
}()

// cpuid executes CPUID with EAX = leaf and ECX = sub.
//
//go:noescape
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// useAVX512 selects the AVX-512 form of the sparse kernel (16-bit lanes in
// ZMM: AVX-512 BW); haveAVX512 says whether the CPU has it. Tests force it
// with the VNNI kernel set.
var (
	haveAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	useAVX512  = haveAVX512
)

// VNNI micro-kernels: blocks of 6 activation rows against panels of 4
// strips of 16 weight rows (kernVNNI4), pairs of strips (kernVNNI2) or
// single strips (kernVNNI1), groups groups of 4 k values. For each row r,
// strip column j and group g they compute
//
//	c[r*ldc+j] += Σ_{i<4} int32(x[r][g·gstride+i]) · int32(w[j][4g+i]) // VPDPBUSD, int32, wraps
//
// with x the activation bytes (x ^ 0x80 in the S8 variants), gstride 4
// for kernVNNI4 and given to the strip kernels, and the weights packed as
// in packBcast. The reference is kern32Go: the same sums over a different
// layout.

//go:noescape
func kernVNNI4U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels, blocks int)

//go:noescape
func kernVNNI4S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels, blocks int)

//go:noescape
func kernVNNI1U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks, gstride int)

//go:noescape
func kernVNNI1S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks, gstride int)

// kernVNNI4 runs the four-strip VNNI kernel (panels of 64 columns) over
// blocks row blocks of bRows contiguous rows.
func kernVNNI4(signed bool, a []uint8, lda int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	checkBcast(a, lda, group, b, c, ldc, groups, cols, vnniPanel, blocks)
	if signed {
		kernVNNI4S8(&a[0], lda, &b[0], &c[0], ldc, groups, cols/vnniPanel, blocks)
	} else {
		kernVNNI4U8(&a[0], lda, &b[0], &c[0], ldc, groups, cols/vnniPanel, blocks)
	}
}

//go:noescape
func kernVNNI2U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, pairs, blocks, gstride int)

//go:noescape
func kernVNNI2S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, pairs, blocks, gstride int)

// kernVNNIMax4x2 and kernVNNIMax4x1 are the pooled VNNI micro-kernel
// (kernVNNIMax4Go) on pairs of strips and on single strips.
//
//go:noescape
func kernVNNIMax4x2(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int)

//go:noescape
func kernVNNIMax4x1(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int)

// kernVNNIStrips runs the strip VNNI kernels over blocks row blocks, each row's
// groups of 4 bytes gstride bytes apart: pairs of strips (kernVNNI2, each
// broadcast serving both), then a last odd strip (kernVNNI1).
func kernVNNIStrips(signed bool, a []uint8, lda, gstride int, b []int8, c []int32, ldc, groups, cols, blocks int) {
	checkBcast(a, lda, gstride, b, c, ldc, groups, cols, vnniCols, blocks)
	strips := cols / vnniCols
	if pairs := strips / 2; pairs > 0 {
		if signed {
			kernVNNI2S8(&a[0], lda, &b[0], &c[0], ldc, groups, pairs, blocks, gstride)
		} else {
			kernVNNI2U8(&a[0], lda, &b[0], &c[0], ldc, groups, pairs, blocks, gstride)
		}
	}
	if strips%2 == 0 {
		return
	}
	b, c = b[(strips-1)*groups*group*vnniCols:], c[(strips-1)*vnniCols:]
	if signed {
		kernVNNI1S8(&a[0], lda, &b[0], &c[0], ldc, groups, 1, blocks, gstride)
	} else {
		kernVNNI1U8(&a[0], lda, &b[0], &c[0], ldc, groups, 1, blocks, gstride)
	}
}

// kern32bU8AVX2 and kern32bS8AVX2 are the broadcast 32-bit micro-kernel
// (kern32bGo) for unsigned and signed activations.
//
//go:noescape
func kern32bU8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)

//go:noescape
func kern32bS8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)

// kern32bMax4U8AVX2 and kern32bMax4S8AVX2 are the pooled broadcast 32-bit
// micro-kernel (kern32bMax4Go) for unsigned and signed activations.
//
//go:noescape
func kern32bMax4U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)

//go:noescape
func kern32bMax4S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)
