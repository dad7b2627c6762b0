package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShape is one benchmarked multiplication C = op(A)·op(B).
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

func benchGEMM(b *testing.B, s benchShape, impl string, threads int) {
	rng := rand.New(rand.NewPCG(7, 8))
	ar, ac := s.m, s.k
	if s.transA {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if s.transB {
		br, bc = s.n, s.k
	}
	a := randSlice(rng, ar*ac)
	bb := randSlice(rng, br*bc)
	c := make([]float32, s.m*s.n)
	run := func() {
		SgemmParallel(threads, s.transA, s.transB, s.m, s.n, s.k, a, ac, bb, bc, 0, c, s.n)
	}
	switch impl {
	case "asm", "default":
	case "gonum":
		tA, tB := blas.NoTrans, blas.NoTrans
		if s.transA {
			tA = blas.Trans
		}
		if s.transB {
			tB = blas.Trans
		}
		run = func() {
			gonum.Implementation{}.Sgemm(tA, tB, s.m, s.n, s.k, 1, a, ac, bb, bc, 0, c, s.n)
		}
		// gonum spreads its Sgemm over GOMAXPROCS goroutines.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	default:
		for _, kn := range kernels() {
			if kn.name == impl {
				saved := active
				active = kn
				defer func() { active = saved }()
			}
		}
	}
	b.ResetTimer()
	t0 := time.Now()
	for b.Loop() {
		run()
	}
	el := time.Since(t0).Seconds()
	b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/el/1e9, "GFLOP/s")
}

// implNames lists the implementations to compare: "asm" is the fastest
// assembly family (the default), then every family by name, then gonum.
func implNames() []string {
	var names []string
	if hasAVX2FMA {
		names = append(names, "asm")
	}
	for _, kn := range kernels() {
		names = append(names, kn.name)
	}
	return append(names, "gonum")
}

// BenchmarkSgemm measures square multiplications, one thread.
func BenchmarkSgemm(b *testing.B) {
	for _, size := range []int{256, 512, 1024} {
		for _, impl := range implNames() {
			b.Run(fmt.Sprintf("size=%d/impl=%s", size, impl), func(b *testing.B) {
				benchGEMM(b, benchShape{m: size, n: size, k: size}, impl, 1)
			})
		}
	}
}

// trainingShapes are the multiplications of a training step of a 3×3
// convolution with 32 input and 64 output channels on a batch of 128 13×13
// maps (rows = 128·13·13 patches, k = 32·9), as package autodiff calls
// them, and of a first layer (one input channel, 32 outputs, 128 26×26
// maps).
var trainingShapes = []benchShape{
	{name: "conv-fwd-21632x64x288-NT", transB: true, m: 21632, n: 64, k: 288},
	{name: "conv-wgrad-64x288x21632-TN", transA: true, m: 64, n: 288, k: 21632},
	{name: "conv-dgrad-21632x288x64-NN", m: 21632, n: 288, k: 64},
	{name: "conv-first-86528x32x9-NT", transB: true, m: 86528, n: 32, k: 9},
}

// BenchmarkSgemmTraining measures typical training shapes at one thread
// and at two.
func BenchmarkSgemmTraining(b *testing.B) {
	for _, s := range trainingShapes {
		for _, impl := range implNames() {
			b.Run(fmt.Sprintf("%s/impl=%s", s.name, impl), func(b *testing.B) {
				benchGEMM(b, s, impl, 1)
			})
		}
		b.Run(fmt.Sprintf("%s/impl=default/threads=2", s.name), func(b *testing.B) {
			benchGEMM(b, s, "default", 2)
		})
	}
}

// BenchmarkSgemmParallel measures the square sizes on two threads.
func BenchmarkSgemmParallel(b *testing.B) {
	for _, size := range []int{256, 512, 1024} {
		b.Run(fmt.Sprintf("size=%d/threads=2", size), func(b *testing.B) {
			benchGEMM(b, benchShape{m: size, n: size, k: size}, "default", 2)
		})
	}
}
