package f32

import "fmt"

// ColSums64 adds the column sums of rows of a, and of the products of a
// and b, into sum and prod in float64, rows in order: row r of a and b
// starts at r·stride, and its first len(sum) values are summed:
//
//	for r := 0; r < rows; r++ {
//		for i := range sum {
//			v := float64(a[r*stride+i])
//			sum[i] += v
//			prod[i] += v * float64(b[r*stride+i])
//		}
//	}
//
// Each column is summed on its own, so a caller may split the columns
// among threads (slicing sum, prod, a and b) without changing a bit. The
// product of two float32 values is exact in float64. Batch norm's
// statistics are ColSums64(sum, sq, x, x, rows, c); its backward pass's
// reductions ColSums64(Σdy, Σdy·x̂, dy, x̂, rows, c). prod has the length
// of sum, at most stride, and a and b hold rows rows.
func ColSums64(sum, prod []float64, a, b []float32, rows, stride int) {
	c := len(sum)
	if len(prod) != c || rows < 0 || c > stride ||
		(rows > 0 && c > 0 && (c > len(a) || c > len(b) || rows-1 > (len(a)-c)/stride || rows-1 > (len(b)-c)/stride)) {
		panic(fmt.Sprintf("f32: ColSums64: %d and %d sums of %d rows of stride %d over %d and %d values",
			c, len(prod), rows, stride, len(a), len(b)))
	}
	if c == 0 {
		return
	}
	// Blocks of rows of a and b that stay in L1 while every column block
	// reads them.
	step := max(1, colSumsRows/stride)
	for r := 0; r < rows; r += step {
		n := min(step, rows-r)
		if useAVX2 {
			colSums64AVX2(sum, prod, a[r*stride:], b[r*stride:], n, stride)
		} else {
			colSums64Go(sum, prod, a[r*stride:], b[r*stride:], n, stride)
		}
	}
}

// colSumsRows is the number of values of a (and as many of b) in a block
// of rows of ColSums64.
const colSumsRows = 2048

// BatchNormRows normalises rows of x (rows of c = len(mu) channels) with
// per-channel means mu and inverse standard deviations invStd, writing
// the normalised values into xhat and their affine transform into out:
//
//	h := float32((x[r*c+i] - mu[i]) * invStd[i])
//	xhat[r*c+i] = h
//	out[r*c+i] = float32(gamma[i]*h) + beta[i]
//
// the product rounded before the sum (never fused). invStd, gamma and
// beta have the length of mu; x, xhat and out the same length, a
// multiple of it.
func BatchNormRows(out, xhat, x, mu, invStd, gamma, beta []float32) {
	c := len(mu)
	sameLen("BatchNormRows", len(invStd), c)
	sameLen("BatchNormRows", len(gamma), c)
	sameLen("BatchNormRows", len(beta), c)
	sameLen("BatchNormRows", len(xhat), len(x))
	sameLen("BatchNormRows", len(out), len(x))
	rowsOf("BatchNormRows", len(x), c)
	if useAVX2 {
		batchNormRowsAVX2(out, xhat, x, mu, invStd, gamma, beta)
	} else {
		batchNormRowsGo(out, xhat, x, mu, invStd, gamma, beta)
	}
}

// BatchNormGradRows is batch norm's input gradient over rows of output
// gradients d and normalised inputs xhat (rows of c = len(a) channels):
//
//	v := float32(a[i] * ((d[r*c+i] - b1[i]) - float32(xhat[r*c+i]*b2[i])))
//	g[r*c+i] += v // if acc, else g[r*c+i] = 0 + v
//
// with a = γ·invStd, b1 = Σd/n and b2 = Σd·x̂/n in training (b1 = b2 = 0
// in evaluation). Without acc, g is overwritten with +0 + v, the value a
// cleared g would get (−0 becomes +0). b1 and b2 have the length of a; d,
// xhat and g the same length, a multiple of it.
func BatchNormGradRows(g, d, xhat, a, b1, b2 []float32, acc bool) {
	c := len(a)
	sameLen("BatchNormGradRows", len(b1), c)
	sameLen("BatchNormGradRows", len(b2), c)
	sameLen("BatchNormGradRows", len(d), len(g))
	sameLen("BatchNormGradRows", len(xhat), len(g))
	rowsOf("BatchNormGradRows", len(g), c)
	if useAVX2 {
		batchNormGradRowsAVX2(g, d, xhat, a, b1, b2, acc)
	} else {
		batchNormGradRowsGo(g, d, xhat, a, b1, b2, acc)
	}
}
