package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sameBits64 reports the first index where a and b differ in their bits.
func sameBits64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: element %d of %d = %#016x (%v), want %#016x (%v)", what, i, len(got),
				math.Float64bits(got[i]), got[i], math.Float64bits(want[i]), want[i])
		}
	}
}

// data64 returns n float64 values made from data's float32 values.
func data64(rng *rand.Rand, n int, vs valueSet) []float64 {
	x := make([]float64, n)
	for i, v := range data(rng, n, vs) {
		x[i] = float64(v)
	}
	return x
}

func TestColSums64(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	// Rows beyond Block/c take ColSums64's row blocks.
	shapes := append(shapes(), [2]int{Block/32 + 7, 32}, [2]int{3*Block/5 + 1, 5})
	for _, avx := range paths() {
		use(t, avx)
		for _, same := range []bool{false, true} {
			for _, sh := range shapes {
				rows, c := sh[0], sh[1]
				stride := c + rng.IntN(3)
				vs := arith(rng)
				n := max(rows*stride-(stride-c), 0) // the last row ends after c values
				a := data(rng, n, vs)
				b := a
				if !same {
					b = data(rng, n, vs)
				}
				sum, prod := data64(rng, c, vs), data64(rng, c, vs)
				wantS, wantP := append([]float64(nil), sum...), append([]float64(nil), prod...)
				for r := 0; r < rows; r++ {
					for i := 0; i < c; i++ {
						v := float64(a[r*stride+i])
						wantS[i] += v
						wantP[i] += v * float64(b[r*stride+i])
					}
				}
				ColSums64(sum, prod, a, b, rows, stride)
				what := fmt.Sprintf("%s same=%v %dx%d stride %d", pathName(avx), same, rows, c, stride)
				sameBits64(t, what+" sum", sum, wantS)
				sameBits64(t, what+" prod", prod, wantP)
			}
		}
	}
}

// TestColSums64Columns checks that summing column slices one by one, as
// threads would, gives the bits of one call over all columns.
func TestColSums64Columns(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const rows, c = 300, 45
	a, b := data(rng, rows*c, arithSets[1]), data(rng, rows*c, arithSets[1])
	for _, avx := range paths() {
		use(t, avx)
		sum, prod := make([]float64, c), make([]float64, c)
		ColSums64(sum, prod, a, b, rows, c)
		s2, p2 := make([]float64, c), make([]float64, c)
		for _, cut := range [][2]int{{0, 16}, {16, 19}, {19, 45}} {
			lo, hi := cut[0], cut[1]
			ColSums64(s2[lo:hi], p2[lo:hi], a[lo:], b[lo:], rows, c)
		}
		sameBits64(t, pathName(avx)+" sum", s2, sum)
		sameBits64(t, pathName(avx)+" prod", p2, prod)
	}
}

func TestBatchNormRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range shapes() {
			rows, c := sh[0], sh[1]
			vs := arith(rng)
			x := data(rng, rows*c, vs)
			mu, inv, gamma, beta := data(rng, c, vs), data(rng, c, vs), data(rng, c, vs), data(rng, c, vs)
			wantH, wantO := make([]float32, rows*c), make([]float32, rows*c)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					h := float32((x[r*c+i] - mu[i]) * inv[i])
					wantH[r*c+i] = h
					wantO[r*c+i] = float32(gamma[i]*h) + beta[i]
				}
			}
			hBuf, h := guarded(data(rng, rows*c, anyValue))
			oBuf, o := guarded(data(rng, rows*c, anyValue))
			BatchNormRows(o, h, x, mu, inv, gamma, beta)
			what := fmt.Sprintf("%s %dx%d", pathName(avx), rows, c)
			wh, _ := guarded(wantH)
			wo, _ := guarded(wantO)
			sameBits(t, what+" xhat", hBuf, wh)
			sameBits(t, what+" out", oBuf, wo)
		}
	}
}

func TestBatchNormGradRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	for _, avx := range paths() {
		use(t, avx)
		for _, acc := range []bool{false, true} {
			for _, sh := range shapes() {
				rows, c := sh[0], sh[1]
				vs := arith(rng)
				g, d, h := data(rng, rows*c, vs), data(rng, rows*c, vs), data(rng, rows*c, vs)
				a, b1, b2 := data(rng, c, vs), data(rng, c, vs), data(rng, c, vs)
				if rng.IntN(4) == 0 {
					clear(b1) // evaluation mode
					clear(b2)
				}
				want := append([]float32(nil), g...)
				for r := 0; r < rows; r++ {
					for i := 0; i < c; i++ {
						if !acc {
							want[r*c+i] = 0
						}
						want[r*c+i] += float32(a[i] * ((d[r*c+i] - b1[i]) - float32(h[r*c+i]*b2[i])))
					}
				}
				buf, s := guarded(g)
				BatchNormGradRows(s, d, h, a, b1, b2, acc)
				wbuf, _ := guarded(want)
				sameBits(t, fmt.Sprintf("%s acc=%v %dx%d", pathName(avx), acc, rows, c), buf, wbuf)
			}
		}
	}
}

// TestNormLengthChecks checks that mismatched lengths panic instead of
// reaching the assembly.
func TestNormLengthChecks(t *testing.T) {
	s := func(n int) []float32 { return make([]float32, n) }
	s64 := func(n int) []float64 { return make([]float64, n) }
	for name, fn := range map[string]func(){
		"ColSums64 prod":      func() { ColSums64(s64(4), s64(3), s(8), s(8), 2, 4) },
		"ColSums64 a short":   func() { ColSums64(s64(4), s64(4), s(7), s(8), 2, 4) },
		"ColSums64 b short":   func() { ColSums64(s64(4), s64(4), s(8), s(7), 2, 4) },
		"ColSums64 stride":    func() { ColSums64(s64(4), s64(4), s(8), s(8), 2, 3) },
		"ColSums64 rows":      func() { ColSums64(s64(4), s64(4), s(8), s(8), -1, 4) },
		"BatchNormRows mu":    func() { BatchNormRows(s(8), s(8), s(8), s(4), s(3), s(4), s(4)) },
		"BatchNormRows xhat":  func() { BatchNormRows(s(8), s(4), s(8), s(4), s(4), s(4), s(4)) },
		"BatchNormRows rows":  func() { BatchNormRows(s(6), s(6), s(6), s(4), s(4), s(4), s(4)) },
		"BatchNormGradRows":   func() { BatchNormGradRows(s(8), s(8), s(4), s(4), s(4), s(4), true) },
		"BatchNormGradRows b": func() { BatchNormGradRows(s(8), s(8), s(8), s(4), s(4), s(2), true) },
	} {
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

// TestConvNormNoAllocs checks that the depthwise and batch-norm kernels
// allocate nothing.
func TestConvNormNoAllocs(t *testing.T) {
	x, y, z := make([]float32, 640), make([]float32, 640), make([]float32, 640)
	v, w, u := make([]float32, 64), make([]float32, 64), make([]float32, 64)
	s, p := make([]float64, 64), make([]float64, 64)
	taps := []Tap{{0, 0}, {64, 0}, {128, 0}}
	for name, fn := range map[string]func(){
		"DepthwiseRun":      func() { DepthwiseRun(x, 64, y, 64, v, taps, 7, 64, false) },
		"DepthwiseGradRun":  func() { DepthwiseGradRun(v, x, 64, y, 64, taps, 7, 64) },
		"ColSums64":         func() { ColSums64(s, p, x, y, 10, 64) },
		"BatchNormRows":     func() { BatchNormRows(x, y, z, v, w, u, v) },
		"BatchNormGradRows": func() { BatchNormGradRows(x, y, z, v, w, u, true) },
	} {
		if n := testing.AllocsPerRun(10, fn); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}
