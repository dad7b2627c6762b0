package f32

import "fmt"

// AddRows adds v to every row of m (rows of len(v)):
//
//	for r := 0; r < len(m)/len(v); r++ {
//		for i := range v {
//			m[r*len(v)+i] += v[i]
//		}
//	}
//
// len(m) must be a multiple of len(v).
func AddRows(m, v []float32) {
	rowsOf("AddRows", len(m), len(v))
	if useAVX2 {
		addRowsAVX2(m, v)
	} else {
		addRowsGo(m, v)
	}
}

// ReLU writes max(src[i], 0) into dst[i] with the builtin max: −0 becomes
// +0 and a NaN stays a NaN with the bits the builtin gives it (on amd64 its
// payload with the sign bit cleared). dst and src have the same length;
// they may be the same slice.
func ReLU(dst, src []float32) {
	sameLen("ReLU", len(dst), len(src))
	if useAVX2 {
		reluAVX2(dst, src)
	} else {
		reluGo(dst, src)
	}
}

// ReLUGrad adds d into g where out (the ReLU's output) is positive:
//
//	for i := range g {
//		if out[i] > 0 {
//			g[i] += d[i]
//		}
//	}
//
// g is left untouched elsewhere (a −0 stays −0). The slices have the same
// length.
func ReLUGrad(g, d, out []float32) {
	sameLen("ReLUGrad", len(g), len(d))
	sameLen("ReLUGrad", len(g), len(out))
	if useAVX2 {
		reluGradAVX2(g, d, out)
	} else {
		reluGradGo(g, d, out)
	}
}

// Block is the number of values an operation that clears a fresh buffer
// and then writes it handles at a time: small enough that the block is
// still in L1 when it is written.
const Block = 4096

// ReLUGradTo writes d where out > 0 and +0 elsewhere into g, whatever g
// held, in one pass: bit for bit ReLUGrad into g cleared (0 + d, so a −0
// of d becomes +0). The slices have the same length.
func ReLUGradTo(g, d, out []float32) {
	sameLen("ReLUGradTo", len(g), len(d))
	sameLen("ReLUGradTo", len(g), len(out))
	if useAVX2 {
		reluGradToAVX2(g, d, out)
	} else {
		reluGradToGo(g, d, out)
	}
}

// SumRows adds the rows of m (rows of len(acc)) into acc, one row after
// the other:
//
//	for r := 0; r < len(m)/len(acc); r++ {
//		for i := range acc {
//			acc[i] += m[r*len(acc)+i]
//		}
//	}
//
// len(m) must be a multiple of len(acc).
func SumRows(acc, m []float32) {
	rowsOf("SumRows", len(m), len(acc))
	if useAVX2 {
		sumRowsAVX2(acc, m)
	} else {
		sumRowsGo(acc, m)
	}
}

// MaxPool2 computes one output row of a 2×2, stride-2 max pool over NHWC
// pixels of c channels. x0 and x1 are the two input rows (pixel w's
// channels at x[w*c : w*c+c]); output pixel o, channel j gets the maximum
// of x0[2o], x0[2o+1], x1[2o], x1[2o+1] (positions 0, 1, 2, 3 = kh·2+kw)
// in y[o*c+j] and the position of the first maximum in arg[o*c+j]. A tap
// replaces the running maximum only if it is greater (v > m), so a NaN
// never replaces and a leading NaN stays.
//
// len(y) must be a multiple of c, len(arg) equal to len(y), and x0 and x1
// hold at least 2·len(y) values.
func MaxPool2(c int, y []float32, arg []uint8, x0, x1 []float32) {
	poolRows("MaxPool2", c, len(y), len(arg), len(x0), len(x1))
	if useAVX2 {
		maxPool2AVX2(c, y, arg, x0, x1)
	} else {
		maxPool2Go(c, y, arg, x0, x1)
	}
}

// MaxPool2Grad is MaxPool2's backward pass for one output row: dy[o*c+j]
// is added to the tap of output pixel o, channel j recorded in arg
// (dx0[2o], dx0[2o+1], dx1[2o] or dx1[2o+1], channel j); the other three
// taps are untouched, and so is every tap when arg holds a value above 3.
// The lengths are those of MaxPool2 (dy for y, dx0 and dx1 for x0 and x1).
func MaxPool2Grad(c int, dx0, dx1, dy []float32, arg []uint8) {
	poolRows("MaxPool2Grad", c, len(dy), len(arg), len(dx0), len(dx1))
	if useAVX2 {
		maxPool2GradAVX2(c, dx0, dx1, dy, arg)
	} else {
		maxPool2GradGo(c, dx0, dx1, dy, arg)
	}
}

// MaxPool2GradTo is MaxPool2Grad writing instead of adding: every tap of
// every window gets +0 but the recorded one, which gets 0 + dy (so that a
// −0 becomes +0, as adding to a cleared tap gives). The lengths are those
// of MaxPool2Grad.
func MaxPool2GradTo(c int, dx0, dx1, dy []float32, arg []uint8) {
	poolRows("MaxPool2GradTo", c, len(dy), len(arg), len(dx0), len(dx1))
	if useAVX2 {
		maxPool2GradToAVX2(c, dx0, dx1, dy, arg)
	} else {
		maxPool2GradToGo(c, dx0, dx1, dy, arg)
	}
}

// Requant applies the A2Q+ requantisation thresh.Requant to rows of
// accumulators, channel i of every row with scale[i] and bias[i]:
//
//	out[r*c+i] = float32(a[r*c+i]*scale[i]) + bias[i]
//
// with c = len(scale): the product is rounded, then the bias added (never
// fused). out and a have the same length, a multiple of c.
func Requant(out, a, scale, bias []float32) {
	c := len(scale)
	sameLen("Requant", len(bias), c)
	sameLen("Requant", len(out), len(a))
	rowsOf("Requant", len(a), c)
	if useAVX2 {
		requantAVX2(out, a, scale, bias)
	} else {
		requantGo(out, a, scale, bias)
	}
}

// RequantGrad is Requant's backward pass over rows of output gradients d
// and accumulators a: it accumulates the per-channel partial sums of d·a
// (the scale's gradient) into ds and of d (the bias's) into db, and adds
// d·scale into the accumulators' gradient ga unless ga is empty:
//
//	for r := 0; r < len(d)/c; r++ {
//		for i := 0; i < c; i++ {
//			dv := d[r*c+i]
//			ds[i] += float32(dv * a[r*c+i])
//			db[i] += dv
//			ga[r*c+i] += float32(dv * scale[i]) // if len(ga) > 0
//		}
//	}
//
// with c = len(scale), rows in order. The caller flushes ds and db into
// wider sums every few rows to bound their rounding error.
func RequantGrad(ds, db, ga, d, a, scale []float32) {
	c := len(scale)
	sameLen("RequantGrad", len(ds), c)
	sameLen("RequantGrad", len(db), c)
	sameLen("RequantGrad", len(a), len(d))
	if len(ga) != 0 {
		sameLen("RequantGrad", len(ga), len(d))
	}
	rowsOf("RequantGrad", len(d), c)
	switch {
	case useAVX2 && len(ga) != 0:
		requantGradGaAVX2(ds, db, ga, d, a, scale)
	case useAVX2:
		requantGradAVX2(ds, db, ga, d, a, scale)
	default:
		requantGradGo(ds, db, ga, d, a, scale)
	}
}

// RequantReLUGradTo is RequantGrad for a Requant followed by a ReLU whose
// outputs are out, writing the accumulators' gradient instead of adding
// to it: each gradient is first passed as ReLUGradTo passes it, then
// handled as RequantGrad handles it with ga cleared,
//
//	dv := float32(0)
//	if out[r*c+i] > 0 {
//		dv += d[r*c+i]
//	}
//	ds[i] += float32(dv * a[r*c+i])
//	db[i] += dv
//	ga[r*c+i] = 0 + float32(dv * scale[i])
//
// bit for bit the same as ReLUGradTo into a buffer, clear(ga) and
// RequantGrad, in one pass and without the buffer.
func RequantReLUGradTo(ds, db, ga, d, out, a, scale []float32) {
	c := len(scale)
	sameLen("RequantReLUGradTo", len(ds), c)
	sameLen("RequantReLUGradTo", len(db), c)
	sameLen("RequantReLUGradTo", len(a), len(d))
	sameLen("RequantReLUGradTo", len(out), len(d))
	sameLen("RequantReLUGradTo", len(ga), len(d))
	rowsOf("RequantReLUGradTo", len(d), c)
	if useAVX2 {
		requantReLUGradToAVX2(ds, db, ga, d, out, a, scale)
	} else {
		requantReLUGradToGo(ds, db, ga, d, out, a, scale)
	}
}

// Quantize maps x to its integer grid, dst[i] = thresh.Quantize(x[i], s,
// lo, hi): the quotient x[i]/s (a division, not a product with 1/s)
// rounded half to even, then clamped to [lo, hi] with the builtin max and
// min, a NaN getting the bits they give it. dst and x have the same
// length; they may be the same slice.
func Quantize(dst, x []float32, s, lo, hi float32) {
	sameLen("Quantize", len(dst), len(x))
	if useAVX2 {
		quantizeAVX2(dst, x, s, lo, hi)
	} else {
		quantizeGo(dst, x, s, lo, hi)
	}
}

// QuantizeGrad is Quantize's backward pass with a straight-through
// gradient for output gradients d. Over the elements whose quotient
// u = x[i]/s is not clamped (a NaN quotient counts as inside the range),
// it adds d[i]/s into gx[i] unless gx is empty, and it returns −Σ d[i]·u,
// the gradient with respect to ln s, summed in float64 in eight partial
// sums:
//
//	var p [8]float64
//	for i := range x {
//		u := x[i] / s
//		if u < lo-0.5 || u > hi+0.5 {
//			continue
//		}
//		gx[i] += d[i] / s // if len(gx) > 0
//		p[i%8] -= float64(d[i]) * float64(u)
//	}
//	return ((p[0]+p[4]) + (p[2]+p[6])) + ((p[1]+p[5]) + (p[3]+p[7]))
//
// gx is left untouched where the element is clamped (a −0 stays −0). d and
// x have the same length, and so has gx unless it is empty.
func QuantizeGrad(gx, d, x []float32, s, lo, hi float32) float64 {
	return quantizeGrad("QuantizeGrad", gx, d, x, s, lo, hi, false)
}

// QuantizeGradTo is QuantizeGrad writing gx instead of adding to it: d[i]/s
// where the element is not clamped, +0 where it is, as QuantizeGrad on a
// cleared gx gives, bit for bit, without the pass that clears it.
func QuantizeGradTo(gx, d, x []float32, s, lo, hi float32) float64 {
	return quantizeGrad("QuantizeGradTo", gx, d, x, s, lo, hi, true)
}

func quantizeGrad(name string, gx, d, x []float32, s, lo, hi float32, set bool) float64 {
	sameLen(name, len(d), len(x))
	if len(gx) != 0 {
		sameLen(name, len(gx), len(x))
	}
	if useAVX2 {
		return quantizeGradAVX2(gx, d, x, s, lo, hi, set)
	}
	return quantizeGradGo(gx, d, x, s, lo, hi, set)
}

// RequantQuantize is Requant, then a ReLU when relu is set, then Quantize
// with s, lo and hi, in one pass: a requantised layer's output handed
// straight to the next layer's input quantizer,
//
//	y := thresh.Requant(a[r*c+i], scale[i], bias[i])
//	if relu {
//		y = max(y, 0)
//	}
//	xi[r*c+i] = thresh.Quantize(y, s, lo, hi)
//
// with c = len(scale): bit for bit Requant, ReLU and Quantize in turn,
// without their intermediate values. xi and a have the same length, a
// multiple of c; they may be the same slice.
func RequantQuantize(xi, a, scale, bias []float32, relu bool, s, lo, hi float32) {
	c := len(scale)
	sameLen("RequantQuantize", len(bias), c)
	sameLen("RequantQuantize", len(xi), len(a))
	rowsOf("RequantQuantize", len(a), c)
	if useAVX2 {
		requantQuantizeAVX2(xi, a, scale, bias, relu, s, lo, hi)
	} else {
		requantQuantizeGo(xi, a, scale, bias, relu, s, lo, hi)
	}
}

// RequantQuantizeGradTo is RequantQuantize's backward pass with Quantize's
// straight-through gradient, for gradients d of its outputs. It
// recomputes each element's y (after the ReLU) and quotient u = y/s from
// the accumulators a, writes the accumulators' gradient ga, adds the
// per-channel partial sums of the scale's and the bias's gradients into ds
// and db, and returns the gradient with respect to ln s:
//
//	var p [8]float64
//	for r := 0; r < len(d)/c; r++ {
//		for i := 0; i < c; i++ {
//			// y and u as in RequantQuantize
//			dv := float32(0)
//			if !(u < lo-0.5 || u > hi+0.5) {
//				p[i%8] -= float64(d[r*c+i]) * float64(u)
//				if !relu || y > 0 {
//					dv = 0 + d[r*c+i]/s
//				}
//			}
//			ds[i] += float32(dv * a[r*c+i])
//			db[i] += dv
//			ga[r*c+i] = 0 + float32(dv*scale[i])
//		}
//	}
//	return ((p[0]+p[4]) + (p[2]+p[6])) + ((p[1]+p[5]) + (p[3]+p[7]))
//
// ga, ds and db are bit for bit what QuantizeGradTo, then RequantReLUGradTo
// (with relu) or RequantGrad into a cleared ga (without) give; the sum
// is QuantizeGrad's with its eight partial sums taken by channel instead
// of by position (the same when c is a multiple of 8). The caller flushes
// ds and db into wider sums every few rows.
func RequantQuantizeGradTo(ds, db, ga, d, a, scale, bias []float32, relu bool, s, lo, hi float32) float64 {
	c := len(scale)
	sameLen("RequantQuantizeGradTo", len(ds), c)
	sameLen("RequantQuantizeGradTo", len(db), c)
	sameLen("RequantQuantizeGradTo", len(bias), c)
	sameLen("RequantQuantizeGradTo", len(a), len(d))
	sameLen("RequantQuantizeGradTo", len(ga), len(d))
	rowsOf("RequantQuantizeGradTo", len(d), c)
	if useAVX2 {
		return requantQuantizeGradToAVX2(ds, db, ga, d, a, scale, bias, relu, s, lo, hi)
	}
	return requantQuantizeGradToGo(ds, db, ga, d, a, scale, bias, relu, s, lo, hi)
}

func sameLen(kernel string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("f32: %s: slice lengths %d and %d differ", kernel, a, b))
	}
}

// rowsOf checks that n values are whole rows of c.
func rowsOf(kernel string, n, c int) {
	if (c == 0 && n != 0) || (c != 0 && n%c != 0) {
		panic(fmt.Sprintf("f32: %s: %d values are not whole rows of %d", kernel, n, c))
	}
}

// poolRows checks the lengths of a 2×2 pool row: ny outputs of c
// channels, as many positions, and two input rows of 2·ny values.
func poolRows(kernel string, c, ny, narg, nx0, nx1 int) {
	if c < 1 || ny%c != 0 || narg != ny || nx0 < 2*ny || nx1 < 2*ny {
		panic(fmt.Sprintf("f32: %s: %d channels, %d outputs, %d positions, input rows of %d and %d", kernel, c, ny, narg, nx0, nx1))
	}
}
