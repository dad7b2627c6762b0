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

// colShapes are the rows×columns of the column-sum tests: shapes(), and
// rows beyond a block of colSumsRows values.
func colShapes() [][2]int {
	return append(shapes(), [2]int{colSumsRows/32 + 7, 32}, [2]int{3*colSumsRows/5 + 1, 5}, [2]int{9, 3 * colSumsRows})
}

// strided returns rows rows of stride values of which the first c are
// from data (the last row ends after them) and the others NaN, which no
// sum may read.
func strided(rng *rand.Rand, rows, c, stride int, vs valueSet) []float32 {
	x := make([]float32, max(rows*stride-(stride-c), 0))
	for i := range x {
		x[i] = float32(math.NaN())
	}
	for r := 0; r < rows; r++ {
		copy(x[r*stride:], data(rng, c, vs))
	}
	return x
}

func TestColSums64(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range colShapes() {
			rows, c := sh[0], sh[1]
			stride := c + rng.IntN(3)
			vs := arith(rng)
			x := strided(rng, rows, c, stride, vs)
			sum, sq := data64(rng, c, vs), data64(rng, c, vs)
			wantS, wantQ := append([]float64(nil), sum...), append([]float64(nil), sq...)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					v := float64(x[r*stride+i])
					wantS[i] += v
					wantQ[i] += v * v
				}
			}
			ColSums64(sum, sq, x, rows, stride)
			what := fmt.Sprintf("%s %dx%d stride %d", pathName(avx), rows, c, stride)
			sameBits64(t, what+" sum", sum, wantS)
			sameBits64(t, what+" sq", sq, wantQ)
		}
	}
}

func TestBatchNormSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	for _, avx := range paths() {
		use(t, avx)
		for _, sh := range colShapes() {
			rows, c := sh[0], sh[1]
			stride := c + rng.IntN(3)
			vs := arith(rng)
			d, x := strided(rng, rows, c, stride, vs), strided(rng, rows, c, stride, vs)
			mu, inv := data(rng, c, vs), data(rng, c, vs)
			sum, prod := data64(rng, c, vs), data64(rng, c, vs)
			wantS, wantP := append([]float64(nil), sum...), append([]float64(nil), prod...)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					h := float32((x[r*stride+i] - mu[i]) * inv[i])
					v := float64(d[r*stride+i])
					wantS[i] += v
					wantP[i] += v * float64(h)
				}
			}
			BatchNormSums(sum, prod, d, x, mu, inv, rows, stride)
			what := fmt.Sprintf("%s %dx%d stride %d", pathName(avx), rows, c, stride)
			sameBits64(t, what+" sum", sum, wantS)
			sameBits64(t, what+" prod", prod, wantP)
		}
	}
}

// TestColSumsColumns checks that summing column slices one by one, as
// threads would, gives the bits of one call over all columns.
func TestColSumsColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const rows, c = 300, 45
	x, d := data(rng, rows*c, arithSets[1]), data(rng, rows*c, arithSets[1])
	mu, inv := data(rng, c, arithSets[1]), data(rng, c, arithSets[1])
	for _, avx := range paths() {
		use(t, avx)
		s1, q1, s2, p2 := make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
		ColSums64(s1, q1, x, rows, c)
		BatchNormSums(s2, p2, d, x, mu, inv, rows, c)
		t1, r1, t2, r2 := make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
		for _, cut := range [][2]int{{0, 16}, {16, 19}, {19, 45}} {
			lo, hi := cut[0], cut[1]
			ColSums64(t1[lo:hi], r1[lo:hi], x[lo:], rows, c)
			BatchNormSums(t2[lo:hi], r2[lo:hi], d[lo:], x[lo:], mu[lo:hi], inv[lo:hi], rows, c)
		}
		sameBits64(t, pathName(avx)+" sum", t1, s1)
		sameBits64(t, pathName(avx)+" sq", r1, q1)
		sameBits64(t, pathName(avx)+" Σd", t2, s2)
		sameBits64(t, pathName(avx)+" Σd·x̂", r2, p2)
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
			want := make([]float32, rows*c)
			for r := 0; r < rows; r++ {
				for i := 0; i < c; i++ {
					h := float32((x[r*c+i] - mu[i]) * inv[i])
					want[r*c+i] = float32(gamma[i]*h) + beta[i]
				}
			}
			buf, out := guarded(data(rng, rows*c, anyValue))
			BatchNormRows(out, x, mu, inv, gamma, beta)
			wbuf, _ := guarded(want)
			sameBits(t, fmt.Sprintf("%s %dx%d", pathName(avx), rows, c), buf, wbuf)
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
				g, d, x := data(rng, rows*c, vs), data(rng, rows*c, vs), data(rng, rows*c, vs)
				mu, inv, a, b1, b2 := data(rng, c, vs), data(rng, c, vs), data(rng, c, vs), data(rng, c, vs), data(rng, c, vs)
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
						h := float32((x[r*c+i] - mu[i]) * inv[i])
						want[r*c+i] += float32(a[i] * ((d[r*c+i] - b1[i]) - float32(h*b2[i])))
					}
				}
				buf, s := guarded(g)
				BatchNormGradRows(s, d, x, mu, inv, a, b1, b2, acc)
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
	mustPanic(t, map[string]func(){
		"ColSums64 sq":          func() { ColSums64(s64(4), s64(3), s(8), 2, 4) },
		"ColSums64 x short":     func() { ColSums64(s64(4), s64(4), s(7), 2, 4) },
		"ColSums64 stride":      func() { ColSums64(s64(4), s64(4), s(8), 2, 3) },
		"ColSums64 rows":        func() { ColSums64(s64(4), s64(4), s(8), -1, 4) },
		"ColSums64 overflow":    func() { ColSums64(s64(4), s64(4), s(8), 3, 1<<62) },
		"BatchNormSums d short": func() { BatchNormSums(s64(4), s64(4), s(7), s(8), s(4), s(4), 2, 4) },
		"BatchNormSums x short": func() { BatchNormSums(s64(4), s64(4), s(8), s(7), s(4), s(4), 2, 4) },
		"BatchNormSums mu":      func() { BatchNormSums(s64(4), s64(4), s(8), s(8), s(3), s(4), 2, 4) },
		"BatchNormRows mu":      func() { BatchNormRows(s(8), s(8), s(4), s(3), s(4), s(4)) },
		"BatchNormRows out":     func() { BatchNormRows(s(4), s(8), s(4), s(4), s(4), s(4)) },
		"BatchNormRows rows":    func() { BatchNormRows(s(6), s(6), s(4), s(4), s(4), s(4)) },
		"BatchNormGradRows x":   func() { BatchNormGradRows(s(8), s(8), s(4), s(4), s(4), s(4), s(4), s(4), true) },
		"BatchNormGradRows b":   func() { BatchNormGradRows(s(8), s(8), s(8), s(4), s(4), s(4), s(4), s(2), true) },
		"BatchNormGradRows mu":  func() { BatchNormGradRows(s(8), s(8), s(8), s(2), s(4), s(4), s(4), s(4), true) },
	})
}

// TestConvNormNoAllocs checks that the depthwise and batch-norm kernels
// allocate nothing.
func TestConvNormNoAllocs(t *testing.T) {
	x, y, z := make([]float32, 640), make([]float32, 640), make([]float32, 640)
	v, w, u := make([]float32, 64), make([]float32, 64), make([]float32, 64)
	s, p := make([]float64, 64), make([]float64, 64)
	taps := []Tap{{0, 0}, {64, 0}, {128, 0}}
	noAllocs(t, map[string]func(){
		"DepthwiseRun":      func() { DepthwiseRun(x, 64, y, 64, v, taps, 7, 64, false) },
		"DepthwiseGradRun":  func() { DepthwiseGradRun(v, x, 64, y, 64, taps, 7, 64) },
		"ColSums64":         func() { ColSums64(s, p, x, 10, 64) },
		"BatchNormSums":     func() { BatchNormSums(s, p, x, y, v, w, 10, 64) },
		"BatchNormRows":     func() { BatchNormRows(x, z, v, w, u, v) },
		"BatchNormGradRows": func() { BatchNormGradRows(x, y, z, v, w, u, v, w, true) },
	})
}
