package intinfer

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA32 is float32(a·m + c) rounded once, in big arithmetic.
func exactFMA32(a int32, m, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetInt64(int64(a))
	x.Mul(x, new(big.Float).SetPrec(200).SetFloat64(float64(m)))
	x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
	r, _ := x.Float32()
	return r
}

// fmaTie is a fused multiply-add whose float64 sum is a float32 midpoint
// that is not the exact sum: 3 · 6990507·2⁻²³ = 2.5 + 2⁻²³ exactly, halfway
// between 2.5 and the next float32, and c = ±2⁻⁶⁰ decides the rounding,
// which a float64 sum loses. Rounded once it is 2.5 + 2⁻²² (level 3) for
// c > 0 and 2.5 (level 2, to even) for c < 0.
var fmaTie = struct {
	a    int32
	m, c float32
}{3, 6990507.0 / (1 << 23), 1.0 / (1 << 60)}

// TestFMARound compares fmaRound with the sum rounded once in big
// arithmetic, on random operands of every magnitude and on the crafted
// midpoints of fmaTie, where rounding the float64 sum to float32 rounds
// twice and gets it wrong.
func TestFMARound(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	check := func(a int32, m, c float32) {
		t.Helper()
		if got, want := fmaRound(a, m, c), exactFMA32(a, m, c); got != want {
			t.Fatalf("fmaRound(%d, %g, %g) = %g, exact %g", a, m, c, got, want)
		}
	}
	for _, c := range []float32{fmaTie.c, -fmaTie.c, 0} {
		check(fmaTie.a, fmaTie.m, c)
		check(-fmaTie.a, fmaTie.m, -c)
	}
	if float32(float64(fmaTie.a)*float64(fmaTie.m)+float64(fmaTie.c)) == exactFMA32(fmaTie.a, fmaTie.m, fmaTie.c) {
		t.Fatal("the crafted tie does not round twice through float64: it tests nothing")
	}
	for range 200000 {
		a := int32(rng.Uint32()) >> rng.IntN(32)
		m := float32(math.Ldexp(rng.Float64(), -rng.IntN(30)))
		c := float32(math.Ldexp(rng.NormFloat64(), 8-rng.IntN(80)))
		check(a, m, c)
	}
}

// fmaCase is a random fused form of n channels on levels [lo, hi], with a
// correction in about every third channel at an accumulator the data
// below hits.
func fmaCase(rng *rand.Rand, n int, signed bool) *vecRequant {
	lo, hi := levels(2+rng.IntN(7), signed)
	f := &fmaForm{m: make([]float32, n), c: make([]float32, n), lo: lo, hi: hi}
	f.fix = make([]int32, 2*n)
	for ch := range n {
		f.m[ch] = float32(math.Exp2(-8 - 6*rng.Float64()))
		f.c[ch] = float32(rng.NormFloat64() * 20)
		f.fix[ch] = math.MinInt32
		if rng.IntN(3) == 0 {
			f.fix[ch] = int32(rng.IntN(64)) - 32
			f.fix[n+ch] = int32(rng.IntN(7)) - 3
		}
	}
	f.tile()
	return &vecRequant{scale: f.m, bias: f.c, fma: f}
}

// TestFMAKernels runs the fused form's kernels (the pixel kernel with one
// and four sources and masked tails, the row kernel with unsigned and
// signed packs) against their Go twin, on accumulators that hit the
// corrections, the crafted tie of fmaTie and values far outside the levels,
// with and without corrections.
func TestFMAKernels(t *testing.T) {
	if !cpuAVX512 {
		t.Skip("no AVX-512 on this CPU (or a noasm build): the fused form is not used")
	}
	forceVec(t, "avx512")
	rng := rand.New(rand.NewPCG(73, 74))
	ns := []int{1, 5, 16, 17, 31, 32, 48, 64, 70}
	for trial := range 120 {
		n := ns[trial%len(ns)]
		v := fmaCase(rng, n, trial%2 == 1)
		f := v.fma
		if trial%5 == 4 {
			f.fix = nil
			f.tile()
		}
		pix := 1 + rng.IntN(9)
		if f.row64 != nil {
			pix = 64/n*(1+rng.IntN(3)) + rng.IntN(3) // whole rows of 64 and a tail
		}
		near := int32(0) // accumulators about a correction
		if f.fix != nil {
			near = f.fix[rng.IntN(n)]
		}
		x := make([]int32, 4*pix*n+8)
		for i := range x {
			switch rng.IntN(8) {
			case 0:
				x[i] = int32(rng.Uint32()) // far outside the levels
			case 1:
				x[i] = near + int32(rng.IntN(3)) - 1
			default:
				x[i] = int32(rng.IntN(64)) - 32
			}
		}
		if f.fix != nil {
			for ch := range n {
				if f.fix[n+ch] != 0 {
					x[ch] = f.fix[ch] // pixel 0 hits every correction
				}
			}
		}
		// The crafted tie in channel 0 of pixel 1 (one source).
		if pix > 1 && trial%3 == 0 {
			f.m[0], f.c[0] = fmaTie.m, fmaTie.c
			x[n] = fmaTie.a
			f.tile()
		}
		for _, sources := range []int{1, 4} {
			off := [4]int{0, 0, 0, 0}
			step := n
			if sources == 4 {
				off, step = [4]int{0, pix * n, 2 * pix * n, 3*pix*n + rng.IntN(8)}, n
			}
			got := make([]uint8, pix*n)
			v.run(got, x, n, pix, step, off)
			for p := range pix {
				for ch := range n {
					b := p*step + ch
					acc := max(x[b+off[0]], x[b+off[1]], x[b+off[2]], x[b+off[3]])
					if want := f.level(ch, acc); got[p*n+ch] != want {
						t.Fatalf("trial %d (n %d, %d sources, levels [%d, %d], rows of 64 %v): pixel %d channel %d acc %d: kernel %d, Go %d",
							trial, n, sources, f.lo, f.hi, f.row64 != nil && sources == 1, p, ch, acc, int8(got[p*n+ch]), int8(want))
					}
				}
			}
		}
		if pix > 1 && trial%3 == 0 && f.lo <= 3 && f.hi >= 3 {
			if got := f.level(0, fmaTie.a); got != 3 {
				t.Fatalf("the crafted tie gives level %d, want 3", got)
			}
		}
	}
}

// TestFMAFit checks the fitted form against the thresholds: a channel whose
// threshold is moved by one gets one correction there and gives the moved
// levels; one with two thresholds moved by three needs six and has no
// fused form; and the four-operation form, which cannot be corrected,
// refuses the moved thresholds.
func TestFMAFit(t *testing.T) {
	if !cpuAVX512 {
		t.Skip("no AVX-512 on this CPU (or a noasm build): the fused form is not used")
	}
	forceVec(t, "avx512")
	rng := rand.New(rand.NewPCG(75, 76))
	const amin, amax = -1 << 16, 1 << 16
	l, next, q := vecLayer(rng, 20, 8, false, true, amin, amax)
	if q.vec == nil || q.vec.fma == nil {
		t.Fatal("the fused form of an unmodified layer was not fitted")
	}
	// The first channel that fits with no correction.
	ch := -1
	for c := range l.OutC {
		if q.vec.fma.fix == nil || q.vec.fma.fix[l.OutC+c] == 0 {
			ch = c
			break
		}
	}
	if ch < 0 {
		t.Fatal("every channel needs a correction")
	}
	n := q.n
	row := q.t[ch*(n+1) : (ch+1)*(n+1)]
	i := n / 2
	for row[i] <= amin || row[i] > amax {
		i++
	}
	row[i]++
	v := newVecRequant(&q, l, next, amin, amax)
	if v == nil || v.fma == nil || v.fma.fix == nil {
		t.Fatalf("a threshold moved by one: fused form %v", v != nil && v.fma != nil)
	}
	if at, d := v.fma.fix[ch], v.fma.fix[l.OutC+ch]; at != row[i]-1 || d != -1 {
		t.Errorf("the moved threshold %d is corrected at %d by %d, want at %d by −1", row[i], at, d, row[i]-1)
	}
	x := make([]int32, 3*l.OutC)
	for k, a := range []int32{row[i] - 2, row[i] - 1, row[i]} {
		for c := range l.OutC {
			x[k*l.OutC+c] = a
		}
	}
	got := make([]uint8, len(x))
	v.run(got, x, l.OutC, 3, l.OutC, [4]int{})
	if !q.matches(x, got) {
		t.Errorf("the corrected form misses the moved threshold: %d %d %d at %d…%d", got[ch], got[l.OutC+ch], got[2*l.OutC+ch], row[i]-2, row[i])
	}
	old := &vecRequant{scale: v.scale, bias: v.bias, div: v.div, lo: v.lo, hi: v.hi}
	if old.verify(&q, amin, amax) {
		t.Error("the four-operation form was verified against a moved threshold")
	}
	row[i] += 2
	j := 1
	for ; j < n; j++ {
		if (j < i-1 || j > i+1) && row[j] > amin && row[j] <= amax && row[j]-3 > row[j-1] {
			break
		}
	}
	if j == n {
		t.Fatal("no second threshold to move")
	}
	row[j] -= 3
	if f := newFMAForm(&q, v, amin, amax); f != nil {
		t.Error("a fused form was fitted to a channel that needs six corrections")
	}
}

// TestFMACoverage holds the fit to how often it finds the fused form for
// layers shaped like a network's first layer (32 channels of 8-bit levels
// over accumulators of ±2^18, where a line misses most thresholds' exact
// steps somewhere): the 200 seeded layers below fit 148 times with every
// candidate line tried for a single correction, 124 times when only the
// plain quotients were (a regression that once cost the A2Q P = 14 CNN its
// planar first layer). Layers that do not fit keep the four-operation map.
func TestFMACoverage(t *testing.T) {
	if !cpuAVX512 {
		t.Skip("no AVX-512 on this CPU (or a noasm build): the fused form is not used")
	}
	forceVec(t, "avx512")
	rng := rand.New(rand.NewPCG(91, 92))
	took := 0
	for range 200 {
		if _, _, q := vecLayer(rng, 32, 8, false, true, -1<<18, 1<<18); q.vec != nil && q.vec.fma != nil {
			took++
		}
	}
	if took < 140 {
		t.Errorf("the fused form fits %d of 200 first-layer-shaped layers, want at least 140", took)
	}
}
