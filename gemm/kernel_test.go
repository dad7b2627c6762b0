package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type testKernel struct {
	name   string
	mr, nr int
	ok     bool // runs on this CPU and build
	run    func(kc int, ap, a []float32, lda int, b, c []float32, ldc int, beta float32)
}

// testKernels lists every micro-kernel: assembly (or, with noasm, its Go
// reference loop), in-place or packed, and the pure-Go one.
func testKernels() []testKernel {
	packed := func(f microKernel) func(int, []float32, []float32, int, []float32, []float32, int, float32) {
		return func(kc int, ap, _ []float32, _ int, b, c []float32, ldc int, beta float32) {
			f(kc, ap, b, c, ldc, beta)
		}
	}
	direct := func(f directKernel) func(int, []float32, []float32, int, []float32, []float32, int, float32) {
		return func(kc int, _, a []float32, lda int, b, c []float32, ldc int, beta float32) {
			f(kc, a, lda, b, c, ldc, beta)
		}
	}
	avx2 := hasAVX2FMA || !asmBuild
	avx512 := hasAVX512 || !asmBuild
	return []testKernel{
		{"go", 6, 16, true, packed(kernelGo)},
		{"6x16", 6, 16, avx2, packed(kernel6x16)},
		{"6x16Direct", 6, 16, avx2, direct(kernel6x16Direct)},
		{"12x32", 12, 32, avx512, packed(kernel12x32)},
		{"12x32Direct", 12, 32, avx512, direct(kernel12x32Direct)},
	}
}

// TestMicroKernels checks every micro-kernel against a float64 oracle,
// including the guard band around the C tile and NaN in C with beta = 0.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range testKernels() {
		if !k.ok {
			t.Logf("%s: not supported by this CPU", k.name)
			continue
		}
		mr, nr := k.mr, k.nr
		for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 255} {
			for _, beta := range []float32{0, 1, -0.75} {
				lda := kc + 3
				a := randSlice(rng, mr*lda)
				ap := make([]float32, mr*kc) // packed copy of the strip
				for i := 0; i < mr; i++ {
					for p := 0; p < kc; p++ {
						ap[p*mr+i] = a[i*lda+p]
					}
				}
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
				name := fmt.Sprintf("%s kc=%d beta=%v", k.name, kc, beta)
				c := append([]float32(nil), c0...)
				k.run(kc, ap, a, lda, b, c[guard:], ldc, beta)
				for idx, v := range c {
					r := idx - guard
					if r < 0 || r/ldc >= mr || r%ldc >= nr {
						if math.Float32bits(v) != math.Float32bits(c0[idx]) {
							t.Fatalf("%s: wrote %v outside the tile at %d", name, v, idx)
						}
						continue
					}
					i, j := r/ldc, r%ldc
					var want, bound float64
					for p := 0; p < kc; p++ {
						x := float64(a[i*lda+p]) * float64(b[p*nr+j])
						want += x
						bound += math.Abs(x)
					}
					if beta != 0 {
						x := float64(beta) * float64(c0[idx])
						want += x
						bound += math.Abs(x)
					}
					if math.IsNaN(float64(v)) || math.Abs(float64(v)-want) > 4*float64(kc+2)*0x1p-24*bound {
						t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, v, want)
					}
				}
			}
		}
	}
}

// TestPackingHelpers checks the assembly packing routines (or their stubs)
// against their pure-Go twins.
func TestPackingHelpers(t *testing.T) {
	if asmBuild && !hasAVX2FMA {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kb := range []int{1, 2, 5, 17, 64} {
		for _, nr := range []int{16, 32} {
			for _, npan := range []int{1, 2, 3, 7} {
				ldb := npan*nr + 3
				src := randSlice(rng, (kb-1)*ldb+npan*nr)
				got := make([]float32, npan*nr*kb+8)
				want := make([]float32, npan*nr*kb+8)
				packBPanels(got[:npan*nr*kb], src, kb, npan, ldb, nr)
				packBPanelsGo(want[:npan*nr*kb], src, kb, npan, ldb, nr)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("packBPanels kb=%d nr=%d npan=%d: index %d is %v, want %v", kb, nr, npan, i, got[i], want[i])
					}
				}
			}
		}
		for _, mr := range []int{6, 12} {
			lda := mr + 4
			src := randSlice(rng, (kb-1)*lda+mr)
			got := make([]float32, kb*mr+4)
			want := make([]float32, kb*mr+4)
			if mr == 6 {
				packATrans6(got[:kb*mr], src, kb, lda)
			} else {
				packATrans12(got[:kb*mr], src, kb, lda)
			}
			packATransGo(want[:kb*mr], src, kb, lda, mr)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("packATrans mr=%d kb=%d: index %d is %v, want %v", mr, kb, i, got[i], want[i])
				}
			}
		}
	}
}
