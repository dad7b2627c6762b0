package intinfer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// cpuAVX512 and cpuAVX2 are the kernel choices of this CPU and build,
// before any test changes them.
var cpuAVX512, cpuAVX2 = useAVX512, useAVX2

// vecImpls lists the vector kernel sets this CPU runs: "avx512" and
// "avx2" where present.
func vecImpls() []string {
	var impls []string
	if cpuAVX512 {
		impls = append(impls, "avx512")
	}
	if cpuAVX2 {
		impls = append(impls, "avx2")
	}
	return impls
}

// forceVec runs the rest of the test with the named kernels only ("go":
// none), restoring the CPU's choice when the test ends.
func forceVec(t *testing.T, impl string) {
	t.Helper()
	t.Cleanup(func() { useAVX512, useAVX2 = cpuAVX512, cpuAVX2 })
	useAVX512 = impl == "avx512" && cpuAVX512
	useAVX2 = (impl == "avx2" || impl == "avx512") && cpuAVX2
}

// TestQuantizeBytes compares the input quantisation kernel with
// thresh.Quantize on values that include exact ties, values outside the
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
			run := func(impl string) []uint8 {
				forceVec(t, impl)
				o := make([]uint8, n)
				quantizeBytes(o, x, s, float32(lo), float32(hi))
				return o
			}
			ref := run("go")
			for _, impl := range vecImpls() {
				if got := run(impl); !slices.Equal(got, ref) {
					t.Fatalf("%s, signed %v, n = %d, s = %v, x = %v: kernel %v, Go %v", impl, signed, n, s, x, got, ref)
				}
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
		run := func(impl string) []uint8 {
			forceVec(t, impl)
			col := make([]uint8, g.N*g.OH*g.OW*lda+8) // the Go loops' slack
			for i := range col {
				col[i] = 0xAA // padding must be overwritten with zeros
			}
			im2colValid(&g, x, col, lda)
			return col[:g.N*g.OH*g.OW*lda]
		}
		if !cpuAVX2 {
			t.Skip("no AVX2 on this CPU (or a noasm build)")
		}
		if vec, ref := run("avx2"), run("go"); !slices.Equal(vec, ref) {
			t.Fatalf("trial %d, %+v, lda %d: kernel and Go patches differ", trial, g, lda)
		}
	}
}

// TestIm2colPadded compares the patches of padded convolutions taken from
// zero-bordered copies of the images with im2colU8's padded windows, with
// and without the vector kernels.
func TestIm2colPadded(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for trial := range 100 {
		g := tensor.ConvGeom{N: 1 + rng.IntN(3), H: 2 + rng.IntN(9), W: 2 + rng.IntN(9), C: 1 + rng.IntN(20),
			KH: 1 + rng.IntN(5), Stride: 1 + rng.IntN(2), Groups: 1, Cout: 1}
		g.KW = g.KH
		g.Pad = rng.IntN(g.KH)
		if g.Pad == 0 || g.Validate() != nil {
			continue
		}
		lda := g.KPerGroup + (4-g.KPerGroup%4)%4
		x := make([]uint8, g.N*g.H*g.W*g.C+slack)
		for i := range x {
			x[i] = uint8(rng.Uint32())
		}
		want := make([]uint8, g.OH*g.OW*g.N*lda+slack)
		im2colU8(&g, x, 0, want, lda)
		for _, impl := range append(vecImpls(), "go") {
			forceVec(t, impl)
			col := make([]uint8, len(want))
			for i := range col {
				col[i] = 0xAA
			}
			var pad []uint8
			im2colPadded(&g, x, col, lda, &pad)
			n := g.N * g.OH * g.OW * lda
			if !slices.Equal(col[:n], want[:n]) {
				t.Fatalf("trial %d, %s, %+v: patches differ", trial, impl, g)
			}
		}
	}
}

// TestFusedKernelSets runs the fused pipeline with each vector kernel set
// and with none: outputs and captured layer inputs must be identical.
func TestFusedKernelSets(t *testing.T) {
	for name, m := range fusedCases(t) {
		lo := 0.0
		if m.Layers()[0].InputSigned {
			lo = -0.6
		}
		n := 2*chunkImages + 3
		x := randImages(rand.New(rand.NewPCG(9, 9)), n, m, lo, 1)
		run := func(impl string) *Result {
			forceVec(t, impl)
			e, err := NewEngine(m, Options{Path: PathPreferred})
			if err != nil {
				t.Fatal(err)
			}
			return e.Run(x, n, true)
		}
		ref := run("go")
		for _, impl := range vecImpls() {
			got := run(impl)
			if !slices.Equal(got.Out, ref.Out) {
				t.Errorf("%s, %s kernels: outputs differ from the Go loops'", name, impl)
			}
			for i := range got.Inputs {
				if !slices.Equal(got.Inputs[i], ref.Inputs[i]) {
					t.Errorf("%s, %s kernels: layer %d's inputs differ from the Go loops'", name, impl, i)
				}
			}
		}
	}
}

// TestMaxPoolInto checks the pools on integers and floats, the 2×2 stride-2
// case included, against the maximum over each window.
func TestMaxPoolInto(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	for _, tc := range []struct{ n, h, w, c, k, stride int }{
		{2, 6, 6, 3, 2, 2}, {1, 7, 5, 8, 2, 2}, {2, 5, 5, 2, 3, 1}, {1, 6, 7, 4, 3, 2},
	} {
		x := make([]int32, tc.n*tc.h*tc.w*tc.c)
		for i := range x {
			x[i] = int32(rng.IntN(1000) - 500)
		}
		oh, ow := (tc.h-tc.k)/tc.stride+1, (tc.w-tc.k)/tc.stride+1
		y := make([]int32, tc.n*oh*ow*tc.c)
		maxPoolInto(tc.n, tc.h, tc.w, tc.c, tc.k, tc.stride, x, y)
		for b := 0; b < tc.n; b++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					for ch := 0; ch < tc.c; ch++ {
						m := int32(-1 << 31)
						for u := 0; u < tc.k; u++ {
							for v := 0; v < tc.k; v++ {
								m = max(m, x[((b*tc.h+i*tc.stride+u)*tc.w+j*tc.stride+v)*tc.c+ch])
							}
						}
						if got := y[((b*oh+i)*ow+j)*tc.c+ch]; got != m {
							t.Fatalf("%+v: pixel (%d, %d, %d) channel %d: %d, want %d", tc, b, i, j, ch, got, m)
						}
					}
				}
			}
		}
	}
}

// TestAddLevels checks the widening sum of levels with and without the
// vector kernel, for every tail length.
func TestAddLevels(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	for _, impl := range append(vecImpls(), "go") {
		forceVec(t, impl)
		for n := range 21 {
			for _, set := range []bool{false, true} {
				sum, b := make([]int32, n), make([]uint8, n+3)
				for i := range sum {
					sum[i] = int32(rng.IntN(1000) - 500)
				}
				for i := range b {
					b[i] = uint8(rng.IntN(256))
				}
				want := slices.Clone(sum)
				for i := range want {
					if set {
						want[i] = 0
					}
					want[i] += int32(b[i]) - 128
				}
				addLevels(sum, b, -128, set)
				if !slices.Equal(sum, want) {
					t.Fatalf("%s, n=%d, set %v: %v, want %v", impl, n, set, sum, want)
				}
			}
		}
	}
}
