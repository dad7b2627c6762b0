package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randGather returns an m×k Gather with random offsets and its stored copy
// with row stride lda. The column offsets come in runs of consecutive
// values, as a convolution's taps along a kernel row, of random lengths
// and starts (so they are unsorted and repeat, as no convolution's do).
func randGather(rng *rand.Rand, m, k, lda int) (Gather, []float32) {
	const maxRun = 40
	g := Gather{Data: randSlice(rng, 2*m+k+maxRun+6), Rows: make([]int32, m), Cols: make([]int32, 0, k)}
	for i := range g.Rows {
		g.Rows[i] = int32(rng.IntN(2*m + 3))
	}
	for len(g.Cols) < k {
		o := int32(rng.IntN(k + 2))
		for range min(1+rng.IntN(maxRun), k-len(g.Cols)) {
			g.Cols = append(g.Cols, o)
			o++
		}
	}
	a := make([]float32, m*lda)
	for i, r := range g.Rows {
		for p, o := range g.Cols {
			a[i*lda+p] = g.Data[r+o]
		}
	}
	return g, a
}

// TestGatherKernel checks the gathering micro-kernels bit for bit against
// the direct ones reading the same strip stored, with guard bands around
// the C tile and NaN in C when beta is 0.
func TestGatherKernel(t *testing.T) {
	for _, kn := range []struct {
		name   string
		mr, nr int
		ok     bool
		direct func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)
		gather gatherKernel
	}{
		{"6x16", 6, 16, !asmBuild || hasAVX2FMA, kernel6x16Direct, kernel6x16Gather},
		{"12x32", 12, 32, !asmBuild || hasAVX512, kernel12x32Direct, kernel12x32Gather},
	} {
		t.Run(kn.name, func(t *testing.T) {
			if !kn.ok {
				t.Skip("not on this CPU")
			}
			gatherKernelCase(t, kn.mr, kn.nr, kn.direct, kn.gather)
		})
	}
}

func gatherKernelCase(t *testing.T, mr, nr int, direct func(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32), gather gatherKernel) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 255, 256} {
		for _, beta := range []float32{0, 1, -0.75} {
			g, a := randGather(rng, mr, kc, kc)
			b := randSlice(rng, kc*nr)
			ldc, guard := nr+5, 11
			c0 := make([]float32, guard+mr*ldc+guard)
			for i := range c0 {
				c0[i] = sentinel
			}
			for i := 0; i < mr; i++ {
				for j := 0; j < nr; j++ {
					v := float32(rng.NormFloat64())
					if beta == 0 {
						v = float32(math.NaN())
					}
					c0[guard+i*ldc+j] = v
				}
			}
			want := append([]float32(nil), c0...)
			direct(kc, a, kc, b, want[guard:], ldc, beta)
			got := append([]float32(nil), c0...)
			gather(kc, g.Data, g.Rows, g.Cols, b, got[guard:], ldc, beta)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("kc=%d beta=%v: index %d is %v, direct kernel %v", kc, beta, i, got[i], want[i])
				}
				if r := i - guard; r >= 0 && r/ldc < mr && r%ldc < nr && math.IsNaN(float64(got[i])) {
					t.Fatalf("kc=%d beta=%v: C[%d,%d] is NaN", kc, beta, r/ldc, r%ldc)
				}
			}
		}
	}
}

// TestSgemmGatherMatchesSgemm multiplies gathered matrices with random
// offsets and compares with Sgemm on their stored copies bit for bit, on
// every kernel family: ragged strips and panels, several k-blocks, wide C
// (packed loop), a B too large to pack whole, both storages of B, three
// betas, several splits, and SgemmGatherB where B packs; then the same
// shapes with the right operand gathered (SgemmGatherRight), A stored
// either way.
func TestSgemmGatherMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {5, 16, 9}, {6, 16, 9}, {13, 64, 288}, {121, 64, 288}, {200, 32, 576},
		{37, 144, 300}, {20, 100, 2500}, {7, 17, 600}, {50, 200, 40}, {600, 10, 30}, {6, 9, 17000},
		{4, 5, 0}, {0, 5, 3},
	}
	for _, kn := range testFamilies() {
		withKernel(kn, func() {
			for _, s := range shapes {
				for _, transB := range []bool{false, true} {
					for _, beta := range []float32{0, 1, 0.5} {
						lda, ldc := s.k+1, s.n+3
						g, a := randGather(rng, s.m, s.k, lda)
						ldb, brows := s.n+2, s.k
						if transB {
							ldb, brows = s.k+2, s.n
						}
						b := randSlice(rng, max(brows*ldb, 1))
						c0 := randSlice(rng, s.m*ldc+7)
						want := append([]float32(nil), c0...)
						Sgemm(false, transB, s.m, s.n, s.k, a, max(lda, 1), b, ldb, beta, want, ldc)
						name := fmt.Sprintf("%s %v transB=%v beta=%v", kn.name, s, transB, beta)
						same := func(how string, got []float32) {
							t.Helper()
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s %s: element %d is %v, Sgemm %v", name, how, i, got[i], want[i])
								}
							}
						}
						for _, threads := range []int{1, 2, 3} {
							got := append([]float32(nil), c0...)
							SgemmGather(threads, g, transB, s.n, b, ldb, beta, got, ldc)
							same(fmt.Sprintf("threads=%d", threads), got)
						}
						if s.k == 0 {
							continue
						}
						if pb := PackB(transB, s.n, s.k, b, ldb); pb != nil {
							got := append([]float32(nil), c0...)
							SgemmGatherB(g, pb, beta, got, ldc)
							same("SgemmGatherB", got)
						}
					}
				}
				for _, transA := range []bool{false, true} {
					for _, beta := range []float32{0, 1, 0.5} {
						ldb, ldc := s.n+2, s.n+3
						g, b := randGather(rng, s.k, s.n, ldb)
						lda, arows := s.k+1, s.m
						if transA {
							lda, arows = s.m+1, s.k
						}
						a := randSlice(rng, max(arows*lda, 1))
						c0 := randSlice(rng, s.m*ldc+7)
						want := append([]float32(nil), c0...)
						Sgemm(transA, false, s.m, s.n, s.k, a, lda, b, ldb, beta, want, ldc)
						for _, threads := range []int{1, 2, 3} {
							got := append([]float32(nil), c0...)
							SgemmGatherRight(threads, transA, s.m, a, lda, g, beta, got, ldc)
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s %v transA=%v beta=%v threads=%d: SgemmGatherRight element %d is %v, Sgemm %v",
										kn.name, s, transA, beta, threads, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestSgemmGatherPanics(t *testing.T) {
	data := make([]float32, 20)
	c := make([]float32, 100)
	good := Gather{Data: data, Rows: []int32{0, 4, 8}, Cols: []int32{0, 1, 11}}
	tests := []struct {
		name, want string
		g          Gather
		n          int
		c          []float32
	}{
		{"negative row", "row offset -1", Gather{Data: data, Rows: []int32{0, -1}, Cols: []int32{0}}, 2, c},
		{"negative column", "column offset -3", Gather{Data: data, Rows: []int32{0}, Cols: []int32{-3}}, 2, c},
		{"past the data", "reach element 20 of a 20-element", Gather{Data: data, Rows: []int32{0, 9}, Cols: []int32{0, 11}}, 2, c},
		{"short C", "C slice", good, 4, c[:11]},
	}
	for _, tt := range tests {
		for _, threads := range []int{1, 2} {
			func() {
				defer func() {
					msg, _ := recover().(string)
					if !strings.Contains(msg, tt.want) {
						t.Errorf("%s threads=%d: panic %q, want it to mention %q", tt.name, threads, msg, tt.want)
					}
				}()
				SgemmGather(threads, tt.g, false, tt.n, make([]float32, 64), tt.n, 0, tt.c, tt.n)
			}()
			func() {
				defer func() {
					msg, _ := recover().(string)
					if !strings.Contains(msg, tt.want) {
						t.Errorf("%s threads=%d: SgemmGatherRight panic %q, want it to mention %q", tt.name, threads, msg, tt.want)
					}
				}()
				// B = tt.g as a right operand: len(Rows)×len(Cols), C 2×len(Cols).
				n := len(tt.g.Cols)
				c := tt.c
				if tt.name == "short C" {
					c = c[:2*n-1]
				}
				SgemmGatherRight(threads, false, 2, make([]float32, 64), len(tt.g.Rows), tt.g, 0, c, n)
			}()
		}
	}
	if !hasAVX2FMA && asmBuild {
		return
	}
	withKernel(avx2Kernel, func() {
		pb := PackB(false, 16, 4, make([]float32, 64), 16)
		defer func() {
			msg, _ := recover().(string)
			if !strings.Contains(msg, "A has 3 columns, packed B 4 rows") {
				t.Errorf("SgemmGatherB with a short A: panic %q", msg)
			}
		}()
		SgemmGatherB(good, pb, 0, c, 16)
	})
}
