package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/a2qtoolkit/a2q/intgemm"
)

// IntGEMMResult is the throughput of the integer GEMM kernels for one shape
// and thread count: C (M×N int32) = A (M×K uint8) · Wᵀ (W N×K int8), counted
// as 2·M·N·K integer operations.
type IntGEMMResult struct {
	M         int     `json:"m"`
	N         int     `json:"n"`
	K         int     `json:"k"`
	Threads   int     `json:"threads"`
	Acc16GOPS float64 `json:"acc16_gops"` // 16-bit accumulation (certified layers)
	Acc32GOPS float64 `json:"acc32_gops"` // 32-bit accumulation
	Acc16Impl string  `json:"acc16_impl"` // kernel behind Acc16GOPS, e.g. "avx2-int16"
	Acc32Impl string  `json:"acc32_impl"` // kernel behind Acc32GOPS, e.g. "avx512vnni-int32"
}

// IntGEMMShape names one integer GEMM of the reference CNN.
type IntGEMMShape struct {
	Name    string
	M, N, K int
}

// ReferenceIntGEMMShapes returns the integer GEMMs of the reference CNN at
// the given batch size: conv2 as an im2col GEMM (28×28 input, 3×3 valid conv
// → 26, 2×2 pool → 13, 3×3 valid conv → 11: M = batch·121, N = 64, K = 32·9)
// and the dense layer (M = batch, N = 10, K = 1600).
func ReferenceIntGEMMShapes(batch int) []IntGEMMShape {
	return []IntGEMMShape{
		{Name: "conv2", M: batch * 11 * 11, N: 64, K: 32 * 3 * 3},
		{Name: "dense", M: batch, N: 10, K: 1600},
	}
}

// IntGEMM measures the 16-bit and the 32-bit accumulation kernels of package
// intgemm on an m×n×k product with unsigned activations, once per entry of
// threads. The weights are random with a per-channel L1 norm that certifies
// a 16-bit accumulator, so both paths compute the same exact sums (checked).
// The two paths alternate call by call for at least minTime each, so that
// load from other processes hits both alike; each reports its fastest call.
func IntGEMM(ctx context.Context, m, n, k int, threads []int, minTime time.Duration) ([]IntGEMMResult, error) {
	if m < 1 || n < 1 || k < 1 {
		return nil, fmt.Errorf("bench: integer GEMM shape %d×%d×%d must be positive", m, n, k)
	}
	if len(threads) == 0 {
		return nil, fmt.Errorf("bench: integer GEMM needs at least one thread count")
	}
	rng := rand.New(rand.NewPCG(uint64(m), uint64(n*k)))
	w := make([]int8, n*k)
	for j := 0; j < n; j++ {
		pos, neg := 128, 128 // 255·128 ≤ 32767: the exact bound fits 16 bits
		for _, i := range rng.Perm(k) {
			v := int(rng.IntN(40))
			if rng.IntN(2) == 0 {
				v = min(v, pos)
				pos -= v
			} else {
				v = -min(v, neg)
				neg += v
			}
			w[j*k+i] = int8(v)
		}
	}
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(rng.IntN(256))
	}
	k16, err := intgemm.NewKernel(w, n, k, intgemm.Acc16, 16)
	if err != nil {
		return nil, fmt.Errorf("bench: integer GEMM %d×%d×%d: %w", m, n, k, err)
	}
	k32, err := intgemm.NewKernel(w, n, k, intgemm.Acc32, 32)
	if err != nil {
		return nil, fmt.Errorf("bench: integer GEMM %d×%d×%d: %w", m, n, k, err)
	}
	c16, c32 := make([]int32, m*n), make([]int32, m*n)
	k16.MulU8(1, m, a, k, c16, n)
	k32.MulU8(1, m, a, k, c32, n)
	if !slices.Equal(c16, c32) {
		return nil, fmt.Errorf("bench: integer GEMM %d×%d×%d: 16-bit and 32-bit results differ", m, n, k)
	}
	ops := 2 * float64(m) * float64(n) * float64(k)
	var out []IntGEMMResult
	for _, t := range threads {
		if t < 1 {
			return nil, fmt.Errorf("bench: thread count %d must be positive", t)
		}
		best16, best32 := time.Duration(1<<62), time.Duration(1<<62)
		var spent16, spent32 time.Duration
		for spent16 < minTime || spent32 < minTime {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("bench: integer GEMM %d×%d×%d: %w", m, n, k, err)
			}
			start := time.Now()
			k16.MulU8(t, m, a, k, c16, n)
			d := time.Since(start)
			best16, spent16 = min(best16, d), spent16+d
			start = time.Now()
			k32.MulU8(t, m, a, k, c32, n)
			d = time.Since(start)
			best32, spent32 = min(best32, d), spent32+d
		}
		out = append(out, IntGEMMResult{
			M: m, N: n, K: k, Threads: t,
			Acc16GOPS: ops / best16.Seconds() / 1e9,
			Acc32GOPS: ops / best32.Seconds() / 1e9,
			Acc16Impl: k16.Impl(false),
			Acc32Impl: k32.Impl(false),
		})
	}
	return out, nil
}
