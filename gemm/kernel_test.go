package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMicroKernels checks every micro-kernel this build has (assembly or its
// stub, in-place or packed, and the pure-Go one) against a float64 oracle,
// including the guard band around the C tile.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type kern struct {
		name string
		run  func(kc int, ap, a []float32, lda int, b, c []float32, ldc int, beta float32)
	}
	kerns := []kern{
		{"go", func(kc int, ap, _ []float32, _ int, b, c []float32, ldc int, beta float32) { kernelGo(kc, ap, b, c, ldc, beta) }},
		{"direct", func(kc int, _, a []float32, lda int, b, c []float32, ldc int, beta float32) {
			kernel6x16Direct(kc, a, lda, b, c, ldc, beta)
		}},
		{"packed", func(kc int, ap, _ []float32, _ int, b, c []float32, ldc int, beta float32) { kernel6x16(kc, ap, b, c, ldc, beta) }},
	}
	if !hasAVX2FMA {
		t.Log("no AVX2/FMA: direct and packed are the pure-Go stubs")
	}
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
			const ldc, guard = nr + 5, 11
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
			for _, k := range kerns {
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
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kb := range []int{1, 2, 5, 17, 64} {
		for _, npan := range []int{1, 2, 3, 7} {
			ldb := npan*nr + 3
			src := randSlice(rng, (kb-1)*ldb+npan*nr)
			got := make([]float32, npan*nr*kb+8)
			want := make([]float32, npan*nr*kb+8)
			packBPanels(got[:npan*nr*kb], src, kb, npan, ldb)
			packBPanelsGo(want[:npan*nr*kb], src, kb, npan, ldb)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("packBPanels kb=%d npan=%d: index %d is %v, want %v", kb, npan, i, got[i], want[i])
				}
			}
		}
		lda := mr + 4
		src := randSlice(rng, (kb-1)*lda+mr)
		got := make([]float32, kb*mr+4)
		want := make([]float32, kb*mr+4)
		packATrans6(got[:kb*mr], src, kb, lda)
		packATrans6Go(want[:kb*mr], src, kb, lda)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("packATrans6 kb=%d: index %d is %v, want %v", kb, i, got[i], want[i])
			}
		}
	}
}
