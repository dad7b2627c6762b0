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

// TestRows32Allocs checks that the 32-bit row kernels, the broadcast one
// of short dot products and the int16-operand one of long ones (K a whole
// number of its steps, as the engine's padded kernels have), run their row
// blocks, partial ones included, without heap allocations.
func TestRows32Allocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, sh := range []shape{
		{100, 37, 9},   // broadcast: a partial panel and a partial row block
		{2, 37, 9},     // broadcast: fewer rows than a block
		{8, 10, 1600},  // the reference CNN's fc on a chunk: a partial block and panel
		{100, 37, 304}, // int16-operand: whole and partial panels
		{2, 10, 304},   // fewer rows than a block
	} {
		kn, err := NewKernel(fullWeights(rng, sh.n, sh.k), sh.n, sh.k, Acc32, 32)
		if err != nil {
			t.Fatal(err)
		}
		a := make([]uint8, sh.m*sh.k)
		c := make([]int32, sh.m*sh.n)
		for _, impl := range impls() {
			forceImpl(t, impl)
			if allocs := testing.AllocsPerRun(10, func() { kn.MulU8(1, sh.m, a, sh.k, c, sh.n) }); allocs != 0 {
				t.Errorf("%+v %s: %v allocations per product", sh, impl, allocs)
			}
		}
	}
}
