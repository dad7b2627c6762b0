package intgemm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMulMax4 checks the pooled product against the int64 oracle's
// maximum over row quadruples, on every implementation (the Go twin, AVX2's
// broadcast kernel, VNNI's for unsigned inputs): unsigned and signed activations, K odd and even up to
// the broadcast kernel's limit, whole and partial panels, the last rows
// inside a or past it (copied), one and three threads, and guard bands
// around C. It also checks that a product allocates nothing and that a
// kernel on another path says it cannot pool.
func TestMulMax4(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, impl := range impls() {
		for _, tc := range []struct{ m, n, k, lda int }{
			{676, 32, 9, 12}, // the reference CNN's conv1 on one image
			{8, 32, 9, 9},
			{4, 7, 1, 1},
			{40, 70, 25, 28},
			{12, 33, 128, 128},
			{20, 64, 18, 20},
		} {
			for _, slack := range []int{0, 3} {
				for _, signed := range []bool{false, true} {
					for _, threads := range []int{1, 3} {
						name := fmt.Sprintf("%s/%+v/slack=%d/signed=%v/threads=%d", impl, tc, slack, signed, threads)
						forceImpl(t, impl)
						w := make([]int8, tc.n*tc.k)
						for i := range w {
							w[i] = int8(rng.IntN(255) - 127)
						}
						kn, err := NewKernel(w, tc.n, tc.k, Acc32, 32)
						if err != nil {
							t.Fatal(err)
						}
						if !kn.UsesMax4(signed) {
							if impl == "vnni" && signed {
								continue // VNNI pools unsigned inputs only
							}
							t.Fatalf("%s: UsesMax4 false", name)
						}
						a := make([]uint8, (tc.m-1)*tc.lda+tc.k+slack)
						for i := range a {
							a[i] = uint8(rng.IntN(256))
						}
						x := func(i, kk int) int64 {
							if signed {
								return int64(int8(a[i*tc.lda+kk]))
							}
							return int64(a[i*tc.lda+kk])
						}
						want := refMul(tc.m, tc.n, tc.k, x, w)
						ldc := tc.n + 3
						out := tc.m / 4
						c := make([]int32, out*ldc+5)
						for i := range c {
							c[i] = guard
						}
						sa := asInt8(a)
						mul := func(th int) {
							if signed {
								kn.MulS8Max4(th, tc.m, sa, tc.lda, c, ldc)
							} else {
								kn.MulU8Max4(th, tc.m, a, tc.lda, c, ldc)
							}
						}
						mul(threads)
						for o := 0; o < out; o++ {
							for j := 0; j < tc.n; j++ {
								best := want[4*o*tc.n+j]
								for r := 1; r < 4; r++ {
									best = max(best, want[(4*o+r)*tc.n+j])
								}
								if int64(c[o*ldc+j]) != best {
									t.Fatalf("%s: C[%d][%d] = %d, want %d", name, o, j, c[o*ldc+j], best)
								}
							}
							for j := tc.n; j < ldc && o*ldc+j < len(c); j++ {
								if c[o*ldc+j] != guard {
									t.Fatalf("%s: wrote C[%d][%d] past n", name, o, j)
								}
							}
						}
						if allocs := testing.AllocsPerRun(3, func() { mul(1) }); allocs != 0 {
							t.Errorf("%s: %v allocations per product", name, allocs)
						}
					}
				}
			}
		}
	}
	long, err := NewKernel(make([]int8, 4*200), 4, 200, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if long.UsesMax4(false) {
		t.Error("K = 200: UsesMax4 true, want false (not the broadcast kernel)")
	}
}

// TestVNNIMax4Kernel compares the pooled VNNI micro-kernels (pairs of
// strips and a last odd one) with their Go reference on random bytes and
// weights, several quadruples per call.
func TestVNNIMax4Kernel(t *testing.T) {
	if !haveVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(43, 44))
	for _, tc := range []struct{ groups, strips, blocks, lda int }{
		{3, 2, 5, 12}, {1, 1, 1, 4}, {4, 3, 2, 17}, {32, 4, 3, 128},
	} {
		a := make([]uint8, (tc.blocks*4-1)*tc.lda+tc.groups*group)
		for i := range a {
			a[i] = uint8(rng.IntN(256))
		}
		b := make([]int8, tc.strips*tc.groups*group*vnniCols)
		for i := range b {
			b[i] = int8(rng.IntN(255) - 127)
		}
		ldc := tc.strips*vnniCols + 5
		got, want := make([]int32, tc.blocks*ldc), make([]int32, tc.blocks*ldc)
		forceImpl(t, "vnni")
		kernVNNIMax4(a, tc.lda, b, got, ldc, tc.groups, tc.strips, tc.blocks)
		for blk := 0; blk < tc.blocks; blk++ {
			kernVNNIMax4Go(a[blk*4*tc.lda:], tc.lda, b, want[blk*ldc:], tc.groups, tc.strips)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: the VNNI kernel and its Go reference differ", tc)
		}
	}
}
