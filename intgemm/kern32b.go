package intgemm

// The broadcast 32-bit kernel for short dot products. The int16-operand
// 32-bit kernel (kern32) sums 16 products per lane and reduces its lanes
// horizontally at the end of every dot product: for a layer with a short
// K (a first convolution on one input channel has K = 9) that epilogue,
// and the padding of K to 16, cost more than the products. This kernel
// keeps one output column per 32-bit lane instead, as the 16-bit and VNNI
// kernels do: it broadcasts a pair of activations, widened to int16, to
// every lane and multiplies it with the pair of weights of each lane's
// column (VPMADDWD), so no horizontal sums are needed. The products of
// 8-bit operands fit int16 and their pair sums int32: exact like kern32.

// Geometry of the broadcast 32-bit kernel: b32Rows activation rows by
// panels of b32Cols columns (four YMM of 8 int32), K in pairs.
const (
	b32Rows = 3
	b32Cols = 32
	// b32MaxK is the longest K the broadcast kernel takes; longer dot
	// products amortise kern32's epilogue.
	b32MaxK = 128
)

// packPairs packs n×k weights for the broadcast 32-bit kernel: panels of
// b32Cols columns; within a panel, for each pair q of k values, the two
// int16 weights w[j][2q], w[j][2q+1] of each column j in turn. Padding is
// zero.
func packPairs(w []int8, n, k int) []int16 {
	pairs := (k + 1) / 2
	panels := (n + b32Cols - 1) / b32Cols
	b := make([]int16, panels*pairs*b32Cols*2)
	for j := 0; j < n; j++ {
		p, jj := j/b32Cols, j%b32Cols
		for i, v := range w[j*k : (j+1)*k] {
			b[((p*pairs+i/2)*b32Cols+jj)*2+i%2] = int16(v)
		}
	}
	return b
}

// rowsB32 computes output rows [i0, i1) with the broadcast 32-bit kernel:
// the whole blocks of b32Rows rows and whole panels straight into C in one
// call; then the rows after those blocks, and the last partial panel of
// every row, one panel at a time through a tile on the stack. A last
// block of fewer than b32Rows rows is computed as the block of the last
// b32Rows rows (recomputing some, with the same results) where there are
// that many; a block the kernel cannot read in place (too few rows, or
// rows whose pair padding runs past a) is copied into a zero-padded one.
func (kn *Kernel) rowsB32(i0, i1 int, a []uint8, lda int, c []int32, ldc int, signed bool) {
	pairs := (kn.k + 1) / 2
	panels := (kn.n + b32Cols - 1) / b32Cols
	full := kn.n / b32Cols
	// The kernel reads 2·pairs bytes of every row, one past K when K is
	// odd: the blocks must stay inside a.
	blocks, fits := 0, lda >= 2*pairs && len(a) >= 2*pairs
	if fits {
		blocks = inPlaceBlocks(i0, i1, b32Rows, lda, 2*pairs, len(a))
	}
	if blocks > 0 && full > 0 {
		kern32b(signed, a[i0*lda:], lda, kn.b32, c[i0*ldc:], ldc, pairs, full, blocks)
	}
	var pack [b32Rows * (b32MaxK + 1)]uint8
	var tile [b32Rows * b32Cols]int32
	i := i0
	if full == panels {
		i += blocks * b32Rows // those rows are done
	}
	for ; i < i1; i += b32Rows {
		ib, p0 := i, full // the block's first row, its first panel not yet in C
		if i >= i0+blocks*b32Rows {
			p0 = 0
			if i1-i < b32Rows && i1-i0 >= b32Rows {
				ib = i1 - b32Rows
			}
		}
		rows := min(b32Rows, i1-ib)
		ab, ld := a[ib*lda:], lda
		if p0 == 0 && (rows < b32Rows || !fits || (ib+rows-1)*lda+2*pairs > len(a)) {
			clear(pack[:])
			for r := 0; r < rows; r++ {
				copy(pack[r*2*pairs:], a[(ib+r)*lda:(ib+r)*lda+kn.k])
			}
			ab, ld = pack[:], 2*pairs
		}
		for p := p0; p < panels; p++ {
			kern32b(signed, ab, ld, kn.b32[p*pairs*b32Cols*2:], tile[:], b32Cols, pairs, 1, 1)
			cols := min(b32Cols, kn.n-p*b32Cols)
			for r := i - ib; r < rows; r++ {
				copy(c[(ib+r)*ldc+p*b32Cols:(ib+r)*ldc+p*b32Cols+cols], tile[r*b32Cols:])
			}
		}
	}
}

// kern32b runs the broadcast 32-bit micro-kernel on blocks blocks of
// b32Rows rows (one after the other, b32Rows·lda bytes apart) and panels
// panels.
func kern32b(signed bool, a []uint8, lda int, b []int16, c []int32, ldc, pairs, panels, blocks int) {
	if pairs < 1 || panels < 1 || blocks < 1 || len(a) < (blocks*b32Rows-1)*lda+2*pairs || len(b) < panels*pairs*b32Cols*2 ||
		len(c) < (blocks*b32Rows-1)*ldc+panels*b32Cols {
		panic("intgemm: micro-kernel operands too short")
	}
	switch {
	case !useAVX2:
		for blk := 0; blk < blocks; blk++ {
			kern32bGo(signed, a[blk*b32Rows*lda:], lda, b, c[blk*b32Rows*ldc:], ldc, pairs, panels)
		}
	case signed:
		kern32bS8AVX2(&a[0], lda, &b[0], &c[0], ldc, pairs, panels, blocks)
	default:
		kern32bU8AVX2(&a[0], lda, &b[0], &c[0], ldc, pairs, panels, blocks)
	}
}

// kern32bGo is the reference for the broadcast 32-bit micro-kernel: for
// each row r and column j of each panel p, with x the row's bytes as
// uint8 (int8 when signed),
//
//	for q := 0; q < pairs; q++ { // VPBROADCASTW, VPMOVZXBW, VPMADDWD, VPADDD
//		acc += int32(x[2q])·int32(w[j][2q]) + int32(x[2q+1])·int32(w[j][2q+1])
//	}
//	c[r*ldc + p*b32Cols + j] = acc
func kern32bGo(signed bool, a []uint8, lda int, b []int16, c []int32, ldc, pairs, panels int) {
	for p := 0; p < panels; p++ {
		for r := 0; r < b32Rows; r++ {
			for j := 0; j < b32Cols; j++ {
				c[r*ldc+p*b32Cols+j] = pairDot(a[r*lda:r*lda+2*pairs], b, p, pairs, j, signed)
			}
		}
	}
}

// pairDot is the broadcast 32-bit kernel's sum for one row x (uint8, or
// int8 when signed) and column j of panel p of the packed weights b.
func pairDot(x []uint8, b []int16, p, pairs, j int, signed bool) int32 {
	var acc int32
	for q := 0; q < pairs; q++ {
		w := b[((p*pairs+q)*b32Cols+j)*2:]
		x0, x1 := int32(x[2*q]), int32(x[2*q+1])
		if signed {
			x0, x1 = int32(int8(x[2*q])), int32(int8(x[2*q+1]))
		}
		acc += x0*int32(w[0]) + x1*int32(w[1])
	}
	return acc
}

// kern32bMax4 runs the pooled broadcast 32-bit micro-kernel on blocks
// quadruples of rows (one after the other, 4·lda bytes apart; one output
// row each, ldc apart) and panels panels.
func kern32bMax4(signed bool, a []uint8, lda int, b []int16, c []int32, ldc, pairs, panels, blocks int) {
	if pairs < 1 || panels < 1 || blocks < 1 || len(a) < (blocks*max4Rows-1)*lda+2*pairs || len(b) < panels*pairs*b32Cols*2 ||
		len(c) < (blocks-1)*ldc+panels*b32Cols {
		panic("intgemm: micro-kernel operands too short")
	}
	switch {
	case !useAVX2:
		for blk := 0; blk < blocks; blk++ {
			kern32bMax4Go(signed, a[blk*max4Rows*lda:], lda, b, c[blk*ldc:], pairs, panels)
		}
	case signed:
		kern32bMax4S8AVX2(&a[0], lda, &b[0], &c[0], ldc, pairs, panels, blocks)
	default:
		kern32bMax4U8AVX2(&a[0], lda, &b[0], &c[0], ldc, pairs, panels, blocks)
	}
}

// kern32bMax4Go is the reference for the pooled micro-kernel: for each
// column j of each panel p, the maximum over the four rows r of
// kern32bGo's sum,
//
//	c[p*b32Cols + j] = max over r < 4 of Σ_q x_r[2q]·w[j][2q] + x_r[2q+1]·w[j][2q+1]
func kern32bMax4Go(signed bool, a []uint8, lda int, b []int16, c []int32, pairs, panels int) {
	for p := 0; p < panels; p++ {
		for j := 0; j < b32Cols; j++ {
			best := pairDot(a[:2*pairs], b, p, pairs, j, signed)
			for r := 1; r < max4Rows; r++ {
				best = max(best, pairDot(a[r*lda:r*lda+2*pairs], b, p, pairs, j, signed))
			}
			c[p*b32Cols+j] = best
		}
	}
}
