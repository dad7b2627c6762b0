package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/a2qtoolkit/a2q/thresh"
)

// haveAVX2 records whether the assembly kernels run here, before the tests
// switch useAVX2 to choose a path.
var haveAVX2 = useAVX2

// specials are the values other than NaN on which a vector kernel most
// easily departs from its Go twin: signed zeros, denormals, extremes and
// infinities (the last five).
var specials = []float32{
	0, float32(math.Copysign(0, -1)),
	math.Float32frombits(1), math.Float32frombits(0x80000001), // smallest denormals
	math.Float32frombits(0x007fffff), math.Float32frombits(0x807fffff), // largest denormals
	math.SmallestNonzeroFloat32 * 3, 1, -1,
	math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
}

// finite are the specials that cannot make an infinity, and so no NaN, in
// the kernels' sums and products of normal random values.
var finite = specials[:len(specials)-4]

// valueSet is the special values and NaNs of a test case.
type valueSet struct{ specials, nans []float32 }

// nan is the float32 with the given bits.
func nan(b uint32) float32 { return math.Float32frombits(b) }

// anyValue has every special and NaNs of both signs, quiet and signalling,
// with distinct payloads: for kernels that only compare and select.
var anyValue = valueSet{specials, []float32{nan(0x7fc00001), nan(0x7f800001), nan(0xffc00002), nan(0xff800002), nan(0x7fd23456)}}

// arithSets are the value sets of kernels that add or multiply. When two
// NaNs meet in one operation, the result is the first operand quietened;
// which operand is first is the compiler's choice in Go (two compilations
// of one loop can differ), so a case draws its NaNs from one family that
// differ only in the quiet bit, where the order does not show. Infinities
// and overflows make the default NaN (0xffc00000), so they come only with
// that NaN.
var arithSets = []valueSet{
	{specials, []float32{nan(0xffc00000)}},
	{finite, []float32{nan(0x7fc00001), nan(0x7f800001)}},
	{finite, []float32{nan(0xffc00002), nan(0xff800002)}},
	{finite, []float32{nan(0x7fd23456), nan(0x7f923456)}},
}

// arith returns one of arithSets at random.
func arith(rng *rand.Rand) valueSet { return arithSets[rng.IntN(len(arithSets))] }

// data returns n values: mostly normal random numbers, a sixth of them
// from vs.
func data(rng *rand.Rand, n int, vs valueSet) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch k := rng.IntN(18); {
		case k < 2:
			x[i] = vs.specials[rng.IntN(len(vs.specials))]
		case k == 2:
			x[i] = vs.nans[rng.IntN(len(vs.nans))]
		default:
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

// tieData returns n values from a small set, specials included, so that
// the taps of a pooling window often tie.
func tieData(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch rng.IntN(10) {
		case 0:
			x[i] = specials[rng.IntN(len(specials))]
		case 1:
			x[i] = anyValue.nans[rng.IntN(len(anyValue.nans))]
		default:
			x[i] = float32(rng.IntN(3))
		}
	}
	return x
}

// guarded returns a copy of x followed by a few sentinel values, and the
// copy's first len(x) values: kernels get the short slice, tests compare
// the whole buffer, so a write past the end shows.
func guarded(x []float32) (buf, s []float32) {
	buf = make([]float32, len(x)+9)
	copy(buf, x)
	for i := len(x); i < len(buf); i++ {
		buf[i] = math.Float32frombits(0x7fc0dead)
	}
	return buf, buf[:len(x)]
}

// sameBits reports the first index where a and b differ in their bits.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d of %d = %#08x (%v), want %#08x (%v)", what, i, len(got),
				math.Float32bits(got[i]), got[i], math.Float32bits(want[i]), want[i])
		}
	}
}

// paths returns the kernel paths to compare with the reference: the Go
// twins, and the assembly when the CPU runs it.
func paths() []bool {
	if haveAVX2 {
		return []bool{false, true}
	}
	return []bool{false}
}

// use selects the assembly (avx) or the Go twins until the test ends.
func use(t *testing.T, avx bool) {
	useAVX2 = avx
	t.Cleanup(func() { useAVX2 = haveAVX2 })
}

func pathName(avx bool) string {
	if avx {
		return "avx2"
	}
	return "go"
}

// n1 are the lengths of the elementwise tests.
func n1() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 255, 1000, 4099)
}

// shapes are the rows×columns of the row-wise tests.
func shapes() [][2]int {
	var s [][2]int
	for c := 1; c <= 70; c++ {
		for _, r := range []int{0, 1, 2, 5} {
			s = append(s, [2]int{r, c})
		}
	}
	return append(s, [2]int{300, 32}, [2]int{129, 64}, [2]int{128, 10}, [2]int{7, 100}, [2]int{64, 33})
}

func TestAddRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range shapes() {
			rows, c := sh[0], sh[1]
			vs := arith(rng)
			m, v := data(rng, rows*c, vs), data(rng, c, vs)
			want := append([]float32(nil), m...)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					want[r*c+i] += v[i]
				}
			}
			buf, s := guarded(m)
			AddRows(s, v)
			wbuf, _ := guarded(want)
			sameBits(t, fmt.Sprintf("%s %dx%d", pathName(avx), rows, c), buf, wbuf)
		}
	}
}

func TestReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, avx := range paths() {
		use(t, avx)
		for _, n := range n1() {
			x := data(rng, n, anyValue)
			want := make([]float32, n)
			for i, v := range x {
				switch {
				case v > 0:
					want[i] = v
				case v != v:
					want[i] = max(v, 0) // the builtin decides a NaN's bits
					if runtime.GOARCH == "amd64" && math.Float32bits(want[i]) != math.Float32bits(v)&^(1<<31) {
						t.Fatalf("max(%#08x, 0) = %#08x, want the payload with the sign cleared", math.Float32bits(v), math.Float32bits(want[i]))
					}
				}
			}
			buf, s := guarded(data(rng, n, anyValue))
			ReLU(s, x)
			wbuf, _ := guarded(want)
			sameBits(t, fmt.Sprintf("%s n=%d", pathName(avx), n), buf, wbuf)
			// In place.
			ReLU(x, x)
			sameBits(t, fmt.Sprintf("%s n=%d in place", pathName(avx), n), x, want)
		}
	}
}

// TestReLUGrad checks ReLUGrad against its loop, and ReLUGradTo, which
// overwrites whatever g held (NaN here), against the same loop on a
// cleared g, bit for bit on both paths.
func TestReLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ref := func(g, d, out []float32) []float32 {
		want := append([]float32(nil), g...)
		for i := range want {
			if out[i] > 0 {
				want[i] += d[i]
			}
		}
		return want
	}
	for _, avx := range paths() {
		use(t, avx)
		for _, n := range append(n1(), Block+13) {
			vs := arith(rng)
			g, d, out := data(rng, n, vs), data(rng, n, vs), data(rng, n, anyValue)
			nan := make([]float32, n)
			for i := range nan {
				nan[i] = float32(math.NaN())
			}
			for _, c := range []struct {
				name    string
				fn      func(g, d, out []float32)
				g, want []float32
			}{
				{"ReLUGrad", ReLUGrad, g, ref(g, d, out)},
				{"ReLUGradTo", ReLUGradTo, nan, ref(make([]float32, n), d, out)},
			} {
				buf, s := guarded(c.g)
				c.fn(s, d, out)
				wbuf, _ := guarded(c.want)
				sameBits(t, fmt.Sprintf("%s %s n=%d", c.name, pathName(avx), n), buf, wbuf)
			}
		}
	}
}

func TestSumRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range shapes() {
			rows, c := sh[0], sh[1]
			vs := arith(rng)
			acc, m := data(rng, c, vs), data(rng, rows*c, vs)
			want := append([]float32(nil), acc...)
			for i := 0; i < c; i++ {
				for r := 0; r < rows; r++ {
					want[i] += m[r*c+i]
				}
			}
			buf, s := guarded(acc)
			SumRows(s, m)
			wbuf, _ := guarded(want)
			sameBits(t, fmt.Sprintf("%s %dx%d", pathName(avx), rows, c), buf, wbuf)
		}
	}
}

// poolShapes are the output pixels × channels of the pooling tests.
func poolShapes() [][2]int {
	var s [][2]int
	for c := 1; c <= 70; c++ {
		for _, ow := range []int{0, 1, 2, 3} {
			s = append(s, [2]int{ow, c})
		}
	}
	return append(s, [2]int{13, 32}, [2]int{5, 64}, [2]int{40, 3}, [2]int{9, 17})
}

func TestMaxPool2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range poolShapes() {
			ow, c := sh[0], sh[1]
			// Input rows of an odd width: the last pixel is not pooled.
			x0, x1 := tieData(rng, (2*ow+1)*c), tieData(rng, (2*ow+1)*c)
			want, wantArg := make([]float32, ow*c), make([]uint8, ow*c)
			for o := 0; o < ow; o++ {
				for j := 0; j < c; j++ {
					taps := []float32{x0[2*o*c+j], x0[(2*o+1)*c+j], x1[2*o*c+j], x1[(2*o+1)*c+j]}
					m, p := taps[0], 0
					for k, v := range taps[1:] {
						if v > m {
							m, p = v, k+1
						}
					}
					want[o*c+j], wantArg[o*c+j] = m, uint8(p)
				}
			}
			ybuf, y := guarded(data(rng, ow*c, anyValue))
			argBuf := make([]uint8, ow*c+9)
			for i := range argBuf {
				argBuf[i] = 0xee
			}
			MaxPool2(c, y, argBuf[:ow*c], x0, x1)
			what := fmt.Sprintf("%s ow=%d c=%d", pathName(avx), ow, c)
			wbuf, _ := guarded(want)
			sameBits(t, what, ybuf, wbuf)
			for i, a := range argBuf {
				w := uint8(0xee)
				if i < len(wantArg) {
					w = wantArg[i]
				}
				if a != w {
					t.Fatalf("%s: position %d = %d, want %d", what, i, a, w)
				}
			}
		}
	}
}

func TestMaxPool2Grad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range poolShapes() {
			ow, c := sh[0], sh[1]
			vs := arith(rng)
			dx0, dx1 := data(rng, (2*ow+1)*c, vs), data(rng, (2*ow+1)*c, vs)
			dy := data(rng, ow*c, vs)
			arg := make([]uint8, ow*c)
			for i := range arg {
				arg[i] = uint8(rng.IntN(4))
				if rng.IntN(20) == 0 {
					arg[i] = uint8(4 + rng.IntN(252)) // not a position: adds nowhere
				}
			}
			// MaxPool2Grad adds into dx; MaxPool2GradTo is the same on taps
			// cleared first (the window's, not the column past them).
			for _, to := range []bool{false, true} {
				want0, want1 := append([]float32(nil), dx0...), append([]float32(nil), dx1...)
				if to {
					clear(want0[:2*ow*c])
					clear(want1[:2*ow*c])
				}
				for o := 0; o < ow; o++ {
					for j := 0; j < c; j++ {
						p := int(arg[o*c+j])
						if p > 3 {
							continue
						}
						w := want0
						if p >= 2 {
							w = want1
						}
						w[(2*o+p%2)*c+j] += dy[o*c+j]
					}
				}
				buf0, s0 := guarded(dx0)
				buf1, s1 := guarded(dx1)
				name := "MaxPool2Grad"
				if to {
					name = "MaxPool2GradTo"
					MaxPool2GradTo(c, s0, s1, dy, arg)
				} else {
					MaxPool2Grad(c, s0, s1, dy, arg)
				}
				what := fmt.Sprintf("%s %s ow=%d c=%d", name, pathName(avx), ow, c)
				w0, _ := guarded(want0)
				w1, _ := guarded(want1)
				sameBits(t, what+" dx0", buf0, w0)
				sameBits(t, what+" dx1", buf1, w1)
			}
		}
	}
}

func TestRequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range shapes() {
			rows, c := sh[0], sh[1]
			vs := arith(rng)
			a, sc, bias := data(rng, rows*c, vs), data(rng, c, vs), data(rng, c, vs)
			want := make([]float32, rows*c)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					want[r*c+i] = float32(a[r*c+i]*sc[i]) + bias[i]
				}
			}
			buf, out := guarded(data(rng, rows*c, anyValue))
			Requant(out, a, sc, bias)
			wbuf, _ := guarded(want)
			sameBits(t, fmt.Sprintf("%s %dx%d", pathName(avx), rows, c), buf, wbuf)
		}
	}
}

// TestRequantReLUGradTo checks the fused kernel against its definition:
// ReLUGradTo into a buffer, a cleared ga and RequantGrad, bit for bit,
// with ga's old contents never read.
func TestRequantReLUGradTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range shapes() {
			rows, c := sh[0], sh[1]
			vs := arith(rng)
			ds, db, d, out, a, sc := data(rng, c, vs), data(rng, c, vs), data(rng, rows*c, vs), data(rng, rows*c, vs), data(rng, rows*c, vs), data(rng, c, vs)
			for i := range out { // a third of the outputs are ReLU's zeros
				if rng.IntN(3) == 0 {
					out[i] = 0
				}
			}
			wantS, wantB := append([]float32(nil), ds...), append([]float32(nil), db...)
			wantGa, m := make([]float32, rows*c), make([]float32, rows*c)
			reluGradToGo(m, d, out)
			requantGradGo(wantS, wantB, wantGa, m, a, sc)
			sBuf, s := guarded(ds)
			bBuf, b := guarded(db)
			gaBuf, g := guarded(data(rng, rows*c, vs)) // stale contents, overwritten
			RequantReLUGradTo(s, b, g, d, out, a, sc)
			what := fmt.Sprintf("%s %dx%d", pathName(avx), rows, c)
			ws, _ := guarded(wantS)
			wb, _ := guarded(wantB)
			wg, _ := guarded(wantGa)
			sameBits(t, what+" ds", sBuf, ws)
			sameBits(t, what+" db", bBuf, wb)
			sameBits(t, what+" ga", gaBuf, wg)
		}
	}
}

func TestRequantGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, avx := range paths() {
		use(t, avx)
		for _, withGa := range []bool{false, true} {
			for _, sh := range shapes() {
				rows, c := sh[0], sh[1]
				vs := arith(rng)
				ds, db, d, a, sc := data(rng, c, vs), data(rng, c, vs), data(rng, rows*c, vs), data(rng, rows*c, vs), data(rng, c, vs)
				var ga []float32
				if withGa {
					ga = data(rng, rows*c, vs)
				}
				wantS, wantB, wantGa := append([]float32(nil), ds...), append([]float32(nil), db...), append([]float32(nil), ga...)
				for r := 0; r < rows; r++ {
					for i := 0; i < c; i++ {
						dv := d[r*c+i]
						wantS[i] += float32(dv * a[r*c+i])
						wantB[i] += dv
						if withGa {
							wantGa[r*c+i] += float32(dv * sc[i])
						}
					}
				}
				sBuf, s := guarded(ds)
				bBuf, b := guarded(db)
				gaBuf, g := guarded(ga)
				RequantGrad(s, b, g, d, a, sc)
				what := fmt.Sprintf("%s ga=%v %dx%d", pathName(avx), withGa, rows, c)
				ws, _ := guarded(wantS)
				wb, _ := guarded(wantB)
				wg, _ := guarded(wantGa)
				sameBits(t, what+" ds", sBuf, ws)
				sameBits(t, what+" db", bBuf, wb)
				sameBits(t, what+" ga", gaBuf, wg)
			}
		}
	}
}

// quantParams are the scales and integer ranges of the quantizer tests:
// ordinary ones (unsigned and signed 8 bits, a power-of-two scale whose
// quotients hit exact ties, a negative scale, scales so small that
// quotients overflow) and, from index quantOrdinary on, special ones
// (zero, infinite, NaN and denormal scales, NaN, signed-zero, infinite
// and inverted bounds).
type quantParam struct{ s, lo, hi float32 }

var quantParams = []quantParam{
	{1, 0, 255}, {1.0 / 16, -128, 127}, {0.0371, 0, 255}, {0.0371, -128, 127},
	{3, -8, 7}, {-0.5, -128, 127}, {1e-30, 0, 255}, {0.25, -2, 1},
	{0, -128, 127}, {float32(math.Copysign(0, -1)), 0, 255},
	{float32(math.Inf(1)), -128, 127}, {float32(math.Inf(-1)), 0, 255},
	{nan(0xffc00000), 0, 255}, {math.Float32frombits(3), -128, 127},
	{0.5, nan(0xffc00000), 127}, {0.5, -128, nan(0xffc00000)},
	{0.5, float32(math.Copysign(0, -1)), 0}, {0.5, 0, float32(math.Copysign(0, -1))},
	{0.5, float32(math.Inf(-1)), float32(math.Inf(1))}, {0.5, 10, 5},
}

// quantOrdinary is the number of ordinary cases at the start of
// quantParams.
const quantOrdinary = 8

// quantData returns n inputs for the quantizer p: mostly normal random
// values spread beyond the range, and from vs a few specials and NaNs,
// quotients at ties (k+0.5, exact when s is a power of two), among them
// the clamping bounds lo−0.5 and hi+0.5, and quotients too large for the
// range or for float32's integer spacing.
func quantData(rng *rand.Rand, n int, p quantParam, vs valueSet) []float32 {
	s := p.s
	if !(math.Abs(float64(s)) > 1e-30 && math.Abs(float64(s)) < 1e30) {
		s = 1
	}
	x := make([]float32, n)
	for i := range x {
		switch k := rng.IntN(20); {
		case k < 2:
			x[i] = vs.specials[rng.IntN(len(vs.specials))]
		case k == 2:
			x[i] = vs.nans[rng.IntN(len(vs.nans))]
		case k == 3:
			x[i] = (p.lo - 0.5) * s
			if rng.IntN(2) == 0 {
				x[i] = (p.hi + 0.5) * s
			}
		case k < 6:
			x[i] = (float32(rng.IntN(600)-300) + 0.5) * s
		case k < 8:
			big := []float32{1 << 23, 1<<23 + 1, 1<<23 + 3, 1 << 24, 1e30}
			x[i] = big[rng.IntN(len(big))] * s
			if rng.IntN(2) == 0 {
				x[i] = -x[i]
			}
		default:
			x[i] = float32(rng.NormFloat64()*150) * s
		}
	}
	return x
}

func TestQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, avx := range paths() {
		use(t, avx)
		for _, p := range quantParams {
			for _, n := range n1() {
				x := quantData(rng, n, p, anyValue)
				want := make([]float32, n)
				for i, v := range x {
					want[i] = thresh.Quantize(v, p.s, p.lo, p.hi)
				}
				what := fmt.Sprintf("%s s=%g lo=%g hi=%g n=%d", pathName(avx), p.s, p.lo, p.hi, n)
				buf, dst := guarded(data(rng, n, anyValue))
				Quantize(dst, x, p.s, p.lo, p.hi)
				wbuf, _ := guarded(want)
				sameBits(t, what, buf, wbuf)
				// In place.
				Quantize(x, x, p.s, p.lo, p.hi)
				sameBits(t, what+" in place", x, want)
			}
		}
	}
}

// TestQuantizeRule checks Quantize on cases worked out by hand: ties to
// even, clamping, signed zeros, overflowing quotients and NaN.
func TestQuantizeRule(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	for _, tt := range []struct{ x, s, lo, hi, want float32 }{
		{2.5, 1, -128, 127, 2},
		{3.5, 1, -128, 127, 4},
		{-2.5, 1, -128, 127, -2},
		{0.25, 0.125, 0, 255, 2},       // 2 exactly
		{0.3125, 0.125, 0, 255, 2},     // 2.5: tie to even
		{0.4375, 0.125, 0, 255, 4},     // 3.5
		{300, 1, 0, 255, 255},          // clamped above
		{-3, 1, 0, 255, 0},             // clamped below
		{-200, 1, -128, 127, -128},     // clamped below, signed
		{-0.25, 1, -128, 127, negZero}, // rounds to −0, kept by the range
		{-0.25, 1, 0, 255, 0},          // −0 raised to +0 by max
		{1e30, 1e-30, 0, 255, 255},     // the quotient overflows to +Inf
		{-1e30, 1e-30, -128, 127, -128},
		{1 << 24, 1, 0, inf, 1 << 24}, // beyond float32's odd integers
		{1, 0, 0, 255, 255},           // x/0 = +Inf
		{float32(math.NaN()), 1, 0, 255, float32(math.NaN())},
		{0, 0, 0, 255, float32(math.NaN())}, // 0/0
	} {
		for _, avx := range paths() {
			use(t, avx)
			x := []float32{tt.x, tt.x, tt.x, tt.x, tt.x, tt.x, tt.x, tt.x, tt.x} // a vector block and a tail
			Quantize(x, x, tt.s, tt.lo, tt.hi)
			for i, got := range x {
				ok := math.Float32bits(got) == math.Float32bits(tt.want)
				if tt.want != tt.want {
					ok = got != got
				}
				if !ok {
					t.Errorf("%s: Quantize(%g, s=%g, [%g, %g])[%d] = %g, want %g", pathName(avx), tt.x, tt.s, tt.lo, tt.hi, i, got, tt.want)
				}
			}
		}
	}
}

// TestQuantizeGrad checks QuantizeGrad against the reference loop, and
// QuantizeGradTo against QuantizeGrad on a cleared gradient, on both paths.
func TestQuantizeGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, avx := range paths() {
		use(t, avx)
		for _, withGx := range []bool{false, true} {
			for pi, p := range quantParams {
				for _, n := range n1() {
					vs := arith(rng)
					if pi >= quantOrdinary {
						// Special scales and bounds make the default NaN
						// (0·Inf, 0/0), so they come with that NaN only.
						vs = arithSets[0]
					}
					x, d := quantData(rng, n, p, vs), data(rng, n, vs)
					var gx []float32
					if withGx {
						gx = data(rng, n, vs)
					}
					wantGx := append([]float32(nil), gx...)
					var part [8]float64
					for i := range x {
						u := x[i] / p.s
						if u < p.lo-0.5 || u > p.hi+0.5 {
							continue
						}
						if withGx {
							wantGx[i] += d[i] / p.s
						}
						part[i%8] -= float64(d[i]) * float64(u)
					}
					want := ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]))
					gBuf, g := guarded(gx)
					got := QuantizeGrad(g, d, x, p.s, p.lo, p.hi)
					what := fmt.Sprintf("%s gx=%v s=%g lo=%g hi=%g n=%d", pathName(avx), withGx, p.s, p.lo, p.hi, n)
					if math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("%s: sum %#016x (%v), want %#016x (%v)", what, math.Float64bits(got), got, math.Float64bits(want), want)
					}
					wg, _ := guarded(wantGx)
					sameBits(t, what+" gx", gBuf, wg)
					if !withGx {
						continue
					}
					// The write mode: QuantizeGrad on a cleared gx, whatever
					// gx held before.
					wantTo := make([]float32, n)
					QuantizeGrad(wantTo, d, x, p.s, p.lo, p.hi)
					toBuf, to := guarded(gx)
					if got := QuantizeGradTo(to, d, x, p.s, p.lo, p.hi); math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("%s: QuantizeGradTo sum %v, want %v", what, got, want)
					}
					wt, _ := guarded(wantTo)
					sameBits(t, what+" QuantizeGradTo gx", toBuf, wt)
				}
			}
		}
	}
}

// rqqChannels returns c channels' scales and biases for the fused
// requantisation tests: mostly exact ones (scale a power of two, bias 0),
// so that quantData's ties and bounds reach the quantizer, the rest
// random or special.
func rqqChannels(rng *rand.Rand, c int, vs valueSet) (scale, bias []float32) {
	scale, bias = data(rng, c, vs), data(rng, c, vs)
	for i := range scale {
		if rng.IntN(3) > 0 {
			scale[i], bias[i] = []float32{1, 0.5, 2}[rng.IntN(3)], 0
		}
	}
	return scale, bias
}

// TestRequantQuantize checks the fused kernel against its definition,
// Requant, ReLU (or none) and Quantize in turn, bit for bit, on both
// paths, in place too.
func TestRequantQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, avx := range paths() {
		use(t, avx)
		for _, relu := range []bool{false, true} {
			for pi, p := range quantParams {
				for _, sh := range shapes() {
					if pi >= quantOrdinary && sh[0]*sh[1] > 300 {
						continue
					}
					rows, c := sh[0], sh[1]
					vs := arith(rng)
					a := quantData(rng, rows*c, p, vs)
					scale, bias := rqqChannels(rng, c, vs)
					want := make([]float32, rows*c)
					requantGo(want, a, scale, bias)
					if relu {
						reluGo(want, want)
					}
					quantizeGo(want, want, p.s, p.lo, p.hi)
					what := fmt.Sprintf("%s relu=%v s=%g lo=%g hi=%g %dx%d", pathName(avx), relu, p.s, p.lo, p.hi, rows, c)
					buf, xi := guarded(data(rng, rows*c, anyValue))
					RequantQuantize(xi, a, scale, bias, relu, p.s, p.lo, p.hi)
					wbuf, _ := guarded(want)
					sameBits(t, what, buf, wbuf)
					RequantQuantize(a, a, scale, bias, relu, p.s, p.lo, p.hi)
					sameBits(t, what+" in place", a, want)
				}
			}
		}
	}
}

// TestRequantQuantizeGradTo checks the fused backward kernel against the
// passes it replaces (QuantizeGradTo, then RequantReLUGradTo or a cleared
// ga and RequantGrad), bit for bit for ga, ds and db, and its sum against
// the documented loop (and against QuantizeGrad's when c is a multiple of
// 8), with ga's old contents never read.
func TestRequantQuantizeGradTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, avx := range paths() {
		use(t, avx)
		for _, relu := range []bool{false, true} {
			for pi, p := range quantParams {
				for _, sh := range shapes() {
					if pi >= quantOrdinary && sh[0]*sh[1] > 300 {
						continue
					}
					rows, c := sh[0], sh[1]
					vs := arith(rng)
					if pi >= quantOrdinary {
						vs = arithSets[0]
					}
					a, d := quantData(rng, rows*c, p, vs), data(rng, rows*c, vs)
					scale, bias := rqqChannels(rng, c, vs)
					ds, db := data(rng, c, vs), data(rng, c, vs)
					// The unfused passes.
					y := make([]float32, rows*c)
					requantGo(y, a, scale, bias)
					if relu {
						reluGo(y, y)
					}
					gy := make([]float32, rows*c)
					flat := quantizeGradGo(gy, d, y, p.s, p.lo, p.hi, true)
					wantS, wantB := append([]float32(nil), ds...), append([]float32(nil), db...)
					wantGa := make([]float32, rows*c)
					if relu {
						requantReLUGradToGo(wantS, wantB, wantGa, gy, y, a, scale)
					} else {
						requantGradGo(wantS, wantB, wantGa, gy, a, scale)
					}
					var part [8]float64
					for r := 0; r < rows; r++ {
						for i := 0; i < c; i++ {
							if u := y[r*c+i] / p.s; !(u < p.lo-0.5 || u > p.hi+0.5) {
								part[i%8] -= float64(d[r*c+i]) * float64(u)
							}
						}
					}
					want := ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]))
					what := fmt.Sprintf("%s relu=%v s=%g lo=%g hi=%g %dx%d", pathName(avx), relu, p.s, p.lo, p.hi, rows, c)
					if c%8 == 0 && math.Float64bits(flat) != math.Float64bits(want) && !(flat != flat && want != want) {
						t.Fatalf("%s: the documented sum %v differs from QuantizeGrad's %v", what, want, flat)
					}
					sBuf, sv := guarded(ds)
					bBuf, bv := guarded(db)
					gaBuf, g := guarded(data(rng, rows*c, vs)) // stale contents, overwritten
					got := RequantQuantizeGradTo(sv, bv, g, d, a, scale, bias, relu, p.s, p.lo, p.hi)
					if math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
						t.Fatalf("%s: sum %#016x (%v), want %#016x (%v)", what, math.Float64bits(got), got, math.Float64bits(want), want)
					}
					ws, _ := guarded(wantS)
					wb, _ := guarded(wantB)
					wg, _ := guarded(wantGa)
					sameBits(t, what+" ga", gaBuf, wg)
					sameBits(t, what+" ds", sBuf, ws)
					sameBits(t, what+" db", bBuf, wb)
				}
			}
		}
	}
}

// TestLengthChecks checks that mismatched lengths panic instead of
// reaching the assembly.
func TestLengthChecks(t *testing.T) {
	s := func(n int) []float32 { return make([]float32, n) }
	b := func(n int) []uint8 { return make([]uint8, n) }
	mustPanic(t, map[string]func(){
		"AddRows partial row":        func() { AddRows(s(7), s(3)) },
		"AddRows empty vector":       func() { AddRows(s(1), nil) },
		"ReLU":                       func() { ReLU(s(3), s(4)) },
		"ReLUGrad":                   func() { ReLUGrad(s(3), s(3), s(2)) },
		"SumRows partial row":        func() { SumRows(s(3), s(8)) },
		"MaxPool2 no channels":       func() { MaxPool2(0, s(0), b(0), s(0), s(0)) },
		"MaxPool2 short input":       func() { MaxPool2(2, s(4), b(4), s(8), s(7)) },
		"MaxPool2 positions":         func() { MaxPool2(2, s(4), b(3), s(8), s(8)) },
		"MaxPool2Grad short input":   func() { MaxPool2Grad(2, s(7), s(8), s(4), b(4)) },
		"MaxPool2GradTo short input": func() { MaxPool2GradTo(2, s(7), s(8), s(4), b(4)) },
		"Requant bias":               func() { Requant(s(4), s(4), s(2), s(1)) },
		"Requant partial row":        func() { Requant(s(5), s(5), s(2), s(2)) },
		"RequantGrad ga":             func() { RequantGrad(s(2), s(2), s(2), s(4), s(4), s(2)) },
		"RequantGrad db":             func() { RequantGrad(s(2), s(1), nil, s(4), s(4), s(2)) },
		"RequantReLUGradTo out":      func() { RequantReLUGradTo(s(2), s(2), s(4), s(4), s(2), s(4), s(2)) },
		"RequantReLUGradTo ga":       func() { RequantReLUGradTo(s(2), s(2), nil, s(4), s(4), s(4), s(2)) },
		"Quantize":                   func() { Quantize(s(3), s(4), 1, 0, 255) },
		"RequantQuantize bias":       func() { RequantQuantize(s(4), s(4), s(2), s(1), true, 1, 0, 255) },
		"RequantQuantize xi":         func() { RequantQuantize(s(3), s(4), s(2), s(2), true, 1, 0, 255) },
		"RequantQuantizeGradTo ga":   func() { RequantQuantizeGradTo(s(2), s(2), s(2), s(4), s(4), s(2), s(2), true, 1, 0, 255) },
		"RequantQuantizeGradTo rows": func() { RequantQuantizeGradTo(s(2), s(2), s(5), s(5), s(5), s(2), s(2), true, 1, 0, 255) },
		"QuantizeGrad gx":            func() { QuantizeGrad(s(3), s(4), s(4), 1, 0, 255) },
		"QuantizeGrad d":             func() { QuantizeGrad(nil, s(3), s(4), 1, 0, 255) },
	})
}

// TestNoAllocs checks that the kernels allocate nothing.
func TestNoAllocs(t *testing.T) {
	x, y, z := make([]float32, 640), make([]float32, 640), make([]float32, 640)
	v, w := make([]float32, 64), make([]float32, 64)
	arg := make([]uint8, 320)
	noAllocs(t, map[string]func(){
		"AddRows":           func() { AddRows(x, v) },
		"ReLU":              func() { ReLU(x, y) },
		"ReLUGrad":          func() { ReLUGrad(x, y, z) },
		"SumRows":           func() { SumRows(v, x) },
		"MaxPool2":          func() { MaxPool2(64, x[:320], arg, y, z) },
		"MaxPool2Grad":      func() { MaxPool2Grad(64, y, z, x[:320], arg) },
		"Requant":           func() { Requant(x, y, v, w) },
		"RequantGrad":       func() { RequantGrad(v, w, z, x, y, v) },
		"RequantReLUGradTo": func() { RequantReLUGradTo(v, w, z, x, y, y, v) },
		"Quantize":          func() { Quantize(x, y, 0.1, 0, 255) },
		"QuantizeGrad":      func() { QuantizeGrad(x, y, z, 0.1, 0, 255) },
		"RequantQuantize":   func() { RequantQuantize(x, y, v, w, true, 0.1, 0, 255) },
		"RequantQuantizeGradTo": func() {
			RequantQuantizeGradTo(v, w, z, x, y, v, w, true, 0.1, 0, 255)
		},
	})
}

// mustPanic checks that every call panics (a check that stops a bad call
// before the assembly).
func mustPanic(t *testing.T, calls map[string]func()) {
	t.Helper()
	for name, fn := range calls {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}

// noAllocs checks that no call allocates.
func noAllocs(t *testing.T, calls map[string]func()) {
	t.Helper()
	for name, fn := range calls {
		if n := testing.AllocsPerRun(10, fn); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}
