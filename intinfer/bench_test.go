package intinfer

import (
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/quant"
)

// BenchmarkRun measures integer inference of the reference CNN (A2Q+,
// hidden layer at P = 16) on batches of 128 images, per path.
func BenchmarkRun(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 128, im, 0, 1)
	for _, path := range []Path{PathPreferred, PathSparse, PathAcc16, PathAcc32, PathScalar} {
		e, err := NewEngine(im, Options{Path: path, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(path.String(), func(b *testing.B) {
			for b.Loop() {
				e.Run(x, 128, false)
			}
			b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkKernelSets measures the fused pipeline of the reference CNN
// (batch 128, one thread, each layer's preferred kernel) with each set of
// vector kernels for requantisation, input quantisation and patch copies:
// AVX-512, AVX2, and none (bucket tables and Go loops).
func BenchmarkKernelSets(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 128, im, 0, 1)
	for _, impl := range append(vecImpls(), "go") {
		b.Run(impl, func(b *testing.B) {
			old512, old2 := useAVX512, useAVX2
			defer func() { useAVX512, useAVX2 = old512, old2 }()
			useAVX512 = impl == "avx512" && cpuAVX512
			useAVX2 = impl != "go" && cpuAVX2
			e, err := NewEngine(im, Options{Path: PathPreferred, Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				e.Run(x, 128, false)
			}
			b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
