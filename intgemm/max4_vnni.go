package intgemm

// The pooled product's VNNI micro-kernel (max4.go): the rows of a quadruple
// broadcast group by group into four accumulators per strip of 16 columns,
// whose maximum is the only sum stored.

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
