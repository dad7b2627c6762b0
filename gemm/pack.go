package gemm

// packA packs rows [ic, ic+mb) and columns [pc, pc+kb) of op(A) into dst as
// micro-panels of mr rows: element (i, p) of panel r is at
// dst[r*mr*kb + p*mr + i]. Rows past mb are zero.
func packA(transA bool, mb, kb int, a []float32, lda, ic, pc int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		d := dst[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if transA {
			// op(A)(i, p) = a[p*lda + i]: each p reads mr contiguous values.
			off := pc*lda + ic + ir
			if rows == mr {
				for p := 0; p < kb; p++ {
					*(*[mr]float32)(d[p*mr:]) = *(*[mr]float32)(a[off:])
					off += lda
				}
				continue
			}
			for p := 0; p < kb; p++ {
				q := d[p*mr : p*mr+mr]
				copy(q, a[off:off+rows])
				clear(q[rows:])
				off += lda
			}
			continue
		}
		// op(A)(i, p) = a[i*lda + p]: mr row streams.
		base := (ic+ir)*lda + pc
		if rows == mr {
			r0 := a[base : base+kb]
			r1 := a[base+lda : base+lda+kb]
			r2 := a[base+2*lda : base+2*lda+kb]
			r3 := a[base+3*lda : base+3*lda+kb]
			r4 := a[base+4*lda : base+4*lda+kb]
			r5 := a[base+5*lda : base+5*lda+kb]
			packRows6(d, r0, r1, r2, r3, r4, r5)
			continue
		}
		clear(d)
		for i := 0; i < rows; i++ {
			r := a[base+i*lda : base+i*lda+kb]
			for p, v := range r {
				d[p*mr+i] = v
			}
		}
	}
}

// packRows6 interleaves six equal-length rows: d[p*6+i] = ri[p].
func packRows6(d, r0, r1, r2, r3, r4, r5 []float32) {
	n := len(r0)
	r1, r2, r3, r4, r5 = r1[:n], r2[:n], r3[:n], r4[:n], r5[:n]
	d = d[:n*mr]
	for p := range n {
		q := (*[mr]float32)(d[p*mr:])
		q[0] = r0[p]
		q[1] = r1[p]
		q[2] = r2[p]
		q[3] = r3[p]
		q[4] = r4[p]
		q[5] = r5[p]
	}
}

// packB packs rows [pc, pc+kb) and columns [jc, jc+nb) of op(B) into dst as
// micro-panels of nr columns: element (p, j) of panel s is at
// dst[s*nr*kb + p*nr + j]. Columns past nb are zero.
func packB(transB bool, kb, nb int, b []float32, ldb, pc, jc int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		d := dst[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if transB {
			// op(B)(p, j) = b[j*ldb + p]: each column j is a contiguous row of b.
			if cols < nr {
				clear(d)
			}
			for j := 0; j < cols; j++ {
				off := (jc+jr+j)*ldb + pc
				r := b[off : off+kb]
				dd := d[j:]
				for p, v := range r {
					dd[p*nr] = v
				}
			}
			continue
		}
		// op(B)(p, j) = b[p*ldb + j]: each p reads nr contiguous values.
		off := pc*ldb + jc + jr
		if cols == nr {
			for p := 0; p < kb; p++ {
				*(*[nr]float32)(d[p*nr:]) = *(*[nr]float32)(b[off:])
				off += ldb
			}
			continue
		}
		for p := 0; p < kb; p++ {
			q := d[p*nr : p*nr+nr]
			copy(q, b[off:off+cols])
			clear(q[cols:])
			off += ldb
		}
	}
}
