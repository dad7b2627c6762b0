package intgemm

import (
	"fmt"
	"math/rand/v2"
	"slices"
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

// BenchmarkSparseConv2 measures the reference CNN's conv2 (64 outputs,
// 3×3×32 weights, 13×13×32 inputs, 11×11 outputs) on a chunk of 8 images:
// the sparse kernel over channel-major byte planes (all 13×13 positions of
// every image, those past the 11×11 outputs computed and ignored) at two
// A2Q-like sparsities, against the dense AVX2 kernels on the im2col matrix.
func BenchmarkSparseConv2(b *testing.B) {
	const (
		imgs, hw, out, cin, n = 8, 13, 11, 32, 64
		k                     = 3 * 3 * cin
		np                    = imgs * hw * hw
		planeStride           = np + 32
		m                     = imgs * out * out
	)
	perImage := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*imgs), "ns/img")
	}
	off := make([]int32, 0, k)
	for kh := 0; kh < 3; kh++ {
		for kw := 0; kw < 3; kw++ {
			for ci := 0; ci < cin; ci++ {
				off = append(off, int32(ci*planeStride+kh*hw+kw))
			}
		}
	}
	rng, xrng := rand.New(rand.NewPCG(14, 14)), rand.New(rand.NewPCG(14, 15))
	for _, zeros := range []float64{0.89, 0.987} {
		w := sparseWeights(rng, n, k, zeros)
		s, err := NewSparse(w, n, k, off, 8, false, 16)
		if err != nil {
			b.Fatal(err)
		}
		x := make([]uint8, max(cin*planeStride, s.InputLen(np)))
		for i := range x {
			x[i] = uint8(xrng.IntN(256))
		}
		c := make([]int32, np*n)
		for _, impl := range impls() {
			if impl == "vnni" && !haveAVX512 {
				continue // the AVX-512 sparse kernel is the vnni set's
			}
			name := fmt.Sprintf("sparse/zeros=%.1f%%/nnz=%d/impl=%s", 100*zeros, s.NonZeros(), impl)
			b.Run(name, func(b *testing.B) {
				forceImpl(b, impl)
				for b.Loop() {
					s.Mul(np, x, c, n)
				}
				perImage(b)
			})
		}
	}
	w := sparseWeights(rng, n, k, 0.89)
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(rng.IntN(256))
	}
	c := make([]int32, m*n)
	for _, acc := range []Acc{Acc16, Acc32} {
		kn, err := NewKernel(w, n, k, acc, 16)
		if err != nil {
			b.Fatal(err)
		}
		kn.WithoutVNNI()
		b.Run(fmt.Sprintf("dense/%v/impl=avx2", acc), func(b *testing.B) {
			if !slices.Contains(impls(), "avx2") {
				b.Skip("no AVX2")
			}
			forceImpl(b, "avx2")
			for b.Loop() {
				kn.MulU8(1, m, a, k, c, n)
			}
			perImage(b)
		})
	}
}
