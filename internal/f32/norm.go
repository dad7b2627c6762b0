package f32

import "fmt"

// ColSums64 adds the column sums of rows of x, and of their squares,
// into sum and sq in float64, rows in order: row r starts at r·stride,
// and its first len(sum) values are summed:
//
//	for r := 0; r < rows; r++ {
//		for i := range sum {
//			v := float64(x[r*stride+i])
//			sum[i] += v
//			sq[i] += v * v
//		}
//	}
//
// These are batch norm's statistics. Each column is summed on its own, so
// a caller may split the columns among threads (slicing sum, sq and x)
// without changing a bit. The square of a float32 value is exact in
// float64. sq has the length of sum, at most stride, and x holds rows
// rows.
func ColSums64(sum, sq []float64, x []float32, rows, stride int) {
	c := len(sum)
	sameLen("ColSums64", len(sq), c)
	colRows("ColSums64", c, rows, stride, len(x))
	if c == 0 {
		return
	}
	rowBlocks(rows, stride, func(r, n int) {
		if useAVX2 {
			colSums64AVX2(sum, sq, x[r*stride:], n, stride)
		} else {
			colSums64Go(sum, sq, x[r*stride:], n, stride)
		}
	})
}

// BatchNormSums adds the column sums of rows of output gradients d, and of
// their products with the normalised inputs x̂, into sum and prod in
// float64, rows in order (batch norm's backward reductions Σd and Σd·x̂):
//
//	for r := 0; r < rows; r++ {
//		for i := range sum {
//			h := float32((x[r*stride+i] - mu[i]) * invStd[i])
//			v := float64(d[r*stride+i])
//			sum[i] += v
//			prod[i] += v * float64(h)
//		}
//	}
//
// x̂ is computed as BatchNormRows computes it, so it need not be stored.
// As with ColSums64, each column is summed on its own. prod, mu and
// invStd have the length of sum, at most stride; d and x hold rows rows.
func BatchNormSums(sum, prod []float64, d, x, mu, invStd []float32, rows, stride int) {
	c := len(sum)
	sameLen("BatchNormSums", len(prod), c)
	sameLen("BatchNormSums", len(mu), c)
	sameLen("BatchNormSums", len(invStd), c)
	colRows("BatchNormSums", c, rows, stride, len(d))
	colRows("BatchNormSums", c, rows, stride, len(x))
	if c == 0 {
		return
	}
	rowBlocks(rows, stride, func(r, n int) {
		if useAVX2 {
			batchNormSumsAVX2(sum, prod, d[r*stride:], x[r*stride:], mu, invStd, n, stride)
		} else {
			batchNormSumsGo(sum, prod, d[r*stride:], x[r*stride:], mu, invStd, n, stride)
		}
	})
}

// colSumsRows is the number of values of each input in a block of rows
// of ColSums64 and BatchNormSums: two such blocks fit in L1.
const colSumsRows = 2048

// rowBlocks calls fn(r, n) for consecutive blocks of n rows from row r, in
// order, each of about colSumsRows values, so that a block stays in L1
// while the column kernels read it once per block of columns.
func rowBlocks(rows, stride int, fn func(r, n int)) {
	step := max(1, colSumsRows/stride)
	for r := 0; r < rows; r += step {
		fn(r, min(step, rows-r))
	}
}

// colRows checks that n values hold rows rows of stride values whose
// first c are read.
func colRows(kernel string, c, rows, stride, n int) {
	if rows < 0 || c > stride || (rows > 0 && c > 0 && (c > n || rows-1 > (n-c)/stride)) {
		panic(fmt.Sprintf("f32: %s: %d rows of %d columns of stride %d over %d values", kernel, rows, c, stride, n))
	}
}

// BatchNormRows normalises rows of x (rows of c = len(mu) channels) with
// per-channel means mu and inverse standard deviations invStd, and writes
// their affine transform into out:
//
//	h := float32((x[r*c+i] - mu[i]) * invStd[i])
//	out[r*c+i] = float32(gamma[i]*h) + beta[i]
//
// the products rounded before the sums (never fused). invStd, gamma and
// beta have the length of mu; x and out the same length, a multiple of
// it.
func BatchNormRows(out, x, mu, invStd, gamma, beta []float32) {
	c := len(mu)
	sameLen("BatchNormRows", len(invStd), c)
	sameLen("BatchNormRows", len(gamma), c)
	sameLen("BatchNormRows", len(beta), c)
	sameLen("BatchNormRows", len(out), len(x))
	rowsOf("BatchNormRows", len(x), c)
	if useAVX2 {
		batchNormRowsAVX2(out, x, mu, invStd, gamma, beta)
	} else {
		batchNormRowsGo(out, x, mu, invStd, gamma, beta)
	}
}

// BatchNormGradRows is batch norm's input gradient over rows of output
// gradients d and inputs x (rows of c = len(a) channels):
//
//	h := float32((x[r*c+i] - mu[i]) * invStd[i])
//	v := float32(a[i] * ((d[r*c+i] - b1[i]) - float32(h*b2[i])))
//	g[r*c+i] += v // if acc, else g[r*c+i] = 0 + v
//
// with a = γ·invStd, b1 = Σd/n and b2 = Σd·x̂/n in training (b1 = b2 = 0
// in evaluation). Without acc, g is overwritten with +0 + v, the value a
// cleared g would get (−0 becomes +0). mu, invStd, b1 and b2 have the
// length of a; d, x and g the same length, a multiple of it.
func BatchNormGradRows(g, d, x, mu, invStd, a, b1, b2 []float32, acc bool) {
	c := len(a)
	sameLen("BatchNormGradRows", len(mu), c)
	sameLen("BatchNormGradRows", len(invStd), c)
	sameLen("BatchNormGradRows", len(b1), c)
	sameLen("BatchNormGradRows", len(b2), c)
	sameLen("BatchNormGradRows", len(d), len(g))
	sameLen("BatchNormGradRows", len(x), len(g))
	rowsOf("BatchNormGradRows", len(g), c)
	if useAVX2 {
		batchNormGradRowsAVX2(g, d, x, mu, invStd, a, b1, b2, acc)
	} else {
		batchNormGradRowsGo(g, d, x, mu, invStd, a, b1, b2, acc)
	}
}
