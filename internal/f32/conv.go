package f32

import "fmt"

// A Tap is one term of a depthwise convolution's sums as DepthwiseRun and
// DepthwiseGradRun read it: the input values at offset X from a pixel's
// base and the weights at offset W, both in values.
type Tap struct{ X, W int }

// DepthwiseRun computes n pixels of a depthwise convolution over c
// channels, pixel p of out at p·ostep, its input at p·xstep: each output
// value is the sum, taps in order, of input times weight, started from
// +0 or, if acc, from the value out holds:
//
//	for p := 0; p < n; p++ {
//		for j := 0; j < c; j++ {
//			s := float32(0) // out[p*ostep+j] if acc
//			for _, t := range taps {
//				s += float32(x[p*xstep+t.X+j] * w[t.W+j])
//			}
//			out[p*ostep+j] = s
//		}
//	}
//
// The forward pass runs it over output pixels with the taps of their
// window; the input gradient runs it over input pixels with the output
// gradient as x. Every index must lie in its slice (checked), the steps
// and offsets must not be negative, and out must not overlap x or w.
func DepthwiseRun(out []float32, ostep int, x []float32, xstep int, w []float32, taps []Tap, n, c int, acc bool) {
	runChecks("DepthwiseRun", len(out), ostep, len(x), xstep, len(w), taps, n, c)
	if n == 0 || c == 0 {
		return
	}
	if useAVX2 {
		depthwiseRunAVX2(out, ostep, x, xstep, w, taps, n, c, acc)
	} else {
		depthwiseRunGo(out, ostep, x, xstep, w, taps, n, c, acc)
	}
}

// DepthwiseGradRun adds the weight gradient of n pixels of a depthwise
// convolution over c channels into dw, pixel p's output gradient at
// p·dstep of d and its input at p·xstep of x, pixels in order:
//
//	for _, t := range taps {
//		for j := 0; j < c; j++ {
//			for p := 0; p < n; p++ {
//				dw[t.W+j] += float32(d[p*dstep+j] * x[p*xstep+t.X+j])
//			}
//		}
//	}
//
// Every index must lie in its slice (checked), the steps and offsets must
// not be negative, dw must not overlap d or x, and the taps' weight rows
// dw[t.W : t.W+c] must be disjoint or the same (the assembly takes the
// channels in blocks, so partly overlapping rows would add in another
// order).
func DepthwiseGradRun(dw, d []float32, dstep int, x []float32, xstep int, taps []Tap, n, c int) {
	runChecks("DepthwiseGradRun", len(d), dstep, len(x), xstep, len(dw), taps, n, c)
	if n == 0 || c == 0 {
		return
	}
	if useAVX2 {
		depthwiseGradRunAVX2(dw, d, dstep, x, xstep, taps, n, c)
	} else {
		depthwiseGradRunGo(dw, d, dstep, x, xstep, taps, n, c)
	}
}

// runChecks checks that a run of n pixels of c channels, one every ostep
// values of a slice of nout and reading every xstep values of one of nx
// through taps into one of nw, stays within the slices.
func runChecks(kernel string, nout, ostep, nx, xstep, nw int, taps []Tap, n, c int) {
	if n < 0 || c < 0 || ostep < 0 || xstep < 0 {
		panic(fmt.Sprintf("f32: %s: %d pixels of %d channels, steps %d and %d", kernel, n, c, ostep, xstep))
	}
	if n == 0 || c == 0 {
		return
	}
	// Divisions, not products, so that no size overflows.
	if c > nout || (ostep > 0 && n-1 > (nout-c)/ostep) {
		panic(fmt.Sprintf("f32: %s: %d pixels of %d channels every %d values overrun %d values", kernel, n, c, ostep, nout))
	}
	if len(taps) == 0 {
		return
	}
	if c > nx || (xstep > 0 && n-1 > (nx-c)/xstep) {
		panic(fmt.Sprintf("f32: %s: %d pixels of %d channels every %d values overrun %d inputs", kernel, n, c, xstep, nx))
	}
	xlast := (n - 1) * xstep
	for _, t := range taps {
		if t.X < 0 || t.W < 0 || t.X > nx-c-xlast || t.W > nw-c {
			panic(fmt.Sprintf("f32: %s: tap %+v of %d pixels of %d channels every %d values outside %d inputs or %d weights",
				kernel, t, n, c, xstep, nx, nw))
		}
	}
}
