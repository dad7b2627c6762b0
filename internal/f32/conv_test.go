package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// convChannels are the channel counts of the depthwise tests: every
// count to 70, which covers the 32-, 8- and 1-wide blocks and their
// tails, and a few larger ones.
func convChannels() []int {
	var cs []int
	for c := 1; c <= 70; c++ {
		cs = append(cs, c)
	}
	return append(cs, 96, 129, 256)
}

// runCase is a random run of a depthwise kernel over c channels: n
// pixels, steps, taps within inputs of nx values and weights of nw.
type runCase struct {
	n, c, ostep, xstep, nx, nw int
	taps                       []Tap
}

func newRunCase(rng *rand.Rand, c int) runCase {
	rc := runCase{n: rng.IntN(5), c: c, ostep: c + rng.IntN(3)*rng.IntN(c+1), xstep: rng.IntN(2*c + 1)}
	rc.nw = c * (1 + rng.IntN(9))
	span := c + rng.IntN(3*c+1) // the inputs one pixel's taps reach
	rc.nx = span + max(rc.n-1, 0)*rc.xstep + rng.IntN(3)
	for range rng.IntN(11) {
		rc.taps = append(rc.taps, Tap{X: rng.IntN(span - c + 1), W: rng.IntN(rc.nw - c + 1)})
	}
	return rc
}

func (rc runCase) String() string {
	return fmt.Sprintf("n=%d c=%d ostep=%d xstep=%d taps=%v", rc.n, rc.c, rc.ostep, rc.xstep, rc.taps)
}

func TestDepthwiseRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, avx := range paths() {
		use(t, avx)
		for _, acc := range []bool{false, true} {
			for _, c := range convChannels() {
				for range 3 {
					rc := newRunCase(rng, c)
					vs := arith(rng)
					nout := rc.c + max(rc.n-1, 0)*rc.ostep
					out, x, w := data(rng, nout, vs), data(rng, rc.nx, vs), data(rng, rc.nw, vs)
					want := append([]float32(nil), out...)
					for p := 0; p < rc.n; p++ {
						for j := 0; j < c; j++ {
							var s float32
							if acc {
								s = want[p*rc.ostep+j]
							}
							for _, tp := range rc.taps {
								s += float32(x[p*rc.xstep+tp.X+j] * w[tp.W+j])
							}
							want[p*rc.ostep+j] = s
						}
					}
					buf, s := guarded(out)
					DepthwiseRun(s, rc.ostep, x, rc.xstep, w, rc.taps, rc.n, c, acc)
					wbuf, _ := guarded(want)
					sameBits(t, fmt.Sprintf("%s acc=%v %v", pathName(avx), acc, rc), buf, wbuf)
				}
			}
		}
	}
}

func TestDepthwiseGradRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, avx := range paths() {
		use(t, avx)
		for _, c := range convChannels() {
			for range 3 {
				rc := newRunCase(rng, c)
				for i := range rc.taps {
					rc.taps[i].W -= rc.taps[i].W % c // whole weight rows
				}
				vs := arith(rng)
				nd := rc.c + max(rc.n-1, 0)*rc.ostep
				dw, d, x := data(rng, rc.nw, vs), data(rng, nd, vs), data(rng, rc.nx, vs)
				want := append([]float32(nil), dw...)
				for _, tp := range rc.taps {
					for j := 0; j < c; j++ {
						for p := 0; p < rc.n; p++ {
							want[tp.W+j] += float32(d[p*rc.ostep+j] * x[p*rc.xstep+tp.X+j])
						}
					}
				}
				buf, s := guarded(dw)
				DepthwiseGradRun(s, d, rc.ostep, x, rc.xstep, rc.taps, rc.n, c)
				wbuf, _ := guarded(want)
				sameBits(t, fmt.Sprintf("%s %v", pathName(avx), rc), buf, wbuf)
			}
		}
	}
}

// TestDepthwiseRunConv runs DepthwiseRun as a 3×3 depthwise convolution
// with padding 1 computes one output row (the left border pixel, the
// interior as one run, the right border pixel) and checks it against
// the convolution written out.
func TestDepthwiseRunConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	const h, w, c = 3, 6, 11 // three input rows, the middle one's outputs
	x, wt := data(rng, h*w*c, arithSets[1]), data(rng, 9*c, arithSets[1])
	want := make([]float32, w*c)
	for ow := 0; ow < w; ow++ {
		for j := 0; j < c; j++ {
			var s float32
			for kh := 0; kh < 3; kh++ {
				for kw := 0; kw < 3; kw++ {
					if iw := ow - 1 + kw; iw >= 0 && iw < w {
						s += float32(x[(kh*w+iw)*c+j] * wt[(kh*3+kw)*c+j])
					}
				}
			}
			want[ow*c+j] = s
		}
	}
	taps := func(ow, kw0, kw1 int) []Tap {
		var ts []Tap
		for kh := 0; kh < 3; kh++ {
			for kw := kw0; kw < kw1; kw++ {
				ts = append(ts, Tap{X: (kh*w + ow - 1 + kw) * c, W: (kh*3 + kw) * c})
			}
		}
		return ts
	}
	for _, avx := range paths() {
		use(t, avx)
		out := data(rng, w*c, anyValue)
		DepthwiseRun(out, c, x, c, wt, taps(0, 1, 3), 1, c, false)
		DepthwiseRun(out[c:], c, x, c, wt, taps(1, 0, 3), w-2, c, false)
		DepthwiseRun(out[(w-1)*c:], c, x, c, wt, taps(w-1, 0, 2), 1, c, false)
		sameBits(t, pathName(avx), out, want)
	}
}

// TestConvLengthChecks checks that runs reaching outside their slices
// panic instead of reaching the assembly.
func TestConvLengthChecks(t *testing.T) {
	s := func(n int) []float32 { return make([]float32, n) }
	tp := func(x, w int) []Tap { return []Tap{{X: x, W: w}} }
	mustPanic(t, map[string]func(){
		"out short":         func() { DepthwiseRun(s(7), 4, s(16), 4, s(4), tp(0, 0), 2, 4, false) },
		"x short":           func() { DepthwiseRun(s(8), 4, s(7), 4, s(4), tp(0, 0), 2, 4, false) },
		"tap past x":        func() { DepthwiseRun(s(8), 4, s(12), 4, s(4), tp(5, 0), 2, 4, false) },
		"tap past w":        func() { DepthwiseRun(s(8), 4, s(12), 4, s(8), tp(0, 5), 2, 4, false) },
		"negative tap":      func() { DepthwiseRun(s(8), 4, s(12), 4, s(8), tp(-1, 0), 2, 4, false) },
		"negative step":     func() { DepthwiseRun(s(8), -4, s(12), 4, s(8), tp(0, 0), 2, 4, false) },
		"step overflow":     func() { DepthwiseRun(s(8), 1<<62, s(12), 4, s(8), tp(0, 0), 5, 4, false) },
		"grad d short":      func() { DepthwiseGradRun(s(4), s(7), 4, s(16), 4, tp(0, 0), 2, 4) },
		"grad tap past x":   func() { DepthwiseGradRun(s(4), s(8), 4, s(8), 4, tp(1, 0), 2, 4) },
		"grad tap past dw":  func() { DepthwiseGradRun(s(4), s(8), 4, s(8), 4, tp(0, 1), 2, 4) },
		"grad x step":       func() { DepthwiseGradRun(s(4), s(8), 4, s(8), 1<<62, tp(0, 0), 3, 4) },
		"grad negative pix": func() { DepthwiseGradRun(s(4), s(8), 4, s(8), 4, tp(0, 0), -1, 4) },
	})
}
