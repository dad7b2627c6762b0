package gemm

// packA packs rows [ic, ic+mb) and columns [pc, pc+kb) of op(A) into dst as
// micro-panels of mr rows: element (i, p) of panel r is at
// dst[r*mr*kb + p*mr + i]. Rows past mb are zero.
func (kn *kernel) packA(A matA, mb, kb int, ic, pc int, dst []float32) {
	if A.gathered() {
		kn.packGathered(A, mb, kb, ic, pc, dst)
		return
	}
	transA, a, lda := A.trans, A.a, A.lda
	mr := kn.mr
	for ir := 0; ir < mb; ir += mr {
		d := dst[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if transA {
			// op(A)(i, p) = a[p*lda + i]: each p reads mr contiguous values.
			off := pc*lda + ic + ir
			if rows == mr {
				kn.packATrans(d, a[off:off+(kb-1)*lda+mr], kb, lda)
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
		if rows == 6 && mr == 6 {
			packRows6(d, a[base:base+kb], a[base+lda:base+lda+kb], a[base+2*lda:base+2*lda+kb],
				a[base+3*lda:base+3*lda+kb], a[base+4*lda:base+4*lda+kb], a[base+5*lda:base+5*lda+kb])
			continue
		}
		if rows == 12 && mr == 12 {
			var r [12][]float32
			for i := range r {
				r[i] = a[base+i*lda : base+i*lda+kb]
			}
			packRows12(d, &r)
			continue
		}
		if rows < mr {
			clear(d)
		}
		for i := 0; i < rows; i++ {
			r := a[base+i*lda : base+i*lda+kb]
			dd := d[i:]
			for p, v := range r {
				dd[p*mr] = v
			}
		}
	}
}

// packGathered is packA for a gathered A.
func (kn *kernel) packGathered(A matA, mb, kb int, ic, pc int, dst []float32) {
	mr := kn.mr
	cols := A.cols[pc : pc+kb]
	for ir := 0; ir < mb; ir += mr {
		d := dst[ir*kb : (ir+mr)*kb]
		rows := A.rows[ic+ir : ic+min(ir+mr, mb)]
		if len(rows) < mr {
			clear(d)
		}
		for i, r := range rows {
			x := A.a[r:]
			dd := d[i:]
			for p, o := range cols {
				dd[p*mr] = x[o]
			}
		}
	}
}

// gatherStrip copies the strip of a gathered A whose element (i, p) is
// a[rows[i]+cols[p]] into p.strip, row-major with stride len(cols), and
// returns it. Columns whose offsets follow each other (a convolution's
// input channels) are copied as runs, one copy per run and row, when the
// runs are long enough for that to beat the element loop.
func (p *packBuf) gatherStrip(a []float32, rows, cols []int32) []float32 {
	kb := len(cols)
	if n := len(rows) * kb; cap(p.strip) < n {
		p.strip = make([]float32, n)
	}
	s := p.strip[:len(rows)*kb]
	runs := p.runs[:0] // start and length of each run
	for q := 0; q < kb; {
		e := q + 1
		for e < kb && cols[e] == cols[e-1]+1 {
			e++
		}
		runs = append(runs, int32(q), int32(e-q))
		q = e
	}
	p.runs = runs
	if len(runs)/2*minRun > kb {
		for i, r := range rows {
			x, d := a[r:], s[i*kb:(i+1)*kb]
			for p, o := range cols {
				d[p] = x[o]
			}
		}
		return s
	}
	for i, r := range rows {
		x, d := a[r:], s[i*kb:(i+1)*kb]
		for j := 0; j < len(runs); j += 2 {
			q, n := runs[j], runs[j+1]
			o := cols[q]
			copy(d[q:q+n], x[o:o+n])
		}
	}
	return s
}

// minRun is the mean run length of a gathered strip's columns from which
// gatherStrip copies runs rather than elements.
const minRun = 8

// packRows6 interleaves six equal-length rows: d[p*6+i] = ri[p].
func packRows6(d, r0, r1, r2, r3, r4, r5 []float32) {
	n := len(r0)
	r1, r2, r3, r4, r5 = r1[:n], r2[:n], r3[:n], r4[:n], r5[:n]
	d = d[:n*6]
	for p := range n {
		q := (*[6]float32)(d[p*6:])
		q[0] = r0[p]
		q[1] = r1[p]
		q[2] = r2[p]
		q[3] = r3[p]
		q[4] = r4[p]
		q[5] = r5[p]
	}
}

// packRows12 interleaves twelve equal-length rows: d[p*12+i] = r[i][p].
func packRows12(d []float32, r *[12][]float32) {
	n := len(r[0])
	r0, r1, r2, r3, r4, r5 := r[0][:n], r[1][:n], r[2][:n], r[3][:n], r[4][:n], r[5][:n]
	r6, r7, r8, r9, r10, r11 := r[6][:n], r[7][:n], r[8][:n], r[9][:n], r[10][:n], r[11][:n]
	d = d[:n*12]
	for p := range n {
		q := (*[12]float32)(d[p*12:])
		q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		q[4], q[5], q[6], q[7] = r4[p], r5[p], r6[p], r7[p]
		q[8], q[9], q[10], q[11] = r8[p], r9[p], r10[p], r11[p]
	}
}

// packB packs rows [pc, pc+kb) and columns [jc, jc+nb) of op(B) into dst as
// micro-panels of nr columns: element (p, j) of panel s is at
// dst[s*nr*kb + p*nr + j]. Columns past nb are zero.
func (kn *kernel) packB(B matB, kb, nb int, pc, jc int, dst []float32) {
	if B.rows != nil {
		kn.packGatheredB(B, kb, nb, pc, jc, dst)
		return
	}
	transB, b, ldb := B.trans, B.b, B.ldb
	nr := kn.nr
	if !transB {
		// op(B)(p, j) = b[p*ldb + j]: whole panels row by row, then the
		// ragged last panel.
		npan := nb / nr
		full := npan * nr
		if npan > 0 {
			off := pc*ldb + jc
			kn.packBPanels(dst[:npan*nr*kb], b[off:off+(kb-1)*ldb+full], kb, npan, ldb, nr)
		}
		if rem := nb - full; rem > 0 {
			d := dst[full*kb : (full+nr)*kb]
			for p := 0; p < kb; p++ {
				off := (pc+p)*ldb + jc + full
				q := d[p*nr : p*nr+nr]
				copy(q, b[off:off+rem])
				clear(q[rem:])
			}
		}
		return
	}
	// op(B)(p, j) = b[j*ldb + p]: each column j is a contiguous row of b.
	for jr := 0; jr < nb; jr += nr {
		d := dst[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
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
	}
}

// packGatheredB is packB for a gathered B. A panel whose columns are
// consecutive in the data (nr taps along one kernel row of a
// convolution) is copied a row at a time.
func (kn *kernel) packGatheredB(B matB, kb, nb int, pc, jc int, dst []float32) {
	nr := kn.nr
	rows := B.rows[pc : pc+kb]
	for jr := 0; jr < nb; jr += nr {
		d := dst[jr*kb : (jr+nr)*kb]
		cols := B.cols[jc+jr : jc+min(jr+nr, nb)]
		if len(cols) == nr && consecutive(cols) {
			x := B.b[cols[0]:]
			if nr != 16 {
				for p, r := range rows {
					copy(d[p*nr:(p+1)*nr], x[r:])
				}
				continue
			}
			for p, r := range rows {
				v := *(*[16]float32)(x[r:]) // through a value: moves, not memmove
				*(*[16]float32)(d[p*16:]) = v
			}
			continue
		}
		if len(cols) < nr {
			clear(d)
		}
		for p, r := range rows {
			x, q := B.b[r:], d[p*nr:p*nr+len(cols)]
			for j, o := range cols {
				q[j] = x[o]
			}
		}
	}
}

// consecutive reports whether each offset is one past the previous.
func consecutive(offs []int32) bool {
	for i := 1; i < len(offs); i++ {
		if offs[i] != offs[i-1]+1 {
			return false
		}
	}
	return true
}

// packBPanelsGo is the pure-Go packBPanels:
//
//	for p := 0; p < kb; p++ {
//		for q := 0; q < npan; q++ {
//			copy(dst[q*kb*nr+p*nr:q*kb*nr+p*nr+nr], src[p*ldb+q*nr:p*ldb+q*nr+nr])
//		}
//	}
func packBPanelsGo(dst, src []float32, kb, npan, ldb, nr int) {
	for p := 0; p < kb; p++ {
		row := src[p*ldb : p*ldb+npan*nr]
		d := dst[p*nr:]
		for q := 0; q < npan; q++ {
			if nr == 16 {
				copy16((*[16]float32)(d[q*kb*nr:]), (*[16]float32)(row[q*nr:]))
				continue
			}
			copy(d[q*kb*nr:q*kb*nr+nr], row[q*nr:q*nr+nr])
		}
	}
}

// packATransGo is the pure-Go packATrans for mr rows:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*mr:p*mr+mr], src[p*lda:p*lda+mr])
//	}
func packATransGo(dst, src []float32, kb, lda, mr int) {
	dst = dst[:kb*mr]
	if mr == 6 {
		for p := 0; p < kb; p++ {
			s := (*[6]float32)(src[p*lda:])
			d := (*[6]float32)(dst[p*6:])
			d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
		}
		return
	}
	for p := 0; p < kb; p++ {
		copy(dst[p*mr:p*mr+mr], src[p*lda:p*lda+mr])
	}
}

// copy16 copies one panel row; element-wise so that it compiles to moves
// rather than a call to memmove.
func copy16(d, s *[16]float32) {
	d[0], d[1], d[2], d[3] = s[0], s[1], s[2], s[3]
	d[4], d[5], d[6], d[7] = s[4], s[5], s[6], s[7]
	d[8], d[9], d[10], d[11] = s[8], s[9], s[10], s[11]
	d[12], d[13], d[14], d[15] = s[12], s[13], s[14], s[15]
}
