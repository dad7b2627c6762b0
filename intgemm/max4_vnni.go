package intgemm

// The pooled product on VNNI (MulU8Max4 where the 32-bit path is VNNI's):
// the rows of a quadruple broadcast group by group into four accumulators
// per strip of 16 columns, whose maximum is the only sum stored. As with the
// broadcast 32-bit kernel (kern32b.go), a convolution whose 2×2 pool windows
// have consecutive patch rows never stores the full accumulators.

// rowsVNNIMax4 computes output rows [o0, o1) of the pooled product with
// the VNNI kernels: output row o is the maximum of the products of
// activation rows 4o … 4o+3. Whole quadruples that a holds are read in
// place, whole strips straight into C; the rest goes one quadruple and
// strip at a time through a zero-padded copy and a tile on the stack.
func (kn *Kernel) rowsVNNIMax4(o0, o1 int, a []uint8, lda int, c []int32, ldc int) {
	groups := kn.groups
	span := groups * group // bytes a row's groups reach
	strips := (kn.n + vnniCols - 1) / vnniCols
	full := kn.n / vnniCols
	blocks, fits := 0, lda >= span && len(a) >= span
	if fits {
		blocks = inPlaceBlocks(max4Rows*o0, max4Rows*o1, max4Rows, lda, span, len(a))
	}
	if blocks > 0 && full > 0 {
		kernVNNIMax4(a[max4Rows*o0*lda:], lda, kn.bv, c[o0*ldc:], ldc, groups, full, blocks)
	}
	var pack [max4Rows * (vnniMax4K + group)]uint8
	var tile [vnniCols]int32
	for o := o0; o < o1; o++ {
		s0 := 0
		if o < o0+blocks {
			if full == strips {
				continue
			}
			s0 = full
		}
		ab, ld := a[max4Rows*o*lda:], lda
		if !fits || (max4Rows*o+max4Rows-1)*lda+span > len(a) {
			if max4Rows*span > len(pack) {
				panic("intgemm: pooled VNNI product of a K longer than its copy buffer")
			}
			clear(pack[:])
			for r := 0; r < max4Rows; r++ {
				copy(pack[r*span:], a[(max4Rows*o+r)*lda:(max4Rows*o+r)*lda+kn.k])
			}
			ab, ld = pack[:], span
		}
		for s := s0; s < strips; s++ {
			kernVNNIMax4(ab, ld, kn.bv[s*groups*group*vnniCols:], tile[:], vnniCols, groups, 1, 1)
			cols := min(vnniCols, kn.n-s*vnniCols)
			copy(c[o*ldc+s*vnniCols:o*ldc+s*vnniCols+cols], tile[:cols])
		}
	}
}

// vnniMax4K is the longest K the pooled VNNI product takes: its copies of
// short quadruples live on the stack.
const vnniMax4K = 128

// kernVNNIMax4 runs the pooled VNNI micro-kernels on blocks quadruples of
// rows (4·lda bytes apart, one output row each, ldc apart) and strips
// strips: pairs of strips, then a last odd one.
func kernVNNIMax4(a []uint8, lda int, b []int8, c []int32, ldc, groups, strips, blocks int) {
	if groups < 1 || strips < 1 || blocks < 1 || len(a) < (blocks*max4Rows-1)*lda+groups*group ||
		len(b) < strips*groups*group*vnniCols || len(c) < (blocks-1)*ldc+strips*vnniCols {
		panic("intgemm: micro-kernel operands too short")
	}
	if !useVNNI {
		for blk := 0; blk < blocks; blk++ {
			kernVNNIMax4Go(a[blk*max4Rows*lda:], lda, b, c[blk*ldc:], groups, strips)
		}
		return
	}
	if pairs := strips / 2; pairs > 0 {
		kernVNNIMax4x2(&a[0], lda, &b[0], &c[0], ldc, groups, pairs, blocks)
	}
	if strips%2 == 1 {
		b, c = b[(strips-1)*groups*group*vnniCols:], c[(strips-1)*vnniCols:]
		kernVNNIMax4x1(&a[0], lda, &b[0], &c[0], ldc, groups, 1, blocks)
	}
}

// kernVNNIMax4Go is the reference for the pooled VNNI micro-kernels: for
// each column j of each strip s, with x_r the bytes of row r,
//
//	c[s*16 + j] = max over r < 4 of Σ_g Σ_{t<4} x_r[4g+t] · b[((s·groups+g)·16 + j)·4 + t]
func kernVNNIMax4Go(a []uint8, lda int, b []int8, c []int32, groups, strips int) {
	for s := 0; s < strips; s++ {
		for j := 0; j < vnniCols; j++ {
			var best int32
			for r := 0; r < max4Rows; r++ {
				x := a[r*lda : r*lda+groups*group]
				var acc int32
				for g := 0; g < groups; g++ {
					w := b[((s*groups+g)*vnniCols+j)*group:]
					for t := 0; t < group; t++ {
						acc += int32(x[group*g+t]) * int32(w[t])
					}
				}
				if r == 0 || acc > best {
					best = acc
				}
			}
			c[s*vnniCols+j] = best
		}
	}
}
