package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/a2qtoolkit/a2q/gemm"
)

// GEMMResult is one row of `a2q bench gemm --json`: the float32 GEMM rate of
// a2q's kernels and of gonum's Sgemm for a size×size×size product on Threads
// threads, counted as 2·size³ floating-point operations per call.
type GEMMResult struct {
	Size        int     `json:"size"`
	Threads     int     `json:"threads"`
	A2QGFLOPS   float64 `json:"a2q_gflops"`
	GonumGFLOPS float64 `json:"gonum_gflops"`
}

// GEMMReport is the JSON document of `a2q bench gemm --json`.
type GEMMReport struct {
	FMAPeakGFLOPS float64      `json:"fma_peak_gflops"` // one core, gemm.FMAPeak
	GEMM          []GEMMResult `json:"gemm"`
}

// GEMM measures square float32 products C = A·B of the given sizes (nil
// means 256, 512 and 1024) at one thread and at runtime.NumCPU() threads,
// with a2q's gemm.SgemmParallel and gonum's Sgemm. gonum spreads its work
// over GOMAXPROCS goroutines, so GOMAXPROCS is set to the row's thread count
// while the row is measured and restored afterwards. The two kernels
// alternate call by call until each has run for at least minTime; each row
// reports the fastest call. The two results are compared, so a wrong kernel
// is an error rather than a fast figure. The FMA peak is measured first, for
// about minTime.
func GEMM(ctx context.Context, sizes []int, minTime time.Duration) (GEMMReport, error) {
	if len(sizes) == 0 {
		sizes = []int{256, 512, 1024}
	}
	for _, s := range sizes {
		if s < 1 {
			return GEMMReport{}, fmt.Errorf("bench: GEMM size %d must be positive", s)
		}
	}
	if err := ctx.Err(); err != nil {
		return GEMMReport{}, fmt.Errorf("bench: GEMM: %w", err)
	}
	rep := GEMMReport{FMAPeakGFLOPS: gemm.FMAPeak(max(minTime, 10*time.Millisecond))}
	threads := []int{1}
	if n := runtime.NumCPU(); n > 1 {
		threads = append(threads, n)
	}
	for _, size := range sizes {
		for _, t := range threads {
			r, err := measureGEMM(ctx, size, t, minTime)
			if err != nil {
				return rep, err
			}
			rep.GEMM = append(rep.GEMM, r)
		}
	}
	return rep, nil
}

// measureGEMM times one size at one thread count.
func measureGEMM(ctx context.Context, size, threads int, minTime time.Duration) (GEMMResult, error) {
	prev := runtime.GOMAXPROCS(threads)
	defer runtime.GOMAXPROCS(prev)

	rng := rand.New(rand.NewPCG(uint64(size), uint64(threads)))
	n := size * size
	a, b := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
		b[i] = float32(rng.NormFloat64())
	}
	ours, theirs := make([]float32, n), make([]float32, n)
	flops := 2 * float64(size) * float64(size) * float64(size)

	var oursBest, theirsBest float64
	var oursTime, theirsTime time.Duration
	for oursTime < minTime || theirsTime < minTime {
		if err := ctx.Err(); err != nil {
			return GEMMResult{}, fmt.Errorf("bench: GEMM %d at %d threads: %w", size, threads, err)
		}
		t0 := time.Now()
		gemm.SgemmParallel(threads, false, false, size, size, size, a, size, b, size, 0, ours, size)
		el := time.Since(t0)
		oursTime += el
		oursBest = max(oursBest, flops/el.Seconds()/1e9)

		t0 = time.Now()
		gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, size, size, size, 1, a, size, b, size, 0, theirs, size)
		el = time.Since(t0)
		theirsTime += el
		theirsBest = max(theirsBest, flops/el.Seconds()/1e9)
	}
	// Both sum size products of unit normals; float32 rounding differs.
	tol := 1e-5 * float64(size)
	for i := range ours {
		if d := math.Abs(float64(ours[i] - theirs[i])); !(d <= tol*(1+math.Abs(float64(theirs[i])))) {
			return GEMMResult{}, fmt.Errorf("bench: GEMM %d at %d threads: a2q and gonum disagree at element %d: %v vs %v", size, threads, i, ours[i], theirs[i])
		}
	}
	return GEMMResult{Size: size, Threads: threads, A2QGFLOPS: oursBest, GonumGFLOPS: theirsBest}, nil
}
