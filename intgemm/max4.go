package intgemm

// The pooled product (MulU8Max4, MulS8Max4): a 2×2 max pool fused into the
// product. A convolution whose outputs go through a 2×2 max pool needs only
// the maximum of each window's four accumulators; with the patch rows of a
// window consecutive, the kernels compute the four rows of a quadruple and
// store only their maximum, a quarter of the output, which the
// requantisation then reads without pooling. Two row kernels take it: the
// broadcast 32-bit kernel (kern32b.go: two halves of two rows, eight
// accumulators and the pair's weights of 32 columns in the sixteen YMM
// registers) and, for unsigned inputs, VNNI's (max4_vnni.go: four
// accumulators per strip of 16 columns).

// max4Rows is the number of activation rows whose maximum is one output row.
const max4Rows = 4

// max4K is the longest K the pooled product takes (the broadcast 32-bit
// kernel's limit): its copies of short quadruples live on the stack.
const max4K = b32MaxK

// rowsMax4 computes output rows [o0, o1) of the pooled product: output row
// o is the maximum of the products of activation rows 4o … 4o+3. Whole
// quadruples that a holds are read in place, whole panels straight into C;
// the rest goes one quadruple and panel at a time through a zero-padded
// copy and a tile on the stack.
func (kn *Kernel) rowsMax4(o0, o1 int, a []uint8, lda int, c []int32, ldc int, signed bool) {
	vnni := kn.rowKernel(signed) == rowsVNNI
	span, width := 2*((kn.k+1)/2), b32Cols // bytes a row's pairs reach, panel columns
	if vnni {
		span, width = kn.groups*group, vnniCols
	}
	panels := (kn.n + width - 1) / width
	full := kn.n / width
	blocks, fits := 0, lda >= span && len(a) >= span
	if fits {
		blocks = inPlaceBlocks(max4Rows*o0, max4Rows*o1, max4Rows, lda, span, len(a))
	}
	if blocks > 0 && full > 0 {
		kn.max4Kernel(vnni, signed, a[max4Rows*o0*lda:], lda, 0, c[o0*ldc:], ldc, full, blocks)
	}
	var pack [max4Rows * max4K]uint8
	var tile [b32Cols]int32 // b32Cols ≥ vnniCols
	first := o0
	if full == panels {
		first += blocks // the in-place blocks did all their panels
	}
	for o := first; o < o1; o++ {
		p0 := 0
		if o < o0+blocks {
			p0 = full // the in-place blocks did the full panels
		}
		ab, ld := a[max4Rows*o*lda:], lda
		if !fits || (max4Rows*o+max4Rows-1)*lda+span > len(a) {
			clear(pack[:])
			for r := 0; r < max4Rows; r++ {
				copy(pack[r*span:], a[(max4Rows*o+r)*lda:(max4Rows*o+r)*lda+kn.k])
			}
			ab, ld = pack[:], span
		}
		for p := p0; p < panels; p++ {
			kn.max4Kernel(vnni, signed, ab, ld, p, tile[:], width, 1, 1)
			cols := min(width, kn.n-p*width)
			copy(c[o*ldc+p*width:o*ldc+p*width+cols], tile[:cols])
		}
	}
}

// max4Kernel runs the pooled micro-kernel of the row kernel (vnni or the
// broadcast 32-bit one) on blocks quadruples and panels panels of its
// packed weights from panel p0.
func (kn *Kernel) max4Kernel(vnni, signed bool, a []uint8, lda, p0 int, c []int32, ldc, panels, blocks int) {
	if vnni {
		kernVNNIMax4(a, lda, kn.bv[p0*kn.groups*group*vnniCols:], c, ldc, kn.groups, panels, blocks)
		return
	}
	pairs := (kn.k + 1) / 2
	kern32bMax4(signed, a, lda, kn.b32[p0*pairs*b32Cols*2:], c, ldc, pairs, panels, blocks)
}
