package intinfer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// withKernels runs f with the vector kernels on and then off, when this
// CPU has them, and returns both results.
func withKernels[T any](t *testing.T, flag *bool, f func() T) (vec, ref T) {
	t.Helper()
	if !*flag {
		t.Skip("no vector kernel on this CPU (or a noasm build)")
	}
	vec = f()
	*flag = false
	defer func() { *flag = true }()
	return vec, f()
}

// TestQuantizeBytes compares the input quantisation kernel with
// quant.Quantize on values that include exact ties, values outside the
// range and every length up to 40 (masked tails).
func TestQuantizeBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, signed := range []bool{false, true} {
		lo, hi := levels(8, signed)
		for n := range 41 {
			s := 1 / float32(50+rng.IntN(300))
			x := make([]float32, n)
			for i := range x {
				switch i % 3 {
				case 0:
					x[i] = (float32(rng.IntN(600)-300) + 0.5) * s // a tie
				case 1:
					x[i] = float32(rng.NormFloat64()) * 200 * s
				default:
					x[i] = float32(rng.Float64()*4 - 2)
				}
			}
			run := func() []uint8 {
				o := make([]uint8, n)
				quantizeBytes(o, x, s, float32(lo), float32(hi))
				return o
			}
			vec, ref := withKernels(t, &useAVX512, run)
			if !slices.Equal(vec, ref) {
				t.Fatalf("signed %v, n = %d, s = %v, x = %v: kernel %v, Go %v", signed, n, s, x, vec, ref)
			}
		}
	}
}

// TestIm2colValidKernel compares the im2col kernel with the Go loops on
// random valid convolutions: runs of 1 to 100 bytes (every move size),
// strides, and rows padded to a multiple of 4.
func TestIm2colValidKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for trial := range 200 {
		g := tensor.ConvGeom{N: 1 + rng.IntN(3), H: 3 + rng.IntN(10), W: 3 + rng.IntN(10), C: 1 + rng.IntN(34),
			KH: 1 + rng.IntN(3), KW: 1 + rng.IntN(3), Stride: 1 + rng.IntN(2), Groups: 1}
		g.Cout = 1
		if err := g.Validate(); err != nil {
			continue
		}
		lda := g.KPerGroup + (4-g.KPerGroup%4)%4
		x := make([]uint8, g.N*g.H*g.W*g.C)
		for i := range x {
			x[i] = uint8(rng.Uint32())
		}
		run := func() []uint8 {
			col := make([]uint8, g.N*g.OH*g.OW*lda+8) // the Go loops' slack
			for i := range col {
				col[i] = 0xAA // padding must be overwritten with zeros
			}
			im2colValid(&g, x, col, lda)
			return col[:g.N*g.OH*g.OW*lda]
		}
		vec, ref := withKernels(t, &useAVX2, run)
		if !slices.Equal(vec, ref) {
			t.Fatalf("trial %d, %+v, lda %d: kernel and Go patches differ", trial, g, lda)
		}
	}
}
