package intgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMulU8Groups checks MulU8Groups against the int64 oracle on rows
// whose groups of 4 bytes lie gstride apart: a one-channel convolution's
// image read in place (lda 1, gstride the width) and other strides, with
// whole and partial row blocks and strips, the last rows either inside a
// or not (copied), one and two threads, and guard bands around C.
func TestMulU8Groups(t *testing.T) {
	if !haveVNNI {
		t.Skip("no AVX-512 VNNI: MulU8Groups runs on the VNNI kernels only")
	}
	forceImpl(t, "vnni")
	rng := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct{ m, n, groups, lda, gstride int }{
		{726, 32, 3, 1, 28}, // conv1 of the reference CNN on one image
		{7, 32, 3, 1, 28},
		{5, 16, 2, 3, 9},
		{100, 37, 4, 13, 4}, // gstride 4: contiguous rows
		{61, 70, 1, 5, 4},
		{48, 64, 5, 2, 17},
	} {
		for _, slack := range []int{0, 9} {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%+v/slack=%d/threads=%d", tc, slack, threads)
				k := tc.groups * group
				w := make([]int8, tc.n*k)
				for i := range w {
					w[i] = int8(rng.IntN(255) - 127)
				}
				kn, err := NewKernel(w, tc.n, k, Acc32, 32)
				if err != nil {
					t.Fatal(err)
				}
				if !kn.UsesGroups() {
					t.Fatalf("%s: UsesGroups false", name)
				}
				a := make([]uint8, (tc.m-1)*tc.lda+(tc.groups-1)*tc.gstride+group+slack)
				for i := range a {
					a[i] = uint8(rng.IntN(256))
				}
				ldc := tc.n + 3
				c := make([]int32, tc.m*ldc+5)
				for i := range c {
					c[i] = guard
				}
				kn.MulU8Groups(threads, tc.m, a, tc.lda, tc.gstride, c, ldc)
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						var want int64
						for g := 0; g < tc.groups; g++ {
							for q := 0; q < group; q++ {
								want += int64(a[i*tc.lda+g*tc.gstride+q]) * int64(w[j*k+g*group+q])
							}
						}
						if int64(c[i*ldc+j]) != want {
							t.Fatalf("%s: C[%d][%d] = %d, want %d", name, i, j, c[i*ldc+j], want)
						}
					}
					for j := tc.n; j < ldc && i*ldc+j < len(c); j++ {
						if c[i*ldc+j] != guard {
							t.Fatalf("%s: wrote C[%d][%d] past n", name, i, j)
						}
					}
				}
				if allocs := testing.AllocsPerRun(5, func() { kn.MulU8Groups(1, tc.m, a, tc.lda, tc.gstride, c, ldc) }); allocs != 0 {
					t.Errorf("%s: %v allocations per product", name, allocs)
				}
			}
		}
	}
	kn, err := NewKernel(make([]int8, 4*9), 4, 9, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if kn.UsesGroups() {
		t.Error("K = 9: UsesGroups true, want false")
	}
}
