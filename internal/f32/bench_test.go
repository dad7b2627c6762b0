package f32

import (
	"math/rand/v2"
	"testing"
)

// benchPaths runs fn as sub-benchmarks on the Go twins and, when the CPU
// has AVX2, on the assembly; bytes is the memory the kernel reads and
// writes per call (reported as MB/s).
func benchPaths(b *testing.B, bytes int, fn func()) {
	for _, avx := range paths() {
		b.Run(pathName(avx), func(b *testing.B) {
			useAVX2 = avx
			defer func() { useAVX2 = haveAVX2 }()
			b.SetBytes(int64(bytes))
			for b.Loop() {
				fn()
			}
		})
	}
}

// The sizes are those of the reference CNN's first convolution (26×26×32
// outputs per image), for 16 images, or one output row of its first pool.

const benchRows, benchC = 16 * 26 * 26, 32

func benchData(n int) []float32 {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func BenchmarkAddRows(b *testing.B) {
	m, v := benchData(benchRows*benchC), benchData(benchC)
	benchPaths(b, 8*len(m), func() { AddRows(m, v) })
}

func BenchmarkReLU(b *testing.B) {
	x, y := benchData(benchRows*benchC), make([]float32, benchRows*benchC)
	benchPaths(b, 8*len(x), func() { ReLU(y, x) })
}

func BenchmarkReLUGrad(b *testing.B) {
	g, d, out := make([]float32, benchRows*benchC), benchData(benchRows*benchC), benchData(benchRows*benchC)
	benchPaths(b, 16*len(g), func() { ReLUGrad(g, d, out) })
}

func BenchmarkSumRows(b *testing.B) {
	acc, m := make([]float32, benchC), benchData(benchRows*benchC)
	benchPaths(b, 4*len(m), func() { SumRows(acc, m) })
}

func BenchmarkMaxPool2(b *testing.B) {
	ow := 13
	x0, x1 := benchData(2*ow*benchC), benchData(2*ow*benchC)
	y, arg := make([]float32, ow*benchC), make([]uint8, ow*benchC)
	benchPaths(b, 4*len(x0)*2+5*len(y), func() { MaxPool2(benchC, y, arg, x0, x1) })
}

func BenchmarkMaxPool2Grad(b *testing.B) {
	ow := 13
	dx0, dx1 := make([]float32, 2*ow*benchC), make([]float32, 2*ow*benchC)
	dy, arg := benchData(ow*benchC), make([]uint8, ow*benchC)
	for i := range arg {
		arg[i] = uint8(i * 7 % 4)
	}
	benchPaths(b, 8*len(dx0)*2+5*len(dy), func() { MaxPool2Grad(benchC, dx0, dx1, dy, arg) })
}

func BenchmarkRequant(b *testing.B) {
	a, out := benchData(benchRows*benchC), make([]float32, benchRows*benchC)
	sc, bias := benchData(benchC), benchData(benchC)
	benchPaths(b, 8*len(a), func() { Requant(out, a, sc, bias) })
}

// BenchmarkRequantGrad runs one 64-row block, the unit of quant's
// backward pass, with and without the accumulators' gradient.
func BenchmarkRequantGrad(b *testing.B) {
	const rows = 64
	d, a, ga := benchData(rows*benchC), benchData(rows*benchC), make([]float32, rows*benchC)
	ds, db, sc := make([]float32, benchC), make([]float32, benchC), benchData(benchC)
	b.Run("ga", func(b *testing.B) {
		benchPaths(b, 16*len(d), func() { RequantGrad(ds, db, ga, d, a, sc) })
	})
	b.Run("noga", func(b *testing.B) {
		benchPaths(b, 8*len(d), func() { RequantGrad(ds, db, nil, d, a, sc) })
	})
	// Behind a ReLU, with a fresh ga: the fused pass against the three
	// it replaces.
	out, m := benchData(rows*benchC), make([]float32, rows*benchC)
	b.Run("relu-fused", func(b *testing.B) {
		benchPaths(b, 16*len(d), func() { RequantReLUGradTo(ds, db, ga, d, out, a, sc) })
	})
	b.Run("relu-separate", func(b *testing.B) {
		benchPaths(b, 16*len(d), func() {
			ReLUGradTo(m, d, out)
			clear(ga)
			RequantGrad(ds, db, ga, m, a, sc)
		})
	})
}

// benchQuant is data for the quantizer kernels: about a third of it
// clamped by the range [0, 255] at scale 1/64, half of that on each side.
func benchQuant() []float32 {
	x := benchData(benchRows * benchC)
	for i := range x {
		x[i] = (x[i] + 1) * 2
	}
	return x
}

func BenchmarkQuantize(b *testing.B) {
	x, y := benchQuant(), make([]float32, benchRows*benchC)
	benchPaths(b, 8*len(x), func() { Quantize(y, x, 1.0/64, 0, 255) })
}

// BenchmarkQuantizeGrad runs the backward pass with and without the
// input gradient.
func BenchmarkQuantizeGrad(b *testing.B) {
	x, d, gx := benchQuant(), benchData(benchRows*benchC), make([]float32, benchRows*benchC)
	b.Run("gx", func(b *testing.B) {
		benchPaths(b, 16*len(x), func() { QuantizeGrad(gx, d, x, 1.0/64, 0, 255) })
	})
	b.Run("nogx", func(b *testing.B) {
		benchPaths(b, 8*len(x), func() { QuantizeGrad(nil, d, x, 1.0/64, 0, 255) })
	})
}

// The depthwise benchmarks run the interior of one output row of a 3×3
// depthwise convolution over 28 pixels of 32 channels (MobileNet's first
// block on 28×28 images).
const dwW, dwC = 28, 32

func dwTaps() []Tap {
	var taps []Tap
	for kh := 0; kh < 3; kh++ {
		for kw := 0; kw < 3; kw++ {
			taps = append(taps, Tap{X: (kh*dwW + kw) * dwC, W: (kh*3 + kw) * dwC})
		}
	}
	return taps
}

func BenchmarkDepthwiseRun(b *testing.B) {
	x, w, out := benchData(3*dwW*dwC), benchData(9*dwC), make([]float32, dwW*dwC)
	taps := dwTaps()
	benchPaths(b, 4*len(out), func() { DepthwiseRun(out, dwC, x, dwC, w, taps, dwW-2, dwC, false) })
}

func BenchmarkDepthwiseGradRun(b *testing.B) {
	x, d, dw := benchData(3*dwW*dwC), benchData(dwW*dwC), make([]float32, 9*dwC)
	taps := dwTaps()
	benchPaths(b, 4*len(d), func() { DepthwiseGradRun(dw, d, dwC, x, dwC, taps, dwW-2, dwC) })
}

func BenchmarkColSums64(b *testing.B) {
	x := benchData(benchRows * benchC)
	s, q := make([]float64, benchC), make([]float64, benchC)
	benchPaths(b, 4*len(x), func() { ColSums64(s, q, x, benchRows, benchC) })
}

func BenchmarkBatchNormSums(b *testing.B) {
	d, x := benchData(benchRows*benchC), benchData(benchRows*benchC)
	v := benchData(benchC)
	s, p := make([]float64, benchC), make([]float64, benchC)
	benchPaths(b, 8*len(x), func() { BatchNormSums(s, p, d, x, v, v, benchRows, benchC) })
}

func BenchmarkBatchNormRows(b *testing.B) {
	x, out := benchData(benchRows*benchC), make([]float32, benchRows*benchC)
	v := benchData(benchC)
	benchPaths(b, 8*len(x), func() { BatchNormRows(out, x, v, v, v, v) })
}

func BenchmarkBatchNormGradRows(b *testing.B) {
	d, x, g := benchData(benchRows*benchC), benchData(benchRows*benchC), make([]float32, benchRows*benchC)
	v := benchData(benchC)
	benchPaths(b, 12*len(g), func() { BatchNormGradRows(g, d, x, v, v, v, v, v, false) })
}

// BenchmarkRequantQuantize compares the requantisation, ReLU and next
// quantizer in one pass against the three passes it replaces, forward
// over the benchmark's rows and backward over one 64-row block (the unit
// of quant's backward pass).
func BenchmarkRequantQuantize(b *testing.B) {
	a, xi, y := benchQuant(), make([]float32, benchRows*benchC), make([]float32, benchRows*benchC)
	sc, bias := benchData(benchC), make([]float32, benchC)
	for i := range sc {
		sc[i] = 1 + sc[i]*sc[i]
	}
	b.Run("fused", func(b *testing.B) {
		benchPaths(b, 8*len(a), func() { RequantQuantize(xi, a, sc, bias, true, 1.0/64, 0, 255) })
	})
	b.Run("separate", func(b *testing.B) {
		benchPaths(b, 8*len(a), func() {
			Requant(y, a, sc, bias)
			ReLU(y, y)
			Quantize(xi, y, 1.0/64, 0, 255)
		})
	})
	const rows = 64
	n := rows * benchC
	d, ga, gy := benchData(n), make([]float32, n), make([]float32, n)
	ds, db := make([]float32, benchC), make([]float32, benchC)
	Requant(y[:n], a[:n], sc, bias)
	ReLU(y[:n], y[:n])
	b.Run("grad-fused", func(b *testing.B) {
		benchPaths(b, 12*n, func() { RequantQuantizeGradTo(ds, db, ga, d, a[:n], sc, bias, true, 1.0/64, 0, 255) })
	})
	b.Run("grad-separate", func(b *testing.B) {
		benchPaths(b, 12*n, func() {
			QuantizeGradTo(gy, d, y[:n], 1.0/64, 0, 255)
			RequantReLUGradTo(ds, db, ga, gy, y[:n], a[:n], sc)
		})
	})
}
