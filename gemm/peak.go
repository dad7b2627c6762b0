package gemm

import (
	"runtime"
	"time"
)

// FMAPeak measures the single-core float32 FMA peak in GFLOP/s with a tight
// register-only loop of independent fused multiply-adds, running about d in
// total, and returns the best rate seen. On amd64 the loop is assembly
// issuing the widest FMAs the GEMM kernels use: 16-wide with AVX-512, 8-wide
// with AVX2 and FMA. Elsewhere it is a scalar Go loop, so the figure is the
// scalar rate the pure-Go kernels can hope for.
func FMAPeak(d time.Duration) float64 {
	var sink float32 // keeps the Go loop's result live
	loop, flops := func(n int) { sink += fmaLoopGo(n) }, fmaLoopGoFlops
	switch {
	case hasAVX512:
		loop, flops = fmaLoop512, 12*16*2
	case hasAVX2FMA:
		loop, flops = fmaLoop, 12*8*2
	}
	// Calibrate a chunk that takes about a millisecond (or d/8 when shorter).
	chunk := min(d/8, time.Millisecond)
	n := 1 << 10
	for {
		t0 := time.Now()
		loop(n)
		if time.Since(t0) >= chunk/2 || n >= 1<<30 {
			break
		}
		n *= 2
	}
	best := 0.0
	deadline := time.Now().Add(d)
	for first := true; first || time.Now().Before(deadline); first = false {
		t0 := time.Now()
		loop(n)
		el := time.Since(t0).Seconds()
		if el <= 0 {
			continue
		}
		if r := float64(n) * float64(flops) / el / 1e9; r > best {
			best = r
		}
	}
	runtime.KeepAlive(sink)
	return best
}

// fmaLoopGoFlops is the number of floating-point operations per fmaLoopGo
// iteration.
const fmaLoopGoFlops = 8 * 2

// fmaLoopGo runs n iterations of eight independent scalar multiply-adds.
func fmaLoopGo(n int) float32 {
	x0, x1, x2, x3, x4, x5, x6, x7 := float32(0), float32(1), float32(2), float32(3), float32(4), float32(5), float32(6), float32(7)
	const y, z = 0.999999, 1e-7
	for i := 0; i < n; i++ {
		x0 = x0*y + z
		x1 = x1*y + z
		x2 = x2*y + z
		x3 = x3*y + z
		x4 = x4*y + z
		x5 = x5*y + z
		x6 = x6*y + z
		x7 = x7*y + z
	}
	return x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7
}
