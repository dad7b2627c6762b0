package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmBMatchesSgemm multiplies by a packed B and compares with Sgemm
// bit for bit, on every kernel family, for shapes with ragged strips and
// panels, several k-blocks, both storages of B and both kinds of beta.
func TestSgemmBMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := []struct{ m, n, k int }{
		{121, 64, 288}, {676, 32, 9}, {2, 10, 1600}, {7, 17, 600}, {1, 1, 1}, {13, 100, 257},
	}
	packed := 0
	for _, kn := range testFamilies() {
		withKernel(kn, func() {
			for _, s := range shapes {
				for _, transB := range []bool{false, true} {
					for _, beta := range []float32{0, 1} {
						ldb := s.n + 3
						if transB {
							ldb = s.k + 2
						}
						rows := s.k
						if transB {
							rows = s.n
						}
						b := randSlice(rng, rows*ldb)
						lda, ldc := s.k+1, s.n+5
						a := randSlice(rng, s.m*lda)
						c0 := randSlice(rng, s.m*ldc)
						pb := PackB(transB, s.n, s.k, b, ldb)
						if pb == nil {
							if kn.wholeB(s.n, s.k) {
								t.Fatalf("%s %v: PackB refused a product Sgemm packs whole", kn.name, s)
							}
							continue
						}
						packed++
						want := append([]float32(nil), c0...)
						Sgemm(false, transB, s.m, s.n, s.k, a, lda, b, ldb, beta, want, ldc)
						got := append([]float32(nil), c0...)
						SgemmB(s.m, a, lda, pb, beta, got, ldc)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %v transB=%v beta=%v: element %d is %v, Sgemm %v", kn.name, s, transB, beta, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
	if packed == 0 {
		t.Fatal("no kernel family packed any B")
	}
}

// TestPackBRefusesWide checks that a B too wide for the in-place loop is
// not packed on a kernel family that has one (the caller then uses Sgemm).
func TestPackBRefusesWide(t *testing.T) {
	withKernel(goKernel, func() {
		if PackB(false, 16, 16, make([]float32, 256), 16) != nil {
			t.Error("the pure-Go family has no in-place loop, but PackB packed")
		}
	})
	if !hasAVX2FMA {
		t.Skip("no AVX2 kernel")
	}
	withKernel(avx2Kernel, func() {
		if PackB(false, 4096, 8, make([]float32, 4096*8), 4096) != nil {
			t.Error("AVX2: packed a 4096-wide B")
		}
	})
}
