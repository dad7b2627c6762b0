package intgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMulU8 measures the reference CNN's conv2 (im2col) and dense
// shapes at batch 128, on one and two threads, 16- against 32-bit lanes.
func BenchmarkMulU8(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{
		{"conv2", 128 * 121, 64, 288},
		{"dense", 128, 10, 1600},
		{"square", 512, 512, 512},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range shapes {
		w := smallL1Weights(rng, sh.n, sh.k)
		a := make([]uint8, sh.m*sh.k)
		for i := range a {
			a[i] = uint8(rng.IntN(256))
		}
		c := make([]int32, sh.m*sh.n)
		for _, acc := range []Acc{Acc16, Acc32} {
			kn, err := NewKernel(w, sh.n, sh.k, acc, 16)
			if err != nil {
				b.Fatal(err)
			}
			for _, impl := range impls() {
				for _, threads := range []int{1, 2} {
					if impl == "go" && sh.name != "dense" || impl == "vnni" && acc == Acc16 {
						continue // the Go kernels are references; VNNI is 32-bit only
					}
					b.Run(fmt.Sprintf("%s/%v/impl=%s/threads=%d", sh.name, acc, impl, threads), func(b *testing.B) {
						forceImpl(b, impl)
						for b.Loop() {
							kn.MulU8(threads, sh.m, a, sh.k, c, sh.n)
						}
						ops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
						b.ReportMetric(ops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
					})
				}
			}
		}
	}
}
