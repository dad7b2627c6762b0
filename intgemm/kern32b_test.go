package intgemm

import (
	"math/rand/v2"
	"testing"
)

// TestBroadcast32Chosen checks which 32-bit kernel a layer gets: the
// broadcast one up to b32MaxK terms, kern32 beyond; the shapes of the
// 32-bit tests (TestAcc32FullRange, TestAcc32AllMax, TestMulAgreesSmallL1)
// cover both. A conv1-like product (K = 9, odd, 32 columns, rows not a
// multiple of the block) is checked against the oracle on every kernel.
func TestBroadcast32Chosen(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tc := range []struct {
		k    int
		want bool
	}{{1, true}, {9, true}, {b32MaxK, true}, {b32MaxK + 1, false}, {288, false}} {
		kn, err := NewKernel(fullWeights(rng, 10, tc.k), 10, tc.k, Acc32, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := kn.b32 != nil; got != tc.want {
			t.Errorf("K = %d: broadcast kernel %v, want %v", tc.k, got, tc.want)
		}
	}
	w := fullWeights(rng, 32, 9)
	kn, err := NewKernel(w, 32, 9, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, impl := range impls() {
		forceImpl(t, impl)
		for _, signed := range []bool{false, true} {
			mulCase(t, kn, rng, 676, signed, 2, w)
		}
	}
}

// TestBroadcast32Allocs checks that the broadcast kernel's row blocks,
// partial ones included, run without heap allocations.
func TestBroadcast32Allocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	n, k, m := 37, 9, 100 // a partial panel and a partial row block
	kn, err := NewKernel(fullWeights(rng, n, k), n, k, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]uint8, m*k)
	c := make([]int32, m*n)
	for _, impl := range impls() {
		forceImpl(t, impl)
		if allocs := testing.AllocsPerRun(10, func() { kn.MulU8(1, m, a, k, c, n) }); allocs != 0 {
			t.Errorf("%s: %v allocations per product", impl, allocs)
		}
	}
}
