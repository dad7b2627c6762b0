package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// naive is the oracle: a triple loop accumulating in float64.
func naive(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, bound []float64) {
	want = make([]float64, m*n)
	bound = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			if beta != 0 {
				cv := float64(beta) * float64(c[i*ldc+j])
				s += cv
				abs += math.Abs(cv)
			}
			want[i*n+j] = s
			bound[i*n+j] = abs
		}
	}
	return want, bound
}

// withKernel runs f with the package forced onto one kernel family.
func withKernel(kn *kernel, f func()) {
	saved := active
	active = kn
	defer func() { active = saved }()
	f()
}

// testFamilies lists the kernel families whose loop nests this build can
// run: all of them with noasm (their kernels are then the pure-Go twins),
// else those the CPU runs.
func testFamilies() []*kernel {
	ks := []*kernel{goKernel}
	if hasAVX2FMA || !asmBuild {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 || !asmBuild {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

const sentinel = float32(-12345.5)

// problem is one Sgemm call with padded, offset operands and guard bands.
type problem struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
	beta           float32
	a, b, c        []float32 // the operands passed to Sgemm (offset views)
	cBuf           []float32 // C with its guard bands
	cOff           int
	c0             []float32 // copy of cBuf before the call
}

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad, off int, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+pad, bc+pad, n+pad
	p.lda, p.ldb, p.ldc = max(p.lda, 1), max(p.ldb, 1), max(p.ldc, 1)
	p.a = randSlice(rng, off+ar*p.lda)[off:]
	p.b = randSlice(rng, off+br*p.ldb)[off:]
	const guard = 37
	p.cOff = guard
	p.cBuf = make([]float32, guard+m*p.ldc+guard)
	for i := range p.cBuf {
		p.cBuf[i] = sentinel
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			v := float32(rng.NormFloat64())
			if beta == 0 && (i+j)%3 == 0 {
				v = float32(math.NaN())
			}
			p.cBuf[guard+i*p.ldc+j] = v
		}
	}
	p.c = p.cBuf[guard:]
	p.c0 = append([]float32(nil), p.cBuf...)
	return p
}

// check verifies C against the oracle and the guard bands and inputs.
func (p *problem) check(t *testing.T, name string, a0, b0 []float32) {
	t.Helper()
	want, bound := naive(p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.beta, p.c0[p.cOff:], p.ldc)
	tol := 4 * float64(p.k+2) * 0x1p-24
	for i, v := range p.cBuf {
		r := i - p.cOff
		inside := r >= 0 && r/p.ldc < p.m && r%p.ldc < p.n
		if !inside {
			if math.Float32bits(v) != math.Float32bits(p.c0[i]) {
				t.Fatalf("%s: write outside C at buffer index %d: %v", name, i, v)
			}
			continue
		}
		ii, jj := r/p.ldc, r%p.ldc
		w, bd := want[ii*p.n+jj], bound[ii*p.n+jj]
		if math.IsNaN(float64(v)) || math.Abs(float64(v)-w) > tol*bd+1e-30 {
			t.Fatalf("%s: C[%d,%d] = %v, want %v (bound %g)", name, ii, jj, v, w, tol*bd)
		}
	}
	for i := range a0 {
		if math.Float32bits(a0[i]) != math.Float32bits(p.a[i]) {
			t.Fatalf("%s: A modified at %d", name, i)
		}
	}
	for i := range b0 {
		if math.Float32bits(b0[i]) != math.Float32bits(p.b[i]) {
			t.Fatalf("%s: B modified at %d", name, i)
		}
	}
}

func (p *problem) run(threads int) {
	SgemmParallel(threads, p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
}

func TestSgemmSmall(t *testing.T) {
	maxDim := 20
	if testing.Short() {
		maxDim = 12
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kn := range kernels() {
		withKernel(kn, func() {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for m := 0; m <= maxDim; m++ {
					for n := 0; n <= maxDim; n++ {
						for k := 0; k <= maxDim; k++ {
							beta := []float32{0, 1, 0.5}[(m+n+k)%3]
							pad := (m * 7) % 4
							off := (n + k) % 3
							p := newProblem(rng, tr[0], tr[1], m, n, k, pad, off, beta)
							a0 := append([]float32(nil), p.a...)
							b0 := append([]float32(nil), p.b...)
							p.run(1)
							p.check(t, fmt.Sprintf("impl=%s tA=%v tB=%v m=%d n=%d k=%d beta=%v", kn.name, tr[0], tr[1], m, n, k, beta), a0, b0)
						}
					}
				}
			}
		})
	}
}

func TestSgemmLarger(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dims := []int{1, 5, 6, 7, 15, 16, 17, 23, 33, 47, 64, 70, 97, 131}
	type shape struct{ m, n, k int }
	var shapes []shape
	for i := 0; i < 40; i++ {
		shapes = append(shapes, shape{dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))]})
	}
	// Shapes that cross every cache block boundary (mc, kc, nc).
	shapes = append(shapes, shape{97, 131, 97}, shape{131, 97, 131}, shape{389, 35, 600}, shape{7, 4133, 5}, shape{25, 2100, 7}, shape{200, 40, 513})
	// Products computed in two halves of k (splitK).
	shapes = append(shapes, shape{5, 9, 17000}, shape{40, 70, 5001})
	for _, kn := range kernels() {
		withKernel(kn, func() {
			for si, s := range shapes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, beta := range []float32{0, 1, 0.5} {
						p := newProblem(rng, tr[0], tr[1], s.m, s.n, s.k, si%5, si%4, beta)
						a0 := append([]float32(nil), p.a...)
						b0 := append([]float32(nil), p.b...)
						p.run(1)
						p.check(t, fmt.Sprintf("impl=%s tA=%v tB=%v m=%d n=%d k=%d beta=%v", kn.name, tr[0], tr[1], s.m, s.n, s.k, beta), a0, b0)
					}
				}
			}
		})
	}
}

// TestParallelMatchesSerial checks that SgemmParallel is bit-identical to
// Sgemm for both micro-kernels and several splits, of C and of k.
func TestParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []struct{ m, n, k int }{
		{200, 64, 300}, {64, 288, 700}, {7, 500, 33}, {1000, 3, 9}, {131, 97, 257}, {48, 48, 48}, {1, 1, 1},
		{32, 9, 20000}, {64, 100, 6401}, // split in k (splitK)
	}
	for _, kn := range kernels() {
		withKernel(kn, func() {
			for _, s := range shapes {
				for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					for _, beta := range []float32{0, 0.5} {
						ref := newProblem(rng, tr[0], tr[1], s.m, s.n, s.k, 3, 1, beta)
						saved := append([]float32(nil), ref.cBuf...)
						ref.run(1)
						for _, threads := range []int{2, 3, 4, 7} {
							p := *ref
							p.cBuf = append([]float32(nil), saved...)
							p.c = p.cBuf[p.cOff:]
							p.run(threads)
							for i := range p.cBuf {
								if math.Float32bits(p.cBuf[i]) != math.Float32bits(ref.cBuf[i]) {
									t.Fatalf("impl=%s %v tA=%v tB=%v beta=%v threads=%d: index %d is %v, serial %v",
										kn.name, s, tr[0], tr[1], beta, threads, i, p.cBuf[i], ref.cBuf[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestSplitWork(t *testing.T) {
	tests := []struct{ threads, m, n, k int }{
		{2, 1024, 1024, 1024}, {2, 21632, 64, 288}, {2, 64, 288, 21632}, {2, 86528, 32, 9},
		{4, 6, 1000, 500}, {3, 10, 10, 10}, {8, 1000, 16, 1000},
	}
	for _, tt := range tests {
		for _, kn := range kernels() {
			mr, nr := kn.mr, kn.nr
			parts := splitWork(tt.threads, tt.m, tt.n, tt.k, mr, nr)
			if len(parts) < 1 || len(parts) > tt.threads {
				t.Fatalf("%+v: %d parts", tt, len(parts))
			}
			covered := 0
			for _, p := range parts {
				if p.m0%mr != 0 || p.n0%nr != 0 || p.m1 <= p.m0 || p.n1 <= p.n0 || p.m1 > tt.m || p.n1 > tt.n {
					t.Fatalf("%+v: bad part %+v", tt, p)
				}
				covered += (p.m1 - p.m0) * (p.n1 - p.n0)
			}
			if covered != tt.m*tt.n {
				t.Fatalf("%+v: parts cover %d elements, want %d", tt, covered, tt.m*tt.n)
			}
		}
	}
}

func TestSgemmPanics(t *testing.T) {
	s := make([]float32, 100)
	tests := []struct {
		name, want    string
		tA, tB        bool
		m, n, k       int
		a, b, c       []float32
		lda, ldb, ldc int
	}{
		{"negative", "negative dimension", false, false, -1, 2, 2, s, s, s, 2, 2, 2},
		{"short A", "A slice has 5 elements", false, false, 3, 3, 3, s[:5], s, s, 3, 3, 3},
		{"short B", "B slice", false, true, 3, 4, 3, s, s[:8], s, 3, 3, 4},
		{"short C", "C slice", false, false, 3, 4, 3, s, s, s[:11], 3, 4, 4},
		{"A stride", "A stride 2", false, false, 3, 4, 3, s, s, s, 2, 4, 4},
		{"A stride trans", "A stride 2", true, false, 3, 4, 3, s, s, s, 2, 4, 4},
		{"C stride", "C stride 3", false, false, 3, 4, 3, s, s, s, 3, 4, 3},
	}
	for _, tt := range tests {
		for _, threads := range []int{1, 2} {
			func() {
				defer func() {
					r := recover()
					msg, _ := r.(string)
					if !strings.Contains(msg, tt.want) {
						t.Errorf("%s threads=%d: panic %v, want it to mention %q", tt.name, threads, r, tt.want)
					}
				}()
				SgemmParallel(threads, tt.tA, tt.tB, tt.m, tt.n, tt.k, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
			}()
		}
	}
}

func TestFMAPeak(t *testing.T) {
	g := FMAPeak(20e6)
	if !(g > 0.05) || math.IsInf(g, 0) {
		t.Fatalf("FMAPeak = %v GFLOP/s", g)
	}
}

// TestSplitK checks which shapes are computed in two halves of k: long k
// against small m and n, never a whole packed op(B) (PackedB products must
// give Sgemm's bits without splitting).
func TestSplitK(t *testing.T) {
	for _, kn := range kernels() {
		for _, c := range []struct {
			m, n, k int
			want    bool
		}{
			{64, 288, 12800, true}, // a convolution's weight gradient
			{32, 9, 86528, true},   // a first layer's
			{64, 288, 4000, false}, // k too short
			{600, 288, 9000, false},
			{300, 300, 20000, false}, // C too large for the temporaries
			{12800, 64, 288, false},  // a forward convolution
		} {
			if got := kn.splitK(c.m, c.n, c.k); got != c.want {
				t.Errorf("impl=%s: splitK(%d, %d, %d) = %v, want %v", kn.name, c.m, c.n, c.k, got, c.want)
			}
		}
		for _, n := range []int{1, 9, 16, 64} {
			for k := splitKMin; k < 1<<17; k *= 2 {
				if kn.wholeB(n, k) && kn.splitK(1, n, k) {
					t.Errorf("impl=%s: n=%d k=%d packs op(B) whole and splits", kn.name, n, k)
				}
			}
		}
	}
}
