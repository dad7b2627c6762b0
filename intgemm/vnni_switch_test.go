package intgemm

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWithoutVNNI: a kernel restricted to AVX2 computes the same products
// and says so.
func TestWithoutVNNI(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m, n, k := 13, 37, 70
	w := make([]int8, n*k)
	for i := range w {
		w[i] = int8(rng.IntN(255) - 127)
	}
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(rng.IntN(256))
	}
	kv, err := NewKernel(w, n, k, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := NewKernel(w, n, k, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	ka.WithoutVNNI()
	if ka.UsesVNNI() {
		t.Fatal("UsesVNNI after WithoutVNNI")
	}
	if ka.Impl(false) == "avx512vnni-int32" {
		t.Fatalf("restricted kernel runs %s", ka.Impl(false))
	}
	cv, ca := make([]int32, m*n), make([]int32, m*n)
	kv.MulU8(1, m, a, k, cv, n)
	ka.MulU8(2, m, a, k, ca, n)
	if !slices.Equal(cv, ca) {
		t.Fatalf("%s and %s disagree", kv.Impl(false), ka.Impl(false))
	}
}
